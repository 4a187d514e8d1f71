//! Amplitude's HTTP V2 API (<https://amplitude.com/docs/apis/analytics/http-v2>) and Batch
//! Event Upload API (<https://amplitude.com/docs/apis/analytics/batch-event-upload>): POST
//! `/2/httpapi` or `/batch` with `{api_key, events: [{event_type, user_id, device_id, time
//! (ms), event_properties, user_properties, platform, os_name, os_version, app_version,
//! library}]}`. Recognised by path and that body, `api_key` included (both APIs require it), on
//! any host (EU or self-hosted proxies): another `/batch` of `{events: [{event_type, …}]}`
//! without a key is left to the events-array fallback.

use serde_json::Value;

use super::fields::{event, fill_resource, ResourceKeys};
use super::identifiers::walk;
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry};

pub(crate) struct Amplitude;

const KEYS: ResourceKeys = ResourceKeys {
    service: &[],
    version: &["app_version", "version_name"],
    os: &["os_name", "platform"],
    os_version: &["os_version"],
    runtime: &["library"],
    runtime_version: &[],
};

impl Decoder for Amplitude {
    fn protocol(&self) -> Protocol {
        Protocol::Amplitude
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        r.is_post()
            && r.path_ends(&["/2/httpapi", "/batch"])
            && r.json().is_some_and(amplitude_shaped)
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        t.signal = Some(Signal::Events);
        let Some(json) = r.json_or_note(t) else {
            return;
        };
        walk(json, t);
        for e in json["events"].as_array().into_iter().flatten() {
            fill_resource(&mut t.resource, e, &KEYS);
            t.events.extend(event(
                e,
                &["event_type"],
                &["time"],
                &["event_properties", "user_properties"],
            ));
        }
    }
}

/// A string `api_key` and `events` whose elements carry `event_type`.
fn amplitude_shaped(json: &Value) -> bool {
    json["api_key"].is_string()
        && json["events"]
        .as_array()
        .is_some_and(|events| events.iter().any(|e| e["event_type"].is_string()))
}
