//! Shared parts of the integration tests: a scratch environment for the real binary, a test
//! PKI, and a local upstream server (HTTP/1.1 and HTTP/2, TLS or plain, SSE, gzip, WebSocket).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub const BIN: &str = env!("CARGO_BIN_EXE_phonehome");

/// A scratch folder with the data dir and CA dir phonehome uses in a test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `phonehome ARGS` with this scratch's data and CA dirs and no inherited proxy settings.
    pub fn phonehome(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.env("XDG_DATA_HOME", self.path("data"))
            .env("PHONEHOME_CA_DIR", self.path("ca"))
            .kill_on_drop(true);
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "NO_PROXY",
            "no_proxy",
            "ALL_PROXY",
            "all_proxy",
            "SSL_CERT_FILE",
            "CURL_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }
}

impl Scratch {
    /// `phonehome run --out OUT [--extra-ca CA]`, for the caller to add options and
    /// `-- COMMAND…`.
    pub fn run_prefix(&self, out: &Path, extra_ca: Option<&Path>) -> tokio::process::Command {
        let mut cmd = self.phonehome();
        cmd.arg("run").arg("--out").arg(out);
        if let Some(ca) = extra_ca {
            cmd.arg("--extra-ca").arg(ca);
        }
        cmd
    }
}

/// Reads a proxy request head from `client` and returns its target (`host:port` for CONNECT).
pub async fn read_request_target(client: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await.ok()?);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    head.split_whitespace().nth(1).map(str::to_owned)
}

/// The output of a finished phonehome run.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs phonehome to completion (a hang guard of 120 s, not a timing assertion).
pub async fn run(mut cmd: tokio::process::Command) -> Ran {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("phonehome finished within the hang guard")
        .expect("phonehome started");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Starts a test server that prints the port it listens on as its first line (the Python
/// servers under tests/it); the child, killed when dropped, and that port.
pub async fn spawn_printing_port(
    cmd: &mut tokio::process::Command,
) -> (tokio::process::Child, u16) {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = cmd
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read")
        .expect("the server prints its port");
    (child, line.trim().parse().expect("a port"))
}

/// Every line of a capture, parsed; panics (naming the line) on one that does not parse.
pub fn read_capture(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{} line {}: {e}: {line}", path.display(), i + 1))
        })
        .collect()
}

/// The records of one type.
pub fn of_type<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == kind).collect()
}

/// The response record of `flow`.
pub fn response_of<'a>(records: &'a [Value], flow: &Value) -> &'a Value {
    records
        .iter()
        .find(|r| r["type"] == "response" && &r["flow"] == flow)
        .unwrap_or_else(|| panic!("no response for flow {flow}"))
}

/// How a test server's certificate is made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Cert {
    /// Issued by the test CA for localhost, 127.0.0.1 and host.phonehome.internal.
    Valid,
    /// Self-signed, no CA.
    SelfSigned,
    /// Issued by the test CA for another name.
    WrongHost,
    /// Issued by the test CA, expired yesterday.
    Expired,
}

/// The names of a valid test server certificate: loopback, and the host's loopback as
/// `run --isolate --isolate-host-loopback` names it inside the namespace.
fn valid_names() -> Vec<String> {
    ["localhost", "127.0.0.1", "host.phonehome.internal"]
        .map(str::to_owned)
        .to_vec()
}

