//! `rdocker push`: `POST /images/{name}/push?tag=` with `X-Registry-Auth`, the progress
//! stream rendered as docker renders it.

use super::pull::push_path;
use crate::auth::registry_auth;
use crate::http::{Client, StreamReader};
use crate::progress::{self, Sink};
use crate::reference::Reference;
use clap::ArgAction;
use hyper::Method;

/// `docker push [OPTIONS] NAME[:TAG]`
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Skip image signing
    #[arg(long = "disable-content-trust", value_name = "bool", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          require_equals = true)]
    pub disable_content_trust: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

/// `rdocker push`.
pub async fn run(client: &Client, args: PushArgs) -> anyhow::Result<i32> {
    let mut r = Reference::parse_normalized(&args.name)?;
    if r.digest.is_some() {
        anyhow::bail!("cannot push a digest reference");
    }
    if r.is_name_only() {
        r = r.with_default_tag();
        if !args.quiet {
            println!("Using default tag: {}", crate::reference::DEFAULT_TAG);
        }
    }
    let auth = registry_auth(&r);
    let headers = [("X-Registry-Auth", auth.as_str())];
    let res = client
        .send(Method::POST, &push_path(&r), crate::http::empty(), &headers)
        .await?;
    let sink = if args.quiet {
        Sink::Discard
    } else {
        Sink::Stdout
    };
    progress::display(&mut StreamReader::Body(res.into_body()), sink).await?;
    if args.quiet {
        println!("{r}");
    }
    Ok(0)
}
