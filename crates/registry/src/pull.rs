use crate::client::{Request, Target};
use crate::digest::{self, Hasher};
use crate::manifest::{classify, media_type, Fetched};
use crate::{
    select_platform, Client, Credentials, Descriptor, Error, Platform, Reference, Resolved, Result,
};
use reqwest::{Method, Response, StatusCode};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tracing::debug;

/// Registries cap manifests at 4 MiB (distribution's `maxManifestBodySize`).
const MANIFEST_LIMIT: usize = 4 << 20;
/// How much of an error body is read for its `errors` text.
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// Which side of the protocol an error happened on, for Docker's wording.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Pull,
    Push,
}

impl Client {
    /// GETs the manifest by tag or digest, accepting Docker schema 2, OCI manifests, Docker
    /// manifest lists and OCI indexes. A list/index is resolved to the entry for `platform`,
    /// which is then fetched by digest. Every manifest is hashed; one fetched by digest must
    /// match it. A 404 is [`Error::ManifestUnknown`].
    pub async fn resolve(
        &self,
        r: &Reference,
        creds: &Credentials,
        platform: &Platform,
    ) -> Result<Resolved> {
        let top = r.tag_or_digest().to_string();
        let (raw, content_type) = self
            .get_manifest(r, creds, &top, r.familiar_with_ref())
            .await?;
        let digest = match &r.digest {
            Some(d) => {
                digest::verify(d, &raw)?;
                d.clone()
            }
            None => digest::sha256_digest(&raw),
        };
        match classify(&raw, &content_type, &top)? {
            Fetched::Image(manifest) => {
                debug!(repository = %r.repository, digest = %digest, "manifest resolved");
                Ok(Resolved {
                    digest,
                    manifest,
                    raw,
                    index_digest: None,
                })
            }
            Fetched::Index(index) => {
                let entry = select_platform(&index.manifests, platform).ok_or_else(|| {
                    Error::NoMatchingPlatform {
                        platform: platform.to_string(),
                    }
                })?;
                let shown = format!("{}@{}", r.familiar(), entry.digest);
                let (child, content_type) =
                    self.get_manifest(r, creds, &entry.digest, shown).await?;
                digest::verify(&entry.digest, &child)?;
                if child.len() as u64 != entry.size {
                    return Err(Error::SizeMismatch {
                        digest: entry.digest.clone(),
                        expected: entry.size,
                        actual: child.len() as u64,
                    });
                }
                match classify(&child, &content_type, &entry.digest)? {
                    Fetched::Image(manifest) => {
                        debug!(repository = %r.repository, index = %digest, digest = %entry.digest, "manifest resolved");
                        Ok(Resolved {
                            digest: entry.digest.clone(),
                            manifest,
                            raw: child,
                            index_digest: Some(digest),
                        })
                    }
                    // An index inside an index is allowed by OCI but never produced by Docker.
                    Fetched::Index(i) => Err(Error::UnsupportedMediaType {
                        media_type: i.media_type,
                    }),
                }
            }
        }
    }

