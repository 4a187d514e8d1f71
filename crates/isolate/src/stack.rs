//! The parent's side: the helper handoff, then the userspace TCP/IP stack (smoltcp, driven
//! by [`crate::driver`]) on the TUN device, turning the namespace's packets back into streams.
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

use phonehome_record::{Blocked, Record, Target};
use tokio::task::JoinHandle;

use crate::device::PacketDevice;
use crate::dns::Resolver;
use crate::driver::{Driver, Handler};
use crate::handoff;
use crate::packet::Tuple;
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

/// The running stack. Dropping it stops it.
#[derive(Debug)]
pub struct Netstack {
    task: JoinHandle<()>,
}

impl Drop for Netstack {
    fn drop(&mut self) {
        self.task.abort();
    }
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
        let device = PacketDevice::new(device)?;
        let shared = Arc::new(Shared {
            config,
            resolver: Resolver::new(config.host_loopback, sink.clone()),
            sink,
            udp_recorded: Mutex::new(HashSet::new()),
        });
        let task = tokio::spawn(Driver::new(device, shared).run());
        Ok(Self { task })
    }
}

struct Shared {
    config: StackConfig,
    resolver: Resolver,
    sink: Arc<dyn Sink>,
    /// (client, destination) pairs whose dropped UDP was already recorded.
    udp_recorded: Mutex<HashSet<(SocketAddr, SocketAddr)>>,
}

impl Handler for Arc<Shared> {
    fn connection(&self, stream: crate::TcpStream, tuple: Tuple) {
        let Tuple {
            client,
            destination,
        } = tuple;
        if destination.port() == 53 {
            let shared = self.clone();
            tokio::spawn(async move {
                shared.resolver.serve_tcp(stream).await;
            });
            return;
        }
        let (target, route) = route(self, destination);
        self.sink.connection(Connection {
            stream,
            client,
            destination,
            target,
            route,
        });
    }

    /// Port 53: answered on a task of its own, from the address the query went to. Anything
    /// else: dropped, recorded once per client and destination.
    fn datagram(&self, tuple: Tuple, payload: &[u8], device: &Arc<PacketDevice>) {
        if tuple.destination.port() != 53 {
            udp_dropped(self, tuple.client, tuple.destination);
            return;
        }
        let shared = self.clone();
        let device = device.clone();
        let query = payload.to_vec();
        tokio::spawn(async move {
            let Some(reply) = shared.resolver.answer(&query).await else {
                return;
            };
            if let Some(packet) = crate::packet::udp(tuple.destination, tuple.client, &reply) {
                device.write_packet(&packet);
            }
        });
    }
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
