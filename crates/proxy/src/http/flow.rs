//! A flow's records as the engine and the sinkhole write them: the `request` record of a
//! request (URL as the client meant it, headers and their names as sent), and the request and
//! response bodies teed into the recorder, each record written when its body ends.

use std::sync::Arc;

use http::header::{self, HeaderMap};
use http::{Request, Response, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use phonehome_record::{ConnId, Phase, Target};

use crate::connection::ConnState;
use crate::http::headtap::{take_names, Heads};
use crate::http::idle::IdleBody;
use crate::http::link::Origin;
use crate::http::responses::RespBody;
use crate::http::tee::{FlowLog, Outcome, TeeBody};
use crate::recorder::HeadText;

/// The `request` record of `req`, without its headers and body: the tee hands both to the
/// recorder, which writes them into the record on its thread.
pub(crate) fn request_record(
    req: &Request<Incoming>,
    origin: &Origin,
    log: &FlowLog,
    conn: ConnId,
    heads: Option<&Heads>,
) -> phonehome_record::Request {
    phonehome_record::Request {
        ts: phonehome_record::now(),
        flow: log.flow,
        conn,
        method: req.method().to_string(),
        url: absolute_url(req, origin),
        version: version_name(req.version()).to_owned(),
        headers: Vec::new(),
        raw_header_names: heads
            .and_then(|h| raw_header_names(req, h))
            .unwrap_or_default(),
        body: None,
        sinkhole: None,
        process: None,
        ancestry: Vec::new(),
    }
}

/// The header names of `req`'s head as the client sent them, from the connection's tap.
fn raw_header_names(req: &Request<Incoming>, heads: &Heads) -> Option<Vec<String>> {
    let http2 = req.version() == Version::HTTP_2;
    let target = if http2 {
        req.uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned()
    } else {
        req.uri().to_string()
    };
    take_names(heads, req.method().as_str(), &target, !http2)
}

/// The request body, teed: the `request` record is written when it ends, with `headers` as
/// they are now (the engine removes the proxy's own headers only afterwards).
pub(crate) fn tee_request(
    body: Incoming,
    headers: &HeaderMap,
    conn: &ConnState,
    log: Arc<FlowLog>,
    record: phonehome_record::Request,
) -> TeeBody<Incoming> {
    let head = HeadText::new(headers);
    TeeBody::new(
        body,
        conn.recorder.clone(),
        content_encoding(headers),
        move |captured, outcome| {
            if let Outcome::Failed(message) = outcome {
                log.error(Phase::ClientHttp, format!("request body failed: {message}"));
            }
            log.request_done(record, head, captured);
        },
    )
}

/// The upstream's response with its body teed: the `response` record is written when the
/// body ends, with its timings.
pub(crate) fn tee_response(
    response: Response<Incoming>,
    conn: &ConnState,
    log: Arc<FlowLog>,
    ttfb_ms: u64,
) -> Response<RespBody> {
    let mut record = phonehome_record::Response {
        ts: String::new(),
        flow: log.flow,
        status: response.status().as_u16(),
        reason: reason(&response),
        version: version_name(response.version()).to_owned(),
        headers: Vec::new(),
        body: None,
        ttfb_ms,
        first_byte_ms: None,
        duration_ms: 0,
    };
    let (parts, body) = response.into_parts();
    let head = HeadText::new(&parts.headers);
    let body = TeeBody::new(
        IdleBody::new(body, conn.ctx.idle_timeout),
        conn.recorder.clone(),
        content_encoding(&parts.headers),
        move |captured, outcome| {
            match outcome {
                Outcome::Complete => {}
                Outcome::Failed(message) => log.error(
                    Phase::UpstreamHttp,
                    format!("response body failed: {message}"),
                ),
                Outcome::TimedOut(message) => log.error(
                    Phase::Timeout,
                    format!(
                        "{message}: the response was ended after {} bytes of its body",
                        captured.size
                    ),
                ),
                Outcome::Aborted => log.error(
                    Phase::ClientHttp,
                    format!(
                        "the client stopped reading after {} bytes of the response body",
                        captured.size
                    ),
                ),
            }
            record.ts = phonehome_record::now();
            record.duration_ms = log.elapsed_ms();
            record.first_byte_ms = captured.first_data.map(|at| {
                let since = at.saturating_duration_since(log.started);
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
            log.response_done(record, head, captured);
        },
    );
    Response::from_parts(parts, Either::Left(body))
}

pub(crate) fn content_encoding(headers: &HeaderMap) -> Option<String> {
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
}
