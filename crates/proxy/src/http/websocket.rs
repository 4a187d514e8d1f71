//! WebSocket pass-through: after a `101 Switching Protocols`, bytes are relayed both ways
//! unchanged while a passive frame parser (RFC 6455 §5.2) turns them into `ws` records.
//! Messages compressed with permessage-deflate (RFC 7692) are recorded decompressed.

use std::sync::Arc;

use base64::Engine as _;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use phonehome_record::{BodyEncoding, Direction, FlowId, Phase, Record, Ws};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::http::tee::FlowLog;

/// Relays an upgraded connection and records its messages. Ends when both directions close.
pub(crate) async fn relay(client: OnUpgrade, upstream: OnUpgrade, log: Arc<FlowLog>) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            log.error(
                Phase::UpstreamHttp,
                format!("WebSocket upgrade failed: {e}"),
            );
            return;
        }
    };
    let (client_read, client_write) = tokio::io::split(TokioIo::new(client));
    let (upstream_read, upstream_write) = tokio::io::split(TokioIo::new(upstream));
    let cap = log.recorder.max_body();
    tokio::join!(
        pump(
            client_read,
            upstream_write,
            FrameParser::new(Direction::Up, cap),
            &log
        ),
        pump(
            upstream_read,
            client_write,
            FrameParser::new(Direction::Down, cap),
            &log
        ),
    );
}

async fn pump<R, W>(mut from: R, mut to: W, mut parser: FrameParser, log: &FlowLog)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        for message in parser.feed(&buf[..n]) {
            log.recorder
                .record(Record::Ws(message.into_record(log.flow)));
        }
    }
    let _ = to.shutdown().await;
}

/// One parsed message, before it becomes a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub dir: Direction,
    pub opcode: u8,
    pub size: u64,
    pub data: Vec<u8>,
    pub truncated: bool,
}

impl Message {
    fn into_record(self, flow: FlowId) -> Ws {
        let opcode = match self.opcode {
            1 => "text",
            2 => "binary",
            8 => "close",
            9 => "ping",
            10 => "pong",
            _ => "other",
        };
        let (encoding, data) = match String::from_utf8(self.data) {
            Ok(text) => (BodyEncoding::Utf8, text),
            Err(e) => (
                BodyEncoding::Base64,
                base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
            ),
        };
        Ws {
            ts: phonehome_record::now(),
            flow,
            dir: self.dir,
            opcode: opcode.to_owned(),
            size: self.size,
            encoding,
            data,
            truncated: self.truncated,
            redaction: None,
        }
    }
}

/// Parses a byte stream of WebSocket frames without ever holding more than `cap` bytes of
/// one message.
pub(crate) struct FrameParser {
    dir: Direction,
    cap: usize,
    header: Vec<u8>,
    frame: Option<Frame>,
    message: Option<Message>,
    compressed: bool,
    inflater: Option<flate2::Decompress>,
}

struct Frame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    remaining: u64,
    offset: usize,
    control: Option<Message>,
}

impl FrameParser {
    pub(crate) fn new(dir: Direction, cap: usize) -> Self {
        Self {
            dir,
            cap,
            header: Vec::with_capacity(14),
            frame: None,
            message: None,
            compressed: false,
            inflater: None,
        }
    }

    /// Feeds relayed bytes; returns the messages they completed.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Vec<Message> {
        let mut done = Vec::new();
        while !bytes.is_empty() {
            if self.frame.is_none() {
                let used = self.read_header(bytes);
                bytes = &bytes[used..];
                if self.frame.as_ref().is_some_and(|f| f.remaining == 0) {
                    self.end_frame(&mut done);
                }
                continue;
            }
            if let Some(frame) = &mut self.frame {
                let take = usize::try_from(frame.remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let chunk = &bytes[..take];
                bytes = &bytes[take..];
                frame.remaining -= take as u64;
                let target = frame.control.as_mut().or(self.message.as_mut());
                if let Some(message) = target {
                    append(message, chunk, frame.mask, frame.offset, self.cap);
                }
                frame.offset += take;
                if frame.remaining == 0 {
                    self.end_frame(&mut done);
                }
            }
        }
        done
    }

    /// Consumes header bytes; starts a frame once the header is whole.
    fn read_header(&mut self, bytes: &[u8]) -> usize {
        let mut used = 0;
        while used < bytes.len() {
            self.header.push(bytes[used]);
            used += 1;
            if let Some(frame) = self.parse_header() {
                self.header.clear();
                self.start_frame(frame);
                break;
            }
        }
        used
    }

    fn parse_header(&self) -> Option<Frame> {
        let h = &self.header;
        if h.len() < 2 {
            return None;
        }
        let masked = h[1] & 0x80 != 0;
        let (len, mut at) = match h[1] & 0x7f {
            126 if h.len() >= 4 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 if h.len() >= 10 => (
                u64::from_be_bytes(h[2..10].try_into().expect("eight bytes")),
                10,
            ),
            126 | 127 => return None,
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            if h.len() < at + 4 {
                return None;
            }
            let key = [h[at], h[at + 1], h[at + 2], h[at + 3]];
            at += 4;
            Some(key)
        } else {
            None
        };
        debug_assert_eq!(at, h.len());
        Some(Frame {
            fin: h[0] & 0x80 != 0,
            rsv1: h[0] & 0x40 != 0,
            opcode: h[0] & 0x0f,
            mask,
            remaining: len,
            offset: 0,
            control: None,
        })
    }

