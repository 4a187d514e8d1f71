//! Sniffing the first bytes of a tunnel: TLS ClientHello, plain HTTP, or anything else.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// What the first bytes of a tunnel look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstBytes {
    /// A TLS handshake record (RFC 8446 §5.1: content type 22, legacy version 3.x).
    Tls,
    /// An HTTP/1.x request line.
    Http1,
    /// The HTTP/2 connection preface (RFC 9113 §3.4), prior knowledge cleartext.
    Http2,
    /// Anything else.
    Other,
}

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"HEAD ",
    b"OPTIONS ",
    b"PATCH ",
    b"TRACE ",
    b"CONNECT ",
];
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Classifies the first bytes of a stream. `bytes` may be short; a prefix that could still
/// become HTTP is reported as what it could become only when it is long enough to be sure.
pub(crate) fn classify(bytes: &[u8]) -> FirstBytes {
    if bytes.len() >= 2 && bytes[0] == 0x16 && bytes[1] == 0x03 {
        return FirstBytes::Tls;
    }
    if bytes.starts_with(H2_PREFACE) {
        return FirstBytes::Http2;
    }
    if METHODS.iter().any(|m| bytes.starts_with(m)) {
        return FirstBytes::Http1;
    }
    FirstBytes::Other
}

/// Whether `bytes` is too short to classify but could still become TLS or HTTP.
fn undecided(bytes: &[u8]) -> bool {
    classify(bytes) == FirstBytes::Other
        && (bytes == [0x16]
            || H2_PREFACE.starts_with(bytes)
            || METHODS.iter().any(|m| m.starts_with(bytes)))
}

/// Reads the first bytes a client sends, until they can be classified; `None` when it sends
/// nothing within `wait` (an idle client), an empty buffer when it closed before sending
/// anything.
pub(crate) async fn read_first<IO: AsyncRead + Unpin>(
    io: &mut IO,
    wait: Duration,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(4096);
    let idle = !read_until_classified(io, &mut buf, wait).await?;
    Ok((!(idle && buf.is_empty())).then_some(buf))
}

/// Reads more of a client's first bytes into `buf` until they can be classified or the client
/// closes (true), or until `wait` passes without a new byte (false).
pub(crate) async fn read_until_classified<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut Vec<u8>,
    wait: Duration,
) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    while buf.is_empty() || undecided(buf) {
        let Ok(n) = tokio::time::timeout(wait, io.read(&mut chunk)).await else {
            return Ok(false);
        };
        let n = n?;
        if n == 0 {
            return Ok(true);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(true)
}

pin_project_lite::pin_project! {
    /// A stream whose first reads return bytes already taken from it.
    pub(crate) struct Prefixed<IO> {
        prefix: Bytes,
        #[pin]
        io: IO,
    }
}

impl<IO> Prefixed<IO> {
    pub(crate) fn new(prefix: impl Into<Bytes>, io: IO) -> Self {
        Self {
            prefix: prefix.into(),
            io,
        }
    }
}

impl<IO: AsyncRead> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            if !this.prefix.has_remaining() {
                // Free the first bytes' buffer (4 KiB) rather than hold it as long as the
                // connection lives.
                *this.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        this.io.poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify(&[0x16, 0x03, 0x01, 0x02, 0x00]), FirstBytes::Tls);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), FirstBytes::Http1);
        assert_eq!(
            classify(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            FirstBytes::Http2
        );
        assert_eq!(classify(b"SSH-2.0-OpenSSH\r\n"), FirstBytes::Other);
        assert_eq!(classify(b""), FirstBytes::Other);
    }

    #[tokio::test]
    async fn first_bytes_arriving_one_at_a_time_are_still_classified() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            for byte in b"GET / HTTP/1.1\r\n" {
                client.write_all(&[*byte]).await.expect("write");
                tokio::task::yield_now().await;
            }
            client
        });
        let first = read_first(&mut server, Duration::from_secs(5))
            .await
            .expect("read")
            .expect("bytes");
        assert_eq!(classify(&first), FirstBytes::Http1);
        drop(writer.await);
        assert!(undecided(&[0x16]));
        assert!(!undecided(b"SSH-2.0"));
    }

    #[tokio::test]
    async fn prefixed_replays_then_reads_on() {
        let mut io = Prefixed::new(&b"abc"[..], &b"def"[..]);
        let mut out = String::new();
        io.read_to_string(&mut out).await.expect("reads");
        assert_eq!(out, "abcdef");
    }
}
