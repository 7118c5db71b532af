//! Docker's progress stream: the JSON lines of pulls, pushes and loads, and their bars.

use api::image::{ErrorDetail, ProgressDetail, ProgressMessage};
use std::io::Read;
use tokio::sync::mpsc;

/// Progress lines of one pull, push or load.
pub type Progress = mpsc::Sender<ProgressMessage>;

/// "Downloading" lines with a progress bar, every 256 KiB and at the end.
pub(super) fn progress_reporter<'a>(
    tx: &'a Progress,
    id: &'a str,
    total: u64,
) -> impl FnMut(u64) + Send + 'a {
    let mut last = 0u64;
    move |n: u64| {
        if n == total || n >= last + 256 * 1024 {
            last = n;
            let _ = tx.try_send(bar_line("Downloading", id, n, total));
        }
    }
}

pub(super) fn status(text: &str, id: Option<&str>) -> ProgressMessage {
    ProgressMessage {
        status: Some(text.into()),
        id: id.map(String::from),
        ..Default::default()
    }
}

pub(super) fn error_line(message: &str) -> ProgressMessage {
    ProgressMessage {
        error: Some(message.into()),
        error_detail: Some(ErrorDetail {
            message: message.into(),
        }),
        ..Default::default()
    }
}

/// The 12-hex short form Docker shows for a blob or an id.
pub(super) fn short(digest: &str) -> String {
    digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}

/// Docker's progress text (its `JSONProgress` without a terminal): a bar of 50 steps, then
/// the sizes with 4 digits, `[=====>      ]  1.05MB/2.3MB`.
pub(super) fn progress_bar(current: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    let filled = (current.saturating_mul(100) / total.max(1) / 2).min(WIDTH);
    let bar = format!(
        "{}>{}",
        "=".repeat(filled as usize),
        " ".repeat((WIDTH - filled) as usize)
    );
    let size = |n: u64| api::units::human_size_4(i64::try_from(n).unwrap_or(i64::MAX));
    format!("[{bar}] {:>8}/{}", size(current), size(total))
}

/// A line with a bar: `status` of `id`, `current` of `total` bytes.
pub(super) fn bar_line(status: &str, id: &str, current: u64, total: u64) -> ProgressMessage {
    ProgressMessage {
        status: Some(status.into()),
        id: Some(id.into()),
        progress: Some(progress_bar(current, total)),
        progress_detail: Some(ProgressDetail { current, total }),
        ..Default::default()
    }
}

/// A reader of `total` bytes reported as `status` lines of `id` (`Loading layer`,
/// `Extracting`): after the first 32 KiB, every 512 KiB and at the end, as dockerd's progress
/// reader does. To be read on a blocking thread (it waits for room in the channel).
pub(super) struct ReportingReader<R> {
    inner: R,
    tx: Progress,
    status: &'static str,
    id: String,
    read: u64,
    reported: Option<u64>,
    total: u64,
}

impl<R> ReportingReader<R> {
    pub(super) fn new(inner: R, tx: Progress, status: &'static str, id: &str, total: u64) -> Self {
        Self {
            inner,
            tx,
            status,
            id: id.to_string(),
            read: 0,
            reported: None,
            total,
        }
    }
}

impl<R: Read> Read for ReportingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let due = match self.reported {
            None => self.read >= 32 * 1024 || (n == 0 && self.read > 0),
            Some(last) => self.read >= last + 512 * 1024 || (n == 0 && last < self.read),
        };
        if due {
            self.reported = Some(self.read);
            // A client that went away only stops the reports.
            let line = bar_line(self.status, &self.id, self.read, self.total);
            let _ = self.tx.blocking_send(line);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_looks_like_dockers() {
        assert!(progress_bar(50, 100).starts_with("[=========================>"));
        assert!(progress_bar(100, 100).starts_with(&format!("[{}>]", "=".repeat(50))));
        // Two lines dockerd sent while loading busybox.
        let spaces = " ".repeat(50);
        assert_eq!(
            progress_bar(32768, 2129920),
            format!("[>{spaces}]  32.77kB/2.13MB")
        );
        let full = "=".repeat(50);
        assert_eq!(
            progress_bar(2129920, 2129920),
            format!("[{full}>]   2.13MB/2.13MB")
        );
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn readers_report_like_dockerd() {
        let data = vec![7u8; 1200 * 1024];
        let (tx, mut rx) = mpsc::channel(16);
        let mut r = ReportingReader::new(&data[..], tx, "Extracting", "abc", data.len() as u64);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        drop(r);
        let mut seen = Vec::new();
        while let Ok(m) = rx.try_recv() {
            assert_eq!(m.status.as_deref(), Some("Extracting"));
            seen.push(m.progress_detail.expect("detail").current);
        }
        assert!(seen.len() >= 3, "{seen:?}");
        assert!(seen[0] >= 32 * 1024, "{seen:?}");
        assert_eq!(seen.last(), Some(&(data.len() as u64)));
    }
}
