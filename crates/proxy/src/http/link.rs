//! An upstream link: the HTTP/1.1 or HTTP/2 client connection to one origin that an
//! intercepted connection's requests are forwarded over, redialled when the upstream closes it
//! between requests, and the conversions a request needs between the two versions.

use std::sync::Arc;
use std::task::Poll;

use http::header::{self, HeaderValue};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper::client::conn::{http1 as client_http1, http2 as client_http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use phonehome_record::{ClientCertUse, Phase, Target};

use crate::context::BoxIo;
use crate::dial::dialer::Dialer;
use crate::dial::error::DialError;
use crate::http::parked::Parked;
use crate::http::responses::error_chain;
use crate::http::tee::TeeBody;

/// The body of a forwarded request: the client's, teed into the recorder. Boxed: hyper's
/// client keeps a channel of 32 request slots per connection, each as big as a request.
pub(crate) type ReqBody = Box<TeeBody<Incoming>>;

/// Where requests on a link go.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// "http" or "https".
    pub scheme: &'static str,
    pub target: Target,
}

enum Sender {
    H1(client_http1::SendRequest<ReqBody>),
    H2(client_http2::SendRequest<ReqBody>),
}

/// The stream of the link's HTTP/1.1 connection and the task that drives hyper's connection
/// on it: kept so that the link can park the stream at rest.
struct H1Stream {
    stream: Parked<BoxIo>,
    task: tokio::task::JoinHandle<hyper::Result<()>>,
}

/// A connection to one origin, redialled when the upstream closes it between requests.
pub(crate) struct UpstreamLink {
    dialer: Arc<Dialer>,
    origin: Origin,
    /// The TLS server name, for an `https` origin.
    tls_name: Option<String>,
    /// ALPN protocols offered on a redial.
    alpn: Vec<Vec<u8>>,
    sender: tokio::sync::Mutex<Option<Sender>>,
    /// Told the peer address of every connection the link dials itself.
    on_dial: Option<Box<dyn Fn(std::net::SocketAddr) + Send + Sync>>,
    /// Whether the upstream of the current connection asked for a client certificate.
    client_cert: std::sync::Mutex<Option<ClientCertUse>>,
    /// The current HTTP/1.1 connection's stream while hyper drives it.
    h1: std::sync::Mutex<Option<H1Stream>>,
    /// An HTTP/1.1 stream at rest: open, with no hyper connection on it.
    parked: std::sync::Mutex<Option<Parked<BoxIo>>>,
}

impl UpstreamLink {
    /// A link that dials on its first request (absolute-form proxy requests).
    pub(crate) fn lazy(
        dialer: Arc<Dialer>,
        origin: Origin,
        on_dial: impl Fn(std::net::SocketAddr) + Send + Sync + 'static,
    ) -> Self {
        Self {
            dialer,
            origin,
            tls_name: None,
            alpn: Vec::new(),
            sender: tokio::sync::Mutex::new(None),
            on_dial: Some(Box::new(on_dial)),
            client_cert: std::sync::Mutex::new(None),
            h1: std::sync::Mutex::new(None),
            parked: std::sync::Mutex::new(None),
        }
    }

    /// A link over an upstream connection that is already open; `client_cert` is what became
    /// of its upstream's request for a client certificate.
    pub(crate) async fn open(
        dialer: Arc<Dialer>,
        origin: Origin,
        tls_name: Option<String>,
        alpn: Vec<Vec<u8>>,
        io: BoxIo,
        h2: bool,
        client_cert: Option<ClientCertUse>,
    ) -> Result<Self, DialError> {
        let (sender, h1) = handshake(io, h2).await?;
        Ok(Self {
            dialer,
            origin,
            tls_name,
            alpn,
            sender: tokio::sync::Mutex::new(Some(sender)),
            on_dial: None,
            client_cert: std::sync::Mutex::new(client_cert),
            h1: std::sync::Mutex::new(h1),
            parked: std::sync::Mutex::new(None),
        })
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    pub(crate) async fn send(
        &self,
        req: Request<ReqBody>,
    ) -> Result<Response<Incoming>, DialError> {
        let upstream_error = |e: hyper::Error| self.exchange_failed(&e);
        match self.ready_sender().await? {
            Sender::H1(mut sender) => {
                let result = sender.send_request(as_http1(req)).await;
                *self.sender.lock().await = Some(Sender::H1(sender));
                result.map_err(upstream_error)
            }
            Sender::H2(mut sender) => sender
                .send_request(as_http2(req, &self.origin))
                .await
                .map_err(upstream_error),
        }
    }

    /// Why the exchange failed: the upstream's TLS (an alert after the handshake, such as
    /// TLS 1.3's certificate_required), or its HTTP.
    fn exchange_failed(&self, e: &hyper::Error) -> DialError {
        use crate::tls::failure::{describe, missing_client_cert, rustls_error, Seen};
        let target = &self.origin.target;
        let client_cert = *self.client_cert.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tls) = rustls_error(e) {
            let seen = Seen {
                server_version: None,
                client_cert,
            };
            let why = describe(tls, seen, &target.host);
            return DialError::new(
                Phase::TlsUpstream,
                format!("TLS with {target} failed: {why}"),
            );
        }
        let mut message = format!("{target} failed the exchange: {}", error_chain(e));
        if client_cert == Some(ClientCertUse::Missing) {
            message = format!("{message}; {}", missing_client_cert(&target.host));
        }
        DialError::new(Phase::UpstreamHttp, message)
    }

