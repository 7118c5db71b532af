//! `rdocker load`: streams a tar (`-i FILE` or stdin) as the body of
//! `POST /images/load?quiet=0|1` and shows the daemon's answer (`Loaded image: …`).

use super::import::stream_body;
use crate::http::{Client, StreamReader};
use crate::progress::{self, Sink};
use anyhow::Context;
use hyper::header::CONTENT_TYPE;
use hyper::Method;
use std::io::{IsTerminal, Write};

/// `docker load [OPTIONS]`
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// docker asks for quiet output (no progress bars) unless stdout is a terminal.
fn load_path(quiet: bool, stdout_tty: bool) -> String {
    let quiet = quiet || !stdout_tty;
    format!("/images/load?quiet={}", if quiet { 1 } else { 0 })
}

/// `rdocker load`.
pub async fn run(client: &Client, args: LoadArgs) -> anyhow::Result<i32> {
    let body = match &args.input {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("open {path}"))?;
            stream_body(file)
        }
        None if std::io::stdin().is_terminal() => {
            anyhow::bail!("requested load from stdin, but stdin is empty")
        }
        None => stream_body(tokio::io::stdin()),
    };
    let headers = [("Content-Type", "application/x-tar")];
    let path = load_path(args.quiet, std::io::stdout().is_terminal());
    let res = client.send(Method::POST, &path, body, &headers).await?;
    let json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut reader = StreamReader::Body(res.into_body());
    if json {
        progress::display(&mut reader, Sink::Stdout).await?;
    } else {
        let mut out = std::io::stdout();
        while let Some(chunk) = reader.next_chunk().await? {
            out.write_all(&chunk)?;
        }
        out.flush()?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_unless_a_terminal() {
        assert_eq!(load_path(false, true), "/images/load?quiet=0");
        assert_eq!(load_path(false, false), "/images/load?quiet=1");
        assert_eq!(load_path(true, true), "/images/load?quiet=1");
    }
}
