//! Headers as the client sent them. hyper hands requests over with lowercase names, repeated
//! names grouped, HTTP/2 pseudo-headers gone. This tap reads the same bytes passively:
//!
//! - HTTP/1: each request head is parsed (httparse) for its names with their case, in order,
//!   duplicates included, and the body skipped (RFC 9112 §6: content-length or chunked) to
//!   find the next head.
//! - HTTP/2: HEADERS and CONTINUATION frames (RFC 9113 §6.2, §6.10) are reassembled and
//!   HPACK-decoded (RFC 7541) in order, keeping the decoder's table in step, for the names of
//!   every request, pseudo-headers first as the client ordered them.
//!
//! The engine takes the names for a request only when the head's method and target match the
//! request's; any doubt (an upgrade, a head too large, a parse error) stops the tap, and
//! requests then have no raw names rather than wrong ones.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::observe::Observer;

/// The most bytes of one request head the tap reads before giving up.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub method: String,
    pub target: String,
    /// Header names as sent.
    pub names: Vec<String>,
}

/// Heads parsed on one connection, waiting for their requests.
pub(crate) type Heads = Arc<Mutex<VecDeque<Head>>>;

/// Takes the names of the head of `method target`. HTTP/1 heads come strictly in order: the
/// next one must match, or all are forgotten. HTTP/2 streams interleave: the first match is
/// taken wherever it is.
pub(crate) fn take_names(
    heads: &Heads,
    method: &str,
    target: &str,
    in_order: bool,
) -> Option<Vec<String>> {
    let mut heads = heads.lock().unwrap_or_else(|e| e.into_inner());
    let matches = |h: &Head| h.method == method && h.target == target;
    if in_order {
        let head = heads.pop_front()?;
        if matches(&head) {
            return Some(head.names);
        }
        heads.clear();
        return None;
    }
    let at = heads.iter().position(matches)?;
    heads.remove(at).map(|h| h.names)
}

#[derive(Debug)]
enum State {
    /// Reading a head up to the blank line.
    Head(Vec<u8>),
    /// Skipping this many body bytes.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize(Vec<u8>),
    /// Skipping chunk data and its CRLF.
    ChunkData(u64),
    /// Reading trailer lines up to the blank line.
    Trailer(Vec<u8>),
    /// Stopped: an upgrade, or something the tap did not understand.
    Off,
}

/// The parser, fed with what the client sent.
#[derive(Debug)]
pub(crate) struct Parser {
    state: State,
    heads: Heads,
}

impl Parser {
    pub(crate) fn new(heads: Heads) -> Self {
        Self {
            state: State::Head(Vec::new()),
            heads,
        }
    }

    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let used = match &mut self.state {
                State::Off => return,
                State::Head(buf) => {
                    let (used, line) = until_blank_line(buf, bytes, MAX_HEAD);
                    if let Some(complete) = line {
                        self.state = self.head(&complete);
                    } else if buf.len() >= MAX_HEAD {
                        self.state = State::Off;
                    }
                    used
                }
                State::Body(left) => {
                    let used = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    *left -= used as u64;
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                    used
                }
                State::ChunkSize(buf) => {
                    let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
                        buf.extend_from_slice(bytes);
                        if buf.len() > 1024 {
                            self.state = State::Off;
                        }
                        return;
                    };
                    buf.extend_from_slice(&bytes[..=end]);
                    let line = String::from_utf8_lossy(buf);
                    let size = line
                        .trim()
                        .split(';')
                        .next()
                        .map(|s| u64::from_str_radix(s.trim(), 16));
                    self.state = match size {
                        Some(Ok(0)) => State::Trailer(Vec::new()),
                        Some(Ok(n)) => State::ChunkData(n + 2),
                        _ => State::Off,
                    };
                    end + 1
                }
                State::ChunkData(left) => {
                    let used = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    *left -= used as u64;
                    if *left == 0 {
                        self.state = State::ChunkSize(Vec::new());
                    }
                    used
                }
                State::Trailer(buf) => {
                    // The last chunk's CRLF may be all there is: then the trailer is empty.
                    let mut seen = std::mem::take(buf);
                    if seen.is_empty() && bytes.starts_with(b"\r\n") {
                        self.state = State::Head(Vec::new());
                        2
                    } else {
                        let (used, line) = until_blank_line(&mut seen, bytes, MAX_HEAD);
                        self.state = if line.is_some() {
                            State::Head(Vec::new())
                        } else if seen.len() >= MAX_HEAD {
                            State::Off
                        } else {
                            State::Trailer(seen)
                        };
                        used
                    }
                }
            };
            bytes = &bytes[used..];
        }
    }
}

impl Observer for Parser {
    fn read(&mut self, bytes: &[u8]) {
        self.feed(bytes);
    }
}

