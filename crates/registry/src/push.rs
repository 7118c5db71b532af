use crate::auth;
use crate::client::{Body, Request, Target};
use crate::digest;
use crate::pull::{error_from, Op};
use crate::{Client, Credentials, Error, Reference, Result};
use bytes::Bytes;
use reqwest::header::LOCATION;
use reqwest::{Method, Response, StatusCode, Url};
use std::path::Path;
use tracing::debug;

const DIGEST_HEADER: &str = "Docker-Content-Digest";

impl Client {
    /// Uploads the file at `path` as blob `digest`, as Docker does: `POST /blobs/uploads/`,
    /// one streamed `PATCH` with the whole file (progress reports bytes sent), then
    /// `PUT ?digest=`. The registry checks the digest; a mismatch fails the PUT.
    pub async fn push_blob(
        &self,
        r: &Reference,
        creds: &Credentials,
        digest: &str,
        path: &Path,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        digest::validate(digest)?;
        let read_err = |source| Error::ReadFile {
            path: path.to_path_buf(),
            source,
        };
        let len = tokio::fs::metadata(path).await.map_err(read_err)?.len();

        let start = format!("/v2/{}/blobs/uploads/", r.repository);
        let resp = self
            .send(
                r,
                creds,
                true,
                Request::new(Method::POST, Target::Path(start)),
            )
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(error_from(resp, r, Op::Push).await);
        }
        let upload = location(&resp, digest)?;

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let patch = Request::new(Method::PATCH, Target::Url(upload))
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", &len.to_string())
            .body(Body::File { path, sent: tx });
        let sending = self.send(r, creds, true, patch);
        tokio::pin!(sending);
        let resp = loop {
            tokio::select! {
                res = &mut sending => break res?,
                Some(n) = rx.recv() => progress(n),
            }
        };
        while let Ok(n) = rx.try_recv() {
            progress(n);
        }
        if resp.status() != StatusCode::ACCEPTED {
            return Err(error_from(resp, r, Op::Push).await);
        }

        let mut commit = location(&resp, digest)?;
        commit.query_pairs_mut().append_pair("digest", digest);
        let put = Request::new(Method::PUT, Target::Url(commit)).body(Body::Bytes(Bytes::new()));
        let resp = self.send(r, creds, true, put).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(error_from(resp, r, Op::Push).await);
        }
        check_digest_header(&resp, digest)?;
        debug!(repository = %r.repository, digest, size = len, "blob pushed");
        Ok(())
    }

    /// Asks the registry to mount blob `digest` of repository `from` (its path on the same
    /// registry) into the reference's repository, as Docker does before uploading a layer the
    /// registry may have elsewhere: `POST /blobs/uploads/?mount=&from=`. `true` when mounted
    /// (201); `false` when the registry started an upload instead (202: cancelled here) or
    /// refused, so that the caller uploads the blob.
    pub async fn mount_blob(
        &self,
        r: &Reference,
        creds: &Credentials,
        digest: &str,
        from: &str,
    ) -> Result<bool> {
        digest::validate(digest)?;
        let mut path = format!("/v2/{}/blobs/uploads/?mount={digest}&from=", r.repository);
        path.extend(url::form_urlencoded::byte_serialize(from.as_bytes()));
        // As Docker: the token must also let us read the source repository.
        let scope = format!(
            "{} {}",
            auth::scope(&r.repository, true),
            auth::scope(from, false)
        );
        let resp = self
            .send_scoped(
                r,
                creds,
                scope,
                Request::new(Method::POST, Target::Path(path)),
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED => {
                check_digest_header(&resp, digest)?;
                debug!(repository = %r.repository, digest, from, "blob mounted");
                Ok(true)
            }
            StatusCode::ACCEPTED => {
                if let Ok(upload) = location(&resp, digest) {
                    let cancel = Request::new(Method::DELETE, Target::Url(upload));
                    let _ = self.send(r, creds, true, cancel).await;
                }
                Ok(false)
            }
            status => {
                debug!(repository = %r.repository, digest, from, %status, "blob not mounted");
                Ok(false)
            }
        }
    }

    /// PUTs `body` as the manifest for the reference's tag (or its digest when it has no tag)
    /// and returns the manifest's digest (sha256 of `body`).
    pub async fn put_manifest(
        &self,
        r: &Reference,
        creds: &Credentials,
        media_type: &str,
        body: &[u8],
    ) -> Result<String> {
        let digest = digest::sha256_digest(body);
        let reference = match (&r.tag, &r.digest) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => {
                digest::verify(d, body)?;
                d.clone()
            }
            (None, None) => "latest".to_string(),
        };
        let path = format!("/v2/{}/manifests/{reference}", r.repository);
        let req = Request::new(Method::PUT, Target::Path(path))
            .header("Content-Type", media_type)
            .body(Body::Bytes(Bytes::copy_from_slice(body)));
        let resp = self.send(r, creds, true, req).await?;
        if !resp.status().is_success() {
            return Err(error_from(resp, r, Op::Push).await);
        }
        check_digest_header(&resp, &digest)?;
        debug!(repository = %r.repository, reference, digest, "manifest pushed");
        Ok(digest)
    }
}

/// The upload URL from `Location`, relative to the request's URL.
fn location(resp: &Response, digest: &str) -> Result<Url> {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| resp.url().join(l).ok())
        .ok_or_else(|| Error::NoUploadLocation {
            digest: digest.to_string(),
        })
}

/// A registry that reports a sha256 digest other than ours stored something else.
fn check_digest_header(resp: &Response, digest: &str) -> Result<()> {
    let said = resp
        .headers()
        .get(DIGEST_HEADER)
        .and_then(|v| v.to_str().ok());
    match said {
        Some(d) if d.starts_with("sha256:") && digest.starts_with("sha256:") && d != digest => {
            Err(Error::DigestMismatch {
                expected: digest.to_string(),
                actual: d.to_string(),
            })
        }
        _ => Ok(()),
    }
}
