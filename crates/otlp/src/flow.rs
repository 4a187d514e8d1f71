//! An HTTP flow as a CLIENT span (OpenTelemetry semantic conventions, HTTP client spans):
//! method, `url.full` as recorded (credential query parameters already redacted),
//! `server.address`/`server.port`, status, protocol version, `error.type`, the catalog
//! purpose, and phonehome's own facts (flow id, sinkhole, sizes).

use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;
use phonehome_analyze::Exchange;
use phonehome_record::Conn;

use crate::ids::{Ids, SpanKey};
use crate::span::{after, time, SpanParts};

/// The CLIENT span of one exchange, under `parent`.
pub(crate) fn span(ids: &Ids, x: &Exchange, purpose: Option<&str>, parent: SpanId) -> SpanData {
    let start = time(x.ts);
    let duration = x.response.as_ref().map_or(0, |r| r.duration_ms);
    let mut s = SpanParts::new(
        SpanKey::Flow(x.flow),
        parent,
        SpanKind::Client,
        x.method.clone(),
    )
    .times(start, after(start, duration));
    s.attr(KeyValue::new("http.request.method", x.method.clone()));
    s.attr(KeyValue::new("url.full", x.url.clone()));
    s.attr(KeyValue::new("server.address", x.host.clone()));
    s.attr(KeyValue::new("server.port", i64::from(x.port)));
    s.opt("network.protocol.version", protocol_version(&x.version));
    s.opt(
        "user_agent.original",
        x.request_header("user-agent").map(str::to_owned),
    );
    s.attr(KeyValue::new("phonehome.flow", flow_id(x.flow)));
    s.opt("phonehome.conn", x.conn.map(flow_id));
    s.opt("phonehome.purpose", purpose.map(str::to_owned));
    s.opt(
        "http.request.body.size",
        x.request_body.as_ref().map(|b| b.size as i64),
    );
    s.opt(
        "phonehome.sinkhole",
        x.sinkhole.map(|k| format!("{k:?}").to_ascii_lowercase()),
    );
    if let Some(r) = &x.response {
        s.attr(KeyValue::new(
            "http.response.status_code",
            i64::from(r.status),
        ));
        s.opt(
            "http.response.body.size",
            r.body.as_ref().map(|b| b.size as i64),
        );
        s.attr(KeyValue::new("phonehome.ttfb_ms", r.ttfb_ms as i64));
    }
    if let Some((phase, message)) = &x.error {
        s.attr(KeyValue::new("error.type", phase.as_str()));
        s.attr(KeyValue::new("phonehome.phase", phase.as_str()));
        s.error(message.clone());
    } else if let Some(status) = x.response.as_ref().map(|r| r.status).filter(|s| *s >= 400) {
        s.attr(KeyValue::new("error.type", status.to_string()));
        s.error(format!("HTTP {status}"));
    } else if x.response.is_none() {
        s.attr(KeyValue::new("error.type", "no_response"));
        s.error("no response recorded".to_owned());
    }
    s.build(ids)
}

/// The connection's facts copied onto a flow span it carried: the client's TLS fingerprint
/// and the process that sent it.
pub(crate) fn add_conn_attributes(span: &mut SpanData, conn: &Conn) {
    span.attributes.extend(conn_attributes(conn));
}

/// `tls.client.ja4`, `tls.server_name`, the process (pid, executable, argv as recorded).
pub(crate) fn conn_attributes(conn: &Conn) -> Vec<KeyValue> {
    let mut out = Vec::new();
    if let Some(tls) = &conn.tls {
        if let Some(ja4) = &tls.ja4 {
            out.push(KeyValue::new("tls.client.ja4", ja4.clone()));
        }
        if let Some(sni) = &tls.sni {
            out.push(KeyValue::new("tls.server_name", sni.clone()));
        }
    }
    if let Some(process) = conn.process.as_deref().and_then(|p| p.known()) {
        out.push(KeyValue::new("process.pid", i64::from(process.pid)));
        out.push(KeyValue::new(
            "process.executable.path",
            process.exe.clone(),
        ));
        out.push(KeyValue::new(
            "process.executable.name",
            process.name().to_owned(),
        ));
        out.push(KeyValue::new(
            "process.command_line",
            process.argv.join(" "),
        ));
    }
    out
}

/// `1.1`, `2` from `HTTP/1.1`, `HTTP/2`.
fn protocol_version(version: &str) -> Option<String> {
    version
        .strip_prefix("HTTP/")
        .filter(|v| !v.is_empty())
        .map(|v| v.trim_end_matches(".0").to_owned())
}

/// Ids as attributes: OTLP integers are signed.
pub(crate) fn flow_id(id: impl Into<u64>) -> i64 {
    let id: u64 = id.into();
    i64::try_from(id).unwrap_or(i64::MAX)
}
