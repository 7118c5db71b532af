//! `GET /containers/{id}/logs`: reads the json-file log the shim writes, and follows it.

use super::ContainerService;
use crate::error::Result;
use bytes::Bytes;
use serde::Deserialize;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// Query of the logs endpoint.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// Last N lines; `None` for all.
    pub tail: Option<usize>,
    /// Unix seconds (fractional); 0 = no bound.
    pub since: f64,
    pub until: f64,
}

#[derive(Deserialize)]
struct Line {
    log: String,
    stream: String,
    time: String,
}

/// A log stream: chunks tagged with their stream number (1 stdout, 2 stderr).
pub struct LogStream {
    pub tty: bool,
    pub rx: mpsc::Receiver<(u8, Bytes)>,
}

impl ContainerService {
    /// Starts streaming a container's log.
    pub fn logs(&self, name: &str, opts: LogOptions) -> Result<LogStream> {
        let e = self.lookup(name)?;
        let tty = e.data().config.tty;
        let path = self.paths.log_path(&e.id);
        let mut life = e.subscribe_life();
        let mut output = e.subscribe_output();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut reader = LogReader {
                path,
                offset: 0,
                opts,
            };
            let first = reader.read_new(true).await;
            if !reader.send(&tx, first).await || !reader.opts.follow {
                return;
            }
            loop {
                let running = life.borrow_and_update().running;
                let lines = reader.read_new(false).await;
                if !reader.send(&tx, lines).await || !running {
                    return;
                }
                tokio::select! {
                    _ = output.recv() => {}
                    _ = life.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(LogStream { tty, rx })
    }
}

struct LogReader {
    path: PathBuf,
    offset: u64,
    opts: LogOptions,
}

impl LogReader {
    /// Reads complete lines appended since the last call (applying `tail` on the first).
    async fn read_new(&mut self, first: bool) -> Vec<(u8, Bytes)> {
        let path = self.path.clone();
        let offset = self.offset;
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<u8>, u64)> {
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok((Vec::new(), offset))
                }
                Err(e) => return Err(e),
            };
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            buf.truncate(complete);
            Ok((buf, offset + complete as u64))
        })
        .await;
        let Ok(Ok((buf, next))) = read else {
            return Vec::new();
        };
        self.offset = next;
        let mut lines: Vec<(u8, Bytes)> = buf
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice::<Line>(l).ok())
            .filter_map(|l| self.render(l))
            .collect();
        if first {
            if let Some(n) = self.opts.tail {
                let skip = lines.len().saturating_sub(n);
                lines.drain(..skip);
            }
        }
        lines
    }

    fn render(&self, l: Line) -> Option<(u8, Bytes)> {
        let stream = match l.stream.as_str() {
            "stdout" if self.opts.stdout => 1,
            "stderr" if self.opts.stderr => 2,
            _ => return None,
        };
        if self.opts.since > 0.0 || self.opts.until > 0.0 {
            let t = chrono::DateTime::parse_from_rfc3339(&l.time).ok()?;
            let secs = t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9;
            if (self.opts.since > 0.0 && secs < self.opts.since)
                || (self.opts.until > 0.0 && secs > self.opts.until)
            {
                return None;
            }
        }
        let text = if self.opts.timestamps {
            format!("{} {}", l.time, l.log)
        } else {
            l.log
        };
        Some((stream, Bytes::from(text)))
    }

    async fn send(&self, tx: &mpsc::Sender<(u8, Bytes)>, lines: Vec<(u8, Bytes)>) -> bool {
        for l in lines {
            if tx.send(l).await.is_err() {
                return false;
            }
        }
        true
    }
}
