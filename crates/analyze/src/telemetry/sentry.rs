//! Sentry's ingestion endpoints (<https://develop.sentry.dev/sdk/data-model/envelopes/>,
//! store: <https://develop.sentry.dev/sdk/miscellaneous/store/>): POST
//! `/api/{project_id}/envelope/`, a header line (`event_id`, `sent_at`, `dsn`, `sdk`) then
//! items, each a header line (`type`, optional `length` in bytes) and a payload (`length`
//! bytes, else up to the newline); or `/api/{project_id}/store/` with one event as JSON.
//! Recognised by that path (under any prefix: a relay or self-hosted Sentry) or the
//! `application/x-sentry-envelope` content type.
//!
//! Items become events: `event` named by its first exception (`type: value`) or message,
//! `transaction` by its name, `session` / `sessions` / `client_report` / `check_in` / others
//! by their type. The envelope's `sdk` and an event's `release`, `contexts.os` and
//! `contexts.runtime` name the sender.

use serde_json::Value;

use super::fields::{attributes, fill, fill_resource, first_line, first_time, ResourceKeys};
use super::identifiers::walk;
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry, TelemetryEvent};

pub(crate) struct Sentry;

const KEYS: ResourceKeys = ResourceKeys {
    service: &[],
    version: &[],
    os: &["contexts.os.name"],
    os_version: &["contexts.os.version"],
    runtime: &["contexts.runtime.name", "sdk.name"],
    runtime_version: &["contexts.runtime.version", "sdk.version"],
};

/// An event's fields kept as attributes (the rest is stack traces and breadcrumbs).
const EVENT_FIELDS: &[&str] = &[
    "level",
    "platform",
    "logger",
    "release",
    "environment",
    "server_name",
    "transaction",
    "status",
    "did",
    "errors",
    "sid",
];

impl Decoder for Sentry {
    fn protocol(&self) -> Protocol {
        Protocol::Sentry
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        r.is_post()
            && (endpoint(r.path).is_some() || r.content_type.contains("x-sentry-envelope"))
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        t.signal = Some(Signal::Errors);
        if endpoint(r.path) == Some("store") {
            if let Some(json) = r.json_or_note(t) {
                item("event", json, t);
            }
            return;
        }
        let Some(text) = r.text() else {
            t.notes.push(r.no_text());
            return;
        };
        envelope(text, r, t);
    }
}

/// `envelope` or `store` when the path is `…/api/{project_id}/{that}/`.
fn endpoint(path: &str) -> Option<&'static str> {
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let last = segments.next()?;
    let id = segments.next()?;
    let api = segments.next()?;
    let known = match last {
        "envelope" => "envelope",
        "store" => "store",
        _ => return None,
    };
    (api == "api" && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(known)
}

/// An envelope: its header, then header/payload pairs.
fn envelope(text: &str, r: &Request<'_>, t: &mut Telemetry) {
    let (header, mut rest) = text.split_once('\n').unwrap_or((text, ""));
    match serde_json::from_str::<Value>(header) {
        Ok(header) => {
            fill_resource(&mut t.resource, &header, &KEYS);
            walk(&header, t);
        }
        Err(e) => {
            t.notes
                .push(r.unreadable("a Sentry envelope", &format!("header: {e}")));
            return;
        }
    }
    while !rest.trim().is_empty() {
        let (item_header, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let Ok(item_header) = serde_json::from_str::<Value>(item_header) else {
            t.notes
                .push(r.unreadable("a Sentry envelope", "an item header is not JSON"));
            return;
        };
        let length = item_header["length"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok());
        let (payload, next) = match length {
            Some(n) if after.len() >= n && after.is_char_boundary(n) => after.split_at(n),
            Some(_) => {
                t.notes.push(r.unreadable("a Sentry envelope", "an item is cut short"));
                (after, "")
            }
            None => after.split_once('\n').unwrap_or((after, "")),
        };
        rest = next.strip_prefix('\n').unwrap_or(next);
        let kind = item_header["type"].as_str().unwrap_or("item");
        let payload = serde_json::from_str::<Value>(payload).unwrap_or(Value::Null);
        item(kind, &payload, t);
    }
}

/// One item as an event.
fn item(kind: &str, payload: &Value, t: &mut Telemetry) {
    walk(payload, t);
    fill_resource(&mut t.resource, payload, &KEYS);
    if let Some(release) = payload["release"]
        .as_str()
        .or_else(|| payload["attrs"]["release"].as_str())
    {
        let (service, version) = release.split_once('@').unwrap_or(("", release));
        fill(&mut t.resource.service, (!service.is_empty()).then(|| service.to_owned()));
        fill(&mut t.resource.version, Some(version.to_owned()));
    }
    let name = match kind {
        "event" => event_name(payload),
        "transaction" => payload["transaction"].as_str().map(str::to_owned),
        _ => None,
    };
    t.events.push(TelemetryEvent {
        name: name.unwrap_or_else(|| kind.to_owned()),
        time: first_time(payload, &["timestamp", "started", "start_timestamp"]),
        attributes: attributes(payload, &[])
            .into_iter()
            .filter(|(k, _)| EVENT_FIELDS.contains(&k.as_str()))
            .collect(),
    });
}

/// An error event's name: its first exception's `type: value`, or its message.
fn event_name(event: &Value) -> Option<String> {
    let exception = &event["exception"]["values"][0];
    let exception = match (exception["type"].as_str(), exception["value"].as_str()) {
        (Some(kind), Some(value)) => first_line(&format!("{kind}: {value}")),
        (Some(kind), None) => Some(kind.to_owned()),
        (None, Some(value)) => first_line(value),
        (None, None) => None,
    };
    exception.or_else(|| {
        let message = event["message"]
            .as_str()
            .or_else(|| event["logentry"]["message"].as_str())
            .or_else(|| event["message"]["formatted"].as_str())?;
        first_line(message)
    })
}