    /// The manifest's bytes and Content-Type; `shown` names it in a `ManifestUnknown`.
    async fn get_manifest(
        &self,
        r: &Reference,
        creds: &Credentials,
        reference: &str,
        shown: String,
    ) -> Result<(Vec<u8>, String)> {
        let path = format!("/v2/{}/manifests/{reference}", r.repository);
        let req =
            Request::new(Method::GET, Target::Path(path)).header("Accept", media_type::ACCEPT);
        let resp = self.send(r, creds, false, req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::ManifestUnknown { reference: shown });
        }
        if !resp.status().is_success() {
            return Err(error_from(resp, r, Op::Pull).await);
        }
        let content_type = resp
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let raw =
            read_limited(resp, MANIFEST_LIMIT)
                .await?
                .ok_or_else(|| Error::ManifestTooLarge {
                    reference: reference.to_string(),
                    limit: MANIFEST_LIMIT,
                })?;
        Ok((raw, content_type))
    }

    /// Downloads blob `d` into `out`, calling `progress` with the running byte count, and checks
    /// its size and digest. Bytes reach `out` before the check completes, so on any error the
    /// caller must discard what was written (write to a temp file; rename only on `Ok`).
    pub async fn fetch_blob<W: AsyncWrite + Unpin>(
        &self,
        r: &Reference,
        creds: &Credentials,
        d: &Descriptor,
        out: &mut W,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        let mut hasher = Hasher::new(&d.digest)?;
        let path = format!("/v2/{}/blobs/{}", r.repository, d.digest);
        let mut resp = self
            .send(
                r,
                creds,
                false,
                Request::new(Method::GET, Target::Path(path)),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(error_from(resp, r, Op::Pull).await);
        }
        let too_big = |actual| Error::SizeMismatch {
            digest: d.digest.clone(),
            expected: d.size,
            actual,
        };
        if let Some(len) = resp.content_length().filter(|&l| l != d.size) {
            return Err(too_big(len));
        }
        let url = crate::client::without_query(resp.url());
        let mut n = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|source| Error::Http {
            url: url.clone(),
            source,
        })? {
            n += chunk.len() as u64;
            if n > d.size {
                return Err(too_big(n));
            }
            hasher.update(&chunk);
            out.write_all(&chunk)
                .await
                .map_err(|source| Error::WriteBlob {
                    digest: d.digest.clone(),
                    source,
                })?;
            progress(n);
        }
        out.flush().await.map_err(|source| Error::WriteBlob {
            digest: d.digest.clone(),
            source,
        })?;
        if n != d.size {
            return Err(too_big(n));
        }
        let actual = hasher.finish();
        if actual != d.digest {
            return Err(Error::DigestMismatch {
                expected: d.digest.clone(),
                actual,
            });
        }
        debug!(repository = %r.repository, digest = %d.digest, size = n, "blob fetched");
        Ok(())
    }

    /// HEADs the blob: `true` on 200, `false` on 404. It asks for the push flow's
    /// `pull,push` scope (token servers grant the subset the caller has), so the token is
    /// shared with the `push_blob` that usually follows.
    pub async fn blob_exists(
        &self,
        r: &Reference,
        creds: &Credentials,
        digest: &str,
    ) -> Result<bool> {
        Ok(self.head_blob(r, creds, digest).await?.is_some())
    }

    /// HEADs the blob (same scope as [`Self::blob_exists`]): its size when the registry has it
    /// and says how big it is (`Content-Length`), else `None`.
    pub async fn blob_size(
        &self,
        r: &Reference,
        creds: &Credentials,
        digest: &str,
    ) -> Result<Option<u64>> {
        Ok(self.head_blob(r, creds, digest).await?.flatten())
    }

    /// HEADs the blob: `Some` on 200, with its `Content-Length` if it has a valid one
    /// (reqwest's `content_length` is the body's, always 0 for a HEAD); `None` on 404.
    async fn head_blob(
        &self,
        r: &Reference,
        creds: &Credentials,
        digest: &str,
    ) -> Result<Option<Option<u64>>> {
        digest::validate(digest)?;
        let path = format!("/v2/{}/blobs/{digest}", r.repository);
        let resp = self
            .send(
                r,
                creds,
                true,
                Request::new(Method::HEAD, Target::Path(path)),
            )
            .await?;
        match resp.status() {
            s if s.is_success() => {
                let len = resp
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                Ok(Some(len))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(error_from(resp, r, Op::Push).await),
        }
    }
}

/// The whole body, or `None` when it is longer than `limit`.
pub(crate) async fn read_limited(mut resp: Response, limit: usize) -> Result<Option<Vec<u8>>> {
    let url = crate::client::without_query(resp.url());
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|source| Error::Http {
        url: url.clone(),
        source,
    })? {
        if out.len() + chunk.len() > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// Turns an error response into an [`Error`] with the registry's `errors` text, worded as
/// Docker words it (`denied: requested access to the resource is denied`).
pub(crate) async fn error_from(resp: Response, r: &Reference, op: Op) -> Error {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let status = resp.status();
    let body = read_limited(resp, ERROR_BODY_LIMIT)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let errors = serde_json::from_slice::<Errors>(&body)
        .map(|e| e.errors)
        .unwrap_or_default();
    let code = errors.first().map(|e| e.code.clone());
    let text: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.code.to_lowercase().replace('_', " "), e.message))
        .collect();
    let message = if !text.is_empty() {
        text.join("; ")
    } else if status == StatusCode::UNAUTHORIZED {
        "unauthorized: authentication required".into()
    } else if status == StatusCode::FORBIDDEN {
        "denied: requested access to the resource is denied".into()
    } else {
        format!("received unexpected HTTP status: {status}")
    };
    let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
    if denied && op == Op::Pull {
        return Error::PullDenied {
            repository: r.familiar(),
            message,
        };
    }
    Error::Registry {
        status: status.as_u16(),
        code,
        message,
    }
}
