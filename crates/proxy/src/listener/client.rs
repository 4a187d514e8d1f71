//! The proxy protocol on one client connection: CONNECT (then the tunnel) and absolute-form
//! `http://` requests, with the policy's host rules applied before any dial; and connections
//! that reach phonehome with a known destination and no proxy protocol (from an isolated
//! namespace).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use phonehome_record::{Phase, Target, Transport};

use crate::connection::{ConnState, Counting};
use crate::context::{Context, Io};
use crate::dial::error::DialError;
use crate::enforce;
use crate::http::engine;
use crate::http::link::{Origin, UpstreamLink};
use crate::http::responses::{
    bad_gateway, blocked_text, proxy_auth_required, text_response, RespBody,
};
use crate::http::sinkhole::{SinkAnswer, Upstream};
use crate::observe::Observed;
use crate::tunnel::tunnel;

/// Serves one accepted client connection that speaks the proxy protocol until it and its
/// tunnel end.
pub(crate) async fn serve_client(
    ctx: Arc<Context>,
    stream: impl Io,
    client: SocketAddr,
    server: SocketAddr,
) {
    let (conn, counters) = ConnState::open(&ctx, client, server);
    // Absolute-form requests' heads as sent; the tap stops at a CONNECT.
    let heads = crate::http::headtap::Heads::default();
    let counted = Observed::new(stream, Counting(counters));
    let stream = crate::http::client_error::Answerable::new(Observed::new(
        counted,
        crate::http::headtap::Parser::new(heads.clone()),
    ));
    let io = TokioIo::new(stream.clone());
    let links: Arc<tokio::sync::Mutex<Option<Arc<UpstreamLink>>>> = Arc::default();
    let served = conn.clone();
    let service = hyper::service::service_fn(move |req| {
        let conn = conn.clone();
        let links = links.clone();
        let heads = heads.clone();
        async move { Ok::<_, Infallible>(proxy_request(req, conn, links, heads).await) }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .timer(TokioTimer::new())
        .header_read_timeout(served.ctx.head_timeout)
        .serve_connection(io, service)
        .with_upgrades()
        .await;
    crate::http::client_error::answer(&result, stream).await;
    crate::http::client_error::record(&served, result, false);
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
    server: SocketAddr,
) {
    let (conn, counters) = ConnState::open(&ctx, client, server);
    conn.set_target(&target, Transport::Tcp);
    let upstream = match reach(&conn, &target, Some(dial)).await {
        Reached::Upstream(upstream) => upstream,
        // Closing is all a client that asked for no proxy can be told.
        Reached::Refused(_) => return,
    };
    if dial.ip().is_loopback() {
        // Loopback is dialled directly, never through the upstream proxy.
        if let Some(upstream) = conn.info().upstream.as_mut() {
            upstream.via = None;
        }
    }
    let counted = Observed::new(stream, Counting(counters));
    tunnel(Box::new(counted), upstream, target, conn).await;
}

/// Records a connection that is refused before any dial, by a rule outside the policy (an
/// isolated namespace's own rules), as a `conn` with a `blocked` record.
pub(crate) fn refuse(
    ctx: &Arc<Context>,
    client: SocketAddr,
    server: SocketAddr,
    target: &Target,
    rule: &str,
) {
    let (conn, _) = ConnState::open(ctx, client, server);
    record_refusal(&conn, target, rule);
}

/// A connection refused by `rule` before any request: its target and an enforced `blocked`.
fn record_refusal(conn: &ConnState, target: &Target, rule: &str) {
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
    heads: crate::http::headtap::Heads,
) -> Response<RespBody> {
    if let Some(refused) = unauthorized(&req, &conn) {
        return refused;
    }
    if conn.outsider {
        // A local program outside the command's tree that found `run`'s port.
        return refuse_client(&req, &conn, OUTSIDER_RULE);
    }
    if req.method() == Method::CONNECT {
        return connect(req, conn).await;
    }
    let uri = req.uri();
    if uri.scheme_str() != Some("http") {
        return text_response(
            StatusCode::BAD_REQUEST,
            "phonehome is an HTTP proxy: send absolute-form http:// requests or CONNECT\n",
        );
    }
    let Some(target) = uri_target(uri, 80) else {
        return text_response(StatusCode::BAD_REQUEST, "request URI has no host\n");
    };
    conn.set_target(&target, Transport::Http);
    // Every rule, the host's too, decides in the engine, which records a denied request
    // in full and answers it itself.
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
                let link = Arc::new(UpstreamLink::lazy(conn.ctx.dialer.clone(), origin, on_dial));
                *slot = Some(link.clone());
                link
            }
        }
    };
    engine::forward(req, &link, &conn, Some(&heads)).await
}

/// The rule recorded for a client refused for want of the proxy's credential.
const AUTH_RULE: &str = "proxy authentication required (--require-auth)";

