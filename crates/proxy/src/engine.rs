//! The HTTP engine: serves the client side of an intercepted connection (HTTP/1.1 or HTTP/2),
//! forwards each request over an upstream link, tees both bodies into the recorder, and hands
//! WebSocket upgrades to the relay.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1 as client_http1, http2 as client_http2};
use hyper::server::conn::{http1 as server_http1, http2 as server_http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use phonehome_record::{Phase, Target};

use crate::connection::{BoxIo, ConnState, Context};
use crate::headtap::{take_names, H2Parser, Heads, Parser};
use crate::observe::Observed;
use crate::tee::{FlowLog, Outcome, TeeBody};
use crate::upstream::DialError;
use crate::websocket;

pub(crate) type ReqBody = TeeBody<Incoming>;
pub(crate) type RespBody = Either<TeeBody<Incoming>, Full<Bytes>>;

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

/// A connection to one origin, redialled when the upstream closes it between requests.
pub(crate) struct UpstreamLink {
    ctx: Arc<Context>,
    origin: Origin,
    /// The TLS server name, for an `https` origin.
    tls_name: Option<String>,
    /// ALPN protocols offered on a redial.
    alpn: Vec<Vec<u8>>,
    sender: tokio::sync::Mutex<Option<Sender>>,
    /// Told the peer address of every connection the link dials itself.
    on_dial: Option<Box<dyn Fn(std::net::SocketAddr) + Send + Sync>>,
}

impl UpstreamLink {
    /// A link that dials on its first request (absolute-form proxy requests).
    pub(crate) fn lazy(
        ctx: Arc<Context>,
        origin: Origin,
        on_dial: impl Fn(std::net::SocketAddr) + Send + Sync + 'static,
    ) -> Self {
        Self {
            ctx,
            origin,
            tls_name: None,
            alpn: Vec::new(),
            sender: tokio::sync::Mutex::new(None),
            on_dial: Some(Box::new(on_dial)),
        }
    }

    /// A link over an upstream connection that is already open.
    pub(crate) async fn open(
        ctx: Arc<Context>,
        origin: Origin,
        tls_name: Option<String>,
        alpn: Vec<Vec<u8>>,
        io: BoxIo,
        h2: bool,
    ) -> Result<Self, DialError> {
        let sender = handshake(io, h2).await?;
        Ok(Self {
            ctx,
            origin,
            tls_name,
            alpn,
            sender: tokio::sync::Mutex::new(Some(sender)),
            on_dial: None,
        })
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    async fn send(&self, req: Request<ReqBody>) -> Result<Response<Incoming>, DialError> {
        let upstream_error = |e: hyper::Error| DialError {
            phase: Phase::UpstreamHttp,
            message: format!(
                "{} failed the exchange: {}",
                self.origin.target,
                error_chain(&e)
            ),
        };
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
        let sender = self.dial().await?;
        if let Sender::H2(h2) = &sender {
            *slot = Some(Sender::H2(h2.clone()));
        }
        Ok(sender)
    }

    async fn dial(&self) -> Result<Sender, DialError> {
        let dialed = self.ctx.dialer.connect(&self.origin.target).await?;
        if let Some(on_dial) = &self.on_dial {
            on_dial(dialed.peer);
        }
        match &self.tls_name {
            None => handshake(Box::new(dialed.stream), false).await,
            Some(name) => {
                let (tls, _) = self.ctx.dialer.tls(dialed.stream, name, &self.alpn).await?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                handshake(Box::new(tls), h2).await
            }
        }
    }
}

async fn handshake(io: BoxIo, h2: bool) -> Result<Sender, DialError> {
    let io = TokioIo::new(io);
    let failed = |e: hyper::Error| DialError {
        phase: Phase::UpstreamHttp,
        message: format!(
            "HTTP handshake with the upstream failed: {}",
            error_chain(&e)
        ),
    };
    if h2 {
        let (sender, conn) = client_http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(io)
            .await
            .map_err(failed)?;
        tokio::spawn(conn);
        return Ok(Sender::H2(sender));
    }
    let (sender, conn) = client_http1::Builder::new()
        .preserve_header_case(true)
        .handshake(io)
        .await
        .map_err(failed)?;
    tokio::spawn(conn.with_upgrades());
    Ok(Sender::H1(sender))
}

/// Serves HTTP on an intercepted client connection until it closes.
pub(crate) async fn serve(client: BoxIo, h2: bool, link: Arc<UpstreamLink>, conn: Arc<ConnState>) {
    let heads = Heads::default();
    if h2 {
        let tapped = Observed::new(client, H2Parser::new(heads.clone()));
        let service = hyper::service::service_fn(move |req| {
            let link = link.clone();
            let conn = conn.clone();
            let heads = heads.clone();
            async move { Ok::<_, Infallible>(forward(req, &link, &conn, Some(&heads)).await) }
        });
        // A client that goes away mid-exchange ends the connection; its flows record that.
        let _ = server_http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(tapped), service)
            .await;
        return;
    }
    let tapped = Observed::new(client, Parser::new(heads.clone()));
    let service = hyper::service::service_fn(move |req| {
        let link = link.clone();
        let conn = conn.clone();
        let heads = heads.clone();
        async move { Ok::<_, Infallible>(forward(req, &link, &conn, Some(&heads)).await) }
    });
    let _ = server_http1::Builder::new()
        .preserve_header_case(true)
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(tapped), service)
        .with_upgrades()
        .await;
}

