//! A host's purpose when the catalog has no entry for it, judged by what was sent and
//! answered — never by its name: telemetry, feature flags or error reporting by the decoded
//! telemetry protocol ([`crate::telemetry::Signal`]); a package registry or git by the
//! request's protocol; a model catalog by the response's shape (model ids mapped to prices or
//! context windows); a binary download by the response's content type. Each decision says
//! how it was made (`by catalog`, `by protocol: OTLP logs`, `by response shape: model
//! catalog`), and an unknown purpose says why.

use std::collections::BTreeMap;

use phonehome_catalog::{Endpoint, Purpose};
use serde_json::Value;

use crate::event::Exchange;
use crate::telemetry::{Protocol, Signal};

/// What a response (or the request's protocol) says about an exchange's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// A JSON map or list of model ids to objects with prices or context windows.
    ModelCatalog,
    /// Git's smart HTTP protocol (`info/refs?service=git-…`, `git-upload-pack`).
    Git,
    /// A successful GET answered with an archive or executable content type.
    Binary,
}

/// Keys of a model entry that give its price or context window.
const MODEL_KEYS: [&str; 12] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cost",
    "pricing",
    "price",
    "prices",
    "context_length",
    "context_window",
    "max_input_tokens",
    "max_context_length",
    "input_token_limit",
    "limit",
];

/// Entries of a collection looked at.
const SAMPLE: usize = 20;
/// Nesting searched for the collection of models (`{"data": [...]}`, a provider's `models`).
const MAX_DEPTH: usize = 3;

const BINARY_TYPES: [&str; 12] = [
    "application/octet-stream",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/x-xz",
    "application/zstd",
    "application/x-bzip2",
    "application/java-archive",
    "application/vnd.debian.binary-package",
    "application/x-executable",
    "application/x-msdownload",
];

/// The shape of an exchange that is not an LLM call.
pub(super) fn shape_of(x: &Exchange) -> Option<Shape> {
    if is_git(x) {
        return Some(Shape::Git);
    }
    let response = x.response.as_ref()?;
    if !x.method.eq_ignore_ascii_case("GET") || !(200..300).contains(&response.status) {
        return None;
    }
    let content_type = x.response_header("content-type").unwrap_or_default();
    let content_type = content_type.split(';').next().unwrap_or_default().trim();
    if BINARY_TYPES
        .iter()
        .any(|t| content_type.eq_ignore_ascii_case(t))
    {
        return Some(Shape::Binary);
    }
    let body = response.body.as_ref()?;
    let text = body.data.trim_start();
    if body.encoding != phonehome_record::BodyEncoding::Utf8
        || !(text.starts_with('{') || text.starts_with('['))
    {
        return None;
    }
    let json: Value = serde_json::from_str(text).ok()?;
    is_model_catalog(&json, 0).then_some(Shape::ModelCatalog)
}

fn is_git(x: &Exchange) -> bool {
    let path = x.path.as_str();
    let query = x.query.as_deref().unwrap_or_default();
    (path.ends_with("/info/refs") && query.contains("service=git-"))
        || path.ends_with("/git-upload-pack")
        || path.ends_with("/git-receive-pack")
}

/// Whether `v` is, or holds within [`MAX_DEPTH`] levels, a collection (object or array) whose
/// entries are mostly model entries.
fn is_model_catalog(v: &Value, depth: usize) -> bool {
    let entries: Vec<&Value> = match v {
        Value::Object(map) => map.values().take(SAMPLE).collect(),
        Value::Array(items) => items.iter().take(SAMPLE).collect(),
        _ => return false,
    };
    let models = entries.iter().filter(|e| is_model_entry(e)).count();
    if models > 0 && models * 2 >= entries.len() {
        return true;
    }
    depth < MAX_DEPTH && entries.iter().any(|e| is_model_catalog(e, depth + 1))
}

/// An object with a price or a context window (`limit: {context: …}`).
fn is_model_entry(v: &Value) -> bool {
    let Value::Object(map) = v else {
        return false;
    };
    MODEL_KEYS.iter().any(|k| match map.get(*k) {
        Some(Value::Object(limit)) if *k == "limit" => limit.contains_key("context"),
        Some(Value::Null) | None => false,
        Some(_) => *k != "limit",
    })
}