    /// A sender ready for a request: the open one, or a new connection.
    async fn ready_sender(&self) -> Result<Sender, DialError> {
        let mut slot = self.sender.lock().await;
        let open = match slot.take() {
            Some(Sender::H1(mut sender)) => {
                sender.ready().await.is_ok().then_some(Sender::H1(sender))
            }
            Some(Sender::H2(mut sender)) => {
                sender.ready().await.is_ok().then_some(Sender::H2(sender))
            }
            None => None,
        };
        if let Some(sender) = open {
            if let Sender::H2(h2) = &sender {
                *slot = Some(Sender::H2(h2.clone()));
            }
            return Ok(sender);
        }
        let sender = match self.unpark().await {
            Some(sender) => sender,
            None => self.dial().await?,
        };
        if let Sender::H2(h2) = &sender {
            *slot = Some(Sender::H2(h2.clone()));
        }
        Ok(sender)
    }

    /// Lets the HTTP/1.1 connection go while no request is on it: hyper's connection ends
    /// (its buffers and request channel freed) and its stream stays open, parked for the next
    /// request. A connection that is busy, closed or HTTP/2 is left as it is.
    pub(crate) async fn park(&self) {
        let mut slot = self.sender.lock().await;
        let Some(Sender::H1(sender)) = slot.as_mut() else {
            return;
        };
        // Ready means hyper's connection is idle and waits for a request.
        let idle = std::future::poll_fn(|cx| Poll::Ready(sender.poll_ready(cx))).await;
        if !matches!(idle, Poll::Ready(Ok(()))) {
            return;
        }
        let Some(h1) = lock(&self.h1).take() else {
            return;
        };
        h1.stream.set_resting(true);
        *slot = None;
        // Without its sender, the idle connection ends at once, its shutdown held back.
        let ended = h1.task.await;
        h1.stream.set_resting(false);
        // Polled once from this task, also to take over the stream's read waker: the ended
        // task's waker, left there, would keep that task's memory for as long as the
        // connection rests. A stream already closed, or talking, is let go now.
        if ended.is_ok() && h1.stream.is_open().await {
            *lock(&self.parked) = Some(h1.stream);
        }
    }

    /// A new hyper connection on the parked stream, when one is parked and still open.
    async fn unpark(&self) -> Option<Sender> {
        let stream = lock(&self.parked).take()?;
        if !stream.is_open().await {
            return None;
        }
        let (sender, h1) = start_h1(stream).await.ok()?;
        *lock(&self.h1) = Some(h1);
        Some(sender)
    }

    async fn dial(&self) -> Result<Sender, DialError> {
        let dialed = self.dialer.connect(&self.origin.target).await?;
        if let Some(on_dial) = &self.on_dial {
            on_dial(dialed.peer);
        }
        let (sender, h1) = match &self.tls_name {
            None => handshake(Box::new(dialed.stream), false).await?,
            Some(name) => {
                let handshaken = self.dialer.tls(dialed.stream, name, &self.alpn).await?;
                *self.client_cert.lock().unwrap_or_else(|e| e.into_inner()) =
                    handshaken.client_cert;
                let tls = handshaken.stream;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                handshake(Box::new(tls), h2).await?
            }
        };
        *lock(&self.h1) = h1;
        Ok(sender)
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn handshake_failed(e: hyper::Error) -> DialError {
    DialError {
        phase: Phase::UpstreamHttp,
        message: format!(
            "HTTP handshake with the upstream failed: {}",
            error_chain(&e)
        ),
    }
}

async fn handshake(io: BoxIo, h2: bool) -> Result<(Sender, Option<H1Stream>), DialError> {
    if !h2 {
        let (sender, h1) = start_h1(Parked::new(io)).await?;
        return Ok((sender, Some(h1)));
    }
    let (sender, conn) = client_http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(io))
        .await
        .map_err(handshake_failed)?;
    tokio::spawn(conn);
    Ok((Sender::H2(sender), None))
}

/// An HTTP/1.1 client connection on `stream`, driven by a task of its own.
async fn start_h1(stream: Parked<BoxIo>) -> Result<(Sender, H1Stream), DialError> {
    let (sender, conn) = client_http1::Builder::new()
        .preserve_header_case(true)
        .handshake(TokioIo::new(stream.clone()))
        .await
        .map_err(handshake_failed)?;
    // Spawned as it is: an `async` block around it would keep hyper's connection twice.
    let task = tokio::spawn(conn.with_upgrades());
    Ok((Sender::H1(sender), H1Stream { stream, task }))
}

/// Headers that belong to one HTTP/1 hop and are forbidden in HTTP/2 (RFC 9113 §8.2.2).
const CONNECTION_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

fn as_http1<B>(mut req: Request<B>) -> Request<B> {
    if req.version() == Version::HTTP_2 || req.version() == Version::HTTP_3 {
        *req.version_mut() = Version::HTTP_11;
        if !req.headers().contains_key(header::HOST) {
            if let Some(authority) = req.uri().authority() {
                if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                    req.headers_mut().insert(header::HOST, host);
                }
            }
        }
    }
    let origin_form = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse::<Uri>()
        .unwrap_or_else(|_| Uri::from_static("/"));
    *req.uri_mut() = origin_form;
    req
}

fn as_http2<B>(mut req: Request<B>, origin: &Origin) -> Request<B> {
    if req.uri().authority().is_none() {
        let authority = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or_else(|| origin.target.to_string(), str::to_owned);
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        if let Ok(uri) = format!("{}://{authority}{path}", origin.scheme).parse() {
            *req.uri_mut() = uri;
        }
    }
    *req.version_mut() = Version::HTTP_2;
    for name in CONNECTION_HEADERS {
        req.headers_mut().remove(*name);
    }
    req.headers_mut().remove(header::HOST);
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h1_requests_use_origin_form() {
        let req = Request::get("http://api.test/a?b")
            .body(())
            .expect("request");
        assert_eq!(as_http1(req).uri(), "/a?b");
    }
}