impl Parser {
    /// Parses a complete head, queues its names, and says how its body is framed.
    fn head(&self, bytes: &[u8]) -> State {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(_)) = request.parse(bytes) else {
            return State::Off;
        };
        let (Some(method), Some(target)) = (request.method, request.path) else {
            return State::Off;
        };
        // Read in place, without copying a value: this runs for every request.
        let values = |name: &'static str| {
            request
                .headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let upgrade = method.eq_ignore_ascii_case("CONNECT")
            || values("connection").any(|v| contains_ignore_ascii_case(v, b"upgrade"));
        let chunked =
            values("transfer-encoding").any(|v| contains_ignore_ascii_case(v, b"chunked"));
        let length = values("content-length")
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        self.heads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(Head {
                method: method.to_owned(),
                target: target.to_owned(),
                names: request.headers.iter().map(|h| h.name.to_owned()).collect(),
            });
        match (upgrade, chunked, length) {
            (true, _, _) => State::Off,
            (false, true, _) => State::ChunkSize(Vec::new()),
            (false, false, Some(n)) if n > 0 => State::Body(n),
            _ => State::Head(Vec::new()),
        }
    }
}

/// Whether `haystack` contains `needle` (lowercase ASCII) in any ASCII case.
fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frames larger than this stop the tap (SETTINGS_MAX_FRAME_SIZE is at most 2^24-1).
const MAX_FRAME: usize = 1 << 20;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// The HTTP/2 side: frames in, header blocks decoded in order.
pub(crate) struct H2Parser {
    preface: usize,
    buf: Vec<u8>,
    /// A header block waiting for its CONTINUATION frames.
    block: Vec<u8>,
    decoder: fluke_hpack::Decoder<'static>,
    heads: Heads,
    off: bool,
}

impl std::fmt::Debug for H2Parser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Parser")
            .field("off", &self.off)
            .finish_non_exhaustive()
    }
}

impl H2Parser {
    pub(crate) fn new(heads: Heads) -> Self {
        Self {
            preface: 0,
            buf: Vec::new(),
            block: Vec::new(),
            decoder: fluke_hpack::Decoder::new(),
            heads,
            off: false,
        }
    }

    /// One whole frame.
    fn frame(&mut self, kind: u8, flags: u8, payload: &[u8]) -> Option<()> {
        let fragment = match kind {
            HEADERS => {
                let mut p = payload;
                let pad = if flags & PADDED != 0 {
                    let (n, rest) = p.split_first()?;
                    p = rest;
                    usize::from(*n)
                } else {
                    0
                };
                if flags & PRIORITY != 0 {
                    p = p.get(5..)?;
                }
                self.block.clear();
                p.get(..p.len().checked_sub(pad)?)?
            }
            CONTINUATION => payload,
            _ => return Some(()),
        };
        self.block.extend_from_slice(fragment);
        if flags & END_HEADERS == 0 {
            return Some(());
        }
        let block = std::mem::take(&mut self.block);
        if !super::hpack_guard::well_formed(&block) {
            return None;
        }
        let (mut names, mut method, mut path) = (Vec::new(), None, None);
        self.decoder
            .decode_with_cb(&block, |name, value| {
                let name = String::from_utf8_lossy(&name).into_owned();
                match name.as_str() {
                    ":method" => method = Some(String::from_utf8_lossy(&value).into_owned()),
                    ":path" => path = Some(String::from_utf8_lossy(&value).into_owned()),
                    _ => {}
                }
                names.push(name);
            })
            .ok()?;
        if let (Some(method), Some(target)) = (method, path) {
            self.heads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_back(Head {
                    method,
                    target,
                    names,
                });
        }
        Some(())
    }
}

impl Observer for H2Parser {
    fn read(&mut self, bytes: &[u8]) {
        self.feed(bytes);
    }
}

impl H2Parser {
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        if self.off {
            return;
        }
        if self.preface < PREFACE.len() {
            let n = (PREFACE.len() - self.preface).min(bytes.len());
            if bytes[..n] != PREFACE[self.preface..self.preface + n] {
                self.off = true;
                return;
            }
            self.preface += n;
            bytes = &bytes[n..];
        }
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while self.buf.len() - start >= 9 {
            let header = &self.buf[start..start + 9];
            let len = (usize::from(header[0]) << 16)
                | (usize::from(header[1]) << 8)
                | usize::from(header[2]);
            let (kind, flags) = (header[3], header[4]);
            if len > MAX_FRAME {
                self.off = true;
                return;
            }
            if self.buf.len() - start < 9 + len {
                break;
            }
            let frame_start = start + 9;
            start += 9 + len;
            if kind != HEADERS && kind != CONTINUATION {
                continue;
            }
            let payload = self.buf[frame_start..frame_start + len].to_vec();
            if self.frame(kind, flags, &payload).is_none() {
                self.off = true;
                return;
            }
        }
        self.buf.drain(..start);
    }
}

