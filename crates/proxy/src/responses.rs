//! The answers phonehome gives itself rather than an upstream: the 403 of a policy denial
//! (with `x-phonehome-blocked`), the 502 of an unreachable upstream (with `x-phonehome-error`),
//! plain errors of the proxy protocol, the TLS alert for an upstream that failed verification,
//! and the error chains their texts are made of.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use phonehome_record::Target;

use crate::dialer::DialError;
use crate::idle::IdleBody;
use crate::tee::TeeBody;

/// The body of every response phonehome sends a client: the upstream's, teed, or its own.
pub(crate) type RespBody = Either<TeeBody<IdleBody<Incoming>>, Full<Bytes>>;

/// A TLS fatal alert record, `handshake_failure` (RFC 8446 §6.2), sent to a client whose
/// upstream failed verification instead of a forged certificate.
pub(crate) const HANDSHAKE_FAILURE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40];

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

/// The 407 for a proxy client without the credential the proxy requires (RFC 9110 §15.5.8).
pub(crate) fn proxy_auth_required() -> Response<RespBody> {
    let mut response = text_response(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "phonehome: this proxy requires its credential (see the HTTP_PROXY it printed)\n",
    );
    response.headers_mut().insert(
        header::PROXY_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"phonehome\""),
    );
    response
}
