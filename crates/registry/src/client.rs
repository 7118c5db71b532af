use crate::auth::{self, Challenge};
use crate::{Credentials, Error, Reference, Result};
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc::UnboundedSender;
use tracing::debug;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A stalled body (no bytes for this long) fails the request; whole transfers are unbounded.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// Entries of the auth cache before it is pruned.
const TOKEN_CACHE_MAX: usize = 1024;
/// Tokens are refreshed this long before they expire.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// A Registry HTTP API v2 client. Cheap to share (`Arc<Client>`); it caches, per registry host,
/// the scheme (HTTPS, or HTTP for insecure registries) and the auth challenge, and per
/// (host, scope, caller's credentials) the `Authorization` value.
pub struct Client {
    /// Verifies TLS.
    http: reqwest::Client,
    /// Accepts any certificate: Docker skips verification for insecure registries.
    http_insecure: reqwest::Client,
    insecure: Vec<String>,
    hosts: Mutex<HashMap<String, Host>>,
    tokens: Mutex<HashMap<TokenKey, CachedAuth>>,
}

#[derive(Clone)]
pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) base: Url,
    pub(crate) insecure: bool,
    pub(crate) challenge: Option<Challenge>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    host: String,
    scope: String,
    who: String,
}

struct CachedAuth {
    value: HeaderValue,
    expires: Option<Instant>,
}

/// Where a request goes: a path on the registry, or a URL it handed out (upload `Location`).
pub(crate) enum Target {
    Path(String),
    Url(Url),
}

/// A request body that can be built again for the retry after a 401.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(Bytes),
    /// Streamed from disk; the running byte count goes to `sent`.
    File {
        path: &'a Path,
        sent: UnboundedSender<u64>,
    },
}

pub(crate) struct Request<'a> {
    pub method: Method,
    pub target: Target,
    pub headers: HeaderMap,
    pub body: Body<'a>,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, target: Target) -> Self {
        Self {
            method,
            target,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
    pub fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }
}

impl Client {
    /// `insecure`: registries (`host[:port]`, or CIDRs such as `10.0.0.0/8` matched against IP
    /// hosts) that may be spoken to over plain HTTP. Loopback hosts (`localhost`, 127.0.0.0/8,
    /// ::1) always may. For those Docker tries HTTPS first (without verifying the
    /// certificate), then HTTP; every other registry is HTTPS only.
    pub fn new(insecure: Vec<String>) -> Self {
        let insecure = insecure
            .into_iter()
            .map(|h| {
                let h = h
                    .trim_start_matches("http://")
                    .trim_start_matches("https://");
                h.trim_end_matches('/').to_string()
            })
            .collect();
        Self {
            http: build_http(false),
            http_insecure: build_http(true),
            insecure,
            hosts: Mutex::default(),
            tokens: Mutex::default(),
        }
    }

