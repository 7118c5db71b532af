//! docker's `jsonmessage.DisplayJSONMessagesStream`: renders the JSON progress stream of
//! pull, push, load and import. On a terminal each layer id keeps its own line, rewritten in
//! place with ANSI cursor moves; otherwise one plain line per message and no progress bars.

use crate::format::human_size_4;
use crate::http::StreamReader;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;

/// `progressDetail`: what docker draws the progress bar from.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProgressDetail {
    pub current: i64,
    pub total: i64,
    pub start: i64,
    pub hidecounts: bool,
    pub units: String,
}

/// `errorDetail`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    pub code: i64,
    pub message: String,
}

/// One line of the stream (api::image::ProgressMessage plus the fields only the renderer
/// needs: `progressDetail`, `aux`, `from`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JsonMessage {
    pub stream: String,
    pub status: String,
    pub id: String,
    pub from: String,
    #[serde(rename = "progressDetail")]
    pub progress_detail: Option<ProgressDetail>,
    /// The pre-rendered bar (`progress`), docker's deprecated `ProgressMessage`.
    pub progress: String,
    #[serde(rename = "errorDetail")]
    pub error_detail: Option<ErrorDetail>,
    pub error: String,
    pub aux: Option<Value>,
}

/// Go's `time.Duration.String()` for whole seconds: `5s`, `1m30s`, `2h0m5s`.
fn go_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

impl ProgressDetail {
    /// `JSONProgress.String()` for a terminal `width` columns wide at unix time `now`.
    pub fn render(&self, width: u16, now: i64) -> String {
        if self.current <= 0 && self.total <= 0 {
            return String::new();
        }
        if self.total <= 0 {
            return match self.units.as_str() {
                "" => format!("{:>8}", human_size_4(self.current)),
                u => format!("{} {u}", self.current),
            };
        }
        let percentage = ((self.current as f64 / self.total as f64 * 100.0) as i64 / 2).min(50);
        let mut out = String::new();
        if width > 110 {
            let spaces = (50 - percentage).max(0) as usize;
            out.push_str(&format!(
                "[{}>{}] ",
                "=".repeat(percentage.max(0) as usize),
                " ".repeat(spaces)
            ));
        }
        if !self.hidecounts {
            let current = human_size_4(self.current);
            match (self.units.as_str(), self.current > self.total) {
                ("", false) => out.push_str(&format!("{current:>8}/{}", human_size_4(self.total))),
                ("", true) => out.push_str(&format!("{current:>8}")),
                (u, false) => out.push_str(&format!("{}/{} {u}", self.current, self.total)),
                (u, true) => out.push_str(&format!("{} {u}", self.current)),
            }
        }
        if width > 50 && self.current > 0 && self.start > 0 && percentage < 50 {
            let elapsed = (now - self.start).max(0) as f64;
            let left = (self.total - self.current) as f64 * elapsed / self.current as f64;
            out.push(' ');
            out.push_str(&go_duration(left.round() as i64));
        }
        out
    }
}

/// The failure a stream reports (`errorDetail`, else `error`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StreamError(pub String);

/// The rendering state: which line each layer id occupies above the cursor.
#[derive(Debug)]
pub struct Renderer {
    tty: bool,
    width: u16,
    ids: HashMap<String, usize>,
}

fn cursor_up(out: &mut String, n: usize) {
    if n > 0 {
        out.push_str(&format!("\x1b[{n}A"));
    }
}

fn cursor_down(out: &mut String, n: usize) {
    if n > 0 {
        out.push_str(&format!("\x1b[{n}B"));
    }
}

impl Renderer {
    /// A renderer for a terminal `width` columns wide (`tty`), or for plain output.
    pub fn new(tty: bool, width: u16) -> Self {
        Self {
            tty,
            width,
            ids: HashMap::new(),
        }
    }

    /// Appends the text for `jm` to `out`; an error message ends the stream with its text.
    pub fn render(
        &mut self,
        jm: &JsonMessage,
        out: &mut String,
        now: i64,
    ) -> Result<(), StreamError> {
        if jm.aux.is_some() {
            return Ok(());
        }
        let mut diff = 0;
        let has_progress = jm.progress_detail.is_some() || !jm.progress.is_empty();
        if !jm.id.is_empty() && has_progress {
            let line = match self.ids.get(&jm.id) {
                Some(l) => *l,
                None => {
                    let l = self.ids.len();
                    self.ids.insert(jm.id.clone(), l);
                    if self.tty {
                        out.push('\n');
                    }
                    l
                }
            };
            diff = self.ids.len() - line;
            if self.tty {
                cursor_up(out, diff);
            }
        } else {
            // Lines not tracked by id end the in-place region.
            self.ids.clear();
        }
        let shown = self.display(jm, out, now);
        if !jm.id.is_empty() && self.tty {
            cursor_down(out, diff);
        }
        shown
    }

