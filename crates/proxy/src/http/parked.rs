//! A stream shared between a hyper connection and its owner, so that the owner can take the
//! stream back when it lets the connection go at rest: hyper's connection state (its read and
//! write buffers, 8 KiB each, and a client's request channel) is freed, and the stream stays
//! open for the next request (see `http::keepalive`).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The shared state: the stream, and whether its connection is being let go at rest, when
/// hyper's closing `shutdown` must not reach the stream.
struct Shared<S> {
    stream: Mutex<S>,
    resting: AtomicBool,
}

/// One handle on a shared stream; hyper holds one, the owner another.
pub(crate) struct Parked<S>(Arc<Shared<S>>);

impl<S> Clone for Parked<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S> Parked<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self(Arc::new(Shared {
            stream: Mutex::new(stream),
            resting: AtomicBool::new(false),
        }))
    }

    /// While `true`, a `shutdown` of the stream is answered without closing it.
    pub(crate) fn set_resting(&self, resting: bool) {
        self.0.resting.store(resting, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, S> {
        self.0.stream.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: AsyncRead + Unpin> Parked<S> {
    /// Whether the stream is still open with nothing unread: a read would wait. A closed
    /// stream, an error, or bytes nobody asked for (an upstream may not speak first between
    /// requests, RFC 9112 §9.3) mean it cannot carry another request.
    pub(crate) async fn is_open(&self) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(self.poll_gone(cx).is_pending())).await
    }

    /// Ready once the stream cannot carry another request (see [`Parked::is_open`]); the
    /// task is woken when that may have changed.
    pub(crate) fn poll_gone(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        match Pin::new(&mut *self.lock()).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(()),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Parked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Parked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.lock().is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.0.resting.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *self.lock()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn a_resting_shutdown_leaves_the_stream_open() {
        let (near, mut far) = tokio::io::duplex(64);
        let parked = Parked::new(near);
        let mut hyper_side = parked.clone();
        parked.set_resting(true);
        hyper_side.shutdown().await.expect("shutdown");
        assert!(parked.is_open().await, "not closed while resting");
        parked.set_resting(false);
        let mut owner = parked.clone();
        owner.write_all(b"next").await.expect("write");
        let mut got = [0u8; 4];
        far.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"next");
        owner.shutdown().await.expect("shutdown");
        assert_eq!(
            far.read(&mut got).await.expect("eof"),
            0,
            "closed when not resting"
        );
    }

    #[tokio::test]
    async fn a_closed_or_talking_stream_is_not_open() {
        let (near, far) = tokio::io::duplex(64);
        let parked = Parked::new(near);
        drop(far);
        assert!(!parked.is_open().await);
        let (near, mut far) = tokio::io::duplex(64);
        let parked = Parked::new(near);
        far.write_all(b"x").await.expect("write");
        assert!(!parked.is_open().await);
    }
}
