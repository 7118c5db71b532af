//! `rdocker rmi`: `DELETE /images/{name}[?force=1&noprune=1]`, printing what was untagged and
//! deleted.

use crate::http::{path_escape, query, Client};
use api::image::ImageDeleteItem;

/// `docker rmi [OPTIONS] IMAGE [IMAGE...]`
#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `rdocker rmi`. With `-f`, images that do not exist are reported but do not fail the command.
pub async fn run(client: &Client, args: RmiArgs) -> anyhow::Result<i32> {
    let mut q = Vec::new();
    if args.force {
        q.push(("force", "1"));
    }
    if args.no_prune {
        q.push(("noprune", "1"));
    }
    let q = query(&q);
    let (mut errors, mut fatal) = (Vec::new(), false);
    for image in &args.images {
        let res = client
            .delete(&format!("/images/{}{q}", path_escape(image)))
            .await;
        let items = res.and_then(|b| {
            serde_json::from_slice::<Vec<ImageDeleteItem>>(&b).map_err(crate::http::Error::Decode)
        });
        match items {
            Ok(items) => {
                for item in items {
                    match (item.deleted, item.untagged) {
                        (Some(d), _) => println!("Deleted: {d}"),
                        (None, Some(u)) => println!("Untagged: {u}"),
                        (None, None) => {}
                    }
                }
            }
            Err(e) => {
                fatal |= !e.is_not_found();
                errors.push(e.to_string());
            }
        }
    }
    if errors.is_empty() {
        return Ok(0);
    }
    eprintln!("{}", errors.join("\n"));
    Ok(if args.force && !fatal { 0 } else { 1 })
}
