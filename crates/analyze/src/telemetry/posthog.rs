//! PostHog (<https://posthog.com/docs/api/capture>, flags:
//! <https://posthog.com/docs/api/flags>): events POSTed to `/e/`, `/i/v0/e/`, `/capture/` or
//! `/batch/` as one event `{event, distinct_id | properties.distinct_id, properties,
//! timestamp}`, an array of them, or `{api_key, batch: [...]}` (JSON, or a form body's `data=`
//! holding JSON or base64 JSON, as older JavaScript clients send); and feature-flag
//! evaluation at `/decide/` or `/flags/` (`{api_key | token, distinct_id, ...}`, answered
//! with `featureFlags` or `flags`). Recognised by those paths (under any base path: a
//! self-hosted instance or a reverse proxy) and a body carrying a project key or events with
//! `properties`. Properties `$lib`/`$lib_version`, `$os`/`$os_version`,
//! `$app_name`/`$app_version` name the sender.

use serde_json::Value;

use super::fields::{event, fill_resource, records, ResourceKeys};
use super::identifiers::walk;
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry, TelemetryEvent};

pub(crate) struct PostHog;

const CAPTURE: &[&str] = &["/e/", "/e", "/i/v0/e/", "/i/v0/e", "/capture/", "/batch/"];
const FLAGS: &[&str] = &["/decide/", "/decide", "/flags/", "/flags"];

const KEYS: ResourceKeys = ResourceKeys {
    service: &["$app_name"],
    version: &["$app_version"],
    os: &["$os"],
    os_version: &["$os_version"],
    runtime: &["$lib"],
    runtime_version: &["$lib_version"],
};

impl Decoder for PostHog {
    fn protocol(&self) -> Protocol {
        Protocol::PostHog
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        if !r.is_post() || !(r.path_ends(CAPTURE) || r.path_ends(FLAGS)) {
            return false;
        }
        if r.query("compression").is_some() && r.binary().is_some() {
            return true;
        }
        r.payload().is_some_and(|json| posthog_shaped(&json))
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        let flags = r.path_ends(FLAGS);
        t.signal = Some(if flags {
            Signal::FeatureFlags
        } else {
            Signal::Events
        });
        if let (Some(compression), Some(_)) = (r.query("compression"), r.binary()) {
            t.notes.push(format!(
                "request body is compressed by the client ({compression}): not decoded"
            ));
            return;
        }
        let Some(json) = r.payload_or_note(t) else {
            return;
        };
        walk(&json, t);
        if flags {
            flag_events(r, &json, t);
            return;
        }
        for record in records(&json, &["batch", "data"]) {
            fill_resource(&mut t.resource, &record["properties"], &KEYS);
            t.events.extend(event(
                record,
                &["event"],
                &["timestamp", "time"],
                &["properties"],
            ));
        }
    }
}

/// A project key at the top, or events with `properties`.
fn posthog_shaped(json: &Value) -> bool {
    let key = ["api_key", "token", "distinct_id"]
        .iter()
        .any(|k| json[*k].is_string());
    key || records(json, &["batch", "data"])
        .iter()
        .any(|e| e["event"].is_string() && e["properties"].is_object())
}

/// The flags the answer evaluated (`featureFlags` of `/decide/`, `flags` of `/flags/`), one
/// event each with its value; without an answer, the request itself.
fn flag_events(r: &Request<'_>, request: &Value, t: &mut Telemetry) {
    let answer: Option<Value> = r
        .exchange
        .response
        .as_ref()
        .and_then(|resp| resp.body.as_ref())
        .and_then(|b| serde_json::from_str(&b.data).ok());
    let flags = answer.as_ref().and_then(|a| {
        a["featureFlags"]
            .as_object()
            .or_else(|| a["flags"].as_object())
    });
    let time = r.exchange.ts;
    match flags {
        Some(flags) => t.events.extend(flags.iter().map(|(name, value)| TelemetryEvent {
            name: name.clone(),
            time: Some(time),
            attributes: vec![("value".to_owned(), flag_value(value))],
        })),
        None => t.events.push(TelemetryEvent {
            name: if r.path_ends(&["/decide/", "/decide"]) {
                "decide"
            } else {
                "flags"
            }
            .to_owned(),
            time: Some(time),
            attributes: super::fields::attributes(request, &["api_key", "token"]),
        }),
    }
}

/// A flag's value: `true`/`false`, a variant name, or `/flags/`'s `{enabled, variant}`.
fn flag_value(value: &Value) -> String {
    match (&value["variant"], &value["enabled"]) {
        (Value::String(v), _) => v.clone(),
        (_, Value::Bool(b)) => b.to_string(),
        _ => super::fields::text(value),
    }
}
