//! `rdocker kill`: `POST /containers/{id}/kill[?signal=]` for each, in parallel.

use super::{parallel, report};
use crate::http::{path_escape, query, Client};

/// `docker kill [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `rdocker kill`: prints each container as given once signalled.
pub async fn run(client: &Client, args: KillArgs) -> anyhow::Result<i32> {
    let q = match &args.signal {
        Some(s) => query(&[("signal", s.as_str())]),
        None => String::new(),
    };
    let results = parallel(&args.containers, |name| {
        let path = format!("/containers/{}/kill{q}", path_escape(&name));
        async move { client.post(&path).await }
    })
    .await;
    Ok(report(&args.containers, results, false))
}
