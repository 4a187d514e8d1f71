//! One client connection: the proxy protocol (CONNECT and absolute-form requests), then for a
//! tunnel the first-bytes sniff and either TLS interception, plain HTTP, TLS passthrough or a
//! raw TCP relay. The `conn` record is written when the connection's last part ends.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use phonehome_record::{
    Conn, ConnUpstream, ErrorRecord, Phase, Record, Target, TlsInfo, Transport,
};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ca::CertificateAuthority;
use crate::clienthello::{read_client_hello, version_name};
use crate::enforce::{self, Verdict};
use crate::engine::{self, Origin, RespBody, UpstreamLink};
use crate::observe::{Observed, Observer};
use crate::recorder::Recorder;
use crate::sniff::{classify, read_first, FirstBytes, Prefixed};
use crate::upstream::{Dialed, Dialer};

/// Any byte stream the engine can serve or forward over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}
pub(crate) type BoxIo = Box<dyn Io>;

/// How long a tunnel waits for the client's first bytes before treating it as a protocol in
/// which the server speaks first.
const SNIFF_WAIT: Duration = Duration::from_secs(2);

/// A TLS fatal alert record, `handshake_failure` (RFC 8446 §6.2), sent to a client whose
/// upstream failed verification instead of a forged certificate.
const HANDSHAKE_FAILURE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40];

/// Client-facing TLS configs per (leaf host, ALPN offered).
type ServerConfigs = HashMap<(String, Option<Vec<u8>>), Arc<ServerConfig>>;

/// What every connection shares.
pub(crate) struct Context {
    pub recorder: Recorder,
    pub dialer: Dialer,
    pub ca: Arc<CertificateAuthority>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    pub enforcer: Option<Arc<crate::enforce::Enforcer>>,
    server_configs: Mutex<ServerConfigs>,
}

impl Context {
    pub(crate) fn new(
        recorder: Recorder,
        dialer: Dialer,
        ca: Arc<CertificateAuthority>,
        enforcer: Option<Arc<crate::enforce::Enforcer>>,
    ) -> Self {
        Self {
            recorder,
            dialer,
            ca,
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            enforcer,
            server_configs: Mutex::new(HashMap::new()),
        }
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

    /// The client-facing TLS config for `host`, offering `alpn` (what the upstream agreed to).
    fn server_config(&self, host: &str, alpn: Option<&[u8]>) -> Result<Arc<ServerConfig>, String> {
        let key = (host.to_owned(), alpn.map(<[u8]>::to_vec));
        if let Some(config) = self.lock_configs().get(&key) {
            return Ok(config.clone());
        }
        let leaf = self.ca.leaf(host).map_err(|e| engine::error_chain(&e))?;
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(leaf)));
        config.alpn_protocols = alpn.map(|p| vec![p.to_vec()]).unwrap_or_default();
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

/// Byte counters of the client side of a connection.
#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

/// What is known about a connection, completed as it goes.
struct ConnInfo {
    target: Option<Target>,
    transport: Transport,
    tls: Option<TlsInfo>,
    upstream: Option<ConnUpstream>,
}

/// A client connection's identity and record. The `conn` record is written when the last
/// reference is dropped, whatever ended the connection.
pub(crate) struct ConnState {
    pub id: u64,
    pub recorder: Recorder,
    pub ctx: Arc<Context>,
    client: SocketAddr,
    opened: SystemTime,
    opened_at: Instant,
    counters: Arc<Counters>,
    info: Mutex<ConnInfo>,
}

impl ConnState {
    fn info(&self) -> std::sync::MutexGuard<'_, ConnInfo> {
        self.info.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_target(&self, target: &Target, transport: Transport) {
        let mut info = self.info();
        if info.target.is_none() {
            info.target = Some(target.clone());
            info.transport = transport;
        }
    }

    fn set_upstream(&self, peer: SocketAddr, target: &Target) {
        let via = self
            .ctx
            .dialer
            .proxy()
            .filter(|p| !p.bypasses(&target.host));
        self.info().upstream = Some(ConnUpstream {
            addr: peer.to_string(),
            via: via.map(|p| p.display()),
            ..ConnUpstream::default()
        });
    }

