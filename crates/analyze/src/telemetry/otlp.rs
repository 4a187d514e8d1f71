//! OTLP over HTTP (<https://opentelemetry.io/docs/specs/otlp/#otlphttp>): a POST to
//! `/v1/logs`, `/v1/traces` or `/v1/metrics` (under any base path: collectors are mounted
//! anywhere) whose body is an `ExportLogsServiceRequest`, `ExportTraceServiceRequest` or
//! `ExportMetricsServiceRequest` (<https://github.com/open-telemetry/opentelemetry-proto>),
//! binary protobuf (`application/x-protobuf`) or the OTLP/JSON mapping (`application/json`,
//! <https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>). Read with the
//! `opentelemetry-proto` crate's types (prost for protobuf, its serde mapping for JSON), never
//! a schema of our own. A body with `resourceLogs`, `resourceSpans` or `resourceMetrics` at
//! its top is OTLP/JSON whatever its path.
//!
//! Resource attributes `service.name`, `service.version`, `os.*` and `process.runtime.*` make
//! the [`Resource`](super::Resource); log records become events named by their `event_name`,
//! their `event.name` attribute, else their body text (first line, trimmed); spans by their
//! name at their start time; metrics by their name, with their data point count.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, Metric};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use serde::de::DeserializeOwned;

use super::fields::{fill, first_line, name_version, unix_nanos};
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry, TelemetryEvent};

pub(crate) struct Otlp;

/// The paths and top-level JSON keys of the three signals.
const SIGNALS: [(&str, &str, Signal); 3] = [
    ("/v1/logs", "resourceLogs", Signal::Logs),
    ("/v1/traces", "resourceSpans", Signal::Traces),
    ("/v1/metrics", "resourceMetrics", Signal::Metrics),
];

impl Decoder for Otlp {
    fn protocol(&self) -> Protocol {
        Protocol::OtlpJson
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        if !r.is_post() {
            return false;
        }
        let by_path = signal_by_path(r.path).is_some()
            && (r.content_type.is_empty()
                || r.content_type.contains("json")
                || r.content_type.contains("protobuf"));
        by_path || signal_by_body(r).is_some()
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        let Some(signal) = signal_by_path(r.path).or_else(|| signal_by_body(r)) else {
            return;
        };
        t.signal = Some(signal);
        let protobuf = r.binary().is_some()
            || (r.content_type.contains("protobuf") && r.text().is_some());
        if protobuf {
            t.protocol = Some(Protocol::OtlpProtobuf);
            let bytes = r.binary().or_else(|| r.text().map(str::as_bytes));
            match bytes {
                Some(bytes) => from_protobuf(signal, bytes, r, t),
                None => t.notes.push(r.no_text()),
            }
            return;
        }
        match r.text() {
            Some(text) => from_json(signal, text, r, t),
            None => t.notes.push(r.no_text()),
        }
    }
}

fn signal_by_path(path: &str) -> Option<Signal> {
    SIGNALS
        .iter()
        .find(|(suffix, _, _)| path.ends_with(suffix))
        .map(|(_, _, s)| *s)
}

/// The signal of a JSON body with a `resource…` array at its top.
fn signal_by_body(r: &Request<'_>) -> Option<Signal> {
    let text = r.text()?;
    let head = text.get(..text.len().min(256)).unwrap_or(text);
    let (_, key, _) = SIGNALS.iter().find(|(_, key, _)| head.contains(key))?;
    let json = r.json()?;
    SIGNALS
        .iter()
        .find(|(_, k, _)| k == key && json[*k].is_array())
        .map(|(_, _, s)| *s)
}

fn from_json(signal: Signal, text: &str, r: &Request<'_>, t: &mut Telemetry) {
    fn parse<T: DeserializeOwned>(text: &str, r: &Request<'_>, t: &mut Telemetry) -> Option<T> {
        serde_json::from_str(text)
            .map_err(|e| t.notes.push(r.unreadable("OTLP/JSON", &e.to_string())))
            .ok()
    }
    match signal {
        Signal::Logs => parse(text, r, t).into_iter().for_each(|x| logs(x, t)),
        Signal::Traces => parse(text, r, t).into_iter().for_each(|x| traces(x, t)),
        _ => parse(text, r, t).into_iter().for_each(|x| metrics(x, t)),
    }
}

fn from_protobuf(signal: Signal, bytes: &[u8], r: &Request<'_>, t: &mut Telemetry) {
    fn parse<T: prost::Message + Default>(
        bytes: &[u8],
        r: &Request<'_>,
        t: &mut Telemetry,
    ) -> Option<T> {
        T::decode(bytes)
            .map_err(|e| t.notes.push(r.unreadable("OTLP protobuf", &e.to_string())))
            .ok()
    }
    match signal {
        Signal::Logs => parse(bytes, r, t).into_iter().for_each(|x| logs(x, t)),
        Signal::Traces => parse(bytes, r, t).into_iter().for_each(|x| traces(x, t)),
        _ => parse(bytes, r, t).into_iter().for_each(|x| metrics(x, t)),
    }
}

