//! The parent's side: the helper handoff, then the userspace TCP/IP stack (netstack-smoltcp,
//! smoltcp's TCP) on the TUN device, turning the namespace's packets back into streams.
//!
//! - TCP to port 53: DNS. TCP to the gateway's proxy port: the proxy protocol. TCP to the
//!   gateway's other ports: the host's loopback when enabled, else refused. Any other TCP: a
//!   [`Connection`] with its original destination, for the interception core.
//! - UDP to port 53: DNS. Any other UDP (QUIC included) is dropped and recorded once per
//!   client and destination as `blocked`, so clients fall back to TCP.
//! - Anything else (ICMP, other protocols) is dropped.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use netstack_smoltcp::smoltcp::wire::{IpProtocol, IpVersion, Ipv4Packet, Ipv6Packet, UdpPacket};
use netstack_smoltcp::udp::UdpMsg;
use netstack_smoltcp::{Stack, StackBuilder, TcpListener, UdpSocket};
use phonehome_record::{Blocked, Record, Target};
use tokio::task::JoinSet;

use crate::dns::Resolver;
use crate::handoff;
use crate::sink::{Connection, Route, Sink};

/// Rule named in the `blocked` record of UDP that is not DNS.
pub const UDP_RULE: &str = "isolate: only DNS (port 53) is relayed over UDP";
/// Rule named when the host's loopback was asked for without being enabled.
pub const HOST_LOOPBACK_RULE: &str =
    "isolate: the host's loopback is reachable only with --isolate-host-loopback";
/// Rule named for addresses of the namespace's own networks.
pub const NAMESPACE_RULE: &str = "isolate: no host at this address of the namespace's network";

/// How the stack behaves.
#[derive(Debug, Clone, Copy)]
pub struct StackConfig {
    /// The port on the gateway that speaks the proxy protocol (the proxy's own port).
    pub proxy_port: u16,
    /// Whether the gateway's other ports reach the host's loopback.
    pub host_loopback: bool,
}

/// The helper's socket, waiting for its report.
#[derive(Debug)]
pub struct Handoff {
    listener: tokio::net::UnixListener,
    path: PathBuf,
}

/// DNS answers waiting for the UDP writer, at most.
const UDP_QUEUE: usize = 64;

/// The running stack: its tasks (smoltcp's poll loop, the TUN device's two directions, the
/// TCP accept loop, the UDP loop). Dropping it stops them.
#[derive(Debug)]
pub struct Netstack {
    _tasks: JoinSet<()>,
}

impl Handoff {
    /// Listens on `dir/helper.sock` (`dir` should be private to this user).
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub fn bind(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("helper.sock");
        let listener = tokio::net::UnixListener::bind(&path)?;
        Ok(Self { listener, path })
    }

    /// The socket's path, for the helper.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to `wait` for the helper's TUN device, starts the stack on it, then lets the
    /// helper run the command.
    ///
    /// # Errors
    /// [`HandoffError`]: the helper's own explanation when it could not set up the
    /// namespaces, or which step of the handoff failed.
    pub async fn start(
        self,
        wait: Duration,
        config: StackConfig,
        sink: Arc<dyn Sink>,
    ) -> Result<Netstack, HandoffError> {
        let accepted = tokio::time::timeout(wait, self.listener.accept()).await;
        let socket = match accepted {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(e)) => return Err(HandoffError::Accept(e)),
            Err(_) => return Err(HandoffError::Timeout),
        };
        let socket = socket
            .into_std()
            .and_then(|s| s.set_nonblocking(false).map(|()| s))
            .map_err(HandoffError::Socket)?;
        let (report, socket) = tokio::task::spawn_blocking(move || {
            let _ = socket.set_read_timeout(Some(wait));
            (handoff::receive(&socket), socket)
        })
        .await
        .map_err(HandoffError::Task)?;
        let device = match report {
            Ok(handoff::Report::Device(device)) => device,
            Ok(handoff::Report::Failed(message)) => return Err(HandoffError::Helper(message)),
            Err(e) => return Err(HandoffError::NoReport(e)),
        };
        let netstack = Netstack::start(device, config, sink).map_err(HandoffError::Device)?;
        (&socket)
            .write_all_blocking(&[handoff::GO])
            .map_err(HandoffError::Go)?;
        let _ = std::fs::remove_file(&self.path);
        Ok(netstack)
    }
}

