//! `rdocker save`: `GET /images/get?names=a&names=b`, the tar written to `-o FILE` or to a
//! stdout that is not a terminal.

use crate::http::{query, Client, StreamReader};
use crate::output;
use hyper::Method;

/// `docker save [OPTIONS] IMAGE [IMAGE...]`
#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

fn save_path(images: &[String]) -> String {
    let q: Vec<(&str, &str)> = images.iter().map(|i| ("names", i.as_str())).collect();
    format!("/images/get{}", query(&q))
}

/// `rdocker save`.
pub async fn run(client: &Client, args: SaveArgs) -> anyhow::Result<i32> {
    let out = args.output.as_deref().filter(|o| !o.is_empty());
    output::check(out, "failed to save image")?;
    let res = client
        .send(
            Method::GET,
            &save_path(&args.images),
            crate::http::empty(),
            &[],
        )
        .await?;
    output::write(&mut StreamReader::Body(res.into_body()), out).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_repeat() {
        assert_eq!(
            save_path(&["busybox".into(), "alpine:3".into()]),
            "/images/get?names=busybox&names=alpine%3A3"
        );
    }
}
