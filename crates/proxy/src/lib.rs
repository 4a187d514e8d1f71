//! The phonehome interception core: the local CA, the listener, first-bytes sniffing,
//! ClientHello parsing, TLS interception, the HTTP engine, the upstream dialer, the recorder
//! and the environment for launched children.
//!
//! ```text
//! listener ─ CONNECT / absolute-form ─ sniff ─┬─ TLS: ClientHello → upstream TLS → leaf → HTTP engine
//!                                             ├─ HTTP: HTTP engine
//!                                             └─ other: byte relay
//! HTTP engine ─ tee ─ recorder thread ─ capture file
//! ```
#![forbid(unsafe_code)]

mod attribution;
mod ca;
mod client;
mod client_cert;
mod client_error;
mod clienthello;
mod connection;
mod context;
mod dial_error;
mod dialer;
mod enforce;
mod engine;
mod fingerprint;
mod flow;
mod headtap;
mod idle;
mod intercept;
mod launch;
mod link;
mod observe;
mod recorder;
mod relay;
mod responses;
mod sinkhole;
mod sniff;
mod tee;
mod tls_failure;
mod trust;
mod tunnel;
mod upstream_proxy;
mod upstream_tls;
mod verify;
mod websocket;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use attribution::{Attribution, Attributor, Lineage};
pub use ca::{CaDescription, CaError, CertificateAuthority, LEAF_REUSE, LEAF_VALIDITY};
pub use client_cert::{ClientCert, ClientCertError};
pub use clienthello::{parse_client_hello, ClientHello, HelloError};
pub use dial_error::DialError;
pub use dialer::DEFAULT_CONNECT_TIMEOUT;
pub use enforce::Enforcer;
pub use fingerprint::{fingerprints, Fingerprints};
pub use launch::{child_env, write_ca_bundle, PROXY_USER};
pub use phonehome_record::SinkholeMode;
pub use recorder::{
    BlockedSummary, CaptureSummary, Failure, HostSummary, RecordTap, Recorder, RecorderOptions,
    RecorderTask, DEFAULT_BUDGET, DEFAULT_MAX_BODY,
};
pub use trust::{read_pem_certs, TrustError};
pub use upstream_proxy::UpstreamProxy;

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses bytes as a ClientHello and fingerprints whatever parses.
    pub fn client_hello(data: &[u8]) {
        if let Ok(hello) = crate::clienthello::parse_client_hello(data) {
            let _ = crate::fingerprint::fingerprints(&hello);
        }
    }

    /// Classifies bytes as a tunnel's first bytes.
    pub fn sniff(data: &[u8]) {
        let _ = crate::sniff::classify(data);
    }

    /// Feeds bytes, in pieces cut where the first byte says, to the HTTP/1 head tap.
    pub fn http1_heads(data: &[u8]) {
        let mut parser = crate::headtap::Parser::new(crate::headtap::Heads::default());
        for piece in pieces(data) {
            parser.feed(piece);
        }
    }

    /// Feeds bytes after the HTTP/2 preface, in pieces, to the HTTP/2 head tap (HPACK).
    pub fn http2_heads(data: &[u8]) {
        let mut parser = crate::headtap::H2Parser::new(crate::headtap::Heads::default());
        parser.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        for piece in pieces(data) {
            parser.feed(piece);
        }
    }

    /// Feeds bytes, in pieces, to the WebSocket frame parser (client to server: masked).
    pub fn websocket_frames(data: &[u8]) {
        let mut parser =
            crate::websocket::FrameParser::new(phonehome_record::Direction::Up, 64 * 1024);
        for piece in pieces(data) {
            let _ = parser.feed(piece);
        }
    }

    /// Parses text as CONNECT's authority-form target.
    pub fn connect_authority(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = phonehome_record::Target::parse_connect(text);
        }
    }

    /// `data` cut into pieces of the length its first byte gives (1 to 256): parsers that
    /// keep state across reads are fed as a socket would feed them.
    fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
        let size = data.first().map_or(1, |b| usize::from(*b) + 1);
        data.get(1..).unwrap_or_default().chunks(size)
    }
}

use context::Context;
use tokio::net::TcpListener;

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
    /// Until [`ProxyHandle::attribute_with`] names the command, every process is searched.
    pub attribution: bool,
    /// A token every client must present (`Proxy-Authorization: Basic` of
    /// `phonehome:TOKEN`); others get 407 and a `blocked` record.
    pub credential: Option<String>,
    /// How long a sinkholed tunnel waits for the client's first bytes (and any tunnel for the
    /// rest of first bytes it has started) before it is closed and the wait recorded.
    pub sinkhole_wait: Duration,
}

/// Default of [`ProxyConfig::sinkhole_wait`].
pub const DEFAULT_SINKHOLE_WAIT: Duration = Duration::from_secs(30);

/// Failures starting the proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Trust(#[from] TrustError),
}

impl ProxyError {
    /// Whether the listen address is already taken.
    pub fn is_addr_in_use(&self) -> bool {
        matches!(self, ProxyError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse)
    }
}

