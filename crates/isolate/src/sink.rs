//! What leaves the stack: the [`Sink`] that takes records, answers the policy's question on a
//! host and takes TCP connections, and the [`Connection`] it is handed with its [`Route`].
//! Owned apart from `stack` and `dns` so that both can use it without importing each other.

use std::net::SocketAddr;

use phonehome_record::{Record, Target};

/// Where the stack's results go: records, the policy's word on a host, and TCP connections.
pub trait Sink: Send + Sync + 'static {
    /// Records one record (`dns`, `blocked`).
    fn record(&self, record: Record);
    /// `Some((rule, enforced))` when the policy denies `target` by its host alone.
    fn deny(&self, target: &Target) -> Option<(String, bool)>;
    /// Whether connections the policy denies are served by the sinkhole, so that a denied
    /// name is answered (with a [`crate::SINKHOLE_V4`] address) rather than refused.
    fn sinkholes_denials(&self) -> bool {
        false
    }
    /// Takes one TCP connection from inside the namespace.
    fn connection(&self, connection: Connection);
}

/// How a TCP connection from the namespace is to be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To phonehome's proxy port: speak the proxy protocol (CONNECT, absolute-form).
    Proxy,
    /// To `dial` on the host: the original destination, or the host's loopback for the gateway.
    Direct { dial: SocketAddr },
    /// Not served; recorded as `blocked` with this rule.
    Refused { rule: &'static str },
}

/// A TCP connection from inside the namespace.
pub struct Connection {
    pub stream: crate::TcpStream,
    /// The client's address inside the namespace.
    pub client: SocketAddr,
    /// The destination the client connected to.
    pub destination: SocketAddr,
    /// The destination as the client named it: the DNS name it was given this address for,
    /// else the address (the host's loopback address for the gateway).
    pub target: Target,
    pub route: Route,
}