/// Forwards one request over `link` and returns the response to send to the client.
/// `heads` has the names of HTTP/1 request heads as sent, when the connection is tapped.
pub(crate) async fn forward(
    mut req: Request<Incoming>,
    link: &UpstreamLink,
    conn: &Arc<ConnState>,
    heads: Option<&Heads>,
) -> Response<RespBody> {
    let origin = link.origin();
    let log = FlowLog::new(conn.recorder.clone(), conn.id, origin.target.clone());
    let record = phonehome_record::Request {
        ts: phonehome_record::now(),
        flow: log.flow,
        conn: conn.id,
        method: req.method().to_string(),
        url: absolute_url(&req, origin),
        version: version_name(req.version()).to_owned(),
        headers: header_pairs(req.headers()),
        raw_header_names: heads
            .and_then(|h| {
                let http2 = req.version() == Version::HTTP_2;
                let target = if http2 {
                    req.uri()
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned()
                } else {
                    req.uri().to_string()
                };
                take_names(h, req.method().as_str(), &target, !http2)
            })
            .unwrap_or_default(),
        body: None,
    };
    if let Some(enforcer) = &conn.ctx.enforcer {
        let verdict = enforcer.request(
            &origin.target,
            req.method().as_str(),
            req.uri().path(),
            &record.headers,
        );
        if let crate::enforce::Verdict::Deny { rule, enforced } = verdict {
            crate::enforce::record(
                &conn.recorder,
                Some(conn.id),
                Some(log.flow),
                &origin.target,
                Some((&record.method, &record.url)),
                &rule,
                enforced,
            );
            if enforced {
                // Read what the client is still sending, so it sees the 403 rather than a
                // stream reset (HTTP/2) or a connection closed mid-upload.
                let _ = http_body_util::Limited::new(req.into_body(), MAX_DISCARDED_BODY)
                    .collect()
                    .await;
                return blocked_json(&rule);
            }
        }
    }
    let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    parts.headers.remove("proxy-connection");
    parts.headers.remove(header::PROXY_AUTHORIZATION);
    let request_log = log.clone();
    let body = TeeBody::new(
        body,
        conn.recorder.clone(),
        content_encoding(&parts.headers),
        move |captured, outcome| {
            if let Outcome::Failed(message) = outcome {
                request_log.error(Phase::ClientHttp, format!("request body failed: {message}"));
            }
            request_log.request_done(record, captured);
        },
    );
    let mut response = match link.send(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(e) => {
            log.error(e.phase, e.message.clone());
            return bad_gateway(&origin.target, &e);
        }
    };
    let ttfb_ms = log.elapsed_ms();
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let ws_log = log.clone();
            // The relay holds the connection, so its `conn` record comes after the messages.
            let ws_conn = conn.clone();
            conn.ctx.spawn(async move {
                websocket::relay(client_upgrade, upstream_upgrade, ws_log).await;
                drop(ws_conn);
            });
        }
    }
    let record = phonehome_record::Response {
        ts: String::new(),
        flow: log.flow,
        status: response.status().as_u16(),
        reason: reason(&response),
        version: version_name(response.version()).to_owned(),
        headers: header_pairs(response.headers()),
        body: None,
        ttfb_ms,
        first_byte_ms: None,
        duration_ms: 0,
    };
    let (parts, body) = response.into_parts();
    let response_log = log;
    let body = TeeBody::new(
        body,
        conn.recorder.clone(),
        content_encoding(&parts.headers),
        move |captured, outcome| {
            match outcome {
                Outcome::Complete => {}
                Outcome::Failed(message) => response_log.error(
                    Phase::UpstreamHttp,
                    format!("response body failed: {message}"),
                ),
                Outcome::Aborted => response_log.error(
                    Phase::ClientHttp,
                    format!(
                        "the client stopped reading after {} bytes of the response body",
                        captured.size
                    ),
                ),
            }
            let mut record = record;
            record.ts = phonehome_record::now();
            record.duration_ms = response_log.elapsed_ms();
            record.first_byte_ms = captured.first_data.map(|at| {
                let since = at.saturating_duration_since(response_log.started);
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
            response_log.response_done(record, captured);
        },
    );
    Response::from_parts(parts, Either::Left(body))
}

/// The 502 a client gets when its upstream cannot be reached: the body names host and phase.
pub(crate) fn bad_gateway(target: &Target, e: &DialError) -> Response<RespBody> {
    let text = format!(
        "phonehome: cannot reach {target} ({}): {}\n",
        e.phase, e.message
    );
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text))));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(phase) = HeaderValue::from_str(e.phase.as_str()) {
        headers.insert("x-phonehome-error", phase);
    }
    response
}

