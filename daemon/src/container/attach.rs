//! `POST /containers/{id}/attach`: connects a client to the container's live output and stdin.

use super::{ContainerService, Input, Output};
use crate::error::Result;
use tokio::sync::{broadcast, mpsc};

/// The channels of one attach session.
pub struct AttachStreams {
    pub tty: bool,
    /// Close the container's stdin when the client's input ends (`StdinOnce`).
    pub stdin_once: bool,
    /// Live output, ending with `Output::Exited`.
    pub output: broadcast::Receiver<Output>,
    /// The container's stdin, when the client asked for it and the container keeps it open.
    pub input: Option<mpsc::UnboundedSender<Input>>,
}

impl ContainerService {
    /// Subscribes to a container's streams. Output produced from now on is delivered; the
    /// session ends at the container's next exit.
    pub fn attach(&self, name: &str, stdin: bool) -> Result<AttachStreams> {
        let e = self.lookup(name)?;
        let (tty, open_stdin, stdin_once) = {
            let d = e.data();
            (d.config.tty, d.config.open_stdin, d.config.stdin_once)
        };
        Ok(AttachStreams {
            tty,
            stdin_once,
            output: e.subscribe_output(),
            input: (stdin && open_stdin).then(|| e.input()),
        })
    }
}
