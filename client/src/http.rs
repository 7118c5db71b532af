//! A small HTTP/1.1 client for the daemon's socket, shaped like the docker CLI's.
//!
//! Every path is prefixed with `/v{min(ours, theirs)}`. Rather than pinging first as the docker
//! CLI does, the first request goes out with our version: a daemon that knows it answers it, one
//! that is older answers 400 "client version … is too new", and only then is `HEAD /_ping` sent
//! and the request repeated with the daemon's version (a streamed body, which cannot be sent
//! twice, is preceded by the ping instead). Each request gets its own connection: `run` keeps the
//! attach, wait and start requests open at the same time, as the docker CLI does. `hijack` sends
//! `Connection: Upgrade` / `Upgrade: tcp` and returns the raw stream after `101 UPGRADED`.

use api::{version_cmp, ErrorResponse, API_VERSION};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cmp::Ordering;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::OnceCell;

/// A streamed request body (import, load).
pub type ReqBody = UnsyncBoxBody<Bytes, io::Error>;

/// A request body: known bytes (JSON or empty), which can be sent again after a version
/// negotiation, or a stream, which cannot.
pub enum Body {
    Bytes(Bytes),
    Stream(ReqBody),
}

impl Body {
    fn into_req(self) -> ReqBody {
        match self {
            Body::Bytes(b) => Full::new(b).map_err(|never| match never {}).boxed_unsync(),
            Body::Stream(s) => s,
        }
    }
}

/// The version the docker CLI assumes when the daemon does not send `Api-Version`.
const FALLBACK_API_VERSION: &str = "1.24";

/// Errors talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Cannot connect to the rdocker daemon at {host}. Is the daemon running?")]
    Connect {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    #[error("invalid daemon host {0:?}: expected unix:///path or tcp://host:port")]
    InvalidHost(String),
    #[error("HTTP error talking to the daemon")]
    Http(#[from] hyper::Error),
    #[error("cannot build the request")]
    Request(#[from] hyper::http::Error),
    #[error("cannot decode the daemon's answer")]
    Decode(#[source] serde_json::Error),
    #[error("I/O error on a daemon stream")]
    Io(#[from] io::Error),
}

impl Error {
    /// The HTTP status of a daemon error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Daemon { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a 404 answer (no such container or image).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

type Result<T> = std::result::Result<T, Error>;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug, Clone)]
enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

/// The API version learnt from `HEAD /_ping` (1.24 when the daemon sends no `Api-Version`).
#[derive(Debug, Clone)]
pub struct Versions {
    /// `min(API_VERSION, server)`: the prefix of every path.
    pub negotiated: String,
}

/// A connection factory for one daemon address; clones share the negotiated version.
#[derive(Clone)]
pub struct Client {
    host: String,
    endpoint: Endpoint,
    versions: Arc<OnceCell<Versions>>,
}

/// A hijacked attach: read the output from `reader`; write stdin to `writer` and shut it down
/// (half-close) at EOF. `writer` is `None` when the daemon answered 200 instead of 101.
pub struct Hijacked {
    pub reader: StreamReader,
    pub writer: Option<WriteHalf<TokioIo<Upgraded>>>,
}

/// A byte stream from the daemon: an upgraded connection or a response body.
pub enum StreamReader {
    Raw(ReadHalf<TokioIo<Upgraded>>),
    Body(Incoming),
}

impl StreamReader {
    /// The next chunk of bytes, `None` at the end of the stream.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        match self {
            StreamReader::Raw(r) => {
                let mut buf = vec![0u8; 32 * 1024];
                let n = r.read(&mut buf).await?;
                buf.truncate(n);
                Ok((n > 0).then(|| Bytes::from(buf)))
            }
            StreamReader::Body(body) => loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(frame) => {
                        if let Ok(data) = frame?.into_data() {
                            if !data.is_empty() {
                                return Ok(Some(data));
                            }
                        }
                    }
                }
            },
        }
    }
}

impl Client {
    /// A client for `unix:///path` or `tcp://host:port`; nothing is connected yet.
    pub fn new(host: &str) -> Result<Self> {
        let endpoint = if let Some(path) = host.strip_prefix("unix://") {
            Endpoint::Unix(PathBuf::from(path))
        } else if let Some(addr) = host.strip_prefix("tcp://").or(host.strip_prefix("http://")) {
            Endpoint::Tcp(addr.trim_end_matches('/').to_string())
        } else {
            return Err(Error::InvalidHost(host.to_string()));
        };
        Ok(Self {
            host: host.to_string(),
            endpoint,
            versions: Arc::new(OnceCell::new()),
        })
    }

