//! Docker's json-file log: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2026-11-22T06:14:21.123456789Z"}`.
//! Output is split at newlines; a partial line is written once it reaches 16 KiB, or at EOF.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::shim_log;
use crate::error::{Error, Result};
use crate::proto::STDERR;

/// Longest partial line kept back waiting for its newline (Docker's `bufSize`).
const MAX_PARTIAL: usize = 16 * 1024;

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// The container's json-file log (or nothing, when no path is set).
pub(super) struct JsonLog {
    file: Option<File>,
    /// Unterminated line per stream (index 0 stdout, 1 stderr).
    partial: [Vec<u8>; 2],
    failed: bool,
}

fn stream_name(stream: u8) -> &'static str {
    if stream == STDERR {
        "stderr"
    } else {
        "stdout"
    }
}

impl JsonLog {
    /// Opens (creating it and its directory) the log for appending.
    pub(super) fn open(path: &Path) -> Result<Self> {
        let file = if path.as_os_str().is_empty() {
            None
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io("create log directory", dir, e))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::io("open container log", path, e))?;
            Some(f)
        };
        Ok(JsonLog {
            file,
            partial: [Vec::new(), Vec::new()],
            failed: false,
        })
    }

    fn slot(stream: u8) -> usize {
        usize::from(stream == STDERR)
    }

    /// Logs a chunk of `stream`'s output: every complete line, and full-size partial lines.
    pub(super) fn write(&mut self, stream: u8, data: &[u8]) {
        if self.file.is_none() {
            return;
        }
        let buf = &mut self.partial[Self::slot(stream)];
        buf.extend_from_slice(data);
        let mut records = Vec::new();
        let mut start = 0;
        let time = now();
        loop {
            let rest = &buf[start..];
            let end = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if rest.len() >= MAX_PARTIAL => MAX_PARTIAL,
                None => break,
            };
            encode(&mut records, stream, &rest[..end], &time);
            start += end;
        }
        buf.drain(..start);
        self.append(&records);
    }

    /// Writes `stream`'s unterminated last line (at EOF).
    pub(super) fn flush(&mut self, stream: u8) {
        let buf = std::mem::take(&mut self.partial[Self::slot(stream)]);
        if buf.is_empty() || self.file.is_none() {
            return;
        }
        let mut records = Vec::new();
        encode(&mut records, stream, &buf, &now());
        self.append(&records);
    }

    fn append(&mut self, records: &[u8]) {
        let Some(f) = self.file.as_mut() else { return };
        if records.is_empty() {
            return;
        }
        if let Err(e) = f.write_all(records) {
            if !self.failed {
                shim_log(format_args!("failed to write the container log: {e}"));
                self.failed = true;
            }
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn encode(out: &mut Vec<u8>, stream: u8, line: &[u8], time: &str) {
    let log = String::from_utf8_lossy(line);
    let e = Entry {
        log: &log,
        stream: stream_name(stream),
        time,
    };
    serde_json::to_writer(&mut *out, &e).expect("strings serialize");
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::STDOUT;

    #[test]
    fn splits_lines_and_flushes_partials() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/c-json.log");
        let mut log = JsonLog::open(&p).unwrap();
        log.write(STDOUT, b"a\nb");
        log.write(STDERR, b"err\n");
        log.write(STDOUT, b"c\n");
        log.write(STDOUT, &vec![b'x'; MAX_PARTIAL + 5]);
        log.flush(STDOUT);
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let logs: Vec<(&str, &str)> = lines
            .iter()
            .map(|v| (v["log"].as_str().unwrap(), v["stream"].as_str().unwrap()))
            .collect();
        assert_eq!(logs[0], ("a\n", "stdout"));
        assert_eq!(logs[1], ("err\n", "stderr"));
        assert_eq!(logs[2], ("bc\n", "stdout"));
        assert_eq!(logs[3].0.len(), MAX_PARTIAL);
        assert_eq!(logs[4].0, "xxxxx");
        let t = lines[0]["time"].as_str().unwrap();
        assert_eq!(t.len(), "2026-11-22T06:14:21.123456789Z".len(), "{t}");
        assert!(text.starts_with("{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\""));
    }
}
