//! How the proxy is set up: the one configuration [`crate::listener::Proxy::start`] takes, from
//! which every connection's shared [`crate::context::Context`] is made.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use phonehome_record::SinkholeMode;

use crate::dial::upstream_proxy::UpstreamProxy;
use crate::enforce::Enforcer;
use crate::tls::ca::CertificateAuthority;
use crate::tls::client_cert::ClientCert;

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where to listen (loopback unless told otherwise).
    pub listen: SocketAddr,
    pub ca: Arc<CertificateAuthority>,
    /// PEM files of CAs to trust for upstream TLS besides the system roots. A server may also
    /// present one of these certificates as its own (as OpenSSL-based clients accept it).
    pub extra_ca: Vec<PathBuf>,
    /// Client certificates presented to the upstreams whose host they match (`--client-cert`).
    pub client_certs: Vec<ClientCert>,
    /// An HTTP proxy that carries every outbound connection.
    pub upstream_proxy: Option<UpstreamProxy>,
    /// Time allowed for DNS plus TCP connect, and for the upstream TLS handshake.
    pub connect_timeout: Duration,
    /// Time an upstream may send nothing while phonehome waits for its response (head or
    /// body bytes) before the response is ended and recorded as a `timeout`; `None`: no limit.
    pub idle_timeout: Option<Duration>,
    /// The policy to enforce; `None` allows everything.
    pub enforcer: Option<Arc<Enforcer>>,
    /// Which connections phonehome answers itself instead of refusing them.
    pub sinkhole: SinkholeMode,
    /// Look up which process owns each client socket (`conn.process`, `conn.ancestry`).
    /// Until [`crate::listener::ProxyHandle::attribute_with`] names the command, every process is searched.
    pub attribution: bool,
    /// A token every client must present (`Proxy-Authorization: Basic` of
    /// `phonehome:TOKEN`); others get 407 and a `blocked` record.
    pub credential: Option<String>,
    /// How long a sinkholed tunnel waits for the client's first bytes (and any tunnel for the
    /// rest of first bytes it has started) before it is closed and the wait recorded.
    pub sinkhole_wait: Duration,
    /// How long a client may take to send a whole HTTP/1 request head before the connection
    /// is answered 408, closed and the wait recorded (hyper's header read timeout).
    pub head_timeout: Duration,
}

/// Default of [`ProxyConfig::head_timeout`] (hyper's own).
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of [`ProxyConfig::sinkhole_wait`].
pub const DEFAULT_SINKHOLE_WAIT: Duration = Duration::from_secs(30);
