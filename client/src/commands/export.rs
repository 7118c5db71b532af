//! `rdocker export`: `GET /containers/{id}/export`, the tar written to `-o FILE` or to a
//! stdout that is not a terminal.

use crate::http::{path_escape, Client, StreamReader};
use crate::output;
use hyper::Method;

/// `docker export [OPTIONS] CONTAINER`
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `rdocker export`.
pub async fn run(client: &Client, args: ExportArgs) -> anyhow::Result<i32> {
    let out = args.output.as_deref().filter(|o| !o.is_empty());
    output::check(out, "failed to export container")?;
    let path = format!("/containers/{}/export", path_escape(&args.container));
    let res = client
        .send(Method::GET, &path, crate::http::empty(), &[])
        .await?;
    output::write(&mut StreamReader::Body(res.into_body()), out).await?;
    Ok(0)
}
