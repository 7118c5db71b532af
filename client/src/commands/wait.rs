//! `rdocker wait`: `POST /containers/{id}/wait` for each in turn, printing the exit codes.

use crate::http::{path_escape, Client};
use api::container::WaitResponse;

/// `docker wait CONTAINER [CONTAINER...]`
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `rdocker wait`.
pub async fn run(client: &Client, args: WaitArgs) -> anyhow::Result<i32> {
    let mut errors = Vec::new();
    for name in &args.containers {
        let path = format!("/containers/{}/wait", path_escape(name));
        match client.post_for_json::<WaitResponse>(&path).await {
            Ok(w) => println!("{}", w.status_code),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        return Ok(0);
    }
    eprintln!("{}", errors.join("\n"));
    Ok(1)
}