    /// The versions negotiated with `HEAD /_ping` (sent at most once per process, and not at
    /// all when the first request was accepted with our version).
    pub async fn versions(&self) -> Result<&Versions> {
        self.versions.get_or_try_init(|| self.ping()).await
    }

    async fn ping(&self) -> Result<Versions> {
        let res = self
            .send_raw(Method::HEAD, "/_ping", empty().into_req(), &[])
            .await?;
        let server = res
            .headers()
            .get("Api-Version")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or(FALLBACK_API_VERSION)
            .to_string();
        let negotiated = match version_cmp(&server, API_VERSION) {
            Ordering::Less => server,
            _ => API_VERSION.to_string(),
        };
        Ok(Versions { negotiated })
    }

    async fn connect(&self) -> Result<SendRequest<ReqBody>> {
        let connect_err = |source| Error::Connect {
            host: self.host.clone(),
            source,
        };
        let stream: Box<dyn Io> = match &self.endpoint {
            Endpoint::Unix(p) => Box::new(
                tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(connect_err)?,
            ),
            Endpoint::Tcp(a) => Box::new(
                tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(connect_err)?,
            ),
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Errors after the answer (the daemon closing a finished stream) concern no one.
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    async fn send_raw(
        &self,
        method: Method,
        uri: &str,
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>> {
        let mut sender = self.connect().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("Host", "api.moby.localhost")
            .header(
                "User-Agent",
                concat!("rdocker/", env!("CARGO_PKG_VERSION"), " (linux)"),
            );
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Ok(sender.send_request(req.body(body)?).await?)
    }

    /// Sends a request to the versioned `path` (which includes the query) and returns the
    /// answer once its head has arrived; non-2xx/3xx answers become [`Error::Daemon`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>> {
        let bytes = match body {
            Body::Bytes(b) if self.versions.get().is_none() => b,
            body => {
                let version = self.versions().await?.negotiated.clone();
                return self.send_at(&version, method, path, body, headers).await;
            }
        };
        let first = Body::Bytes(bytes.clone());
        match self
            .send_at(API_VERSION, method.clone(), path, first, headers)
            .await
        {
            Err(Error::Daemon {
                status: 400,
                message,
            }) if message.contains("is too new") => {
                let version = self.versions().await?.negotiated.clone();
                self.send_at(&version, method, path, Body::Bytes(bytes), headers)
                    .await
            }
            Ok(res) => {
                // The daemon took our version: no need to ask for its own.
                let _ = self.versions.set(Versions {
                    negotiated: API_VERSION.to_string(),
                });
                Ok(res)
            }
            other => other,
        }
    }

    /// Sends a request to `path` under API `version`; non-2xx/3xx answers become
    /// [`Error::Daemon`].
    async fn send_at(
        &self,
        version: &str,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>> {
        let uri = format!("/v{version}{path}");
        check(
            self.send_raw(method, &uri, body.into_req(), headers)
                .await?,
        )
        .await
    }

    /// `GET path`, decoded from JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        read_json(self.send(Method::GET, path, empty(), &[]).await?).await
    }

    /// `GET path`, the raw body bytes.
    pub async fn get_bytes(&self, path: &str) -> Result<Bytes> {
        let res = self.send(Method::GET, path, empty(), &[]).await?;
        Ok(res.into_body().collect().await?.to_bytes())
    }

    /// `POST path` with a JSON body, decoded from JSON.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let bytes = serde_json::to_vec(body).map_err(Error::Decode)?;
        let headers = [("Content-Type", "application/json")];
        read_json(self.send(Method::POST, path, full(bytes), &headers).await?).await
    }

    /// `POST path` with an empty body, the answer decoded from JSON.
    pub async fn post_for_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        read_json(self.send(Method::POST, path, empty(), &[]).await?).await
    }

    /// `POST path` with an empty body; the answer's body is drained.
    pub async fn post(&self, path: &str) -> Result<()> {
        let res = self.send(Method::POST, path, empty(), &[]).await?;
        res.into_body().collect().await?;
        Ok(())
    }

    /// `DELETE path`, the raw body bytes.
    pub async fn delete(&self, path: &str) -> Result<Bytes> {
        let res = self.send(Method::DELETE, path, empty(), &[]).await?;
        Ok(res.into_body().collect().await?.to_bytes())
    }

