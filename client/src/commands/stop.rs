//! `rdocker stop`: `POST /containers/{id}/stop[?signal=&t=]` for each, in parallel.

use super::{parallel, report};
use crate::http::{path_escape, query, Client};

/// `docker stop [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Debug, clap::Args)]
pub struct StopArgs {
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

/// The `?signal=&t=` query shared with `restart`.
pub fn stop_query(signal: Option<&str>, timeout: Option<i64>) -> String {
    let mut q = Vec::new();
    if let Some(s) = signal {
        q.push(("signal", s.to_string()));
    }
    if let Some(t) = timeout {
        q.push(("t", t.to_string()));
    }
    query(&q)
}

/// `rdocker stop`: prints each container as given once it has stopped.
pub async fn run(client: &Client, args: StopArgs) -> anyhow::Result<i32> {
    let q = stop_query(args.signal.as_deref(), args.timeout);
    let results = parallel(&args.containers, |name| {
        let path = format!("/containers/{}/stop{q}", path_escape(&name));
        async move { client.post(&path).await }
    })
    .await;
    Ok(report(&args.containers, results, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_has_only_given_options() {
        assert_eq!(stop_query(None, None), "");
        assert_eq!(stop_query(None, Some(1)), "?t=1");
        assert_eq!(stop_query(Some("SIGKILL"), Some(0)), "?signal=SIGKILL&t=0");
    }
}
