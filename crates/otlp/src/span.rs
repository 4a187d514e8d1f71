//! The shape every exported span shares: ids from [`crate::ids`], the instrumentation scope,
//! times from the capture's timestamps, and a small builder the mappings fill in.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::ids::{Ids, SpanKey};

/// The instrumentation scope of everything phonehome exports.
pub(crate) fn scope() -> InstrumentationScope {
    static SCOPE: LazyLock<InstrumentationScope> = LazyLock::new(|| {
        InstrumentationScope::builder("phonehome")
            .with_version(env!("CARGO_PKG_VERSION"))
            .with_schema_url(crate::SCHEMA_URL)
            .build()
    });
    SCOPE.clone()
}

/// A capture timestamp as a `SystemTime`.
pub(crate) fn time(at: DateTime<Utc>) -> SystemTime {
    SystemTime::from(at)
}

/// A capture `ts` string as a `SystemTime` (the epoch when it does not parse).
pub(crate) fn parse_time(ts: &str) -> SystemTime {
    phonehome_record::parse_timestamp(ts).map_or(SystemTime::UNIX_EPOCH, SystemTime::from)
}

/// `start` plus `ms` milliseconds.
pub(crate) fn after(start: SystemTime, ms: u64) -> SystemTime {
    start + Duration::from_millis(ms)
}

/// One span being put together.
pub(crate) struct SpanParts {
    pub(crate) key: SpanKey,
    pub(crate) parent: SpanId,
    pub(crate) kind: SpanKind,
    pub(crate) name: String,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) status: Status,
}

impl SpanParts {
    pub(crate) fn new(key: SpanKey, parent: SpanId, kind: SpanKind, name: String) -> Self {
        Self {
            key,
            parent,
            kind,
            name,
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            status: Status::Unset,
        }
    }

    pub(crate) fn times(mut self, start: SystemTime, end: SystemTime) -> Self {
        self.start = start;
        self.end = end.max(start);
        self
    }

    pub(crate) fn attr(&mut self, kv: KeyValue) {
        self.attributes.push(kv);
    }

    /// Adds `key` when `value` is present.
    pub(crate) fn opt<V: Into<opentelemetry::Value>>(
        &mut self,
        key: &'static str,
        value: Option<V>,
    ) {
        if let Some(value) = value {
            self.attributes.push(KeyValue::new(key, value));
        }
    }

    pub(crate) fn error(&mut self, description: String) {
        self.status = Status::Error {
            description: Cow::Owned(description),
        };
    }

    pub(crate) fn build(self, ids: &Ids) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                ids.trace(),
                ids.span(self.key),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: self.parent,
            parent_span_is_remote: false,
            span_kind: self.kind,
            name: Cow::Owned(self.name),
            start_time: self.start,
            end_time: self.end,
            attributes: self.attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: self.status,
            instrumentation_scope: scope(),
        }
    }
}
