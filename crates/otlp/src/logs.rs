//! Findings an alert rule fires on, as OTLP log records with a severity: each policy denial
//! (WARN; INFO when only recorded, a dry run) and each marker the leak finder sees in a
//! request (ERROR on a host that should not get it, INFO on the LLM provider or loopback).
//! Each record names the span it belongs to.

use std::time::SystemTime;

use opentelemetry::logs::Severity;
use opentelemetry::trace::SpanId;
use opentelemetry::KeyValue;
use phonehome_analyze::{Exchange, MarkerHit};
use phonehome_record::Blocked;

/// One log record, before the SDK's record type is made for it (in `sink.rs`).
#[derive(Debug, Clone)]
pub(crate) struct LogItem {
    pub(crate) at: SystemTime,
    pub(crate) severity: Severity,
    pub(crate) event_name: &'static str,
    pub(crate) body: String,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) span: SpanId,
}

/// A policy denial.
pub(crate) fn blocked(b: &Blocked, at: SystemTime, span: SpanId) -> LogItem {
    let what = match (&b.method, &b.url) {
        (Some(method), Some(url)) => format!("{method} {url}"),
        _ => format!("{}:{}", b.target.host, b.target.port),
    };
    let mut attributes = vec![
        KeyValue::new("server.address", b.target.host.clone()),
        KeyValue::new("server.port", i64::from(b.target.port)),
        KeyValue::new("phonehome.rule", b.rule.clone()),
        KeyValue::new("phonehome.enforced", b.enforced),
    ];
    if let Some(url) = &b.url {
        attributes.push(KeyValue::new("url.full", url.clone()));
    }
    LogItem {
        at,
        severity: if b.enforced {
            Severity::Warn
        } else {
            Severity::Info
        },
        event_name: "phonehome.blocked",
        body: format!("blocked {what} (rule {})", b.rule),
        attributes,
        span,
    }
}

/// A marker found in a request to `x.host`; `expected` when that host is the LLM provider
/// (which needs the workspace context) or loopback.
pub(crate) fn leak(x: &Exchange, hit: &MarkerHit, expected: bool, span: SpanId) -> LogItem {
    LogItem {
        at: crate::span::time(x.ts),
        severity: if expected {
            Severity::Info
        } else {
            Severity::Error
        },
        event_name: "phonehome.leak",
        body: format!(
            "{} {} sent to {} in the {}",
            hit.kind, hit.marker, x.host, hit.place
        ),
        attributes: vec![
            KeyValue::new("server.address", x.host.clone()),
            KeyValue::new("phonehome.leak.kind", hit.kind.clone()),
            KeyValue::new("phonehome.leak.marker", hit.marker.clone()),
            KeyValue::new("phonehome.leak.place", hit.place.clone()),
            KeyValue::new("phonehome.leak.expected", expected),
            KeyValue::new("phonehome.flow", crate::flow::flow_id(x.flow)),
        ],
        span,
    }
}