/// Most bytes of a denied request's body read (and discarded) before answering.
const MAX_DISCARDED_BODY: usize = 1 << 20;

/// The 403 for a denied CONNECT or plain-HTTP request: a short text naming the rule.
pub(crate) fn blocked_text(target: &Target, rule: &str) -> Response<RespBody> {
    let text = format!("phonehome: {target} is blocked by policy: {rule}\n");
    let mut response = text_response(StatusCode::FORBIDDEN, &text);
    insert_rule(&mut response, rule);
    response
}

/// The 403 for a denied request inside an intercepted connection, in the JSON error shape
/// LLM SDKs print: `{"error":{"type":"policy_blocked","message":"…"}}`.
pub(crate) fn blocked_json(rule: &str) -> Response<RespBody> {
    let body = serde_json::json!({
        "error": {"type": "policy_blocked", "message": format!("blocked by phonehome policy: {rule}")}
    });
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body.to_string()))));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert_rule(&mut response, rule);
    response
}

/// `x-phonehome-blocked: <rule>`, with anything a header cannot carry replaced.
fn insert_rule(response: &mut Response<RespBody>, rule: &str) {
    let printable: String = rule
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&printable) {
        response.headers_mut().insert("x-phonehome-blocked", value);
    }
}

/// A plain response from phonehome itself.
pub(crate) fn text_response(status: StatusCode, text: &str) -> Response<RespBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text.to_owned()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
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

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

fn content_encoding(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The request's URL as the client meant it: scheme of the origin, host from the URI,
/// `:authority` or `Host`, then path and query.
fn absolute_url<B>(req: &Request<B>, origin: &Origin) -> String {
    let uri = req.uri();
    if uri.scheme().is_some() && uri.authority().is_some() {
        return uri.to_string();
    }
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| default_authority(origin));
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{}://{authority}{path}", origin.scheme)
}

fn default_authority(origin: &Origin) -> String {
    let default_port = if origin.scheme == "https" { 443 } else { 80 };
    if origin.target.port == default_port {
        Target {
            port: 0,
            ..origin.target.clone()
        }
        .to_string()
        .trim_end_matches(":0")
        .to_owned()
    } else {
        origin.target.to_string()
    }
}

pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn reason<B>(response: &Response<B>) -> String {
    response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| response.status().canonical_reason().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

/// An error with its sources, `outer: inner: innermost`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(scheme: &'static str, port: u16) -> Origin {
        Origin {
            scheme,
            target: Target {
                host: "api.test".into(),
                port,
            },
        }
    }

    #[test]
    fn url_from_host_header() {
        let req = Request::get("/v1/models?x=1")
            .header("host", "api.test")
            .body(())
            .expect("request");
        assert_eq!(
            absolute_url(&req, &origin("https", 443)),
            "https://api.test/v1/models?x=1"
        );
    }

    #[test]
    fn url_without_host_uses_target() {
        let req = Request::get("/a").body(()).expect("request");
        assert_eq!(
            absolute_url(&req, &origin("https", 443)),
            "https://api.test/a"
        );
        assert_eq!(
            absolute_url(&req, &origin("http", 8080)),
            "http://api.test:8080/a"
        );
    }

    #[test]
    fn h1_requests_use_origin_form() {
        let req = Request::get("http://api.test/a?b")
            .body(())
            .expect("request");
        assert_eq!(as_http1(req).uri(), "/a?b");
    }

    #[test]
    fn upgrade_detection() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(!is_upgrade(&h));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&h));
    }
}
