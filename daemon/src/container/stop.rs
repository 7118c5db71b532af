//! Stop, kill, restart, wait and resize.

use super::{ContainerService, Entry, Input, Life};
use crate::error::{ErrorKind, Result, ServiceError};
use api::container::{WaitError, WaitResponse};
use nix::sys::signal::Signal;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// `condition` of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl FromStr for WaitCondition {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "not-running" => Ok(Self::NotRunning),
            "next-exit" => Ok(Self::NextExit),
            "removed" => Ok(Self::Removed),
            other => Err(ServiceError::invalid(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

/// Parses a signal as Docker does: a number, or a name with or without `SIG`, any case.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || ServiceError::invalid(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| bad())
}

impl ContainerService {
    /// Sends the stop signal, waits up to `timeout` seconds (the container's StopTimeout or 10
    /// by default; negative waits forever), then kills. Answers once the container has stopped.
    pub async fn stop(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let e = self.lookup(name)?;
        let _op = e.op.lock().await;
        self.stop_locked(&e, signal, timeout).await
    }

    async fn stop_locked(
        &self,
        e: &Entry,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let mut life = e.subscribe_life();
        let before = *life.borrow();
        if !before.running {
            return Err(ErrorKind::NotModified.into());
        }
        let (stop_signal, stop_timeout) = {
            let d = e.data();
            (d.config.stop_signal.clone(), d.config.stop_timeout)
        };
        let sig = parse_signal(signal.or(stop_signal.as_deref()).unwrap_or("SIGTERM"))?;
        let secs = timeout.or(stop_timeout).unwrap_or(10);
        self.signal(e, sig)?;
        let exited = |l: &Life| l.exits > before.exits;
        if secs >= 0 {
            let waited =
                tokio::time::timeout(Duration::from_secs(secs as u64), life.wait_for(exited)).await;
            if waited.is_ok() {
                return Ok(());
            }
            tracing::info!(container_id = %e.id, timeout = secs, "container did not stop in time; killing");
            self.signal(e, Signal::SIGKILL)?;
        }
        let _ = life.wait_for(exited).await;
        Ok(())
    }

    fn signal(&self, e: &Entry, sig: Signal) -> Result<()> {
        let pid = e.data().state.pid as i32;
        if pid <= 0 {
            return Ok(());
        }
        self.exec
            .kill(pid, sig as i32)
            .map_err(|err| ServiceError::from_err(&format!("Cannot kill container {}", e.id), &err))
    }

    /// Sends a signal (default SIGKILL). SIGKILL waits briefly for the exit, as Docker does.
    pub async fn kill(self: &Arc<Self>, name: &str, signal: Option<&str>) -> Result<()> {
        let e = self.lookup(name)?;
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let mut life = e.subscribe_life();
        let before = *life.borrow();
        if !before.running {
            return Err(ServiceError::conflict(format!(
                "Container {} is not running",
                e.id
            )));
        }
        self.signal(&e, sig)?;
        if sig == Signal::SIGKILL {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                life.wait_for(|l| l.exits > before.exits),
            )
            .await;
        }
        Ok(())
    }

    /// Stops (if running) and starts again.
    pub async fn restart(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let e = self.lookup(name)?;
        {
            let _op = e.op.lock().await;
            match self.stop_locked(&e, signal, timeout).await {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::NotModified => {}
                Err(err) => return Err(err),
            }
        }
        self.start(&e.id).await
    }

    /// Validates the request now and returns the future that resolves when `cond` is met, so
    /// the caller can send the response head first.
    pub fn wait(
        &self,
        name: &str,
        cond: WaitCondition,
    ) -> Result<impl Future<Output = WaitResponse> + Send + 'static> {
        let e = self.lookup(name)?;
        let life = e.subscribe_life();
        Ok(wait_for(life, cond))
    }

    /// Passes a TTY size to the container's shim.
    pub fn resize(&self, name: &str, h: u16, w: u16) -> Result<()> {
        let e = self.lookup(name)?;
        if !e.life.borrow().running {
            return Err(ServiceError::conflict(format!(
                "Container {} is not running",
                e.id
            )));
        }
        let _ = e.input().send(Input::Resize(h, w));
        Ok(())
    }
}

async fn wait_for(mut life: watch::Receiver<Life>, cond: WaitCondition) -> WaitResponse {
    let before = *life.borrow();
    let done = match cond {
        WaitCondition::NotRunning if !before.running => Ok(before),
        WaitCondition::NotRunning | WaitCondition::NextExit => life
            .wait_for(|l| l.exits > before.exits || l.removed)
            .await
            .map(|l| *l),
        WaitCondition::Removed => life.wait_for(|l| l.removed).await.map(|l| *l),
    };
    match done {
        Ok(l) => WaitResponse {
            status_code: l.exit_code,
            error: None,
        },
        Err(_) => WaitResponse {
            status_code: -1,
            error: Some(WaitError {
                message: "container state is gone".into(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_docker() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGHUP").unwrap(), Signal::SIGHUP);
        assert_eq!(
            parse_signal("BOGUS").unwrap_err().message(),
            "Invalid signal: BOGUS"
        );
        assert!(parse_signal("999").is_err());
    }

    #[tokio::test]
    async fn next_exit_waits_for_a_new_exit() {
        let (tx, rx) = watch::channel(Life {
            running: false,
            exit_code: 1,
            exits: 1,
            ..Life::default()
        });
        assert_eq!(
            wait_for(rx.clone(), WaitCondition::NotRunning)
                .await
                .status_code,
            1
        );
        let next = tokio::spawn(wait_for(rx, WaitCondition::NextExit));
        tokio::task::yield_now().await;
        tx.send_modify(|l| {
            l.exits = 2;
            l.exit_code = 3;
        });
        assert_eq!(next.await.unwrap().status_code, 3);
    }
}