/// A test CA that issues upstream server certificates.
pub struct TestPki {
    pub ca_pem: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestPki {
    pub fn new(dir: &Path) -> Self {
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "phonehome test upstream CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("ca");
        let ca_pem = dir.join("upstream-ca.pem");
        std::fs::write(&ca_pem, cert.pem()).expect("write ca");
        Self {
            ca_pem,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A valid server certificate and its key for localhost and 127.0.0.1, as PEM files in
    /// `dir`, for servers outside this process.
    pub fn write_server_pem(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let params = rcgen::CertificateParams::new(valid_names()).expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("cert");
        let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }

    /// A rustls server config for `cert`, offering `alpn`.
    pub fn server_config(&self, cert: Cert, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let names = match cert {
            Cert::WrongHost => vec!["elsewhere.test".to_owned()],
            _ => valid_names(),
        };
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        let now = time::OffsetDateTime::now_utc();
        (params.not_before, params.not_after) = match cert {
            Cert::Expired => (
                now - time::Duration::days(10),
                now - time::Duration::days(1),
            ),
            _ => (
                now - time::Duration::hours(1),
                now + time::Duration::days(1),
            ),
        };
        let key = rcgen::KeyPair::generate().expect("key");
        let der = match cert {
            Cert::SelfSigned => params.self_signed(&key).expect("cert").der().clone(),
            _ => params
                .signed_by(&key, &self.issuer)
                .expect("cert")
                .der()
                .clone(),
        };
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).boxed()
}

/// A local upstream: HTTP/1.1 and HTTP/2 (by ALPN when TLS), with a few routes.
///
/// - `/hello`: a small JSON body.
/// - `/echo`: the request body back, and the headers the server got as JSON in `x-seen-headers`.
/// - `/gzip`: a gzip-encoded JSON body.
/// - `/sse`: an event stream; the first event at once, the last only after
///   [`Upstream::release`] is notified.
/// - `/ws`: a WebSocket echo.
/// - `/v1/chat/completions`: a minimal OpenAI-shaped chat completion.
pub struct Upstream {
    pub addr: SocketAddr,
    pub release: Arc<Notify>,
}

impl Upstream {
    pub async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let release = Arc::new(Notify::new());
        let state = release.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let tls = tls.clone();
                let release = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let release = release.clone();
                        async move { Ok::<_, Infallible>(route(req, release).await) }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(config) => {
                            let Ok(stream) =
                                tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                            else {
                                return;
                            };
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .await;
                        }
                        None => {
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        Self { addr, release }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

async fn route(mut req: Request<Incoming>, release: Arc<Notify>) -> Response<Body> {
    match req.uri().path() {
        // Answered only when the test releases it: a request still waiting for its head.
        "/hold" => {
            release.notified().await;
            Response::builder().body(full("released")).expect("response")
        }
        "/hello" => Response::builder()
            .header("content-type", "application/json")
            .body(full(r#"{"hello":"world"}"#))
            .expect("response"),
        "/echo" => {
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Response::builder()
                .header(
                    "x-seen-headers",
                    serde_json::to_string(&headers).expect("json"),
                )
                .body(full(body))
                .expect("response")
        }
        "/gzip" => {
            use std::io::Write as _;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(br#"{"compressed":true}"#).expect("gzip");
            Response::builder()
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(full(enc.finish().expect("gzip")))
                .expect("response")
        }
        "/sse" => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                let _ = tx
                    .send(Ok(Frame::data(Bytes::from("data: first\n\n"))))
                    .await;
                release.notified().await;
                let _ = tx
                    .send(Ok(Frame::data(Bytes::from("data: last\n\n"))))
                    .await;
            });
            let stream = tokio_stream_from(rx);
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .expect("response")
        }
        "/ws" => {
            let key = req
                .headers()
                .get("sec-websocket-key")
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default();
            let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                use futures_util::{SinkExt as _, StreamExt as _};
                let Ok(upgraded) = upgrade.await else { return };
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    None,
                )
                .await;
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_close() {
                        break;
                    }
                    if message.is_text() || message.is_binary() {
                        let _ = ws.send(message).await;
                    }
                }
            });
            Response::builder()
                .status(101)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", accept)
                .body(full(""))
                .expect("response")
        }
        "/v1/chat/completions" => Response::builder()
            .header("content-type", "application/json")
            .body(full(
                r#"{"object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}]}"#,
            ))
            .expect("response"),
        _ => Response::builder()
            .status(404)
            .body(full("not found"))
            .expect("response"),
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A minimal local CONNECT proxy that logs the targets it is asked for. With `forward` it
/// tunnels to them; without, it refuses every CONNECT with 403 (a firewall that allows nothing),
/// which, given to phonehome as its upstream proxy, guarantees that a test's traffic never leaves
/// the machine whatever the program under test tries.
pub async fn connect_proxy(forward: bool) -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::AsyncWriteExt as _;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(target) = read_request_target(&mut client).await else {
                    return;
                };
                seen.lock().expect("lock").push(target.clone());
                let upstream = match forward {
                    true => tokio::net::TcpStream::connect(&target).await.ok(),
                    false => None,
                };
                let Some(mut upstream) = upstream else {
                    let _ = client
                        .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, log)
}

/// A running `phonehome proxy` and the address it announced.
pub struct StandaloneProxy {
    pub child: tokio::process::Child,
    pub addr: String,
    /// The `HTTP_PROXY` it told clients to use.
    pub proxy_url: String,
}

impl StandaloneProxy {
    /// Starts `phonehome proxy --listen 127.0.0.1:0 --out OUT ARGS` and reads its address.
    pub async fn start(scratch: &Scratch, out: &Path, args: &[&str]) -> Self {
        Self::start_with(scratch, out, args, &[]).await
    }

    /// [`StandaloneProxy::start`] with extra environment variables.
    pub async fn start_with(
        scratch: &Scratch,
        out: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let mut cmd = scratch.phonehome();
        cmd.envs(envs.iter().copied());
        cmd.args(["proxy", "--listen", "127.0.0.1:0", "--out"])
            .arg(out)
            .args(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("proxy starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines
            .next_line()
            .await
            .expect("read")
            .expect("a first line");
        let addr = first
            .strip_prefix("# phonehome proxy listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        let mut proxy_url = String::new();
        while proxy_url.is_empty() {
            let line = lines.next_line().await.expect("read").expect("env lines");
            if let Some(url) = line.strip_prefix("export HTTP_PROXY=") {
                proxy_url = url.trim_matches('\'').to_owned();
            }
        }
        // Keep reading stdout so the proxy never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            addr,
            proxy_url,
        }
    }

    /// Stops it with SIGINT and waits; returns its standard error.
    pub async fn stop(mut self) -> String {
        use tokio::io::AsyncReadExt as _;
        let pid = i32::try_from(self.child.id().expect("pid")).expect("pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("signal");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr).await;
        }
        let status = self.child.wait().await.expect("wait");
        assert!(status.success(), "{stderr}");
        stderr
    }

    /// A TCP connection tunnelled to `target` with CONNECT.
    pub async fn tunnel(&self, target: &str) -> tokio::net::TcpStream {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut tcp = tokio::net::TcpStream::connect(&self.addr)
            .await
            .expect("connect proxy");
        tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .await
            .expect("write CONNECT");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.expect("read CONNECT response"));
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        tcp
    }
}

/// Why `run --isolate` cannot run on this machine (no TUN driver, user namespaces forbidden),
/// if it cannot.
pub fn isolation_unavailable() -> Option<String> {
    phonehome_isolate::check().err().map(|e| e.to_string())
}

/// Returns from an isolation test, printing why, where isolation cannot run on this machine.
macro_rules! skip_without_isolation {
    () => {
        if let Some(reason) = crate::support::isolation_unavailable() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}
pub(crate) use skip_without_isolation;
