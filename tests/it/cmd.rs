//! Running CLI processes (`docker`, `rdocker`) with a deadline, and reading their output.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A CLI call that takes longer than this is a hang, not slowness.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `cmd` to completion, feeding it `stdin` (or /dev/null), and kills it after `timeout`.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin was piped");
        let input = input.to_vec();
        // A separate thread, so a command that does not read its stdin cannot block us.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.unwrap_or_else(|e| panic!("waiting for {desc}: {e}")),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let out = rx.recv().ok().and_then(Result::ok);
            let (o, e) = out.map(|o| (o.out(), o.err())).unwrap_or_default();
            panic!("{desc} did not finish within {timeout:?}\nstdout: {o}\nstderr: {e}");
        }
    }
}

/// Convenience accessors for `std::process::Output`.
pub trait OutputExt {
    /// stdout as text.
    fn out(&self) -> String;
    /// stderr as text.
    fn err(&self) -> String;
    /// stderr without the `WARNING: …` lines a CLI prints for the daemon's create warnings
    /// (`docker run` output that comes from the container itself).
    fn err_output(&self) -> String;
    /// The exit code (-1 when killed by a signal).
    fn code(&self) -> i32;
    /// Panics unless the exit code is 0; returns stdout.
    fn ok(&self, what: &str) -> String;
    /// Panics unless the exit code is `code`.
    fn expect_code(&self, code: i32, what: &str) -> &Self;
}

impl OutputExt for Output {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    fn err_output(&self) -> String {
        self.err()
            .split_inclusive('\n')
            .filter(|l| !l.starts_with("WARNING: "))
            .collect()
    }

    fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    fn ok(&self, what: &str) -> String {
        self.expect_code(0, what);
        self.out()
    }

    fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "{what}: expected exit code {code}, got {:?}\nstdout: {}\nstderr: {}",
            self.status,
            self.out(),
            self.err()
        );
        self
    }
}

/// Calls `f` until it returns `Some`, at most until `timeout`; panics with `what` after that.
/// The pause between attempts is short: this waits for a state, it is not a timing assumption.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
