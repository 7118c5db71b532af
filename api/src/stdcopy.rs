//! Docker's stdcopy multiplexing: without a TTY, attach and logs streams carry frames of an
//! 8-byte header `[stream, 0, 0, 0, len as u32 big-endian]` followed by `len` payload bytes.

/// Stream number of standard input in a frame header.
pub const STDIN: u8 = 0;
/// Stream number of standard output.
pub const STDOUT: u8 = 1;
/// Stream number of standard error.
pub const STDERR: u8 = 2;

/// Encodes one frame.
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Incremental decoder for a stream of frames.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if self.buf.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return None;
        }
        let stream = self.buf[0];
        let payload = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Some((stream, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_docker_bytes() {
        assert_eq!(
            frame(STDOUT, b"hi\n"),
            b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
        );
    }

    #[test]
    fn decoder_handles_split_input() {
        let mut d = Decoder::new();
        let mut bytes = frame(STDERR, b"oops");
        bytes.extend(frame(STDOUT, b""));
        d.feed(&bytes[..5]);
        assert_eq!(d.next_frame(), None);
        d.feed(&bytes[5..]);
        assert_eq!(d.next_frame(), Some((STDERR, b"oops".to_vec())));
        assert_eq!(d.next_frame(), Some((STDOUT, vec![])));
        assert_eq!(d.next_frame(), None);
    }
}
