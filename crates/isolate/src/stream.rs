//! A TCP stream from the namespace: reads and writes go straight to its socket's buffers in
//! the userspace stack (smoltcp), and the driver is woken to send what was written.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{RecvError, State};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::tcp::SocketTable;

/// A client's TCP connection inside the namespace. A RST from the client (or the stack
/// giving up on it) ends reads and writes with `ConnectionReset`; the client's FIN ends reads
/// at end of file. Shutting it down sends a FIN after the bytes written; dropping it does the
/// same (what the client sends after that is acknowledged and discarded, so that it sees the
/// FIN, as the stack before did, rather than a RST).
pub struct TcpStream {
    handle: SocketHandle,
    table: Arc<SocketTable>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl TcpStream {
    pub(crate) fn new(handle: SocketHandle, table: Arc<SocketTable>) -> Self {
        Self { handle, table }
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        {
            let mut sockets = self.table.lock();
            let socket = sockets.socket(self.handle);
            socket.close();
            socket.set_timeout(Some(crate::tcp::QUIET_LIMIT));
            sockets.release(self.handle);
        }
        self.table.wake_driver();
    }
}

/// The error for a connection that was reset (or timed out) in the stack.
fn reset() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionReset)
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let read = {
            let mut sockets = self.table.lock();
            let socket = sockets.socket(self.handle);
            // Two takes at most: the receive buffer is a ring.
            let mut total = 0;
            let mut outcome = Ok(());
            for _ in 0..2 {
                let taken = socket.recv(|data| {
                    let n = data.len().min(buf.remaining());
                    buf.put_slice(&data[..n]);
                    (n, n)
                });
                match taken {
                    Ok(n) => total += n,
                    Err(e) => outcome = Err(e),
                }
                if !matches!(taken, Ok(n) if n > 0) || buf.remaining() == 0 {
                    break;
                }
            }
            if total == 0 && outcome.is_ok() {
                socket.register_recv_waker(cx.waker());
            }
            (total, outcome)
        };
        match read {
            (0, Ok(())) => Poll::Pending,
            (0, Err(RecvError::Finished)) => Poll::Ready(Ok(())),
            (0, Err(_)) => Poll::Ready(Err(reset())),
            _ => {
                // The window grew: the driver may have to say so.
                self.table.wake_driver();
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = {
            let mut sockets = self.table.lock();
            let socket = sockets.socket(self.handle);
            if !socket.may_send() {
                let error = if socket.state() == State::Closed {
                    reset()
                } else {
                    io::Error::from(io::ErrorKind::BrokenPipe)
                };
                return Poll::Ready(Err(error));
            }
            let mut total = 0;
            for buf in bufs {
                let n = socket.send_slice(buf).unwrap_or(0);
                total += n;
                if n < buf.len() {
                    break;
                }
            }
            if total == 0 && !bufs.iter().all(|b| b.is_empty()) {
                socket.register_send_waker(cx.waker());
                return Poll::Pending;
            }
            total
        };
        self.table.wake_driver();
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Ready at once: what was written is in the stack's send buffer, which sends it as the
    /// window allows.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Asks for the FIN after the bytes written and returns.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.table.lock().socket(self.handle).close();
        self.table.wake_driver();
        Poll::Ready(Ok(()))
    }
}
