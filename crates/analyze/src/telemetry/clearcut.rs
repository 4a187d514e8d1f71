//! Google's Clearcut logging endpoint: POST `…/log` with a `LogRequest`.
//!
//! JSON, as Gemini CLI sends it (its public source, `packages/core/src/telemetry/
//! clearcut-logger/clearcut-logger.ts` in <https://github.com/google-gemini/gemini-cli>: the
//! `LogRequest`, `LogEventEntry` and `LogEvent` interfaces): an array of `{log_source_name,
//! request_time_ms, log_event: [[{event_time_ms, source_extension_json}]]}` (optionally with
//! `client_info` and a numeric `log_source`), where `source_extension_json` is JSON text of
//! `{console_type, application, event_name, event_metadata: [[{gemini_cli_key, value}]],
//! client_email, client_install_id}`. Sent to `/log`, with `?format=json` or
//! `?format=json_proto` or no query.
//!
//! Protobuf (`application/x-protobuf`, or a binary body with `?format=proto`): the field
//! layout from the Android Open Source Project's Android Studio usage-statistics client
//! (`com.android.tools.idea.stats.StatsProto`, Apache-2.0): `LogRequest { client_info = 1;
//! log_source = 2 (enum); log_event = 3 (repeated); request_time_ms = 4 }`, `LogEvent {
//! event_time_ms = 1; tag = 2; value = 3 (repeated {key = 1; value = 2}) }`. Newer clients put
//! their payload in a `source_extension` field whose number no public source we cite gives:
//! it is not decoded, and a note says so; `client_info` is kept opaque (its size is noted).

use serde_json::Value;

use super::fields::{attributes, fill, first_string, first_time, string, text};
use super::identifiers::walk;
use super::protocol::{json_shaped, Decoder, Request};
use super::{Protocol, Signal, Telemetry, TelemetryEvent};

pub(crate) struct Clearcut;

/// `LogRequest`, the fields documented above (also what the tests encode their fixtures
/// with).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct LogRequest {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub(super) client_info: Option<Vec<u8>>,
    #[prost(int32, optional, tag = "2")]
    pub(super) log_source: Option<i32>,
    #[prost(message, repeated, tag = "3")]
    pub(super) log_event: Vec<LogEvent>,
    #[prost(int64, optional, tag = "4")]
    pub(super) request_time_ms: Option<i64>,
}

/// `LogEvent`, the fields documented above.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct LogEvent {
    #[prost(int64, optional, tag = "1")]
    pub(super) event_time_ms: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub(super) tag: Option<String>,
    #[prost(message, repeated, tag = "3")]
    pub(super) value: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct KeyValue {
    #[prost(string, optional, tag = "1")]
    pub(super) key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub(super) value: Option<String>,
}

impl Decoder for Clearcut {
    fn protocol(&self) -> Protocol {
        Protocol::Clearcut
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        if !r.is_post() || !r.path_ends(&["/log", "/log/"]) {
            return false;
        }
        let format = r.query("format");
        let protobuf = r.content_type.contains("protobuf") || format.as_deref() == Some("proto");
        (r.binary().is_some() && protobuf)
            || (format.is_some() && r.text().is_some_and(json_shaped))
            || r.json().is_some_and(clearcut_shaped)
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        t.signal = Some(Signal::Events);
        if let Some(bytes) = r.binary() {
            from_protobuf(bytes, r, t);
            return;
        }
        let Some(json) = r.json_or_note(t) else {
            return;
        };
        let requests: Vec<&Value> = match json {
            Value::Array(items) => items.iter().filter(|v| v.is_object()).collect(),
            other => vec![other],
        };
        if requests.is_empty() || !requests.iter().any(|q| clearcut_shaped(q)) {
            t.notes.push(
                "a Clearcut body in positional JSON (JSPB), whose field layout no public source \
                 documents: not decoded"
                    .to_owned(),
            );
            return;
        }
        for request in requests {
            log_request(request, t);
        }
    }
}

/// A `LogRequest` object, or an array of them.
fn clearcut_shaped(json: &Value) -> bool {
    let one = |v: &Value| {
        v["log_event"].is_array() && (!v["log_source_name"].is_null() || !v["log_source"].is_null())
    };
    match json {
        Value::Array(items) => items.iter().any(one),
        other => one(other),
    }
}

fn log_request(request: &Value, t: &mut Telemetry) {
    fill(
        &mut t.resource.service,
        first_string(request, &["log_source_name"]).or_else(|| string(&request["log_source"])),
    );
    let client = &request["client_info"];
    t.resource.attributes.extend(attributes(client, &[]));
    walk(client, t);
    let sent = first_time(request, &["request_time_ms"]);
    let entries = request["log_event"].as_array().into_iter().flatten();
    // Gemini CLI nests the entries one level deeper (`LogEventEntry[][]`).
    let entries = entries.flat_map(|e| match e {
        Value::Array(inner) => inner.iter().collect::<Vec<_>>(),
        other => vec![other],
    });
    for entry in entries {
        let extension: Value = entry["source_extension_json"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        walk(&extension, t);
        t.events.push(TelemetryEvent {
            name: first_string(&extension, &["event_name", "event_type"])
                .or_else(|| first_string(request, &["log_source_name"]))
                .unwrap_or_else(|| "log_event".to_owned()),
            time: first_time(entry, &["event_time_ms"]).or(sent),
            attributes: extension_attributes(&extension),
        });
    }
}

/// A source extension's scalar fields, then its `event_metadata` pairs (`gemini_cli_key` or
/// `key`, `value`).
fn extension_attributes(extension: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = attributes(extension, &["event_name", "event_metadata"]);
    let metadata = extension["event_metadata"].as_array().into_iter().flatten();
    for pair in metadata.flat_map(|m| m.as_array().cloned().unwrap_or_else(|| vec![m.clone()])) {
        let key = pair
            .get("gemini_cli_key")
            .or_else(|| pair.get("key"))
            .map(text);
        if let Some(key) = key {
            out.push((key, pair.get("value").map(text).unwrap_or_default()));
        }
    }
    out
}

fn from_protobuf(bytes: &[u8], r: &Request<'_>, t: &mut Telemetry) {
    use prost::Message as _;
    let request = match LogRequest::decode(bytes) {
        Ok(request) => request,
        Err(e) => {
            t.notes.push(r.unreadable("a Clearcut protobuf LogRequest", &e.to_string()));
            return;
        }
    };
    if let Some(source) = request.log_source {
        fill(&mut t.resource.service, Some(format!("log source {source}")));
    }
    if let Some(info) = &request.client_info {
        t.notes.push(format!(
            "client_info ({} bytes) is not decoded: its fields are not in a public source we cite",
            info.len()
        ));
    }
    let sent = request.request_time_ms.map(Value::from);
    for event in &request.log_event {
        let time = event.event_time_ms.map(Value::from).or_else(|| sent.clone());
        t.events.push(TelemetryEvent {
            name: event.tag.clone().unwrap_or_else(|| "log_event".to_owned()),
            time: time.as_ref().and_then(super::fields::time),
            attributes: event
                .value
                .iter()
                .map(|kv| (kv.key.clone().unwrap_or_default(), kv.value.clone().unwrap_or_default()))
                .collect(),
        });
    }
    t.notes.push(
        "protobuf LogRequest: only client_info, log_source, log_event (event_time_ms, tag, \
         value) and request_time_ms are decoded; a source_extension is not"
            .to_owned(),
    );
}
