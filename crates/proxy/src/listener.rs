//! The listener: binds the proxy port and accepts client connections, each served by
//! [`client`] (the proxy protocol); the [`ProxyHandle`] that serves connections reaching
//! phonehome other than through the listener (from an isolated namespace); and the drain at
//! shutdown.

pub(crate) mod client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use phonehome_record::SinkholeMode;
use tokio::net::TcpListener;

use crate::attribution::Attributor;
use crate::config::ProxyConfig;
use crate::context::Context;
use crate::dial::dialer;
use crate::dial::upstream_tls;
use crate::enforce;
use crate::recorder::Recorder;
use crate::tls::trust::{self, TrustError};

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

    /// Whether the policy denies `target` by its host alone: the rule and whether the denial
    /// is enforced (false in a dry run). `None` when it passes or decides per request.
    ///
    /// No process: a name being resolved has no connection yet, so `exe` and `own` rules do
    /// not apply here (the connection that follows is decided with its process).
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
