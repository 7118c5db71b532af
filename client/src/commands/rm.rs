//! `rdocker rm`: `DELETE /containers/{id}[?force=1&v=1&link=1]` for each, in parallel.

use super::{parallel, report};
use crate::http::{path_escape, query, Client};

/// `docker rm [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `rdocker rm`: prints each container as given once removed; with `-f` a missing container
/// is reported but does not fail the command (docker's behaviour).
pub async fn run(client: &Client, args: RmArgs) -> anyhow::Result<i32> {
    let mut q = Vec::new();
    for (on, key) in [
        (args.force, "force"),
        (args.volumes, "v"),
        (args.link, "link"),
    ] {
        if on {
            q.push((key, "1"));
        }
    }
    let q = query(&q);
    let results = parallel(&args.containers, |name| {
        let q = q.clone();
        async move {
            let name = name.trim_matches('/');
            client
                .delete(&format!("/containers/{}{q}", path_escape(name)))
                .await
                .map(drop)
        }
    })
    .await;
    Ok(report(&args.containers, results, args.force))
}
