//! A tiny HTTP/1.1 client over a Unix socket, independent of the daemon's and client's HTTP stacks,
//! so the tests see exactly the bytes on the wire (status lines, headers, chunking, upgrades).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long any single read may block before the test fails instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A status line and headers.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body in the message when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response {} is not JSON ({e}): {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// A stream of JSON lines (pull, push and load progress), one value a line.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"))
            })
            .collect()
    }

    /// Docker's error body `{"message": "..."}`.
    pub fn message(&self) -> String {
        match self.json().get("message") {
            Some(serde_json::Value::String(m)) => m.clone(),
            other => panic!(
                "error body has no string \"message\" (got {other:?}): {:?}",
                self.text()
            ),
        }
    }
}

/// One connection. Used directly for hijacked (101) streams and for reading a head before the body.
pub struct Conn {
    reader: BufReader<UnixStream>,
}

impl Conn {
    pub fn connect(sock: &Path) -> io::Result<Conn> {
        let stream = UnixStream::connect(sock)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one request. `Host` and `Content-Length` (when there is a body or the method is a
    /// POST/PUT) are added here; `headers` may add more.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: rdocker-it\r\n"
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(req.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()
    }

    /// Half-closes the writing side, as the docker CLI does after an upgrade without stdin.
    pub fn close_write(&mut self) -> io::Result<()> {
        self.reader.get_ref().shutdown(std::net::Shutdown::Write)
    }

    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Reads a status line and headers (skipping nothing: a 101 is returned as it is).
    pub fn read_head(&mut self) -> io::Result<Head> {
        let line = self.read_line()?;
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(bad(format!("not an HTTP status line: {line:?}")));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line: {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("bad header line: {line:?}")))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Head { status, headers })
    }

    /// Reads the body that belongs to `head` (the answer to a `method` request): none for
    /// HEAD/1xx/204/304, `Content-Length` bytes, chunked, or up to EOF.
    pub fn read_body(&mut self, method: &str, head: &Head) -> io::Result<Vec<u8>> {
        if method == "HEAD" || head.status / 100 == 1 || head.status == 204 || head.status == 304 {
            return Ok(Vec::new());
        }
        let chunked = head
            .header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            return self.read_chunked();
        }
        if let Some(len) = head.header("Content-Length") {
            let len: usize = len
                .parse()
                .map_err(|_| bad(format!("bad Content-Length {len:?}")))?;
            let mut body = vec![0; len];
            self.reader.read_exact(&mut body)?;
            return Ok(body);
        }
        self.read_to_end()
    }

    /// Everything until the peer closes (the raw stream after a 101).
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader.read_to_end(&mut out)?;
        Ok(out)
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| bad(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            let crlf = self.read_line()?;
            if !crlf.is_empty() {
                return Err(bad(format!("chunk not followed by CRLF: {crlf:?}")));
            }
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut buf = Vec::new();
        let n = self.reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the end of the HTTP message",
            ));
        }
        if buf.ends_with(b"\n") {
            buf.pop();
            if buf.ends_with(b"\r") {
                buf.pop();
            }
        }
        String::from_utf8(buf).map_err(|e| bad(format!("non-UTF-8 header line: {e}")))
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// One request on a fresh connection (`Connection: close`), JSON content type when there is a body.
pub fn request(sock: &Path, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Response> {
    let mut headers = vec![("Connection", "close")];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    request_with(sock, method, path, &headers, body.unwrap_or_default())
}

pub fn request_with(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut conn = Conn::connect(sock)?;
    conn.send(method, path, headers, body)?;
    let head = conn.read_head()?;
    let body = conn.read_body(method, &head)?;
    Ok(Response {
        status: head.status,
        headers: head.headers,
        body,
    })
}

/// Splits a docker stdcopy stream (`[stream, 0, 0, 0, len_be32] payload`) into frames.
pub fn demux(mut raw: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !raw.is_empty() {
        assert!(
            raw.len() >= 8,
            "truncated stdcopy header: {raw:?} (frames so far: {frames:?})"
        );
        let stream = raw[0];
        assert!(
            stream <= 2 && raw[1..4] == [0, 0, 0],
            "bad stdcopy header {:?}",
            &raw[..8]
        );
        let len = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
        assert!(
            raw.len() >= 8 + len,
            "stdcopy frame of {len} bytes truncated: {raw:?}"
        );
        frames.push((stream, raw[8..8 + len].to_vec()));
        raw = &raw[8 + len..];
    }
    frames
}

/// The concatenated payloads of one stream (1 = stdout, 2 = stderr).
pub fn stream_text(frames: &[(u8, Vec<u8>)], stream: u8) -> String {
    let bytes: Vec<u8> = frames
        .iter()
        .filter(|(s, _)| *s == stream)
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