/// Why the isolation helper's handoff failed, step by step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoffError {
    #[error("cannot accept the isolation helper")]
    Accept(#[source] std::io::Error),
    #[error("the isolation helper did not report in time")]
    Timeout,
    #[error("isolation helper socket")]
    Socket(#[source] std::io::Error),
    /// The task reading the helper's report ended without it (it panicked).
    #[error("isolation helper handoff")]
    Task(#[source] tokio::task::JoinError),
    /// The helper's own words (sent over the socket) on why it could not set up the namespaces.
    #[error("{0}")]
    Helper(String),
    #[error("no word from the isolation helper")]
    NoReport(#[source] std::io::Error),
    #[error("cannot use the TUN device")]
    Device(#[source] std::io::Error),
    #[error("cannot tell the isolation helper to go on")]
    Go(#[source] std::io::Error),
}

trait WriteAllBlocking {
    fn write_all_blocking(self, bytes: &[u8]) -> std::io::Result<()>;
}

impl WriteAllBlocking for &std::os::unix::net::UnixStream {
    fn write_all_blocking(mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut self, bytes)
    }
}

impl Netstack {
    fn start(device: OwnedFd, config: StackConfig, sink: Arc<dyn Sink>) -> std::io::Result<Self> {
        let device = Arc::new(crate::device::PacketDevice::new(device)?);
        let (stack, runner, udp, tcp) = StackBuilder::default()
            .enable_tcp(true)
            .enable_udp(true)
            .mtu(usize::from(crate::MTU))
            .tcp_recv_buffer_size(crate::TCP_BUFFER)
            .tcp_send_buffer_size(crate::TCP_BUFFER)
            .build()?;
        let (Some(runner), Some(udp), Some(tcp)) = (runner, udp, tcp) else {
            return Err(std::io::Error::other(
                "the userspace stack came without TCP or UDP",
            ));
        };
        let shared = Arc::new(Shared {
            config,
            resolver: Resolver::new(config.host_loopback, sink.clone()),
            sink,
            udp_recorded: Mutex::new(HashSet::new()),
        });
        let (to_stack, from_stack) = stack.split();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            if let Err(e) = runner.await {
                tracing::warn!("the userspace TCP/IP stack stopped: {e}");
            }
        });
        tasks.spawn(device_to_stack(device.clone(), to_stack));
        tasks.spawn(stack_to_device(from_stack, device));
        tasks.spawn(accept_loop(tcp, shared.clone()));
        tasks.spawn(udp_loop(udp, shared));
        Ok(Self { _tasks: tasks })
    }
}

struct Shared {
    config: StackConfig,
    resolver: Resolver,
    sink: Arc<dyn Sink>,
    /// (client, destination) pairs whose dropped UDP was already recorded.
    udp_recorded: Mutex<HashSet<(SocketAddr, SocketAddr)>>,
}

/// Packets from the namespace, one read of the TUN device each, into the stack.
async fn device_to_stack(
    device: Arc<crate::device::PacketDevice>,
    mut stack: SplitSink<Stack, Vec<u8>>,
) {
    let mut buf = vec![0u8; usize::from(crate::MTU)];
    loop {
        let n = match device.read_packet(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("cannot read the TUN device: {e}");
                return;
            }
        };
        let packet = &buf[..n];
        if !transport_header_whole(packet) {
            continue;
        }
        match stack.send(packet.to_vec()).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return,
            // A packet the stack cannot parse is dropped, as a network would.
            Err(e) => tracing::debug!("dropped a packet from the namespace: {e}"),
        }
    }
}

