//! `rdocker import`: streams a tarball as the body of
//! `POST /images/create?fromSrc=-&repo=&tag=` and prints the new image id.

use crate::http::{query, Body, Client, StreamReader};
use crate::parse::split_reference;
use crate::progress::{self, Sink};
use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::Method;
use tokio::io::{AsyncRead, AsyncReadExt};

/// `docker import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]`
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long, value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// A request body that streams `reader` in 64 KiB chunks (sent chunked).
pub fn stream_body<R: AsyncRead + Send + Unpin + 'static>(reader: R) -> Body {
    let chunks = futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    Body::Stream(StreamBody::new(chunks).boxed_unsync())
}

fn import_query(args: &ImportArgs, from_url: bool) -> String {
    let mut q = vec![(
        "fromSrc",
        if from_url {
            args.source.clone()
        } else {
            "-".into()
        },
    )];
    if let Some(r) = &args.reference {
        let (repo, tag) = split_reference(r);
        q.push(("repo", repo.to_string()));
        if let Some(t) = tag {
            q.push(("tag", t.to_string()));
        }
    }
    if let Some(m) = &args.message {
        q.push(("message", m.clone()));
    }
    for c in &args.change {
        q.push(("changes", c.clone()));
    }
    if let Some(p) = &args.platform {
        q.push(("platform", p.clone()));
    }
    query(&q)
}

/// `rdocker import`.
pub async fn run(client: &Client, args: ImportArgs) -> anyhow::Result<i32> {
    let from_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let mut headers = Vec::new();
    let length;
    let body = if from_url {
        crate::http::empty()
    } else if args.source == "-" {
        stream_body(tokio::io::stdin())
    } else {
        let file = tokio::fs::File::open(&args.source)
            .await
            .with_context(|| format!("open {}", args.source))?;
        length = file.metadata().await?.len().to_string();
        headers.push(("Content-Length", length.as_str()));
        stream_body(file)
    };
    let path = format!("/images/create{}", import_query(&args, from_url));
    let res = client.send(Method::POST, &path, body, &headers).await?;
    progress::display(&mut StreamReader::Body(res.into_body()), Sink::Stdout).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_carries_reference_and_changes() {
        let args = ImportArgs {
            change: vec!["CMD [\"sh\"]".into()],
            message: Some("hi".into()),
            platform: None,
            source: "bb.tar".into(),
            reference: Some("busybox:1".into()),
        };
        assert_eq!(
            import_query(&args, false),
            "?fromSrc=-&repo=busybox&tag=1&message=hi&changes=CMD+%5B%22sh%22%5D"
        );
    }
}
