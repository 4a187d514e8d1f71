//! A TCP stream from the namespace, as the userspace stack (netstack-smoltcp over smoltcp)
//! hands it over, with a socket's shutdown: the FIN goes out after the bytes written.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A client's TCP connection inside the namespace. Dropping it closes the connection with a
/// FIN once the bytes written so far have been sent.
pub struct TcpStream {
    inner: netstack_smoltcp::TcpStream,
}

impl TcpStream {
    pub(crate) fn new(inner: netstack_smoltcp::TcpStream) -> Self {
        Self { inner }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Asks for the FIN after the bytes written and returns: netstack-smoltcp's own shutdown
    /// is ready only when the whole connection has closed (both FINs), which a caller that
    /// half-closes and then reads the answer would wait for forever.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => Poll::Ready(Ok(())),
        }
    }
}
