//! What every connection shares: the recorder, the dialer, the local CA and the cache of
//! client-facing TLS configs, the policy, and the task tracker that drains connections at
//! shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phonehome_record::SinkholeMode;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::attribution::{Attribution, Attributor, Recent};
use crate::config::ProxyConfig;
use crate::dial::dialer::{basic_authorization, Dialer};
use crate::enforce::Enforcer;
use crate::launch::PROXY_USER;
use crate::recorder::Recorder;
use crate::tls::ca::{CaError, CertificateAuthority};

/// Any byte stream the engine can serve or forward over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}
pub(crate) type BoxIo = Box<dyn Io>;

/// Client-facing TLS configs per (leaf host, ALPN offered).
type ServerConfigs = HashMap<(String, Vec<Vec<u8>>), Arc<ServerConfig>>;

/// What every connection shares.
pub(crate) struct Context {
    pub recorder: Recorder,
    pub dialer: Arc<Dialer>,
    pub ca: Arc<CertificateAuthority>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    pub enforcer: Option<Arc<Enforcer>>,
    /// Which connections phonehome answers itself.
    pub sinkhole: SinkholeMode,
    /// The `Proxy-Authorization` value every proxy client must send, when one is required.
    pub proxy_authorization: Option<String>,
    /// Who owns each client socket; `None` with `--no-attribution`, or until it is set up.
    attributor: Mutex<Option<Arc<Attributor>>>,
    /// The last connections' owners, shared by the connections they describe.
    attributions: Recent,
    /// How long a sinkholed tunnel, or a client that has started its first bytes, waits for
    /// the client's next bytes.
    pub sinkhole_wait: Duration,
    /// How long an upstream response may send nothing (`--idle-timeout`); `None`: no limit.
    pub idle_timeout: Option<Duration>,
    /// How long a client may take to send an HTTP/1 request head.
    pub head_timeout: Duration,
    server_configs: Mutex<ServerConfigs>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new(recorder: Recorder, dialer: Dialer, config: &ProxyConfig) -> Self {
        Self {
            recorder,
            dialer: Arc::new(dialer),
            ca: config.ca.clone(),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            enforcer: config.enforcer.clone(),
            sinkhole: config.sinkhole,
            proxy_authorization: config
                .credential
                .as_deref()
                .map(|token| basic_authorization(&format!("{}:{token}", PROXY_USER))),
            sinkhole_wait: config.sinkhole_wait,
            idle_timeout: config.idle_timeout,
            head_timeout: config.head_timeout,
            server_configs: Mutex::new(HashMap::new()),
            attributor: Mutex::new(None),
            attributions: Recent::default(),
        }
    }

    /// Attributes client sockets with `attributor` from now on.
    pub(crate) fn set_attributor(&self, attributor: Attributor) {
        *self.attributor.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(attributor));
    }

    /// The owner of the client socket `client`, connected to `server`: `None` when attribution
    /// is off. Blocking (a netlink request and reads in `/proc`, microseconds): called once
    /// per connection, at accept, while the client waits for phonehome. Shared with the
    /// other open connections of the same owner.
    pub(crate) fn attribute(
        &self,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Option<Arc<Attribution>> {
        let attributor = self
            .attributor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        Some(self.attributions.share(attributor.lookup(client, server)))
    }

    /// Runs `task` until it ends or the proxy shuts down, tracked for the drain.
    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// The client-facing TLS config for `host`, offering `alpn` (what the upstream agreed to,
    /// or what phonehome speaks when it answers itself).
    pub(crate) fn server_config(
        &self,
        host: &str,
        alpn: &[Vec<u8>],
    ) -> Result<Arc<ServerConfig>, CaError> {
        let key = (host.to_owned(), alpn.to_vec());
        if let Some(config) = self.lock_configs().get(&key) {
            return Ok(config.clone());
        }
        let leaf = self.ca.leaf(host)?;
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(leaf)));
        config.alpn_protocols = alpn.to_vec();
        let config = Arc::new(config);
        self.lock_configs().insert(key, config.clone());
        Ok(config)
    }

    fn lock_configs(&self) -> std::sync::MutexGuard<'_, ServerConfigs> {
        self.server_configs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}
