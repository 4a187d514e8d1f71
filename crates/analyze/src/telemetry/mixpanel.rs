//! Mixpanel's ingestion API (<https://developer.mixpanel.com/reference/track-event>,
//! profiles: <https://developer.mixpanel.com/reference/profile-set>): POST `/track`,
//! `/import` with events `{event, properties: {token, distinct_id, time (s or ms), $insert_id,
//! $os, ...}}`, and `/engage` (and `/groups`) with profile updates `{$token, $distinct_id,
//! $set | $set_once | $add | $union | $append | $remove | $unset | $delete: ...}`; the body is
//! JSON, or a form whose `data=` holds JSON or base64 JSON (the older clients).
//! An engage update is an event named by its operation (`$set`, …).

use serde_json::Value;

use super::fields::{event, fill_resource, first_time, records, ResourceKeys};
use super::identifiers::walk;
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry, TelemetryEvent};

pub(crate) struct Mixpanel;

const TRACK: &[&str] = &["/track", "/track/", "/import", "/import/"];
const ENGAGE: &[&str] = &["/engage", "/engage/", "/groups", "/groups/"];

/// Keys of a profile update that are not its operation.
const NOT_OPERATIONS: &[&str] = &[
    "$token",
    "$distinct_id",
    "$group_key",
    "$group_id",
    "$time",
    "$ip",
    "$ignore_time",
    "$ignore_alias",
    "$device_id",
    "$user_id",
];

const KEYS: ResourceKeys = ResourceKeys {
    service: &[],
    version: &["$app_version_string", "$app_version", "$app_release"],
    os: &["$os"],
    os_version: &["$os_version"],
    runtime: &["mp_lib", "$lib"],
    runtime_version: &["$lib_version"],
};

impl Decoder for Mixpanel {
    fn protocol(&self) -> Protocol {
        Protocol::Mixpanel
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        if !r.is_post() || !(r.path_ends(TRACK) || r.path_ends(ENGAGE)) {
            return false;
        }
        r.payload().is_some_and(|json| {
            records(&json, &[]).iter().any(|e| {
                (e["event"].is_string() && e["properties"].is_object())
                    || e["$token"].is_string()
                    || e["$distinct_id"].is_string()
            })
        })
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        t.signal = Some(Signal::Events);
        let Some(json) = r.payload_or_note(t) else {
            return;
        };
        walk(&json, t);
        for record in records(&json, &[]) {
            fill_resource(&mut t.resource, &record["properties"], &KEYS);
            let e = event(record, &["event"], &["time"], &["properties"])
                .or_else(|| profile_update(record));
            t.events.extend(e);
        }
    }
}

/// An `/engage` update as an event named by its operation.
fn profile_update(record: &Value) -> Option<TelemetryEvent> {
    let object = record.as_object()?;
    let (operation, values) = object
        .iter()
        .find(|(k, _)| k.starts_with('$') && !NOT_OPERATIONS.contains(&k.as_str()))?;
    let mut attributes = super::fields::attributes(values, &[]);
    if let Some(id) = record["$distinct_id"].as_str() {
        attributes.insert(0, ("$distinct_id".to_owned(), id.to_owned()));
    }
    Some(TelemetryEvent {
        name: operation.clone(),
        time: first_time(record, &["$time"]),
        attributes,
    })
}