    /// Whether `host[:port]` may be spoken to over HTTP (and HTTPS without verification).
    pub(crate) fn is_insecure(&self, host: &str) -> bool {
        if self.insecure.iter().any(|h| h == host) {
            return true;
        }
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => host.split(':').next().unwrap_or_default(),
        };
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let Ok(ip) = name.parse::<IpAddr>() else {
            return false;
        };
        ip.is_loopback() || self.insecure.iter().any(|c| cidr_contains(c, ip))
    }

    /// The registry's base URL and challenge, from a `GET /v2/` ping on first contact.
    pub(crate) async fn host(&self, name: &str) -> Result<Host> {
        if let Some(h) = self.lock_hosts().get(name) {
            return Ok(h.clone());
        }
        let insecure = self.is_insecure(name);
        let http = self.http_for(insecure);
        let mut tried = Vec::new();
        for scheme in ["https", "http"] {
            if scheme == "http" && !insecure {
                break;
            }
            let base = Url::parse(&format!("{scheme}://{name}/")).map_err(|_| {
                Error::InvalidReference {
                    reference: name.to_string(),
                    message: "invalid reference format: invalid registry host".into(),
                }
            })?;
            let ping = base
                .join("/v2/")
                .expect("joining an absolute path to a base URL");
            match http.get(ping.clone()).timeout(PING_TIMEOUT).send().await {
                Ok(resp) => {
                    let challenge = challenge_of(&resp);
                    debug!(registry = %name, scheme, status = %resp.status(), "registry pinged");
                    let host = Host {
                        name: name.to_string(),
                        base,
                        insecure,
                        challenge,
                    };
                    self.lock_hosts().insert(name.to_string(), host.clone());
                    return Ok(host);
                }
                Err(e) => {
                    debug!(registry = %name, scheme, error = %e, "registry ping failed");
                    tried.push((ping, e));
                }
            }
        }
        let (url, source) = tried.pop().expect("at least the HTTPS ping was tried");
        Err(Error::Http {
            url: url.to_string(),
            source,
        })
    }

    /// Sends `req` for repository `r`, authenticating as the registry asks: a cached
    /// `Authorization` if any, else one obtained for a known challenge; a 401 with a fresh
    /// challenge is answered once. Statuses are left to the caller.
    pub(crate) async fn send(
        &self,
        r: &Reference,
        creds: &Credentials,
        push: bool,
        req: Request<'_>,
    ) -> Result<Response> {
        self.send_scoped(r, creds, auth::scope(&r.repository, push), req)
            .await
    }

    /// [`Self::send`] with a token (if one is needed) for `scope`, which may name several
    /// repositories (see [`auth::scope`]).
    pub(crate) async fn send_scoped(
        &self,
        r: &Reference,
        creds: &Credentials,
        scope: String,
        req: Request<'_>,
    ) -> Result<Response> {
        let mut host = self.host(r.api_host()).await?;
        let key = TokenKey {
            host: host.name.clone(),
            scope,
            who: auth::who(creds),
        };
        let mut authz = self.cached(&key);
        if authz.is_none() {
            if let Some(ch) = host.challenge.clone() {
                authz = self.authorize(&host, &ch, &key, creds).await?;
            }
        }
        let mut retried = false;
        loop {
            let resp = self.send_once(&host, &req, authz.as_ref()).await?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(resp);
            }
            let Some(ch) = challenge_of(&resp) else {
                return Ok(resp);
            };
            host.challenge = Some(ch.clone());
            self.lock_hosts().insert(host.name.clone(), host.clone());
            authz = self.authorize(&host, &ch, &key, creds).await?;
            if authz.is_none() {
                return Ok(resp);
            }
            debug!(registry = %host.name, repository = %r.repository, "retrying with credentials");
            retried = true;
        }
    }

    /// One attempt. `Authorization` goes only to the registry's own origin: an upload
    /// `Location` elsewhere gets none, as in Docker (challenges are kept per host).
    async fn send_once(
        &self,
        host: &Host,
        req: &Request<'_>,
        authz: Option<&HeaderValue>,
    ) -> Result<Response> {
        let url = match &req.target {
            Target::Path(p) => host.base.join(p).map_err(|_| Error::InvalidReference {
                reference: p.clone(),
                message: "invalid reference format".into(),
            })?,
            Target::Url(u) => u.clone(),
        };
        let same_origin = url.host_str() == host.base.host_str()
            && url.port_or_known_default() == host.base.port_or_known_default();
        let mut rb = self
            .http_for(host.insecure)
            .request(req.method.clone(), url.clone())
            .headers(req.headers.clone());
        if let (Some(a), true) = (authz, same_origin) {
            rb = rb.header(AUTHORIZATION, a.clone());
        }
        rb = match &req.body {
            Body::Empty => rb,
            Body::Bytes(b) => rb.body(b.clone()),
            Body::File { path, sent } => rb.body(file_body(path, sent.clone()).await?),
        };
        rb.send().await.map_err(|source| Error::Http {
            url: without_query(&url),
            source,
        })
    }

    /// An `Authorization` value answering `ch`, cached under `key`; `None` when the challenge
    /// needs credentials the caller did not give (Basic) or is of an unknown scheme.
    async fn authorize(
        &self,
        host: &Host,
        ch: &Challenge,
        key: &TokenKey,
        creds: &Credentials,
    ) -> Result<Option<HeaderValue>> {
        let (value, ttl) = match ch.scheme.as_str() {
            "basic" => match auth::basic(creds) {
                Some(v) => (v, None),
                None => return Ok(None),
            },
            "bearer" if !creds.registry_token.is_empty() => {
                let v = auth::sensitive(&format!("Bearer {}", creds.registry_token));
                (v.ok_or_else(|| bad_token(host))?, None)
            }
            "bearer" => {
                let (value, t) = self.bearer(host, ch, &key.scope, creds, false).await?;
                (value, Some(t.ttl))
            }
            _ => return Ok(None),
        };
        let now = Instant::now();
        let expires = ttl.map(|t| now + t.saturating_sub(TOKEN_MARGIN));
        let mut tokens = self.tokens.lock().expect("token cache lock poisoned");
        if tokens.len() >= TOKEN_CACHE_MAX {
            // Many callers or repositories over a long life: drop what expired, else start over.
            tokens.retain(|_, c| c.expires.is_none_or(|e| e > now));
            if tokens.len() >= TOKEN_CACHE_MAX {
                tokens.clear();
            }
        }
        let entry = CachedAuth {
            value: value.clone(),
            expires,
        };
        tokens.insert(key.clone(), entry);
        Ok(Some(value))
    }

    /// Answers bearer challenge `ch` of `host`: a token for `scope` from the challenge's
    /// realm (a refresh token too when `offline`, as for a login), and the `Authorization`
    /// value that carries it. Credentials never go to a plain-HTTP realm that is not an
    /// insecure registry.
    pub(crate) async fn bearer(
        &self,
        host: &Host,
        ch: &Challenge,
        scope: &str,
        creds: &Credentials,
        offline: bool,
    ) -> Result<(HeaderValue, auth::Token)> {
        let realm = ch.params.get("realm").ok_or_else(|| Error::Unauthorized {
            registry: host.name.clone(),
            message: "bearer challenge without a realm".into(),
        })?;
        let realm = Url::parse(realm).map_err(|_| Error::InsecureRealm {
            realm: realm.clone(),
        })?;
        let realm_host = match realm.port() {
            Some(p) => format!("{}:{p}", realm.host_str().unwrap_or_default()),
            None => realm.host_str().unwrap_or_default().to_string(),
        };
        let realm_insecure = self.is_insecure(&realm_host);
        let plain = realm.scheme() != "https";
        if (plain && !realm_insecure && !creds.is_empty())
            || !matches!(realm.scheme(), "https" | "http")
        {
            return Err(Error::InsecureRealm {
                realm: realm.to_string(),
            });
        }
        let service = ch.params.get("service").map(String::as_str);
        let http = self.http_for(realm_insecure);
        let t = auth::fetch_token(http, &realm, service, scope, creds, &host.name, offline).await?;
        debug!(registry = %host.name, scope, "token obtained");
        let value =
            auth::sensitive(&format!("Bearer {}", t.token)).ok_or_else(|| bad_token(host))?;
        Ok((value, t))
    }

    fn cached(&self, key: &TokenKey) -> Option<HeaderValue> {
        let mut tokens = self.tokens.lock().expect("token cache lock poisoned");
        match tokens.get(key) {
            Some(c) if c.expires.is_none_or(|e| e > Instant::now()) => Some(c.value.clone()),
            Some(_) => {
                tokens.remove(key);
                None
            }
            None => None,
        }
    }

    fn lock_hosts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Host>> {
        self.hosts.lock().expect("host cache lock poisoned")
    }

    pub(crate) fn http_for(&self, insecure: bool) -> &reqwest::Client {
        if insecure {
            &self.http_insecure
        } else {
            &self.http
        }
    }
}