/// 407 for a client without the credential the proxy requires (recorded as `blocked`).
fn unauthorized(req: &Request<Incoming>, conn: &ConnState) -> Option<Response<RespBody>> {
    let expected = conn.ctx.proxy_authorization.as_deref()?;
    let sent = req.headers().get(http::header::PROXY_AUTHORIZATION);
    if sent.is_some_and(|v| v.as_bytes() == expected.as_bytes()) {
        return None;
    }
    Some(refuse_client(req, conn, AUTH_RULE))
}

/// The rule recorded for a client outside the command's process tree.
const OUTSIDER_RULE: &str =
    "not a process of the command phonehome runs (run serves only its command's process tree)";

/// 407 for a client phonehome does not serve, recorded as `blocked` by `rule` (the `conn`
/// record names the client's process). Nothing is forwarded.
fn refuse_client(req: &Request<Incoming>, conn: &ConnState, rule: &str) -> Response<RespBody> {
    let target = uri_target(req.uri(), 443).unwrap_or(Target {
        host: String::new(),
        port: 0,
    });
    record_refusal(conn, &target, rule);
    proxy_auth_required()
}

fn uri_target(uri: &http::Uri, default_port: u16) -> Option<Target> {
    Target::from_authority(uri.authority()?.as_str(), default_port)
}

/// CONNECT: host rules decide first, then the target is reached, so a failure is a 502 naming
/// the phase; then the tunnel. A denied or unreachable target is sinkholed when asked: the
/// tunnel is accepted and phonehome answers what comes through it.
async fn connect(req: Request<Incoming>, conn: Arc<ConnState>) -> Response<RespBody> {
    let target = match Target::parse_connect(&req.uri().to_string()) {
        Ok(target) => target,
        Err(e) => return bad_connect(&conn, &req.uri().to_string(), &e),
    };
    conn.set_target(&target, Transport::Tcp);
    let upstream = match reach(&conn, &target, None).await {
        Reached::Upstream(upstream) => upstream,
        Reached::Refused(Refusal::Denied(rule)) => {
            let explanation = conn.ctx.enforcer.as_ref().map(|e| e.explain(&target));
            return blocked_text(&target, &rule, explanation.as_ref());
        }
        Reached::Refused(Refusal::Unreachable(e)) => return bad_gateway(&target, &e),
    };
    let ctx = conn.ctx.clone();
    ctx.spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                tunnel(Box::new(TokioIo::new(upgraded)), upstream, target, conn).await;
            }
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

/// Longest request target quoted in an `error` record.
const QUOTED_TARGET: usize = 256;

/// 400 for a CONNECT whose target is not `host:port`, recorded as an `error` (phase
/// `client_http`); the connection is closed after the answer.
fn bad_connect(
    conn: &ConnState,
    raw: &str,
    e: &phonehome_record::AuthorityError,
) -> Response<RespBody> {
    let quoted: String = raw.chars().take(QUOTED_TARGET).collect();
    let target = Target {
        host: quoted.clone(),
        port: 0,
    };
    conn.error(
        &target,
        Phase::ClientHttp,
        format!("CONNECT {quoted:?}: {e}"),
    );
    let mut response = text_response(
        StatusCode::BAD_REQUEST,
        &format!("CONNECT needs host:port with a port from 1 to 65535: {e}\n"),
    );
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

/// What reaching a tunnel's target gave.
enum Reached {
    /// Where the tunnel's bytes go: the upstream, or the sinkhole.
    Upstream(Upstream),
    /// Nowhere, and the client is told so (already recorded).
    Refused(Refusal),
}

enum Refusal {
    Denied(String),
    Unreachable(DialError),
}

/// Host rules decide first, before any DNS lookup or TLS byte; then `target` is dialled (at
/// `dial` when the address is known). Every outcome is recorded; a denial or a failure becomes
/// a sinkhole when `--sinkhole` asks for it.
async fn reach(conn: &ConnState, target: &Target, dial: Option<SocketAddr>) -> Reached {
    if let Some(rule) = conn.host_denied(target) {
        if conn.ctx.sinkhole.denied {
            return Reached::Upstream(Upstream::Sink(SinkAnswer::Denied { rule }));
        }
        return Reached::Refused(Refusal::Denied(rule));
    }
    let dialed = match dial {
        Some(addr) => conn.ctx.dialer.connect_to(target, addr).await,
        None => conn.ctx.dialer.connect(target).await,
    };
    match dialed {
        Ok(dialed) => {
            conn.set_upstream(dialed.peer, target);
            Reached::Upstream(Upstream::Dialed(dialed))
        }
        Err(e) if conn.unreachable(target, &e) => {
            Reached::Upstream(Upstream::Sink(SinkAnswer::Unreachable(e)))
        }
        Err(e) => Reached::Refused(Refusal::Unreachable(e)),
    }
}
