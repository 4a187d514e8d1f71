//! A TCP stream from the namespace that is closed properly however it ends, and written in
//! whole segments.

use std::future::Future as _;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ipstack::IpStackTcpStream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};

/// How long a dropped stream may take to send its FIN.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting read (or a close) looks again whether the connection closed. The userspace stack
/// (ipstack 1.0) does not wake a waiting reader when the client's FIN closes the connection,
/// only when data arrives; without a second look the end of a connection would be noticed
/// only when phonehome drains.
const CLOSE_POLL: Duration = Duration::from_millis(200);

/// IPv4's and TCP's headers without options, in bytes (RFC 791, RFC 9293).
const V4_HEADERS: usize = 20 + 20;
/// IPv6's and TCP's headers without options, in bytes (RFC 8200, RFC 9293).
const V6_HEADERS: usize = 40 + 20;

/// A client's TCP connection inside the namespace. Dropping it closes the connection with a
/// FIN (the userspace stack on its own would forget it silently, leaving the client waiting).
///
/// Writes go out in whole segments. The userspace stack (ipstack 1.0) makes one segment per
/// write, of at most one MSS, and copies the whole buffer it is given before cutting it to
/// that size; so a write is cut to one segment here first, and a vectored write (a TLS
/// stream's records, 16,406 bytes each, one MSS being 16,344) is gathered into one segment
/// instead of going out as a full segment and a 62-byte one per record.
pub struct TcpStream {
    inner: Option<IpStackTcpStream>,
    /// Wakes a waiting read to look again (see [`CLOSE_POLL`]).
    recheck: Pin<Box<tokio::time::Sleep>>,
    /// The payload bytes one segment carries: the MTU less the headers, in bytes.
    segment: usize,
}

impl TcpStream {
    pub(crate) fn new(inner: IpStackTcpStream) -> Self {
        let headers = if inner.local_addr().is_ipv4() {
            V4_HEADERS
        } else {
            V6_HEADERS
        };
        Self {
            inner: Some(inner),
            recheck: Box::pin(tokio::time::sleep(CLOSE_POLL)),
            segment: usize::from(crate::MTU) - headers,
        }
    }

    fn inner(self: Pin<&mut Self>) -> Pin<&mut IpStackTcpStream> {
        Pin::new(
            self.get_mut()
                .inner
                .as_mut()
                .expect("the stream is only taken when dropped"),
        )
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // ipstack sends the FIN only when shutdown is polled while the connection is
                // established with nothing in flight, and never polls again by itself (a
                // stream dropped before the client's last handshake ACK, or with data not yet
                // acknowledged, would never be closed): ask again every CLOSE_POLL.
                let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
                while tokio::time::Instant::now() < deadline {
                    if tokio::time::timeout(CLOSE_POLL, inner.shutdown())
                        .await
                        .is_ok()
                    {
                        break;
                    }
                }
            });
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let inner = Pin::new(
                this.inner
                    .as_mut()
                    .expect("the stream is only taken when dropped"),
            );
            if let Poll::Ready(result) = inner.poll_read(cx, buf) {
                return Poll::Ready(result);
            }
            if this.recheck.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let next = tokio::time::Instant::now() + CLOSE_POLL;
            this.recheck.as_mut().reset(next);
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let segment = buf.len().min(self.segment);
        self.inner().poll_write(cx, &buf[..segment])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(first) = bufs.iter().find(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        if first.len() >= this.segment {
            return Pin::new(this).poll_write(cx, first);
        }
        // Gathered afresh each time rather than in a buffer kept per connection, so that a
        // resting connection holds no segment's worth of memory.
        let limit = bufs
            .iter()
            .map(|b| b.len())
            .sum::<usize>()
            .min(this.segment);
        let mut gathered = Vec::with_capacity(limit);
        for buf in bufs {
            let room = limit - gathered.len();
            if room == 0 {
                break;
            }
            gathered.extend_from_slice(&buf[..buf.len().min(room)]);
        }
        Pin::new(this).inner().poll_write(cx, &gathered)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_shutdown(cx)
    }
}