fn logs(request: ExportLogsServiceRequest, t: &mut Telemetry) {
    for rl in request.resource_logs {
        resource(rl.resource.as_ref(), t);
        for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
            t.events.push(TelemetryEvent {
                name: log_name(record),
                time: unix_nanos(record.time_unix_nano)
                    .or_else(|| unix_nanos(record.observed_time_unix_nano)),
                attributes: attributes(&record.attributes),
            });
        }
    }
}

/// A log record's name: its `event_name`, its `event.name` attribute, its body's first line,
/// its severity, else `log`.
fn log_name(record: &LogRecord) -> String {
    if !record.event_name.is_empty() {
        return record.event_name.clone();
    }
    let attribute = record
        .attributes
        .iter()
        .find(|kv| kv.key == "event.name")
        .and_then(|kv| kv.value.as_ref())
        .map(any_text);
    let body = record
        .body
        .as_ref()
        .and_then(|body| first_line(&any_text(body)));
    attribute
        .or(body)
        .or_else(|| (!record.severity_text.is_empty()).then(|| record.severity_text.clone()))
        .unwrap_or_else(|| "log".to_owned())
}

fn traces(request: ExportTraceServiceRequest, t: &mut Telemetry) {
    for rs in request.resource_spans {
        resource(rs.resource.as_ref(), t);
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            t.events.push(TelemetryEvent {
                name: span.name.clone(),
                time: unix_nanos(span.start_time_unix_nano),
                attributes: attributes(&span.attributes),
            });
        }
    }
}

fn metrics(request: ExportMetricsServiceRequest, t: &mut Telemetry) {
    for rm in request.resource_metrics {
        resource(rm.resource.as_ref(), t);
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            t.events.push(metric_event(metric));
        }
    }
}

/// A metric as one event: its name, the latest data point's time, its data point count and
/// unit.
fn metric_event(metric: &Metric) -> TelemetryEvent {
    let times: Vec<u64> = match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::Sum(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter().map(|p| p.time_unix_nano).collect()
        }
        Some(Data::Summary(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        None => Vec::new(),
    };
    let mut attributes = vec![("data_points".to_owned(), times.len().to_string())];
    if !metric.unit.is_empty() {
        attributes.push(("unit".to_owned(), metric.unit.clone()));
    }
    TelemetryEvent {
        name: metric.name.clone(),
        time: times.iter().copied().max().and_then(unix_nanos),
        attributes,
    }
}

/// Fills the telemetry's resource from an OTLP resource (the first value of each field wins;
/// other attributes are added once).
fn resource(resource: Option<&OtlpResource>, t: &mut Telemetry) {
    let Some(resource) = resource else {
        return;
    };
    let get = |key: &str| -> Option<String> {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .map(any_text)
    };
    let r = &mut t.resource;
    fill(&mut r.service, get("service.name"));
    fill(&mut r.version, get("service.version"));
    fill(
        &mut r.os,
        name_version(get("os.type").or_else(|| get("os.name")), get("os.version"))
            .or_else(|| get("os.description")),
    );
    fill(
        &mut r.runtime,
        name_version(
            get("process.runtime.name"),
            get("process.runtime.version"),
        ),
    );
    for (key, value) in attributes(&resource.attributes) {
        if !r.attributes.iter().any(|(k, _)| *k == key) {
            r.attributes.push((key, value));
        }
    }
}

fn attributes(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map(any_text).unwrap_or_default()))
        .collect()
}

/// An attribute value as text: strings as they are, numbers and booleans written out, arrays
/// and key/value lists as compact JSON, bytes as their length.
fn any_text(v: &AnyValue) -> String {
    any_json(v).map_or_else(String::new, |json| super::fields::text(&json))
}

fn any_json(v: &AnyValue) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::String(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::from(*i),
        any_value::Value::DoubleValue(d) => Value::from(*d),
        any_value::Value::ArrayValue(a) => a.values.iter().filter_map(any_json).collect(),
        any_value::Value::KvlistValue(kv) => Value::Object(
            kv.values
                .iter()
                .filter_map(|kv| Some((kv.key.clone(), any_json(kv.value.as_ref()?)?)))
                .collect(),
        ),
        any_value::Value::BytesValue(b) => Value::String(format!("({} bytes)", b.len())),
        // A reference into a profile's string table: not used outside profiles.
        _ => return None,
    })
}
