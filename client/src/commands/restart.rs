//! `rdocker restart`: `POST /containers/{id}/restart[?signal=&t=]`, one after the other.

use super::report;
use super::stop::stop_query;
use crate::http::{path_escape, Client};

/// `docker restart [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long,
        visible_alias = "time",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub timeout: Option<i64>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

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
