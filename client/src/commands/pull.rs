//! `rdocker pull`: `POST /images/create?fromImage=<name>&tag=<tag|digest>` with
//! `X-Registry-Auth`, the progress stream rendered as docker renders it, then the full
//! reference. Also the pull `run` and `create` do for a missing image.

use crate::auth::registry_auth;
use crate::http::{path_escape, query, Client, StreamReader};
use crate::progress::{self, Sink};
use crate::reference::Reference;
use clap::ArgAction;
use hyper::Method;

/// `docker pull [OPTIONS] NAME[:TAG|@DIGEST]`
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Skip image verification
    #[arg(long = "disable-content-trust", value_name = "bool", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          require_equals = true)]
    pub disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

/// The `POST /images/create` path for pulling `r` (docker's `ImageCreate`/`ImagePull`).
pub fn pull_path(r: &Reference, platform: Option<&str>) -> String {
    let mut q = vec![("fromImage", r.name())];
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        q.push(("platform", p.to_lowercase()));
    }
    q.push(("tag", r.api_tag()));
    format!("/images/create{}", query(&q))
}

/// Pulls `r` (already tagged) and shows the daemon's progress on `sink`.
pub async fn pull(
    client: &Client,
    r: &Reference,
    platform: Option<&str>,
    sink: Sink,
) -> anyhow::Result<()> {
    let auth = registry_auth(r);
    let headers = [("X-Registry-Auth", auth.as_str())];
    let res = client
        .send(
            Method::POST,
            &pull_path(r, platform),
            crate::http::empty(),
            &headers,
        )
        .await?;
    progress::display(&mut StreamReader::Body(res.into_body()), sink).await
}

/// The pull of `run`/`create` for an image the daemon lacks: progress on stderr.
pub async fn pull_missing(client: &Client, image: &str) -> anyhow::Result<()> {
    let r = Reference::parse_normalized(image)?.with_default_tag();
    pull(client, &r, None, Sink::Stderr).await
}

/// `POST /images/{name}/push` path (docker's `ImagePush`: the familiar name, `tag=`).
pub fn push_path(r: &Reference) -> String {
    let q = match &r.tag {
        Some(t) => query(&[("tag", t.as_str())]),
        None => String::new(),
    };
    format!("/images/{}/push{q}", path_escape(&r.familiar_name()))
}

/// `rdocker pull`.
pub async fn run(client: &Client, args: PullArgs) -> anyhow::Result<i32> {
    let mut r = Reference::parse_normalized(&args.name)?;
    if r.is_name_only() {
        r = r.with_default_tag();
        if !args.quiet {
            println!("Using default tag: {}", crate::reference::DEFAULT_TAG);
        }
    }
    let sink = if args.quiet {
        Sink::Discard
    } else {
        Sink::Stdout
    };
    pull(client, &r, args.platform.as_deref(), sink).await?;
    println!("{r}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse_normalized(s)
            .expect("valid")
            .with_default_tag()
    }

    #[test]
    fn paths_match_docker_cli() {
        assert_eq!(
            pull_path(&r("busybox"), None),
            "/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest"
        );
        let d = "sha256:0123456789012345678901234567890123456789012345678901234567890123";
        assert_eq!(
            pull_path(&r(&format!("x@{d}")), Some("linux/AMD64")),
            format!(
                "/images/create?fromImage=docker.io%2Flibrary%2Fx&platform=linux%2Famd64&tag={}",
                d.replace(':', "%3A")
            )
        );
        assert_eq!(
            push_path(&r("127.0.0.1:5000/bb:v1")),
            "/images/127.0.0.1:5000/bb/push?tag=v1"
        );
        assert_eq!(push_path(&r("busybox")), "/images/busybox/push?tag=latest");
    }
}