/// Whether a UDP packet's header is whole (any other packet passes: the stack checks it).
/// netstack-smoltcp's UDP stream ends at the first UDP packet it cannot parse, which would
/// end DNS for the namespace; such a packet is dropped here instead.
fn transport_header_whole(packet: &[u8]) -> bool {
    let (protocol, payload) = match IpVersion::of_packet(packet) {
        Ok(IpVersion::Ipv4) => match Ipv4Packet::new_checked(packet) {
            Ok(ip) => (ip.next_header(), ip.payload()),
            Err(_) => return false,
        },
        Ok(IpVersion::Ipv6) => match Ipv6Packet::new_checked(packet) {
            Ok(ip) => (ip.next_header(), ip.payload()),
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    protocol != IpProtocol::Udp || UdpPacket::new_checked(payload).is_ok()
}

/// Packets from the stack, one write of the TUN device each, to the namespace.
async fn stack_to_device(mut stack: SplitStream<Stack>, device: Arc<crate::device::PacketDevice>) {
    while let Some(Ok(packet)) = stack.next().await {
        if let Err(e) = device.write_packet(&packet).await {
            tracing::warn!("cannot write the TUN device: {e}");
            return;
        }
    }
}

async fn accept_loop(mut listener: TcpListener, shared: Arc<Shared>) {
    while let Some((stream, client, destination)) = listener.next().await {
        tcp_stream(&shared, crate::TcpStream::new(stream), client, destination);
    }
}

fn tcp_stream(
    shared: &Arc<Shared>,
    stream: crate::TcpStream,
    client: SocketAddr,
    destination: SocketAddr,
) {
    if destination.port() == 53 {
        let shared = shared.clone();
        tokio::spawn(async move {
            shared.resolver.serve_tcp(stream).await;
        });
        return;
    }
    let (target, route) = route(shared, destination);
    shared.sink.connection(Connection {
        stream,
        client,
        destination,
        target,
        route,
    });
}

/// Where a TCP connection to `destination` goes, and how it is named.
fn route(shared: &Shared, destination: SocketAddr) -> (Target, Route) {
    let ip = destination.ip();
    let port = destination.port();
    let named = |fallback: IpAddr| Target {
        host: shared
            .resolver
            .name_of(ip)
            .unwrap_or_else(|| fallback.to_string()),
        port,
    };
    if crate::is_gateway(ip) {
        if port == shared.config.proxy_port {
            return (named(ip), Route::Proxy);
        }
        if !shared.config.host_loopback {
            return (
                named(ip),
                Route::Refused {
                    rule: HOST_LOOPBACK_RULE,
                },
            );
        }
        let loopback = match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        let dial = SocketAddr::new(loopback, port);
        return (named(loopback), Route::Direct { dial });
    }
    if crate::is_namespace_local(ip) {
        return (
            named(ip),
            Route::Refused {
                rule: NAMESPACE_RULE,
            },
        );
    }
    (named(ip), Route::Direct { dial: destination })
}

/// Every UDP datagram from the namespace: port 53 is answered (each query on a task of its
/// own, the answers sent back through one writer), anything else is dropped.
async fn udp_loop(udp: UdpSocket, shared: Arc<Shared>) {
    let (mut reader, mut writer) = udp.split();
    let (answers, mut to_send) = tokio::sync::mpsc::channel::<UdpMsg>(UDP_QUEUE);
    let write = tokio::spawn(async move {
        while let Some(answer) = to_send.recv().await {
            if writer.send(answer).await.is_err() {
                return;
            }
        }
    });
    while let Some((datagram, client, destination)) = reader.next().await {
        if destination.port() != 53 {
            udp_dropped(&shared, client, destination);
            continue;
        }
        let shared = shared.clone();
        let answers = answers.clone();
        tokio::spawn(async move {
            if let Some(reply) = shared.resolver.answer(&datagram).await {
                // From the server the query went to, back to the client.
                let _ = answers.send((reply, destination, client)).await;
            }
        });
    }
    write.abort();
}

/// Records UDP that is not DNS as `blocked`, once per client and destination.
fn udp_dropped(shared: &Shared, client: SocketAddr, destination: SocketAddr) {
    let first = shared
        .udp_recorded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((client, destination));
    if first {
        let host = shared
            .resolver
            .name_of(destination.ip())
            .unwrap_or_else(|| destination.ip().to_string());
        shared.sink.record(Record::Blocked(Blocked {
            ts: phonehome_record::now(),
            conn: None,
            flow: None,
            target: Target {
                host,
                port: destination.port(),
            },
            method: None,
            url: None,
            rule: UDP_RULE.to_owned(),
            enforced: true,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::transport_header_whole;

    /// An IPv4 header (RFC 791, no options) from 10.0.2.100 to 10.0.2.2 carrying `payload`
    /// as `protocol`.
    fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let total = u16::try_from(20 + payload.len()).expect("short");
        let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0];
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        packet.extend_from_slice(&[10, 0, 2, 100, 10, 0, 2, 2]);
        packet.extend_from_slice(payload);
        packet
    }

    #[test]
    fn a_udp_packet_passes_only_with_its_whole_header() {
        let udp = [0x30, 0x39, 0, 53, 0, 8, 0, 0];
        assert!(transport_header_whole(&ipv4(17, &udp)));
        assert!(!transport_header_whole(&ipv4(17, &udp[..4])));
        // Not UDP: left to the stack, which checks TCP itself.
        assert!(transport_header_whole(&ipv4(6, &udp[..4])));
        assert!(!transport_header_whole(&[0x45, 0, 0]));
    }
}