/// A running proxy. Dropping it without [`Proxy::shutdown`] stops accepting but does not drain.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    ctx: Arc<Context>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Binds the listener and starts accepting; events go to `recorder`.
    ///
    /// # Errors
    /// [`ProxyError::Bind`] when the address cannot be bound, [`ProxyError::Trust`] when an
    /// extra CA file cannot be used.
    pub async fn start(config: ProxyConfig, recorder: Recorder) -> Result<Proxy, ProxyError> {
        let trust = trust::load_trust(&config.extra_ca)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ProxyError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: config.listen,
            source,
        })?;
        let tls = upstream_tls::UpstreamTls::new(&trust, config.client_certs.clone());
        let dialer =
            dialer::Dialer::new(config.connect_timeout, config.upstream_proxy.clone(), tls);
        let ctx = Arc::new(Context::new(recorder, dialer, &config));
        if config.attribution {
            ctx.set_attributor(Attributor::new(None));
        }
        let accept = tokio::spawn(accept_loop(listener, addr, ctx.clone()));
        Ok(Proxy { addr, ctx, accept })
    }

    /// The address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A cloneable handle for serving connections that reach phonehome other than through
    /// the listener (from an isolated namespace).
    pub fn handle(&self) -> ProxyHandle {
        ProxyHandle {
            ctx: self.ctx.clone(),
        }
    }

    /// Stops accepting, lets in-flight connections finish for up to `drain`, then closes the
    /// rest (their records are still written).
    pub async fn shutdown(self, drain: Duration) {
        self.accept.abort();
        let _ = self.accept.await;
        self.ctx.tracker.close();
        if tokio::time::timeout(drain, self.ctx.tracker.wait())
            .await
            .is_err()
        {
            self.ctx.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), self.ctx.tracker.wait()).await;
        }
    }
}

/// Serves connections that reach phonehome other than through the listener; see
/// [`Proxy::handle`].
#[derive(Clone)]
pub struct ProxyHandle {
    ctx: Arc<Context>,
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandle").finish_non_exhaustive()
    }
}

impl ProxyHandle {
    /// Serves a client connection that speaks the proxy protocol (CONNECT, absolute-form)
    /// and reached phonehome other than through the listener (from an isolated namespace).
    /// `server` is the address the client connected to (the gateway's proxy port).
    pub fn serve_proxy_client(
        &self,
        stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
        client: SocketAddr,
        server: SocketAddr,
    ) {
        let ctx = self.ctx.clone();
        self.ctx
            .spawn(client::serve_client(ctx, stream, client, server));
    }

    /// Serves a connection whose destination is known without any proxy protocol (from an
    /// isolated namespace), as a CONNECT tunnel to `target` would be served: policy, dial,
    /// first-bytes sniff, TLS interception or HTTP or a byte relay, records.
    ///
    /// `target` is the destination as the client named it (the DNS name it looked up, else
    /// the address): it is what policies decide on and records show. `dial` is the address
    /// to connect to (through the upstream proxy, by `target`, when one is set and `dial` is
    /// not loopback). `server` is the address the client connected to.
    pub fn serve_direct(
        &self,
        stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
        client: SocketAddr,
        target: phonehome_record::Target,
        dial: SocketAddr,
        server: SocketAddr,
    ) {
        let ctx = self.ctx.clone();
        self.ctx.spawn(client::serve_direct(
            ctx, stream, client, target, dial, server,
        ));
    }

    /// Records a connection from `client` to `server` refused by `rule` before any dial (a
    /// `conn` and a `blocked`).
    pub fn refuse(
        &self,
        client: SocketAddr,
        server: SocketAddr,
        target: &phonehome_record::Target,
        rule: &str,
    ) {
        client::refuse(&self.ctx, client, server, target, rule);
    }

    /// Attributes every client socket from now on with `attributor` (see [`Attributor`]):
    /// for `run`, made once the command's pid is known; for `--isolate`, one that reads the
    /// namespace's tables.
    pub fn attribute_with(&self, attributor: Attributor) {
        self.ctx.set_attributor(attributor);
    }

    /// Whether the policy denies `target` by its host alone (no process: a name being
    /// resolved has no connection yet, so `exe` and `own` rules do not apply): the rule and
    /// whether the denial is enforced (false in a dry run). `None` when it passes or decides
    /// per request.
    pub fn denies_host(&self, target: &phonehome_record::Target) -> Option<(String, bool)> {
        let unknown = phonehome_policy::Connecting::unknown();
        match self.ctx.enforcer.as_ref()?.host(target, &unknown) {
            enforce::Verdict::Deny { rule, enforced } => Some((rule, enforced)),
            enforce::Verdict::Pass => None,
        }
    }

    /// Dials `host` at `ip` from now on (CONNECT and absolute-form included), without DNS or
    /// the upstream proxy: a name that only exists for phonehome's clients.
    pub fn alias_host(&self, host: &str, ip: std::net::IpAddr) {
        self.ctx.dialer.alias(host, ip);
    }

    /// Which connections this proxy answers itself.
    pub fn sinkhole(&self) -> SinkholeMode {
        self.ctx.sinkhole
    }

    /// The recorder this proxy writes to.
    pub fn recorder(&self) -> &Recorder {
        &self.ctx.recorder
    }
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, ctx: Arc<Context>) {
    loop {
        match listener.accept().await {
            Ok((stream, client)) => {
                let _ = stream.set_nodelay(true);
                ctx.spawn(client::serve_client(ctx.clone(), stream, client, addr));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
