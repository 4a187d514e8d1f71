//! Headers as the client sent them. hyper hands requests over with lowercase names, repeated
//! names grouped; for HTTP/1 this tap reads the same bytes passively, parses each request head
//! (httparse) for its names with their case, in order, duplicates included, and skips the body
//! (RFC 9112 §6: content-length or chunked) to find the next head.
//!
//! The engine takes the names for a request only when the head's method and target match the
//! request's; any doubt (an upgrade, a head too large, a parse error) stops the tap, and
//! requests then have no raw names rather than wrong ones.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// Takes the names of the next head if it is `method target`; otherwise forgets them all.
pub(crate) fn take_names(heads: &Heads, method: &str, target: &str) -> Option<Vec<String>> {
    let mut heads = heads.lock().unwrap_or_else(|e| e.into_inner());
    let head = heads.pop_front()?;
    if head.method == method && head.target == target {
        return Some(head.names);
    }
    heads.clear();
    None
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
        let value = |name: &str| {
            request
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        let upgrade = method.eq_ignore_ascii_case("CONNECT")
            || value("connection").iter().any(|v| v.contains("upgrade"));
        let chunked = value("transfer-encoding")
            .iter()
            .any(|v| v.contains("chunked"));
        let length = value("content-length")
            .first()
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

pin_project_lite::pin_project! {
    /// A client stream whose reads also feed a [`Parser`].
    pub(crate) struct HeadTap<IO> {
        #[pin]
        io: IO,
        parser: Parser,
    }
}

impl<IO> HeadTap<IO> {
    pub(crate) fn new(io: IO, heads: Heads) -> Self {
        Self {
            io,
            parser: Parser::new(heads),
        }
    }
}

impl<IO: AsyncRead> AsyncRead for HeadTap<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.io.poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            this.parser.feed(&buf.filled()[before..]);
        }
        result
    }
}

impl<IO: AsyncWrite> AsyncWrite for HeadTap<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
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
    fn stops_at_an_upgrade_and_at_garbage() {
        let heads = parse(&[b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /x HTTP/1.1\r\n\r\n"]);
        assert_eq!(heads.len(), 1, "frames after an upgrade are not requests");
        assert!(parse(&[b"\x16\x03\x01garbage\r\n\r\nGET / HTTP/1.1\r\n\r\n"]).is_empty());
    }

    #[test]
    fn take_names_checks_the_request_line() {
        let heads: Heads = Arc::default();
        let mut parser = Parser::new(heads.clone());
        parser.feed(b"GET /a HTTP/1.1\r\nA: 1\r\n\r\nGET /b HTTP/1.1\r\nB: 1\r\n\r\n");
        assert_eq!(take_names(&heads, "GET", "/a"), Some(vec!["A".to_owned()]));
        assert_eq!(
            take_names(&heads, "GET", "/z"),
            None,
            "a mismatch forgets the rest"
        );
        assert_eq!(take_names(&heads, "GET", "/b"), None);
    }
}
