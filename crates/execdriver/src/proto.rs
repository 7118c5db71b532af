//! The shim's pipe protocol: events (shim → daemon, on the shim's stdout) and control frames
//! (daemon → shim, on its stdin). Every frame is `[kind u8][len u32 big-endian][payload]`.
//!
//! Payloads: `Started` = pid as i32 BE; `Failed` and `Exited` = JSON; `Output` = stream byte
//! followed by the raw data; `Stdin` = raw data; `CloseStdin` = empty; `Resize` = rows u16 BE,
//! cols u16 BE.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::{ExitInfo, FailKind};

/// Length of a frame header.
pub const HEADER_LEN: usize = 5;
/// Largest payload accepted, a guard against a corrupted stream.
pub const MAX_FRAME: u32 = 16 << 20;

/// Stream byte of container stdout in [`Event::Output`].
pub const STDOUT: u8 = 1;
/// Stream byte of container stderr in [`Event::Output`].
pub const STDERR: u8 = 2;

const EV_STARTED: u8 = 1;
const EV_FAILED: u8 = 2;
const EV_OUTPUT: u8 = 3;
const EV_EXITED: u8 = 4;
const CT_STDIN: u8 = 1;
const CT_CLOSE_STDIN: u8 = 2;
const CT_RESIZE: u8 = 3;

/// What the shim reports to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The container's process exec'd; `pid` is its host pid.
    Started {
        /// Host pid of the container's PID 1.
        pid: i32,
    },
    /// The container could not be started; the shim exits after sending this.
    Failed {
        /// Failure class.
        kind: FailKind,
        /// runc-worded message.
        message: String,
    },
    /// A chunk of the container's output.
    Output {
        /// [`STDOUT`] or [`STDERR`] (always stdout with a tty).
        stream: u8,
        /// The bytes as read.
        data: Vec<u8>,
    },
    /// The container's process exited (and `exit.json` is written); last event.
    Exited(ExitInfo),
}

/// What the daemon tells the shim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Bytes for the container's stdin.
    Stdin(Vec<u8>),
    /// Close the container's stdin (send `^D` with a tty).
    CloseStdin,
    /// Resize the tty.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

#[derive(Serialize, Deserialize)]
struct FailedPayload {
    kind: FailKind,
    message: String,
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frames are far smaller than 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a frame header into kind and payload length.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<(u8, usize)> {
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
    if len > MAX_FRAME {
        return Err(Error::FrameTooLarge { len });
    }
    Ok((h[0], len as usize))
}

/// Encodes one event frame.
pub fn encode_event(e: &Event) -> Vec<u8> {
    match e {
        Event::Started { pid } => frame(EV_STARTED, &pid.to_be_bytes()),
        Event::Failed { kind, message } => {
            let p = FailedPayload {
                kind: *kind,
                message: message.clone(),
            };
            frame(
                EV_FAILED,
                &serde_json::to_vec(&p).expect("plain struct serializes"),
            )
        }
        Event::Output { stream, data } => {
            let mut out = frame(EV_OUTPUT, &[*stream]);
            out.extend_from_slice(data);
            let len = u32::try_from(data.len() + 1).expect("output chunks are small");
            out[1..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
            out
        }
        Event::Exited(info) => frame(
            EV_EXITED,
            &serde_json::to_vec(info).expect("plain struct serializes"),
        ),
    }
}

/// Decodes the payload of one event frame.
pub fn decode_event(kind: u8, payload: &[u8]) -> Result<Event> {
    let json_err = |source| Error::BadFrameJson { kind, source };
    match kind {
        EV_STARTED => {
            let b: [u8; 4] = payload.try_into().map_err(|_| Error::BadFrame { kind })?;
            Ok(Event::Started {
                pid: i32::from_be_bytes(b),
            })
        }
        EV_FAILED => {
            let p: FailedPayload = serde_json::from_slice(payload).map_err(json_err)?;
            Ok(Event::Failed {
                kind: p.kind,
                message: p.message,
            })
        }
        EV_OUTPUT => match payload.split_first() {
            Some((&stream, data)) => Ok(Event::Output {
                stream,
                data: data.to_vec(),
            }),
            None => Err(Error::BadFrame { kind }),
        },
        EV_EXITED => Ok(Event::Exited(
            serde_json::from_slice(payload).map_err(json_err)?,
        )),
        _ => Err(Error::UnknownFrame { kind }),
    }
}

/// Encodes a control message: one frame, or several for stdin data beyond [`MAX_FRAME`].
pub fn encode_control(c: &Control) -> Vec<u8> {
    match c {
        Control::Stdin(data) => data
            .chunks(MAX_FRAME as usize)
            .flat_map(|chunk| frame(CT_STDIN, chunk))
            .collect(),
        Control::CloseStdin => frame(CT_CLOSE_STDIN, &[]),
        Control::Resize { rows, cols } => {
            let mut p = rows.to_be_bytes().to_vec();
            p.extend_from_slice(&cols.to_be_bytes());
            frame(CT_RESIZE, &p)
        }
    }
}

/// Decodes the payload of one control frame.
pub fn decode_control(kind: u8, payload: &[u8]) -> Result<Control> {
    match (kind, payload) {
        (CT_STDIN, data) => Ok(Control::Stdin(data.to_vec())),
        (CT_CLOSE_STDIN, []) => Ok(Control::CloseStdin),
        (CT_RESIZE, [r0, r1, c0, c1]) => Ok(Control::Resize {
            rows: u16::from_be_bytes([*r0, *r1]),
            cols: u16::from_be_bytes([*c0, *c1]),
        }),
        (CT_CLOSE_STDIN | CT_RESIZE, _) => Err(Error::BadFrame { kind }),
        _ => Err(Error::UnknownFrame { kind }),
    }
}

/// Incremental frame splitter: feed bytes as they arrive, take whole frames out.
#[derive(Debug, Default)]
struct FrameBuf {
    buf: Vec<u8>,
}

impl FrameBuf {
    fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>> {
        let Some(header) = self.buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let (kind, len) = parse_header(header)?;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some((kind, payload)))
    }
}

/// Incremental decoder of the shim's event stream (for the daemon's async reader).
#[derive(Debug, Default)]
pub struct EventDecoder {
    frames: FrameBuf,
}

impl EventDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the event pipe.
    pub fn feed(&mut self, data: &[u8]) {
        self.frames.buf.extend_from_slice(data);
    }