fn build_http(accept_invalid_certs: bool) -> reqwest::Client {
    // reqwest's redirect policy drops Authorization (and cookies) when a redirect leaves the
    // host, so S3-style blob redirects never see our credentials.
    reqwest::Client::builder()
        .user_agent(concat!("rdocker/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .danger_accept_invalid_certs(accept_invalid_certs)
        .build()
        .expect("a client with a built-in rustls config and no proxies or certs to load")
}

fn challenge_of(resp: &Response) -> Option<Challenge> {
    let values = resp.headers().get_all(WWW_AUTHENTICATE);
    auth::pick(auth::parse_challenges(
        values.iter().filter_map(|v| v.to_str().ok()),
    ))
}

fn bad_token(host: &Host) -> Error {
    Error::Unauthorized {
        registry: host.name.clone(),
        message: "token is not a valid header value".into(),
    }
}

pub(crate) fn without_query(u: &Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.to_string()
}

/// `10.0.0.0/8`-style containment; entries that are not CIDRs never match.
fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    let (a, b, bits) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    if len > bits {
        return false;
    }
    let shift = bits - len;
    len == 0 || (a >> shift) == (b >> shift)
}

/// Streams `path` in 64 KiB chunks, reporting the running total on `sent`.
async fn file_body(path: &Path, sent: UnboundedSender<u64>) -> Result<reqwest::Body> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| Error::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
    let stream =
        futures_util::stream::try_unfold((file, sent, 0u64), |(mut f, tx, total)| async move {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            let n = f.read_buf(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            let total = total + n as u64;
            let _ = tx.send(total); // the receiver only shows progress; it may be gone
            Ok(Some((buf.freeze(), (f, tx, total))))
        });
    Ok(reqwest::Body::wrap_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Descriptor, Platform};

    /// The daemon spawns these on a multi-threaded runtime and shares one client.
    #[test]
    fn client_and_futures_are_send() {
        fn is_send<T: Send>(_: &T) {}
        fn is_send_sync<T: Send + Sync>() {}
        is_send_sync::<Client>();
        let c = Client::new(vec![]);
        let r = Reference::parse("busybox").unwrap();
        let creds = Credentials::default();
        let d = Descriptor::default();
        let mut out = Vec::new();
        let mut progress = |_| {};
        is_send(&c.resolve(&r, &creds, &Platform::host()));
        is_send(&c.fetch_blob(&r, &creds, &d, &mut out, &mut progress));
        let mut progress = |_| {};
        is_send(&c.push_blob(&r, &creds, "sha256:x", Path::new("/x"), &mut progress));
        is_send(&c.blob_exists(&r, &creds, "sha256:x"));
        is_send(&c.put_manifest(&r, &creds, "x", b"{}"));
    }

    #[test]
    fn insecure_hosts() {
        let c = Client::new(vec![
            "my.reg:5000".into(),
            "http://other.reg".into(),
            "10.1.0.0/16".into(),
        ]);
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.3.2.1",
            "[::1]:5000",
            "my.reg:5000",
            "other.reg",
            "10.1.2.3:80",
        ] {
            assert!(c.is_insecure(yes), "{yes}");
        }
        for no in [
            "my.reg",
            "my.reg:5001",
            "registry-1.docker.io",
            "10.2.0.1",
            "[::2]:5000",
            "localhost.evil.io",
        ] {
            assert!(!c.is_insecure(no), "{no}");
        }
        assert!(cidr_contains("0.0.0.0/0", "1.2.3.4".parse().unwrap()));
        assert!(!cidr_contains("::/0", "1.2.3.4".parse().unwrap()));
    }
}
