//! A byte stream that shows what crosses it to an [`Observer`] without changing it: the byte
//! counters of a client connection, the HTTP head parsers, the upstream ClientHello tap.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Sees the bytes of an [`Observed`] stream.
pub(crate) trait Observer {
    /// Bytes just read from the stream.
    fn read(&mut self, _bytes: &[u8]) {}
    /// The first `n` bytes of `bufs` were just written to the stream.
    fn wrote(&mut self, _bufs: &[IoSlice<'_>], _n: usize) {}
}

pin_project_lite::pin_project! {
    /// `io`, with every byte read or written shown to `observer`.
    pub(crate) struct Observed<IO, O> {
        #[pin]
        io: IO,
        observer: O,
    }
}

impl<IO, O> Observed<IO, O> {
    pub(crate) fn new(io: IO, observer: O) -> Self {
        Self { io, observer }
    }

    pub(crate) fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }
}

impl<IO: AsyncRead, O: Observer> AsyncRead for Observed<IO, O> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.io.poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            this.observer.read(&buf.filled()[before..]);
        }
        result
    }
}

impl<IO: AsyncWrite, O: Observer> AsyncWrite for Observed<IO, O> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let result = this.io.poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &result {
            this.observer.wrote(&[IoSlice::new(buf)], *n);
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let result = this.io.poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &result {
            this.observer.wrote(bufs, *n);
        }
        result
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
