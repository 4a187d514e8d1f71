//! The HTTP engine: serves the client side of an intercepted connection (HTTP/1.1 or HTTP/2),
//! applies the policy's request rules, forwards each request over an upstream link (or hands
//! it to the sinkhole), tees both bodies into the recorder, and hands WebSocket upgrades to
//! the relay.

use std::convert::Infallible;
use std::sync::Arc;

use http::header::{self, HeaderMap};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http2 as server_http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use phonehome_record::Phase;

use crate::connection::ConnState;
use crate::context::BoxIo;
use crate::dial::error::DialError;
use crate::enforce::{self, Verdict};
use crate::http::flow::{request_record, tee_request, tee_response};
use crate::http::headtap::{H2Parser, Heads};
use crate::http::joined::JoinedBody;
use crate::http::keepalive;
use crate::http::link::UpstreamLink;
use crate::http::responses::{bad_gateway, RespBody};
use crate::http::sinkhole::{self, Sink, SinkAnswer};
use crate::http::tee::FlowLog;
use crate::http::websocket;
use crate::observe::Observed;
use crate::recorder::header_pairs;

/// Where the requests of an intercepted connection go.
#[derive(Clone)]
pub(crate) enum Route {
    /// Forwarded to the upstream over this link.
    Link(Arc<UpstreamLink>),
    /// Answered by phonehome itself: nothing is dialled.
    Sink(Arc<Sink>),
}

impl Route {
    async fn handle(
        &self,
        req: Request<Incoming>,
        conn: &Arc<ConnState>,
        heads: &Heads,
    ) -> Response<RespBody> {
        match self {
            Route::Link(link) => forward(req, link, conn, Some(heads)).await,
            Route::Sink(sink) => sinkhole::answer(req, sink, conn, Some(heads)).await,
        }
    }
}

/// Serves HTTP on an intercepted client connection until it closes.
pub(crate) async fn serve(client: BoxIo, h2: bool, route: Route, conn: Arc<ConnState>) {
    let heads = Heads::default();
    if h2 {
        // Boxed: hyper's HTTP/2 connection is large, and a task's future is as big as its
        // biggest state for the connection's whole life.
        return Box::pin(serve_h2(client, route, conn, heads)).await;
    }
    let link = match &route {
        Route::Link(link) => Some(link.clone()),
        Route::Sink(_) => None,
    };
    let (served, tap) = (conn.clone(), heads.clone());
    let handle = move |req| {
        let (route, conn, heads) = (route.clone(), served.clone(), tap.clone());
        async move { route.handle(req, &conn, &heads).await }
    };
    keepalive::serve(client, conn, link, heads, handle).await;
}

async fn serve_h2(client: BoxIo, route: Route, conn: Arc<ConnState>, heads: Heads) {
    let tapped = Observed::new(client, H2Parser::new(heads.clone()));
    let served = conn.clone();
    let service = hyper::service::service_fn(move |req| {
        let (route, conn, heads) = (route.clone(), conn.clone(), heads.clone());
        async move {
            let response = Box::pin(route.handle(req, &conn, &heads)).await;
            Ok::<_, Infallible>(response.map(JoinedBody::new))
        }
    });
    // A client that goes away mid-exchange ends the connection; its flows record that.
    let result = server_http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(tapped), service)
        .await;
    crate::http::client_error::record(&served, result, true);
}

/// Forwards one request over `link` and returns the response to send to the client; a
/// request the policy denies is answered by the sinkhole instead.
/// `heads` has the names of HTTP/1 request heads as sent, when the connection is tapped.
pub(crate) async fn forward(
    mut req: Request<Incoming>,
    link: &UpstreamLink,
    conn: &Arc<ConnState>,
    heads: Option<&Heads>,
) -> Response<RespBody> {
    let origin = link.origin();
    let log = FlowLog::new(conn.recorder.clone(), conn.id, origin.target.clone());
    let mut record = request_record(&req, origin, &log, conn.id, heads);
    conn.announce(&mut record);
    if let Some(rule) = request_denied(conn, &log, &record, &req) {
        let answer = SinkAnswer::Denied { rule };
        if conn.ctx.sinkhole.denied {
            return sinkhole::answer_recorded(req, record, log, &answer, conn).await;
        }
        return sinkhole::refuse(req, &record, &log, &answer, conn).await;
    }
    let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    // The record has the headers as the client sent them, the proxy's own included.
    let body = Box::new(tee_request(body, &parts.headers, conn, log.clone(), record));
    parts.headers.remove("proxy-connection");
    parts.headers.remove(header::PROXY_AUTHORIZATION);
    let sent = link.send(Request::from_parts(parts, body));
    let answered = {
        let mut waiting = Cancelled(Some(&*log));
        let answered = within_idle_timeout(conn, sent).await;
        waiting.0 = None;
        answered
    };
    let mut response = match answered {
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
            let relay = websocket::relay(client_upgrade, upstream_upgrade, ws_log);
            conn.ctx.spawn_holding(relay, conn.clone());
        }
    }
    tee_response(response, conn, log, ttfb_ms)
}

/// Records an `error` (phase `client_http`) for a flow whose client gave up before its
/// response head came: an HTTP/2 stream reset (RST_STREAM) or a closed connection, on which
/// hyper drops the request's future while it waits here.
struct Cancelled<'a>(Option<&'a FlowLog>);

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        if let Some(log) = self.0 {
            log.error(
                Phase::ClientHttp,
                "the client cancelled the request before the response head came (HTTP/2 \
                 stream reset, or the connection closed)"
                    .to_owned(),
            );
        }
    }
}

/// The upstream's response head, or a `timeout` when `--idle-timeout` passes before it comes.
async fn within_idle_timeout<T>(
    conn: &ConnState,
    sent: impl std::future::Future<Output = Result<T, DialError>>,
) -> Result<T, DialError> {
    let Some(limit) = conn.ctx.idle_timeout else {
        return sent.await;
    };
    tokio::time::timeout(limit, sent).await.unwrap_or_else(|_| {
        Err(DialError::new(
            Phase::Timeout,
            format!(
                "the upstream sent no response head for {} s (--idle-timeout)",
                limit.as_secs()
            ),
        ))
    })
}

/// The policy's request rules on `record`: the rule when an enforced one denies it. A dry
/// run's would-be denial is recorded here (`enforced: false`) and the request goes on.
fn request_denied(
    conn: &ConnState,
    log: &FlowLog,
    record: &phonehome_record::Request,
    req: &Request<Incoming>,
) -> Option<String> {
    let enforcer = conn.ctx.enforcer.as_ref()?;
    let Verdict::Deny { rule, enforced } = enforcer.request(
        &log.target,
        &record.method,
        req.uri().path(),
        &header_pairs(req.headers()),
        &conn.connecting,
    ) else {
        return None;
    };
    if enforced {
        return Some(rule);
    }
    enforce::record(
        &conn.recorder,
        Some(conn.id),
        Some(log.flow),
        &log.target,
        Some((&record.method, &record.url)),
        &rule,
        false,
    );
    None
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