    /// The next complete event, or `None` until more bytes are fed.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        match self.frames.next_frame()? {
            Some((kind, payload)) => decode_event(kind, &payload).map(Some),
            None => Ok(None),
        }
    }
}

/// Incremental decoder of control frames (used by the shim).
#[derive(Debug, Default)]
pub struct ControlDecoder {
    frames: FrameBuf,
}

impl ControlDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the control pipe.
    pub fn feed(&mut self, data: &[u8]) {
        self.frames.buf.extend_from_slice(data);
    }

    /// The next complete control frame, or `None` until more bytes are fed.
    pub fn next_control(&mut self) -> Result<Option<Control>> {
        match self.frames.next_frame()? {
            Some((kind, payload)) => decode_control(kind, &payload).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_roundtrip_byte_by_byte() {
        let events = vec![
            Event::Started { pid: 4242 },
            Event::Failed {
                kind: FailKind::NotFound,
                message: "exec: \"x\": executable file not found in $PATH".into(),
            },
            Event::Output {
                stream: STDERR,
                data: b"hi\n\x00\xff".to_vec(),
            },
            Event::Output {
                stream: STDOUT,
                data: vec![],
            },
            Event::Exited(ExitInfo {
                exit_code: 137,
                oom_killed: true,
                finished_at: "2026-11-22T06:14:21.123456789Z".into(),
            }),
        ];
        let bytes: Vec<u8> = events.iter().flat_map(encode_event).collect();
        let mut dec = EventDecoder::new();
        let mut got = vec![];
        for b in bytes {
            dec.feed(&[b]);
            while let Some(e) = dec.next_event().unwrap() {
                got.push(e);
            }
        }
        assert_eq!(got, events);
    }

    #[test]
    fn controls_roundtrip() {
        let ctl = vec![
            Control::Stdin(b"abc".to_vec()),
            Control::Resize { rows: 24, cols: 80 },
            Control::CloseStdin,
        ];
        let mut dec = ControlDecoder::new();
        for c in &ctl {
            dec.feed(&encode_control(c));
        }
        for c in &ctl {
            assert_eq!(dec.next_control().unwrap().as_ref(), Some(c));
        }
        assert_eq!(dec.next_control().unwrap(), None);
    }

    #[test]
    fn rejects_garbage() {
        let mut dec = EventDecoder::new();
        dec.feed(&[9, 0, 0, 0, 0]);
        assert!(matches!(
            dec.next_event(),
            Err(Error::UnknownFrame { kind: 9 })
        ));
        let mut dec = EventDecoder::new();
        dec.feed(&[1, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(dec.next_event(), Err(Error::FrameTooLarge { .. })));
    }
}