/// What a host's requests showed, as the builder counted it.
#[derive(Debug, Default)]
pub(super) struct Evidence {
    pub(super) requests: u64,
    /// Recognised as package-registry requests.
    pub(super) registry: bool,
    /// Telemetry requests by protocol and signal.
    pub(super) signals: BTreeMap<(Protocol, Signal), u64>,
    pub(super) model_catalog: u64,
    pub(super) git: u64,
    pub(super) binary: u64,
}

impl Evidence {
    pub(super) fn shape(&mut self, shape: Option<Shape>) {
        match shape {
            Some(Shape::ModelCatalog) => self.model_catalog += 1,
            Some(Shape::Git) => self.git += 1,
            Some(Shape::Binary) => self.binary += 1,
            None => {}
        }
    }
}

/// A host's purpose and how it was decided.
pub(super) fn decide(endpoint: Option<&Endpoint>, e: &Evidence) -> (Option<Purpose>, String) {
    if let Some(endpoint) = endpoint {
        // A catalog's generic file host (raw files of a code host) serving a model catalog.
        if endpoint.purpose == Purpose::BinaryDownload
            && e.model_catalog > 0
            && e.model_catalog * 2 >= e.requests
        {
            return (Some(Purpose::ModelCatalog), model_catalog());
        }
        return (Some(endpoint.purpose), "by catalog".to_owned());
    }
    if e.registry {
        return (
            Some(Purpose::PackageRegistry),
            "by protocol: package registry".to_owned(),
        );
    }
    if let Some(decided) = by_telemetry(&e.signals) {
        return decided;
    }
    if e.git > 0 {
        return (
            Some(Purpose::CodeHost),
            "by protocol: git smart HTTP".to_owned(),
        );
    }
    if e.model_catalog > 0 {
        return (Some(Purpose::ModelCatalog), model_catalog());
    }
    if e.binary > 0 {
        return (
            Some(Purpose::BinaryDownload),
            "by response: archive or executable content type".to_owned(),
        );
    }
    let why = if e.requests == 0 {
        "unknown: no catalog entry; no request was seen"
    } else {
        "unknown: no catalog entry; request not a known protocol"
    };
    (None, why.to_owned())
}

fn model_catalog() -> String {
    "by response shape: model catalog".to_owned()
}

/// The purpose of the signal with the most requests, and every protocol seen (at most 3).
fn by_telemetry(signals: &BTreeMap<(Protocol, Signal), u64>) -> Option<(Option<Purpose>, String)> {
    let mut seen: Vec<(&(Protocol, Signal), &u64)> = signals.iter().collect();
    seen.sort_by(|a, b| b.1.cmp(a.1));
    let ((_, top), _) = seen.first()?;
    let purpose = match top {
        Signal::FeatureFlags => Purpose::FeatureFlags,
        Signal::Errors => Purpose::ErrorReporting,
        _ => Purpose::Telemetry,
    };
    let labels: Vec<String> = seen
        .iter()
        .take(3)
        .map(|((p, s), _)| format!("{} {}", protocol_label(*p), signal_label(*s)))
        .collect();
    Some((Some(purpose), format!("by protocol: {}", labels.join(", "))))
}

fn protocol_label(p: Protocol) -> &'static str {
    match p {
        Protocol::OtlpJson | Protocol::OtlpProtobuf => "OTLP",
        Protocol::PostHog => "PostHog",
        Protocol::Segment => "Segment",
        Protocol::Amplitude => "Amplitude",
        Protocol::Mixpanel => "Mixpanel",
        Protocol::Sentry => "Sentry",
        Protocol::Statsig => "Statsig",
        Protocol::Datadog => "Datadog",
        Protocol::Clearcut => "Clearcut",
        Protocol::EventsArray => "events array",
    }
}

fn signal_label(s: Signal) -> &'static str {
    match s {
        Signal::FeatureFlags => "feature flags",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests;
