//! The TUN device on the parent's side: one IP packet per read and per write, on tokio.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A TUN device opened without packet information (`IFF_NO_PI`): reads and writes are whole
/// IP packets. Reads and writes take `&self`, so that one task can read while another writes.
pub(crate) struct PacketDevice {
    fd: AsyncFd<OwnedFd>,
}

impl PacketDevice {
    /// Wraps the device, making it non-blocking.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        rustix::io::ioctl_fionbio(&fd, true)?;
        // `AsyncFd::new` is deprecated because a `T: AsRawFd` may close or replace its
        // descriptor while registered; an `OwnedFd` owns it for the AsyncFd's whole life,
        // which is the sound case (its replacement, `register`, is an unsafe fn).
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(Self { fd })
    }

    /// Reads one packet into `buf` (at least the MTU long), returning its length in bytes.
    ///
    /// # Errors
    /// The device's read error.
    pub(crate) async fn read_packet(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd
            .async_io(Interest::READABLE, |fd| {
                Ok(rustix::io::read(fd, &mut *buf)?)
            })
            .await
    }

    /// Writes one whole packet.
    ///
    /// # Errors
    /// The device's write error.
    pub(crate) async fn write_packet(&self, packet: &[u8]) -> io::Result<usize> {
        self.fd
            .async_io(Interest::WRITABLE, |fd| Ok(rustix::io::write(fd, packet)?))
            .await
    }
}