    fn start_frame(&mut self, mut frame: Frame) {
        if frame.opcode >= 8 {
            frame.control = Some(self.empty(frame.opcode));
        } else if frame.opcode != 0 || self.message.is_none() {
            self.message = Some(self.empty(frame.opcode));
            // RFC 7692 §6: RSV1 on the first frame marks a compressed message.
            self.compressed = frame.rsv1;
        }
        self.frame = Some(frame);
    }

    fn empty(&self, opcode: u8) -> Message {
        Message {
            dir: self.dir,
            opcode,
            size: 0,
            data: Vec::new(),
            truncated: false,
        }
    }

    fn end_frame(&mut self, done: &mut Vec<Message>) {
        let Some(frame) = self.frame.take() else {
            return;
        };
        if let Some(control) = frame.control {
            done.push(control);
            return;
        }
        if !frame.fin {
            return;
        }
        if let Some(mut message) = self.message.take() {
            if std::mem::take(&mut self.compressed) {
                self.inflate(&mut message);
            }
            done.push(message);
        }
    }

    /// Decompresses a permessage-deflate message in place, keeping the sliding window.
    fn inflate(&mut self, message: &mut Message) {
        if message.truncated {
            // The window cannot follow a message we did not keep whole.
            self.inflater = None;
            return;
        }
        let inflater = self
            .inflater
            .get_or_insert_with(|| flate2::Decompress::new(false));
        let mut input = std::mem::take(&mut message.data);
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut out = Vec::with_capacity(input.len() * 3);
        let mut consumed = 0;
        while consumed < input.len() && out.len() < self.cap {
            out.reserve(16 * 1024);
            let before_in = inflater.total_in();
            let before_out = inflater.total_out();
            if inflater
                .decompress_vec(&input[consumed..], &mut out, flate2::FlushDecompress::Sync)
                .is_err()
            {
                self.inflater = None;
                message.data = input;
                return;
            }
            consumed += usize::try_from(inflater.total_in() - before_in).unwrap_or(usize::MAX);
            if inflater.total_in() == before_in && inflater.total_out() == before_out {
                break;
            }
        }
        message.size = out.len() as u64;
        message.truncated = out.len() > self.cap;
        out.truncate(self.cap);
        message.data = out;
    }
}

fn append(message: &mut Message, chunk: &[u8], mask: Option<[u8; 4]>, offset: usize, cap: usize) {
    message.size += chunk.len() as u64;
    let room = cap.saturating_sub(message.data.len());
    if room < chunk.len() {
        message.truncated = true;
    }
    let start = message.data.len();
    message
        .data
        .extend_from_slice(&chunk[..room.min(chunk.len())]);
    if let Some(key) = mask {
        for (i, byte) in message.data[start..].iter_mut().enumerate() {
            *byte ^= key[(offset + i) % 4];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
        let masked = u8::from(mask.is_some()) << 7;
        match payload.len() {
            n if n < 126 => out.push(masked | n as u8),
            n if n < 65536 => {
                out.push(masked | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(masked | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    #[test]
    fn masked_text_fed_byte_by_byte() {
        let bytes = frame(true, false, 1, b"hello", Some([1, 2, 3, 4]));
        let mut parser = FrameParser::new(Direction::Up, 1024);
        let mut out = Vec::new();
        for b in &bytes {
            out.extend(parser.feed(std::slice::from_ref(b)));
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, b"hello");
        assert_eq!(out[0].opcode, 1);
    }

    #[test]
    fn fragments_join_and_control_frames_interleave() {
        let mut bytes = frame(false, false, 1, b"hel", None);
        bytes.extend(frame(true, false, 9, b"", None));
        bytes.extend(frame(true, false, 0, b"lo", None));
        bytes.extend(frame(true, false, 2, &[0u8; 300], None));
        let out = FrameParser::new(Direction::Down, 1024).feed(&bytes);
        let kinds: Vec<_> = out.iter().map(|m| (m.opcode, m.size)).collect();
        assert_eq!(kinds, vec![(9, 0), (1, 5), (2, 300)]);
        assert_eq!(out[1].data, b"hello");
    }

    #[test]
    fn large_message_is_capped() {
        let bytes = frame(true, false, 2, &vec![7u8; 70_000], None);
        let out = FrameParser::new(Direction::Down, 100).feed(&bytes);
        assert_eq!(out[0].size, 70_000);
        assert_eq!(out[0].data.len(), 100);
        assert!(out[0].truncated);
    }

    #[test]
    fn permessage_deflate_is_inflated_with_context() {
        let mut compressor = flate2::Compress::new(flate2::Compression::default(), false);
        let mut parser = FrameParser::new(Direction::Down, 1024);
        for text in ["first message", "first message again"] {
            let mut out = Vec::with_capacity(256);
            compressor
                .compress_vec(text.as_bytes(), &mut out, flate2::FlushCompress::Sync)
                .expect("compresses");
            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
            out.truncate(out.len() - 4);
            let got = parser.feed(&frame(true, true, 1, &out, None));
            assert_eq!(got[0].data, text.as_bytes());
        }
    }
}
