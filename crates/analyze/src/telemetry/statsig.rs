//! Statsig's client API (<https://docs.statsig.com/http-api>, the SDKs' `initialize` and
//! `rgstr` calls): POST `/v1/initialize` with `{user: {userID, customIDs: {stableID}, ...},
//! statsigMetadata: {sdkType, sdkVersion, stableID}}`, answered with `feature_gates`,
//! `dynamic_configs` and `layer_configs` (feature flags); POST `/v1/rgstr` or `/v1/log_event`
//! with `{events: [{eventName, user, time (ms), value, metadata}], statsigMetadata}`.
//! Recognised by path and a body with `user`, `events` or `statsigMetadata`.

use serde_json::Value;

use super::fields::{event, fill_resource, ResourceKeys};
use super::identifiers::walk;
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry, TelemetryEvent};

pub(crate) struct Statsig;

const FLAGS: &[&str] = &["/v1/initialize", "/v1/initialize/"];
const EVENTS: &[&str] = &["/v1/rgstr", "/v1/log_event", "/v1/rgstr/", "/v1/log_event/"];

const KEYS: ResourceKeys = ResourceKeys {
    service: &[],
    version: &["user.appVersion", "user.custom.appVersion"],
    os: &["user.custom.os", "statsigMetadata.systemName"],
    os_version: &["statsigMetadata.systemVersion"],
    runtime: &["statsigMetadata.sdkType"],
    runtime_version: &["statsigMetadata.sdkVersion"],
};

impl Decoder for Statsig {
    fn protocol(&self) -> Protocol {
        Protocol::Statsig
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        r.is_post()
            && (r.path_ends(FLAGS) || r.path_ends(EVENTS))
            && r.json().is_some_and(|json| {
                ["user", "events", "statsigMetadata"]
                    .iter()
                    .any(|k| !json[*k].is_null())
            })
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        let flags = r.path_ends(FLAGS);
        t.signal = Some(if flags {
            Signal::FeatureFlags
        } else {
            Signal::Events
        });
        let Some(json) = r.json_or_note(t) else {
            return;
        };
        walk(json, t);
        fill_resource(&mut t.resource, json, &KEYS);
        if flags {
            gate_events(r, t);
            return;
        }
        for e in json["events"].as_array().into_iter().flatten() {
            fill_resource(&mut t.resource, e, &KEYS);
            t.events
                .extend(event(e, &["eventName"], &["time"], &["metadata"]));
        }
    }
}

/// The gates and configs the answer evaluated, one event each (named by their `name`, a
/// hash when the SDK asked for hashed names); without an answer, `initialize`.
fn gate_events(r: &Request<'_>, t: &mut Telemetry) {
    let answer: Option<Value> = r
        .exchange
        .response
        .as_ref()
        .and_then(|resp| resp.body.as_ref())
        .and_then(|b| serde_json::from_str(&b.data).ok());
    let time = Some(r.exchange.ts);
    let before = t.events.len();
    for section in ["feature_gates", "dynamic_configs", "layer_configs"] {
        let entries = answer
            .as_ref()
            .and_then(|a| a[section].as_object())
            .into_iter()
            .flatten();
        for (key, entry) in entries {
            let value = entry.get("value").map(super::fields::text);
            t.events.push(TelemetryEvent {
                name: entry["name"].as_str().unwrap_or(key).to_owned(),
                time,
                attributes: [("kind".to_owned(), section.to_owned())]
                    .into_iter()
                    .chain(value.map(|v| ("value".to_owned(), v)))
                    .collect(),
            });
        }
    }
    if t.events.len() == before {
        t.events.push(TelemetryEvent {
            name: "initialize".to_owned(),
            time,
            attributes: Vec::new(),
        });
    }
}
