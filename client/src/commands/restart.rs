//! `rdocker restart`: `POST /containers/{id}/restart[?signal=&t=]`, one after the other.

use super::report;
use super::stop::{stop_query, StopArgs};
use crate::http::{path_escape, Client};

/// `docker restart [OPTIONS] CONTAINER [CONTAINER...]`: the same flags as `stop`.
pub type RestartArgs = StopArgs;

/// `rdocker restart`: prints each container as given once restarted.
pub async fn run(client: &Client, args: RestartArgs) -> anyhow::Result<i32> {
    let q = stop_query(args.signal.as_deref(), args.timeout);
    let mut results = Vec::new();
    for name in &args.containers {
        results.push(
            client
                .post(&format!("/containers/{}/restart{q}", path_escape(name)))
                .await,
        );
    }
    Ok(report(&args.containers, results, false))
}