    /// `POST path` with `Upgrade: tcp`; the raw stream after `101`, or the body after `200`.
    pub async fn hijack(&self, path: &str) -> Result<Hijacked> {
        let headers = [
            ("Connection", "Upgrade"),
            ("Upgrade", "tcp"),
            ("Content-Type", "text/plain"),
        ];
        let res = self.send(Method::POST, path, empty(), &headers).await?;
        if res.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Ok(Hijacked {
                reader: StreamReader::Body(res.into_body()),
                writer: None,
            });
        }
        let upgraded = hyper::upgrade::on(res).await?;
        let (reader, writer) = tokio::io::split(TokioIo::new(upgraded));
        Ok(Hijacked {
            reader: StreamReader::Raw(reader),
            writer: Some(writer),
        })
    }
}

/// Maps an error answer to [`Error::Daemon`] with the message of its `{"message": …}` body.
async fn check(res: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = res.status();
    if status.as_u16() < 400 {
        return Ok(res);
    }
    let bytes = res.into_body().collect().await?.to_bytes();
    let message = match serde_json::from_slice::<ErrorResponse>(&bytes) {
        Ok(e) => e.message,
        Err(_) => String::from_utf8_lossy(&bytes).trim().to_string(),
    };
    Err(Error::Daemon {
        status: status.as_u16(),
        message,
    })
}

/// Reads a whole answer and decodes it from JSON.
pub async fn read_json<T: DeserializeOwned>(res: Response<Incoming>) -> Result<T> {
    let bytes = res.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&bytes).map_err(Error::Decode)
}

/// An empty request body.
pub fn empty() -> Body {
    Body::Bytes(Bytes::new())
}

/// A request body of known bytes (sent with `Content-Length`).
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body::Bytes(bytes.into())
}

/// Encodes query pairs as `?a=1&b=2`, or "" when there are none.
pub fn query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut ser = url::form_urlencoded::Serializer::for_suffix(String::from("?"), 1);
    for (k, v) in pairs {
        ser.append_pair(k.as_ref(), v.as_ref());
    }
    ser.finish()
}

/// Escapes a user-given name or id for use inside a path, keeping `/`, `:` and `@` as docker
/// does for image references.
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encodes_pairs() {
        assert_eq!(query::<&str, &str>(&[]), "");
        assert_eq!(
            query(&[("a", "1"), ("filters", "{\"x\":1}")]),
            "?a=1&filters=%7B%22x%22%3A1%7D"
        );
    }

    #[test]
    fn path_escape_keeps_references() {
        assert_eq!(
            path_escape("127.0.0.1:5000/library/busybox"),
            "127.0.0.1:5000/library/busybox"
        );
        assert_eq!(path_escape("a b?"), "a%20b%3F");
    }

    #[test]
    fn hosts_parse() {
        assert!(Client::new("unix:///run/rdocker.sock").is_ok());
        assert!(Client::new("tcp://127.0.0.1:2375").is_ok());
        assert!(matches!(
            Client::new("/run/x.sock"),
            Err(Error::InvalidHost(_))
        ));
    }

    /// An "older daemon" on a socket: it knows API 1.40 at most and answers like dockerd.
    /// Returns the request lines it saw.
    async fn old_daemon(listener: tokio::net::UnixListener, requests: usize) -> Vec<String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut seen = Vec::new();
        for _ in 0..requests {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = BufReader::new(stream);
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            loop {
                let mut h = String::new();
                stream.read_line(&mut h).await.unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let answer = if line.starts_with("HEAD /_ping") {
                "HTTP/1.1 200 OK\r\nApi-Version: 1.40\r\nContent-Length: 0\r\n\r\n".to_string()
            } else if line.contains("/v1.41/") {
                let body = r#"{"message":"client version 1.41 is too new. Maximum supported API version is 1.40"}"#;
                format!("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            } else {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                    .to_string()
            };
            stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
            seen.push(line.trim_end().to_string());
        }
        seen
    }

    #[tokio::test]
    async fn an_older_daemon_gets_its_own_version_after_saying_ours_is_too_new() {
        let dir = std::env::temp_dir().join(format!("rdocker-http-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("d.sock");
        let _ = std::fs::remove_file(&sock);
        let server = tokio::spawn(old_daemon(
            tokio::net::UnixListener::bind(&sock).unwrap(),
            4,
        ));
        let client = Client::new(&format!("unix://{}", sock.display())).unwrap();
        let v: serde_json::Value = client.get_json("/containers/json").await.unwrap();
        assert_eq!(v, serde_json::json!({}));
        // Negotiated once: the next request goes straight to 1.40.
        let _: serde_json::Value = client.get_json("/images/json").await.unwrap();
        let seen = server.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            seen,
            [
                "GET /v1.41/containers/json HTTP/1.1",
                "HEAD /_ping HTTP/1.1",
                "GET /v1.40/containers/json HTTP/1.1",
                "GET /v1.40/images/json HTTP/1.1",
            ]
        );
    }
}