    /// `JSONMessage.Display`.
    fn display(&self, jm: &JsonMessage, out: &mut String, now: i64) -> Result<(), StreamError> {
        if let Some(e) = &jm.error_detail {
            if e.code == 401 {
                return Err(StreamError("authentication is required".into()));
            }
            return Err(StreamError(e.message.clone()));
        }
        if !jm.error.is_empty() {
            return Err(StreamError(jm.error.clone()));
        }
        let bar = jm
            .progress_detail
            .as_ref()
            .map(|p| p.render(self.width, now))
            .unwrap_or_default();
        let mut endl = "";
        if self.tty && jm.stream.is_empty() && jm.progress_detail.is_some() {
            out.push_str("\x1b[2K\r");
            endl = "\r";
        } else if !bar.is_empty() {
            // No progress bars without a terminal.
            return Ok(());
        } else if !self.tty && jm.progress_detail.is_none() && !jm.progress.is_empty() {
            // Nor for a daemon that sends only the pre-rendered `progress` text (docker would
            // print it without a line end).
            return Ok(());
        }
        if !jm.id.is_empty() {
            out.push_str(&jm.id);
            out.push_str(": ");
        }
        if !jm.from.is_empty() {
            out.push_str(&format!("(from {}) ", jm.from));
        }
        if jm.progress_detail.is_some() && self.tty {
            out.push_str(&format!("{} {bar}{endl}", jm.status));
        } else if !jm.progress.is_empty() {
            out.push_str(&format!("{} {}{endl}", jm.status, jm.progress));
        } else if !jm.stream.is_empty() {
            out.push_str(&format!("{}{endl}", jm.stream));
        } else {
            out.push_str(&format!("{}{endl}\n", jm.status));
        }
        Ok(())
    }
}

/// Where a stream is shown.
pub enum Sink {
    Stdout,
    Stderr,
    /// `-q`: read (errors still count) but show nothing.
    Discard,
}

impl Sink {
    fn is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        match self {
            Sink::Stdout => std::io::stdout().is_terminal(),
            Sink::Stderr => std::io::stderr().is_terminal(),
            Sink::Discard => false,
        }
    }

    fn write(&self, text: &str) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(text.as_bytes())?;
                o.flush()
            }
            Sink::Stderr => {
                let mut e = std::io::stderr().lock();
                e.write_all(text.as_bytes())?;
                e.flush()
            }
            Sink::Discard => Ok(()),
        }
    }
}

/// The terminal's width in columns (docker assumes 200 when it cannot tell).
fn terminal_width(sink: &Sink) -> u16 {
    use std::os::fd::AsFd;
    let size = match sink {
        Sink::Stdout => rustix::termios::tcgetwinsize(std::io::stdout().as_fd()),
        Sink::Stderr => rustix::termios::tcgetwinsize(std::io::stderr().as_fd()),
        Sink::Discard => return 200,
    };
    size.map(|ws| ws.ws_col).unwrap_or(200)
}

