//! `rdocker start`: starts containers, or attaches to one (`-a`/`-i`) like `run` does.

use super::run::attached;
use crate::attach::Session;
use crate::http::{path_escape, Client};
use api::container::ContainerInspect;

/// `docker start [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `rdocker start`.
pub async fn run(client: &Client, args: StartArgs) -> anyhow::Result<i32> {
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        }
        return start_attached(client, &args.containers[0], args.interactive).await;
    }
    let mut failed = Vec::new();
    for name in &args.containers {
        match client
            .post(&format!("/containers/{}/start", path_escape(name)))
            .await
        {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.as_str());
            }
        }
    }
    if failed.is_empty() {
        return Ok(0);
    }
    anyhow::bail!("Error: failed to start containers: {}", failed.join(", "))
}

async fn start_attached(client: &Client, name: &str, interactive: bool) -> anyhow::Result<i32> {
    let c: ContainerInspect = client
        .get_json(&format!("/containers/{}/json", path_escape(name)))
        .await?;
    let session = Session {
        tty: c.config.tty,
        stdin: interactive && c.config.open_stdin,
        sig_proxy: true,
    };
    attached(client, &c.id, &session, c.host_config.auto_remove).await
}
