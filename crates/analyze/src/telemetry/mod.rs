//! Telemetry in a capture, read by protocol (never by host): what an agent reports about
//! itself to analytics, logging, tracing, feature-flag and error-reporting services.
//!
//! A sibling of [`crate::llm`]: each protocol is one decoder of the same shape (recognise from
//! method, path, headers and body shape; decode the request into [`Telemetry`]). Sinkholed
//! requests are decoded too: they are the point.
//!
//! ```text
//! exchange ─ recognise (protocol, first in PROTOCOLS) ─ decode ─ Telemetry { protocol,
//!            signal, resource, events, identifiers (identifiers.rs), notes }
//! ```
//!
//! Each protocol is one implementation of [`protocol::Decoder`] in its own file, listed once in
//! [`PROTOCOLS`]; field helpers shared by all are in `fields.rs`. An LLM call
//! ([`crate::llm::is_call`]) is never telemetry.
//!
//! The shape below is the contract the consumers (the `telemetry` command, the report's
//! Telemetry section, purposes decided by protocol, identifiers, diff) read.

use chrono::{DateTime, Utc};

use crate::source::Exchange;

mod fields;
mod identifiers;
mod protocol;

decoders!(
    /// The protocols, tried in this order: the generic events array last.
    PROTOCOLS: protocol::Decoder = [
        otlp::Otlp,
        sentry::Sentry,
        posthog::PostHog,
        segment::Segment,
        amplitude::Amplitude,
        mixpanel::Mixpanel,
        statsig::Statsig,
        datadog::Datadog,
        clearcut::Clearcut,
        events_array::EventsArray,
    ]
);

pub use identifiers::{has_id_shape, is_persistent_name, PERSISTENT_NAMES};

/// A telemetry protocol a decoder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP over HTTP, JSON encoding (`/v1/logs`, `/v1/traces`, `/v1/metrics`).
    OtlpJson,
    /// OTLP over HTTP, protobuf encoding.
    OtlpProtobuf,
    PostHog,
    Segment,
    Amplitude,
    Mixpanel,
    Sentry,
    Statsig,
    Datadog,
    Clearcut,
    /// Any JSON array of objects that each carry an event name and a timestamp.
    EventsArray,
}

impl Protocol {
    /// The name shown in reports and JSON (`otlp/json`, `posthog`, `events-array`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OtlpJson => "otlp/json",
            Protocol::OtlpProtobuf => "otlp/protobuf",
            Protocol::PostHog => "posthog",
            Protocol::Segment => "segment",
            Protocol::Amplitude => "amplitude",
            Protocol::Mixpanel => "mixpanel",
            Protocol::Sentry => "sentry",
            Protocol::Statsig => "statsig",
            Protocol::Datadog => "datadog",
            Protocol::Clearcut => "clearcut",
            Protocol::EventsArray => "events-array",
        }
    }
}

/// What a request carries, which decides the host's purpose when the catalog has no entry:
/// [`Signal::FeatureFlags`] → feature-flags, [`Signal::Errors`] → error-reporting, every other
/// → telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// OTLP logs, Datadog logs.
    Logs,
    /// OTLP traces.
    Traces,
    /// OTLP metrics.
    Metrics,
    /// Product analytics events (PostHog capture, Segment, Amplitude, Mixpanel, Clearcut,
    /// RUM, Statsig events, the events-array fallback).
    Events,
    /// Feature-flag evaluation (PostHog decide/flags, Statsig initialize).
    FeatureFlags,
    /// Error reports (Sentry envelopes and store).
    Errors,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Events => "events",
            Signal::FeatureFlags => "feature-flags",
            Signal::Errors => "errors",
        }
    }
}

/// One decoded telemetry request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Telemetry {
    pub protocol: Option<Protocol>,
    pub signal: Option<Signal>,
    /// Who sent it, as the payload says (OTLP resource, PostHog/Segment context, Sentry SDK,
    /// Clearcut client info, …).
    pub resource: Resource,
    /// Events (log records, spans, data points, analytics events, flags asked for), in order.
    pub events: Vec<TelemetryEvent>,
    /// Persistent identifiers the request carries (by attribute name or by value shape).
    pub identifiers: Vec<Identifier>,
    /// What could not be decoded, as sentences.
    pub notes: Vec<String>,
}

/// Who sent the telemetry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resource {
    /// `service.name`, PostHog/Segment library or app name, Sentry release's product, …
    pub service: Option<String>,
    /// `service.version`, app version, release.
    pub version: Option<String>,
    /// `os.type`/`os.version`, `$os`, platform, … as one text.
    pub os: Option<String>,
    /// `process.runtime.name`/`version`, SDK name and version, … as one text.
    pub runtime: Option<String>,
    /// Every other resource attribute, name and value as text, in payload order.
    pub attributes: Vec<(String, String)>,
}

impl Resource {
    /// `my-agent 1.2.3 · os linux · runtime node 22`, empty when the payload named nobody.
    pub fn sender(&self) -> String {
        sender(
            self.service.as_deref(),
            self.version.as_deref(),
            self.os.as_deref(),
            self.runtime.as_deref(),
        )
    }
}

/// Who sent telemetry in one line, from a resource's service, version, OS and runtime:
/// `my-agent 1.2.3 · os linux · runtime node 22`, empty when all are `None`.
pub(crate) fn sender(
    service: Option<&str>,
    version: Option<&str>,
    os: Option<&str>,
    runtime: Option<&str>,
) -> String {
    let mut parts = Vec::new();
    match (service, version) {
        (Some(s), Some(v)) => parts.push(format!("{s} {v}")),
        (Some(s), None) => parts.push(s.to_owned()),
        (None, Some(v)) => parts.push(format!("version {v}")),
        (None, None) => {}
    }
    parts.extend(os.map(|os| format!("os {os}")));
    parts.extend(runtime.map(|rt| format!("runtime {rt}")));
    parts.join(" · ")
}

/// One event: its name, when it happened (as the payload says), and its attributes with values
/// as text (a nested object or array as compact JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryEvent {
    pub name: String,
    pub time: Option<DateTime<Utc>>,
    pub attributes: Vec<(String, String)>,
}

/// A persistent identifier sent with telemetry: it follows the user across runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identifier {
    /// The attribute name it was found under (`distinct_id`, `user.id`, `installation_id`).
    pub name: String,
    /// The value as sent (already redacted by the recorder where it was a secret).
    pub value: String,
    pub found_by: FoundBy,
}

/// How an identifier was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FoundBy {
    /// Its attribute name is an identifier's (distinct_id, user_id, device_id, …).
    Name,
    /// Its value has an identifier's shape (a UUID, long hex) under another name.
    Shape,
}

/// Decodes an exchange that is a telemetry request; `None` when no decoder recognises it.
/// Never fails: what cannot be decoded is said in [`Telemetry::notes`].
pub fn decode(exchange: &Exchange) -> Option<Telemetry> {
    if crate::llm::is_call(&exchange.method, &exchange.path) {
        return None;
    }
    let request = protocol::Request::new(exchange);
    let decoder = PROTOCOLS.iter().find(|d| d.recognises(&request))?;
    let mut t = Telemetry {
        protocol: Some(decoder.protocol()),
        ..Telemetry::default()
    };
    decoder.decode(&request, &mut t);
    identifiers::from_attributes(&mut t);
    Some(t)
}

#[cfg(test)]
mod tests;