/// Reads a whole progress stream and shows it on `sink`; an error message in the stream (or
/// a line that is not JSON) ends it with an error.
pub async fn display(reader: &mut StreamReader, sink: Sink) -> anyhow::Result<()> {
    let tty = sink.is_terminal();
    let mut renderer = Renderer::new(tty, if tty { terminal_width(&sink) } else { 200 });
    let mut buf: Vec<u8> = Vec::new();
    let mut text = String::new();
    let mut ended = false;
    while !ended {
        match reader.next_chunk().await? {
            Some(chunk) => buf.extend_from_slice(&chunk),
            None => ended = true,
        }
        let mut stream = serde_json::Deserializer::from_slice(&buf).into_iter::<JsonMessage>();
        let mut consumed = 0;
        let now = chrono::Utc::now().timestamp();
        let mut failure = None;
        loop {
            match stream.next() {
                Some(Ok(jm)) => {
                    consumed = stream.byte_offset();
                    if let Err(e) = renderer.render(&jm, &mut text, now) {
                        failure = Some(e);
                        break;
                    }
                }
                Some(Err(e)) if e.is_eof() && !ended => break,
                Some(Err(e)) => {
                    sink.write(&text)?;
                    return Err(anyhow::anyhow!(e).context("cannot decode the daemon's progress"));
                }
                None => break,
            }
        }
        sink.write(&text)?;
        text.clear();
        if let Some(e) = failure {
            return Err(e.into());
        }
        buf.drain(..consumed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(lines: &str) -> Vec<JsonMessage> {
        serde_json::Deserializer::from_str(lines)
            .into_iter::<JsonMessage>()
            .map(|m| m.expect("valid json"))
            .collect()
    }

    fn run(lines: &str, tty: bool, width: u16) -> (String, Option<String>) {
        let mut r = Renderer::new(tty, width);
        let mut out = String::new();
        for m in msgs(lines) {
            if let Err(e) = r.render(&m, &mut out, 0) {
                return (out, Some(e.0));
            }
        }
        (out, None)
    }

    const PULL: &str = r#"
        {"status":"Pulling from library/busybox","id":"latest"}
        {"status":"Pulling fs layer","progressDetail":{},"id":"90b9666d4aed"}
        {"status":"Pulling fs layer","progressDetail":{},"id":"aaaa6666d4ae"}
        {"status":"Downloading","progressDetail":{"current":1000,"total":2000},"progress":"[=>] 1kB/2kB","id":"90b9666d4aed"}
        {"status":"Pull complete","progressDetail":{},"id":"90b9666d4aed"}
        {"status":"Pull complete","progressDetail":{},"id":"aaaa6666d4ae"}
        {"status":"Digest: sha256:abcd"}
        {"status":"Status: Downloaded newer image for busybox:latest"}
        {"progressDetail":{},"aux":{"Tag":"latest"}}"#;

    #[test]
    fn plain_output_matches_docker() {
        let (out, err) = run(PULL, false, 200);
        assert_eq!(err, None);
        assert_eq!(
            out,
            "latest: Pulling from library/busybox\n\
             90b9666d4aed: Pulling fs layer\n\
             aaaa6666d4ae: Pulling fs layer\n\
             90b9666d4aed: Pull complete\n\
             aaaa6666d4ae: Pull complete\n\
             Digest: sha256:abcd\n\
             Status: Downloaded newer image for busybox:latest\n"
        );
    }

    #[test]
    fn terminal_output_matches_docker() {
        // Byte for byte what docker 28.2.2 writes to a terminal of width 0 for PULL.
        let (out, _) = run(PULL, true, 0);
        let want = "latest: Pulling from library/busybox\n\
            \n\x1b[1A\x1b[2K\r90b9666d4aed: Pulling fs layer \r\x1b[1B\
            \n\x1b[1A\x1b[2K\raaaa6666d4ae: Pulling fs layer \r\x1b[1B\
            \x1b[2A\x1b[2K\r90b9666d4aed: Downloading      1kB/2kB\r\x1b[2B\
            \x1b[2A\x1b[2K\r90b9666d4aed: Pull complete \r\x1b[2B\
            \x1b[1A\x1b[2K\raaaa6666d4ae: Pull complete \r\x1b[1B\
            Digest: sha256:abcd\n\
            Status: Downloaded newer image for busybox:latest\n";
        assert_eq!(out, want);
    }

    #[test]
    fn streams_and_errors() {
        let (out, err) = run(
            r#"{"stream":"Loaded image: busybox:latest\n"}
               {"status":"Pulling from library/x","id":"latest"}
               {"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#,
            false,
            200,
        );
        assert_eq!(
            out,
            "Loaded image: busybox:latest\nlatest: Pulling from library/x\n"
        );
        assert_eq!(err.as_deref(), Some("manifest unknown"));
        let (_, err) = run(r#"{"errorDetail":{"code":401,"message":"x"}}"#, false, 200);
        assert_eq!(err.as_deref(), Some("authentication is required"));
        let (_, err) = run(r#"{"error":"only the old field"}"#, false, 200);
        assert_eq!(err.as_deref(), Some("only the old field"));
        // A bare status line (import's id) prints as is.
        assert_eq!(
            run(r#"{"status":"sha256:ab"}"#, false, 200).0,
            "sha256:ab\n"
        );
        // Progress without progressDetail is hidden without a terminal, shown on one.
        let pre = r#"{"status":"Loading layer","progress":"[=>] 5B/10B","id":"ab"}"#;
        assert_eq!(run(pre, false, 200).0, "");
        assert_eq!(
            run(pre, true, 200).0,
            "\n\x1b[1Aab: Loading layer [=>] 5B/10B\x1b[1B"
        );
    }

    #[test]
    fn bars_follow_json_progress() {
        let p = |current, total| ProgressDetail {
            current,
            total,
            ..Default::default()
        };
        assert_eq!(p(0, 0).render(200, 0), "");
        assert_eq!(p(1000, 2000).render(80, 0), "     1kB/2kB");
        assert_eq!(
            p(1000, 2000).render(120, 0),
            format!("[{}>{}]      1kB/2kB", "=".repeat(25), " ".repeat(25))
        );
        assert_eq!(p(3000, 2000).render(80, 0), "     3kB");
        assert_eq!(p(1500, 0).render(80, 0), "   1.5kB");
        let timed = ProgressDetail {
            current: 10,
            total: 100,
            start: 100,
            ..Default::default()
        };
        assert_eq!(timed.render(80, 110), "     10B/100B 1m30s");
        let units = ProgressDetail {
            current: 3,
            total: 5,
            units: "files".into(),
            ..Default::default()
        };
        assert_eq!(units.render(80, 0), "3/5 files");
        assert_eq!(go_duration(7205), "2h0m5s");
    }
}
