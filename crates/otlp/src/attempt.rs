//! What is not an HTTP exchange, as spans: the run itself (the root), each client connection
//! (a non-HTTP tunnel shows here only), each connection-level failure (DNS, connect, TLS) with
//! its phase, each policy denial with its rule, and each DNS answer of isolation mode.

use std::time::SystemTime;

use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;
use phonehome_record::{Blocked, Capture, Conn, Dns, End, Phase, Target, Transport};

use crate::flow::{conn_attributes, flow_id};
use crate::ids::{Ids, SpanKey};
use crate::span::{after, parse_time, SpanParts};

/// The root span: the whole run, from the `capture` record to the `end` record (or the last
/// record read when the capture has no end).
pub(crate) fn run_span(
    ids: &Ids,
    capture: &Capture,
    end: Option<&End>,
    last: SystemTime,
) -> SpanData {
    let start = parse_time(&capture.ts);
    let stop = end.map_or(last, |e| parse_time(&e.ts));
    let name = format!("phonehome {}", mode_name(capture));
    let mut s =
        SpanParts::new(SpanKey::Run, SpanId::INVALID, SpanKind::Internal, name).times(start, stop);
    s.attr(KeyValue::new("phonehome.capture.id", capture.id.clone()));
    s.attr(KeyValue::new("phonehome.policy", capture.policy.clone()));
    if let Some(end) = end {
        s.opt("process.exit.code", end.exit_code.map(i64::from));
        s.attr(KeyValue::new(
            "phonehome.requests",
            end.counts.requests as i64,
        ));
        s.attr(KeyValue::new(
            "phonehome.blocked",
            end.counts.blocked as i64,
        ));
        s.attr(KeyValue::new("phonehome.errors", end.counts.errors as i64));
        if end.exit_code.is_some_and(|c| c != 0) {
            s.error(format!("exit code {}", end.exit_code.unwrap_or_default()));
        }
    }
    s.build(ids)
}

pub(crate) fn mode_name(capture: &Capture) -> &'static str {
    match capture.mode {
        phonehome_record::Mode::Run => "run",
        phonehome_record::Mode::Proxy => "proxy",
        phonehome_record::Mode::Isolate => "isolate",
    }
}

/// One client connection, from accept to close.
pub(crate) fn conn_span(ids: &Ids, conn: &Conn, root: SpanId) -> SpanData {
    let start = parse_time(&conn.opened);
    let name = format!(
        "{} {}:{}",
        transport_name(conn.transport),
        conn.target.host,
        conn.target.port
    );
    let mut s = SpanParts::new(SpanKey::Conn(conn.conn), root, SpanKind::Internal, name)
        .times(start, after(start, conn.duration_ms));
    target_attributes(&mut s, &conn.target);
    s.attr(KeyValue::new("phonehome.conn", flow_id(conn.conn)));
    s.attr(KeyValue::new(
        "phonehome.transport",
        transport_name(conn.transport),
    ));
    s.attr(KeyValue::new("phonehome.bytes_up", conn.bytes_up as i64));
    s.attr(KeyValue::new(
        "phonehome.bytes_down",
        conn.bytes_down as i64,
    ));
    s.opt(
        "tls.protocol.version",
        conn.tls.as_ref().and_then(|t| t.version.clone()),
    );
    s.opt(
        "tls.client.ja3",
        conn.tls.as_ref().and_then(|t| t.ja3.clone()),
    );
    s.opt(
        "phonehome.sinkhole",
        conn.sinkhole.map(|k| format!("{k:?}").to_ascii_lowercase()),
    );
    s.attributes.extend(conn_attributes(conn));
    s.build(ids)
}

/// A connection-level failure: no request was ever sent.
pub(crate) fn failure_span(
    ids: &Ids,
    n: u64,
    at: SystemTime,
    target: &Target,
    phase: Phase,
    message: &str,
    root: SpanId,
) -> SpanData {
    let name = format!("{} {}:{}", phase.as_str(), target.host, target.port);
    let mut s = SpanParts::new(SpanKey::Failure(n), root, SpanKind::Client, name).times(at, at);
    target_attributes(&mut s, target);
    s.attr(KeyValue::new("phonehome.phase", phase.as_str()));
    s.attr(KeyValue::new("error.type", phase.as_str()));
    s.error(message.to_owned());
    s.build(ids)
}

/// A policy denial (of a connection at CONNECT, or of one request).
pub(crate) fn blocked_span(ids: &Ids, n: u64, b: &Blocked, root: SpanId) -> SpanData {
    let at = parse_time(&b.ts);
    let parent = b.conn.map_or(root, |c| ids.span(SpanKey::Conn(c)));
    let name = format!("blocked {}:{}", b.target.host, b.target.port);
    let mut s = SpanParts::new(SpanKey::Blocked(n), parent, SpanKind::Client, name).times(at, at);
    target_attributes(&mut s, &b.target);
    s.attr(KeyValue::new("phonehome.rule", b.rule.clone()));
    s.attr(KeyValue::new("phonehome.phase", "policy"));
    s.attr(KeyValue::new("phonehome.enforced", b.enforced));
    s.opt("http.request.method", b.method.clone());
    s.opt("url.full", b.url.clone());
    s.opt("phonehome.flow", b.flow.map(flow_id));
    s.attr(KeyValue::new("error.type", "blocked"));
    s.error(format!("denied by {}", b.rule));
    s.build(ids)
}

/// A DNS query phonehome answered in isolation mode, with its answers.
pub(crate) fn dns_span(ids: &Ids, n: u64, d: &Dns, root: SpanId) -> SpanData {
    let at = parse_time(&d.ts);
    let name = format!("dns {} {}", d.qtype, d.query);
    let mut s = SpanParts::new(SpanKey::Dns(n), root, SpanKind::Internal, name).times(at, at);
    s.attr(KeyValue::new("dns.question.name", d.query.clone()));
    s.attr(KeyValue::new("phonehome.dns.qtype", d.qtype.clone()));
    s.attr(KeyValue::new("phonehome.dns.answers", d.answers.join(",")));
    s.build(ids)
}

fn target_attributes(s: &mut SpanParts, target: &Target) {
    s.attr(KeyValue::new("server.address", target.host.clone()));
    s.attr(KeyValue::new("server.port", i64::from(target.port)));
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::TlsIntercept => "tls-intercept",
        Transport::TlsPassthrough => "tls-passthrough",
        Transport::Http => "http",
        Transport::Tcp => "tcp",
    }
}