/// Appends `bytes` to `buf` up to the end of the first blank line (`\r\n\r\n`), at most `max`
/// bytes in all; returns how many bytes were used, and the whole text once it is complete.
fn until_blank_line(buf: &mut Vec<u8>, bytes: &[u8], max: usize) -> (usize, Option<Vec<u8>>) {
    let start = buf.len().saturating_sub(3);
    let room = max.saturating_sub(buf.len()).min(bytes.len());
    buf.extend_from_slice(&bytes[..room]);
    match buf[start..].windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => {
            let end = start + at + 4;
            let used = room - (buf.len() - end);
            buf.truncate(end);
            (used, Some(std::mem::take(buf)))
        }
        None => (room, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<Head> {
        let heads: Heads = Arc::default();
        let mut parser = Parser::new(heads.clone());
        for chunk in chunks {
            parser.feed(chunk);
        }
        let out = heads.lock().expect("lock").iter().cloned().collect();
        out
    }

    #[test]
    fn keeps_case_order_and_duplicates_across_pipelined_requests() {
        let stream = b"POST /a HTTP/1.1\r\nHost: h\r\nX-Trace: 1\r\nContent-Length: 5\r\nx-trace: 2\r\n\r\nhello\
GET /b?q=1 HTTP/1.1\r\nhost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n\
GET /c HTTP/1.1\r\nHOST: h\r\n\r\n";
        let whole = parse(&[stream]);
        let names: Vec<Vec<&str>> = whole
            .iter()
            .map(|h| h.names.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            names,
            vec![
                vec!["Host", "X-Trace", "Content-Length", "x-trace"],
                vec!["host", "Transfer-Encoding"],
                vec!["HOST"],
            ]
        );
        assert_eq!(
            (whole[1].method.as_str(), whole[1].target.as_str()),
            ("GET", "/b?q=1")
        );
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(
            parse(&bytewise),
            whole,
            "the same when bytes arrive one at a time"
        );
    }

    #[test]
    fn framing_headers_in_any_case() {
        let heads = parse(&[
            b"POST /a HTTP/1.1\r\nTRANSFER-ENCODING: gzip, Chunked\r\n\r\n\
5\r\nhello\r\n0\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: \t3 \r\n\r\nabc\
GET /c HTTP/1.1\r\nConnection: keep-alive, UPGRADE\r\n\r\nGET /d HTTP/1.1\r\n\r\n",
        ]);
        let targets: Vec<&str> = heads.iter().map(|h| h.target.as_str()).collect();
        assert_eq!(
            targets,
            ["/a", "/b", "/c"],
            "the body of each skipped, nothing after the upgrade"
        );
    }

    #[test]
    fn stops_at_an_upgrade_and_at_garbage() {
        let heads = parse(&[b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /x HTTP/1.1\r\n\r\n"]);
        assert_eq!(heads.len(), 1, "frames after an upgrade are not requests");
        assert!(parse(&[b"\x16\x03\x01garbage\r\n\r\nGET / HTTP/1.1\r\n\r\n"]).is_empty());
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn http2_pseudo_header_order_across_padding_and_continuation() {
        let mut encoder = fluke_hpack::Encoder::new();
        let first: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"POST"),
            (b":authority", b"api.test"),
            (b":scheme", b"https"),
            (b":path", b"/v1/x"),
            (b"x-trace", b"1"),
        ];
        let block = encoder.encode(first.iter().copied());
        let (a, b) = block.split_at(block.len() / 2);
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 0, 0, &[]));
        let mut padded = vec![3u8];
        padded.extend_from_slice(a);
        padded.extend_from_slice(&[0, 0, 0]);
        bytes.extend(frame(HEADERS, PADDED, 1, &padded));
        bytes.extend(frame(CONTINUATION, END_HEADERS, 1, b));
        bytes.extend(frame(0x0, 0x1, 1, b"data"));
        // The second block leans on the first one's dynamic table entries.
        let second = encoder.encode(first.iter().copied());
        bytes.extend(frame(HEADERS, END_HEADERS, 3, &second));
        let heads: Heads = Arc::default();
        let mut parser = H2Parser::new(heads.clone());
        for byte in &bytes {
            parser.feed(std::slice::from_ref(byte));
        }
        let heads = heads.lock().expect("lock");
        assert_eq!(heads.len(), 2);
        for head in heads.iter() {
            assert_eq!(
                head.names,
                [":method", ":authority", ":scheme", ":path", "x-trace"]
            );
            assert_eq!(
                (head.method.as_str(), head.target.as_str()),
                ("POST", "/v1/x")
            );
        }
    }

    #[test]
    fn take_names_checks_the_request_line() {
        let heads: Heads = Arc::default();
        let mut parser = Parser::new(heads.clone());
        parser.feed(b"GET /a HTTP/1.1\r\nA: 1\r\n\r\nGET /b HTTP/1.1\r\nB: 1\r\n\r\n");
        assert_eq!(
            take_names(&heads, "GET", "/a", true),
            Some(vec!["A".to_owned()])
        );
        assert_eq!(
            take_names(&heads, "GET", "/z", true),
            None,
            "a mismatch forgets the rest"
        );
        assert_eq!(take_names(&heads, "GET", "/b", true), None);
    }
}
