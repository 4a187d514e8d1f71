//! What every connection shares: the recorder, the dialer, the local CA and the cache of
//! client-facing TLS configs, the policy, and the task tracker that drains connections at
//! shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use phonehome_record::SinkholeMode;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
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
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.spawn_holding(task, ());
    }

    /// As [`Context::spawn`], holding `held` until `task` ends (tokio drops a task's future
    /// as soon as it completes, or when the proxy shuts down).
    pub(crate) fn spawn_holding<H: Send + 'static>(
        &self,
        task: impl Future<Output = ()> + Send + 'static,
        held: H,
    ) {
        self.tracker.spawn(UntilShutdown {
            task,
            shutdown: self.shutdown.clone().cancelled_owned(),
            _held: held,
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

pin_project_lite::pin_project! {
    /// A spawned task that ends when it completes or when the proxy shuts down. A struct
    /// rather than an `async` block around a `select!`: an `async` block keeps the future it
    /// captured beside the copy it polls, so a connection's serving phase, which lives as
    /// long as the connection, would be held twice (bench/rss, the crowd workload).
    struct UntilShutdown<F, H> {
        #[pin]
        task: F,
        #[pin]
        shutdown: WaitForCancellationFutureOwned,
        _held: H,
    }
}

impl<F: Future<Output = ()>, H> Future for UntilShutdown<F, H> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.task.poll(cx).is_ready() {
            return Poll::Ready(());
        }
        this.shutdown.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drops are seen through the count of a shared `Arc`.
    fn held() -> (Arc<()>, Arc<()>) {
        let probe = Arc::new(());
        (probe.clone(), probe)
    }

    #[tokio::test]
    async fn what_a_task_holds_goes_when_it_ends() {
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (probe, kept) = held();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        tracker.spawn(UntilShutdown {
            task: async move {
                let _ = wait.await;
            },
            shutdown: shutdown.clone().cancelled_owned(),
            _held: kept,
        });
        tokio::task::yield_now().await;
        assert_eq!(Arc::strong_count(&probe), 2, "held while the task runs");
        go.send(()).expect("task waits");
        tracker.close();
        tracker.wait().await;
        assert_eq!(Arc::strong_count(&probe), 1, "let go when the task ended");
    }

    #[tokio::test]
    async fn a_shutdown_ends_a_task_and_what_it_holds() {
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (probe, kept) = held();
        tracker.spawn(UntilShutdown {
            task: std::future::pending::<()>(),
            shutdown: shutdown.clone().cancelled_owned(),
            _held: kept,
        });
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
        assert_eq!(Arc::strong_count(&probe), 1);
    }

    #[test]
    fn a_spawned_future_is_held_once() {
        let big = async {
            let buffer = [0u8; 4096];
            tokio::task::yield_now().await;
            std::hint::black_box(&buffer);
        };
        let task_size = std::mem::size_of_val(&big);
        let wrapped = UntilShutdown {
            task: big,
            shutdown: CancellationToken::new().cancelled_owned(),
            _held: (),
        };
        // An `async` block that captured `big` and awaited it would be about twice its size.
        assert!(std::mem::size_of_val(&wrapped) < task_size + 512);
    }
}
