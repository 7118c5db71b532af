//! `rdocker diff`: `GET /containers/{id}/changes` as `C /etc`, `A /etc/x`, `D /tmp/y`.

use crate::http::{path_escape, Client};
use api::container::ContainerChange;

/// `docker diff CONTAINER`
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// One line of output: the kind's letter (0 modified, 1 added, 2 deleted), then the path.
fn line(c: &ContainerChange) -> String {
    let kind = match c.kind {
        0 => "C",
        1 => "A",
        2 => "D",
        _ => "",
    };
    format!("{kind} {}", c.path)
}

/// `rdocker diff`.
pub async fn run(client: &Client, args: DiffArgs) -> anyhow::Result<i32> {
    let changes: Option<Vec<ContainerChange>> = client
        .get_json(&format!(
            "/containers/{}/changes",
            path_escape(&args.container)
        ))
        .await?;
    for c in changes.unwrap_or_default() {
        println!("{}", line(&c));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_letters() {
        let c = |path: &str, kind| ContainerChange {
            path: path.into(),
            kind,
        };
        assert_eq!(line(&c("/etc", 0)), "C /etc");
        assert_eq!(line(&c("/etc/x", 1)), "A /etc/x");
        assert_eq!(line(&c("/tmp/y", 2)), "D /tmp/y");
    }
}
