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

use crate::dial::error::DialError;
use crate::enforce::Explanation;
use crate::http::idle::IdleBody;
use crate::http::tee::TeeBody;

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

/// The sentence after the rule in a denial: what the host is, that retrying will not help, and
/// the remedy; empty without an explanation (no policy, which cannot deny).
fn denial_note(target: &Target, explanation: Option<&Explanation>) -> String {
    let Some(e) = explanation else {
        return String::new();
    };
    let what = match &e.purpose {
        Some(purpose) => format!("{} is {purpose}", target.host),
        None => format!("{} is not in phonehome's catalog", target.host),
    };
    format!(". {what}. Retrying will not help: {}", e.remedy)
}

/// The 403 for a denied CONNECT or plain-HTTP request: a short text naming the rule, what the
/// host is and the remedy.
pub(crate) fn blocked_text(
    target: &Target,
    rule: &str,
    explanation: Option<&Explanation>,
) -> Response<RespBody> {
    let note = denial_note(target, explanation);
    let text = format!("phonehome: {target} is blocked by policy: {rule}{note}\n");
    let mut response = text_response(StatusCode::FORBIDDEN, &text);
    insert_rule(&mut response, rule, explanation);
    response
}

/// The 403 for a denied request inside an intercepted connection, in the JSON error shape
/// LLM SDKs print: `{"error":{"type":"policy_blocked","message":"…"}}`, the message naming
/// the rule, what the host is and the remedy; the same in `rule`, `host`, `purpose` and
/// `remedy` for programs.
pub(crate) fn blocked_json(
    target: &Target,
    rule: &str,
    explanation: Option<&Explanation>,
) -> Response<RespBody> {
    let note = denial_note(target, explanation);
    let body = serde_json::json!({
        "error": {
            "type": "policy_blocked",
            "message": format!("blocked by phonehome policy: {rule}{note}"),
            "rule": rule,
            "host": target.host,
            "purpose": explanation.and_then(|e| e.purpose.clone()),
            "remedy": explanation.map(|e| e.remedy.clone()),
        }
    });
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body.to_string()))));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert_rule(&mut response, rule, explanation);
    response
}

/// `x-phonehome-blocked: <rule>` and `x-phonehome-remedy: <remedy>` (for clients that print
/// the headers of a refused CONNECT but not its body).
fn insert_rule(response: &mut Response<RespBody>, rule: &str, explanation: Option<&Explanation>) {
    if let Some(value) = header_value(rule) {
        response.headers_mut().insert("x-phonehome-blocked", value);
    }
    if let Some(value) = explanation.and_then(|e| header_value(&e.remedy)) {
        response.headers_mut().insert("x-phonehome-remedy", value);
    }
}

/// `text` as a header value, with anything a header cannot carry replaced by `?`.
fn header_value(text: &str) -> Option<HeaderValue> {
    let printable: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&printable).ok()
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
