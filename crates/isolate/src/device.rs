//! The TUN device on the parent's side (one IP packet per read and per write, on tokio), and
//! the device smoltcp's interface reads and writes: one packet read from the TUN device in
//! place, and packets written straight from smoltcp's transmit buffer.

use std::io;
use std::os::fd::OwnedFd;

use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A TUN device opened without packet information (`IFF_NO_PI`): reads and writes are whole
/// IP packets. Reads and writes take `&self`: the driver reads, and DNS answers are written
/// from their own tasks.
#[derive(Debug)]
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

    /// Reads one packet into `buf` (at least the MTU long) without waiting, returning its
    /// length in bytes.
    ///
    /// # Errors
    /// `WouldBlock` when no packet is waiting (the readiness is then cleared), else the
    /// device's read error.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.try_io(Interest::READABLE, |fd| {
            Ok(rustix::io::read(fd, &mut *buf)?)
        })
    }

    /// Waits until a packet may be waiting.
    ///
    /// # Errors
    /// The reactor's error.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.fd.readable().await.map(drop)
    }

    /// Writes one whole packet without waiting. A packet the device cannot take now is
    /// dropped, as a full link would: TCP sends it again, a DNS client asks again.
    pub(crate) fn write_packet(&self, packet: &[u8]) {
        if let Err(e) = rustix::io::write(self.fd.get_ref(), packet) {
            tracing::trace!("dropped a packet to the namespace: {e}");
        }
    }
}

/// Where the interface's packets go: the TUN device, or a test's list.
pub(crate) trait Wire {
    fn transmit(&mut self, packet: &[u8]);
}

impl Wire for std::sync::Arc<PacketDevice> {
    fn transmit(&mut self, packet: &[u8]) {
        self.write_packet(packet);
    }
}

/// smoltcp's view of the device: at most one received packet at a time, which the driver
/// read (and looked at) before handing it over; transmitted packets written at once.
pub(crate) struct Phy<W> {
    /// The received packet's buffer, the MTU long.
    pub(crate) rx: Vec<u8>,
    /// The length of the packet in `rx` not yet handed to the interface, in bytes.
    pub(crate) rx_len: Option<usize>,
    tx: Vec<u8>,
    pub(crate) wire: W,
}

impl<W: Wire> Phy<W> {
    pub(crate) fn new(wire: W) -> Self {
        Self {
            rx: vec![0; usize::from(crate::MTU)],
            rx_len: None,
            tx: vec![0; usize::from(crate::MTU)],
            wire,
        }
    }
}

impl<W: Wire> phy::Device for Phy<W> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, W>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_, W>)> {
        let len = self.rx_len.take()?;
        let rx = RxToken {
            packet: &self.rx[..len],
        };
        let tx = TxToken {
            buf: &mut self.tx,
            wire: &mut self.wire,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_, W>> {
        Some(TxToken {
            buf: &mut self.tx,
            wire: &mut self.wire,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = usize::from(crate::MTU);
        // The packets come from this machine's kernel over a virtual device, which computed
        // their checksums: they are not checked again. The kernel checks the ones sent.
        let mut checksum = ChecksumCapabilities::default();
        checksum.ipv4 = phy::Checksum::Tx;
        checksum.tcp = phy::Checksum::Tx;
        caps.checksum = checksum;
        caps
    }
}

pub(crate) struct RxToken<'a> {
    packet: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.packet)
    }
}

pub(crate) struct TxToken<'a, W> {
    buf: &'a mut Vec<u8>,
    wire: &'a mut W,
}

impl<W: Wire> phy::TxToken for TxToken<'_, W> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let packet = &mut self.buf[..len];
        let result = f(packet);
        self.wire.transmit(packet);
        result
    }
}