    /// Records a connection-level `error`.
    /// The policy's decision on `target` by its host alone, recorded when it denies: the rule
    /// when the denial is enforced (a dry run records it and lets the connection go on).
    fn host_denied(&self, target: &Target) -> Option<String> {
        let Verdict::Deny { rule, enforced } = self.ctx.enforcer.as_ref()?.host(target) else {
            return None;
        };
        enforce::record(
            &self.recorder,
            Some(self.id),
            None,
            target,
            None,
            &rule,
            enforced,
        );
        enforced.then_some(rule)
    }

    fn error(&self, target: &Target, phase: Phase, message: String) {
        self.recorder.record(Record::Error(ErrorRecord {
            ts: phonehome_record::now(),
            flow: None,
            conn: Some(self.id),
            target: target.clone(),
            phase,
            message,
        }));
    }
}

impl Drop for ConnState {
    fn drop(&mut self) {
        let info = self.info.get_mut().unwrap_or_else(|e| e.into_inner());
        let Some(target) = info.target.take() else {
            // Nothing was asked of this connection (a port probe, a request to the proxy itself).
            return;
        };
        self.recorder.record(Record::Conn(Conn {
            ts: phonehome_record::now(),
            conn: self.id,
            client: self.client.to_string(),
            target,
            transport: info.transport,
            tls: info.tls.take(),
            upstream: info.upstream.take(),
            bytes_up: self.counters.up.load(Ordering::Relaxed),
            bytes_down: self.counters.down.load(Ordering::Relaxed),
            opened: phonehome_record::timestamp(self.opened),
            duration_ms: u64::try_from(self.opened_at.elapsed().as_millis()).unwrap_or(u64::MAX),
            process: None,
            ancestry: Vec::new(),
        }));
    }
}

/// Counts the bytes that cross the client socket.
#[derive(Clone)]
struct Counting(Arc<Counters>);

impl Observer for Counting {
    fn read(&mut self, bytes: &[u8]) {
        self.0.up.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }

    fn wrote(&mut self, _bufs: &[io::IoSlice<'_>], n: usize) {
        self.0.down.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl ConnState {
    /// A new client connection, not yet counted or named.
    fn open(ctx: &Arc<Context>, client: SocketAddr) -> (Arc<ConnState>, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let conn = Arc::new(ConnState {
            id: ctx.recorder.next_conn(),
            recorder: ctx.recorder.clone(),
            ctx: ctx.clone(),
            client,
            opened: SystemTime::now(),
            opened_at: Instant::now(),
            counters: counters.clone(),
            info: Mutex::new(ConnInfo {
                target: None,
                transport: Transport::Http,
                tls: None,
                upstream: None,
            }),
        });
        (conn, counters)
    }
}

/// Serves one accepted client connection that speaks the proxy protocol until it and its
/// tunnel end.
pub(crate) async fn serve_client(ctx: Arc<Context>, stream: impl Io, client: SocketAddr) {
    let (conn, counters) = ConnState::open(&ctx, client);
    // Absolute-form requests' heads as sent; the tap stops at a CONNECT.
    let heads = crate::headtap::Heads::default();
    let counted = Observed::new(stream, Counting(counters));
    let io = TokioIo::new(Observed::new(
        counted,
        crate::headtap::Parser::new(heads.clone()),
    ));
    let links: Arc<tokio::sync::Mutex<Option<Arc<UpstreamLink>>>> = Arc::default();
    let service = hyper::service::service_fn(move |req| {
        let conn = conn.clone();
        let links = links.clone();
        let heads = heads.clone();
        async move { Ok::<_, Infallible>(proxy_request(req, conn, links, heads).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .timer(TokioTimer::new())
        .serve_connection(io, service)
        .with_upgrades()
        .await;
}

/// Serves a connection whose destination is known without any proxy protocol (a connection
/// from an isolated namespace): the policy decides on `target`, then `dial` is reached and the
/// stream is sniffed and served as a CONNECT tunnel's would be. `target` is the destination as
/// the client named it (the DNS name it looked up, else the address); `dial` is where it goes.
pub(crate) async fn serve_direct(
    ctx: Arc<Context>,
    stream: impl Io,
    client: SocketAddr,
    target: Target,
    dial: SocketAddr,
) {
    let (conn, counters) = ConnState::open(&ctx, client);
    conn.set_target(&target, Transport::Tcp);
    if conn.host_denied(&target).is_some() {
        // Closing is all a client that asked for no proxy can be told.
        return;
    }
    let dialed = match conn.ctx.dialer.connect_to(&target, dial).await {
        Ok(dialed) => dialed,
        Err(e) => {
            conn.error(&target, e.phase, e.message);
            return;
        }
    };
    conn.set_upstream(dialed.peer, &target);
    if dial.ip().is_loopback() {
        // Loopback is dialled directly, never through the upstream proxy.
        if let Some(upstream) = conn.info().upstream.as_mut() {
            upstream.via = None;
        }
    }
    let counted = Observed::new(stream, Counting(counters));
    tunnel(Box::new(counted), dialed, target, conn).await;
}

/// Records a connection that is refused before any dial, by a rule outside the policy (an
/// isolated namespace's own rules), as a `conn` with a `blocked` record.
pub(crate) fn refuse(ctx: &Arc<Context>, client: SocketAddr, target: &Target, rule: &str) {
    let (conn, _) = ConnState::open(ctx, client);
    conn.set_target(target, Transport::Tcp);
    enforce::record(
        &conn.recorder,
        Some(conn.id),
        None,
        target,
        None,
        rule,
        true,
    );
}

/// One request on the proxy connection: CONNECT, absolute-form, or a mistake.
async fn proxy_request(
    req: Request<Incoming>,
    conn: Arc<ConnState>,
    links: Arc<tokio::sync::Mutex<Option<Arc<UpstreamLink>>>>,
    heads: crate::headtap::Heads,
) -> Response<RespBody> {
    if req.method() == Method::CONNECT {
        return connect(req, conn).await;
    }
    let uri = req.uri();
    if uri.scheme_str() != Some("http") {
        return engine::text_response(
            StatusCode::BAD_REQUEST,
            "phonehome is an HTTP proxy: send absolute-form http:// requests or CONNECT\n",
        );
    }
    let Some(target) = uri_target(uri, 80) else {
        return engine::text_response(StatusCode::BAD_REQUEST, "request URI has no host\n");
    };
    conn.set_target(&target, Transport::Http);
    if let Some(enforcer) = &conn.ctx.enforcer {
        let path = req.uri().path();
        let headers = engine::header_pairs(req.headers());
        let verdict = enforcer.request(&target, req.method().as_str(), path, &headers);
        if let Verdict::Deny { rule, enforced } = verdict {
            let url = req.uri().to_string();
            enforce::record(
                &conn.recorder,
                Some(conn.id),
                None,
                &target,
                Some((req.method().as_str(), &url)),
                &rule,
                enforced,
            );
            if enforced {
                return engine::blocked_text(&target, &rule);
            }
        }
    }
    let link = {
        let mut slot = links.lock().await;
        match slot.as_ref() {
            Some(link) if link.origin().target == target => link.clone(),
            _ => {
                let origin = Origin {
                    scheme: "http",
                    target: target.clone(),
                };
                let weak = Arc::downgrade(&conn);
                let on_dial = move |peer| {
                    if let Some(conn) = weak.upgrade() {
                        conn.set_upstream(peer, &target);
                    }
                };
                let link = Arc::new(UpstreamLink::lazy(conn.ctx.clone(), origin, on_dial));
                *slot = Some(link.clone());
                link
            }
        }
    };
    engine::forward(req, &link, &conn, Some(&heads)).await
}

fn uri_target(uri: &http::Uri, default_port: u16) -> Option<Target> {
    Target::from_authority(uri.authority()?.as_str(), default_port)
}

/// CONNECT: reach the target first, so a failure is a 502 naming the phase; then tunnel.
async fn connect(req: Request<Incoming>, conn: Arc<ConnState>) -> Response<RespBody> {
    let Some(target) = uri_target(req.uri(), 443) else {
        return engine::text_response(StatusCode::BAD_REQUEST, "CONNECT needs host:port\n");
    };
    conn.set_target(&target, Transport::Tcp);
    // Host rules decide here, before any DNS lookup or TLS byte.
    if let Some(rule) = conn.host_denied(&target) {
        return engine::blocked_text(&target, &rule);
    }
    let dialed = match conn.ctx.dialer.connect(&target).await {
        Ok(dialed) => dialed,
        Err(e) => {
            conn.error(&target, e.phase, e.message.clone());
            return engine::bad_gateway(&target, &e);
        }
    };
    conn.set_upstream(dialed.peer, &target);
    let ctx = conn.ctx.clone();
    ctx.spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => tunnel(Box::new(TokioIo::new(upgraded)), dialed, target, conn).await,
            Err(e) => conn.error(
                &target,
                Phase::ClientHttp,
                format!("CONNECT tunnel was not established: {e}"),
            ),
        }
    });
    Response::new(http_body_util::Either::Right(
        http_body_util::Full::default(),
    ))
}

/// Sniffs the tunnel's first bytes and hands it to the matching handler.
async fn tunnel(mut client: BoxIo, dialed: Dialed, target: Target, conn: Arc<ConnState>) {
    let first = match read_first(&mut client, SNIFF_WAIT).await {
        Ok(first) => first,
        Err(e) => {
            conn.error(
                &target,
                Phase::ClientHttp,
                format!("reading from the client failed: {e}"),
            );
            return;
        }
    };
    let Some(first) = first else {
        // The client waits for the server to speak first: not HTTP, not TLS.
        return relay(client, dialed.stream).await;
    };
    if first.is_empty() {
        return;
    }
    match classify(&first) {
        FirstBytes::Tls => intercept_tls(client, first, dialed, target, conn).await,
        kind @ (FirstBytes::Http1 | FirstBytes::Http2) => {
            conn.info().transport = Transport::Http;
            let origin = Origin {
                scheme: "http",
                target: target.clone(),
            };
            let h2 = kind == FirstBytes::Http2;
            let link = UpstreamLink::open(
                conn.ctx.clone(),
                origin,
                None,
                Vec::new(),
                Box::new(dialed.stream),
                h2,
            )
            .await;
            match link {
                Ok(link) => {
                    engine::serve(
                        Box::new(Prefixed::new(first, client)),
                        h2,
                        Arc::new(link),
                        conn,
                    )
                    .await;
                }
                Err(e) => conn.error(&target, e.phase, e.message),
            }
        }
        FirstBytes::Other => relay(Box::new(Prefixed::new(first, client)), dialed.stream).await,
    }
}

/// Relays bytes both ways until both sides close.
async fn relay(mut client: BoxIo, mut upstream: TcpStream) {
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// The name to verify the upstream against and to issue the client's leaf for: the SNI when it
/// is a DNS name (RFC 6066 §3), else the CONNECT host. Some clients send an IP address or
/// `host:port` as SNI; the record keeps what they sent.
fn tls_server_name(sni: Option<&str>, target: &Target) -> String {
    match sni {
        Some(sni) if is_dns_name(sni) => sni.to_owned(),
        _ => target.host.clone(),
    }
}

fn is_dns_name(name: &str) -> bool {
    matches!(
        rustls::pki_types::ServerName::try_from(name),
        Ok(rustls::pki_types::ServerName::DnsName(_))
    )
}

/// The ALPN protocols phonehome can speak, in the client's order.
fn speakable(offered: &[Vec<u8>]) -> Vec<Vec<u8>> {
    offered
        .iter()
        .filter(|p| p.as_slice() == b"h2" || p.as_slice() == b"http/1.1")
        .cloned()
        .collect()
}

/// TLS: read the ClientHello, handshake with the upstream offering the client's ALPN, then
/// complete the client's handshake with a leaf from the local CA offering only what the
/// upstream agreed to.
async fn intercept_tls(
    mut client: BoxIo,
    mut buf: Vec<u8>,
    dialed: Dialed,
    target: Target,
    conn: Arc<ConnState>,
) {
    let hello = match read_client_hello(&mut client, &mut buf).await {
        Ok(hello) => hello,
        Err(e) => {
            conn.info().transport = Transport::TlsIntercept;
            conn.error(&target, Phase::TlsClient, e.to_string());
            return;
        }
    };
    let prints = crate::fingerprint::fingerprints(&hello);
    let mut tls = TlsInfo {
        sni: hello.sni.clone(),
        alpn_offered: hello
            .alpn
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
        versions_offered: hello.versions.iter().map(|v| version_name(*v)).collect(),
        ja3: Some(prints.ja3),
        ja3_text: Some(prints.ja3_text),
        ja4: Some(prints.ja4),
        ja4_r: Some(prints.ja4_r),
        cipher_suites: hello.cipher_suites.clone(),
        extensions: hello.extensions.clone(),
        supported_groups: hello.supported_groups.clone(),
        signature_algorithms: hello.signature_algorithms.clone(),
        ..TlsInfo::default()
    };
    let alpn = speakable(&hello.alpn);
    if !hello.alpn.is_empty() && alpn.is_empty() {
        // A protocol phonehome does not speak: relay it untouched.
        {
            let mut info = conn.info();
            info.transport = Transport::TlsPassthrough;
            info.tls = Some(tls);
        }
        return relay(Box::new(Prefixed::new(buf, client)), dialed.stream).await;
    }
    conn.info().transport = Transport::TlsIntercept;
    let server_name = tls_server_name(hello.sni.as_deref(), &target);
    let upstream = match conn
        .ctx
        .dialer
        .tls(dialed.stream, &server_name, &alpn)
        .await
    {
        Ok(dialed) => dialed,
        Err(e) => {
            conn.info().tls = Some(tls);
            conn.error(&target, e.phase, e.message);
            let _ = client.write_all(&HANDSHAKE_FAILURE_ALERT).await;
            let _ = client.shutdown().await;
            return;
        }
    };
    let (upstream, upstream_prints) = upstream;
    let upstream_alpn = upstream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    if let Some(info) = conn.info().upstream.as_mut() {
        if let Some(prints) = upstream_prints {
            info.ja3 = Some(prints.ja3);
            info.ja4 = Some(prints.ja4);
        }
        info.alpn = upstream_alpn
            .as_deref()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        info.version = upstream
            .get_ref()
            .1
            .protocol_version()
            .map(|v| version_name(u16::from(v)));
    }
    let config = match conn
        .ctx
        .server_config(&server_name, upstream_alpn.as_deref())
    {
        Ok(config) => config,
        Err(message) => {
            conn.info().tls = Some(tls);
            conn.error(
                &target,
                Phase::TlsClient,
                format!("cannot issue a certificate: {message}"),
            );
            return;
        }
    };
    let accepted = tokio_rustls::TlsAcceptor::from(config)
        .accept(Prefixed::new(buf, client))
        .await;
    let client_tls = match accepted {
        Ok(client_tls) => client_tls,
        Err(e) => {
            let why = match &hello.sni {
                Some(sni) if !is_dns_name(sni) => format!(
                    "the client's SNI {sni:?} is not a host name (RFC 6066 §3), so the TLS \
                     handshake was refused: "
                ),
                _ => "the TLS handshake with the client failed: ".to_owned(),
            };
            conn.info().tls = Some(tls);
            conn.error(&target, Phase::TlsClient, why + &engine::error_chain(&e));
            return;
        }
    };
    let session = client_tls.get_ref().1;
    tls.alpn = session
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    tls.version = session
        .protocol_version()
        .map(|v| version_name(u16::from(v)));
    conn.info().tls = Some(tls);
    let h2 = upstream_alpn.as_deref() == Some(b"h2");
    let origin = Origin {
        scheme: "https",
        target: target.clone(),
    };
    let link = UpstreamLink::open(
        conn.ctx.clone(),
        origin,
        Some(server_name),
        alpn,
        Box::new(upstream),
        h2,
    )
    .await;
    match link {
        Ok(link) => engine::serve(Box::new(client_tls), h2, Arc::new(link), conn).await,
        Err(e) => conn.error(&target, e.phase, e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_sni_falls_back_to_the_connect_host() {
        let target = Target {
            host: "127.0.0.1".into(),
            port: 8443,
        };
        assert_eq!(tls_server_name(Some("api.test"), &target), "api.test");
        assert_eq!(
            tls_server_name(Some("127.0.0.1:8443"), &target),
            "127.0.0.1"
        );
        assert_eq!(tls_server_name(Some("10.0.0.1"), &target), "127.0.0.1");
        assert_eq!(tls_server_name(None, &target), "127.0.0.1");
    }
}
