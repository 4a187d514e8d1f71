//! The fallback for analytics protocols without a decoder of their own: a JSON array of
//! event objects, or an object holding one under `events`, `batch` or `data`, where every
//! element carries an event name (`event`, `name`, `event_type`, `eventName`, `type`) and a
//! timestamp (`timestamp`, `time`, `ts`, `event_time`, `created_at`) that reads as a time.
//! Every element must, and there must be one: a JSON API call whose body is a list of
//! records without both is not telemetry. LLM calls never reach it (see `decode`).

use serde_json::Value;

use super::fields::{event, first_string, first_time};
use super::identifiers::walk;
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry};

pub(crate) struct EventsArray;

const NAMES: &[&str] = &["event", "name", "event_type", "eventName", "type"];
const TIMES: &[&str] = &["timestamp", "time", "ts", "event_time", "created_at"];
const NESTED: &[&str] = &["properties", "attributes", "data", "metadata", "params"];

impl Decoder for EventsArray {
    fn protocol(&self) -> Protocol {
        Protocol::EventsArray
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        r.is_post() && r.json().and_then(events).is_some()
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        t.signal = Some(Signal::Events);
        let Some(json) = r.json_or_note(t) else {
            return;
        };
        walk(json, t);
        for e in events(json).unwrap_or_default() {
            t.events.extend(event(e, NAMES, TIMES, NESTED));
        }
    }
}

/// The event objects, when the body is an events array.
fn events(json: &Value) -> Option<Vec<&Value>> {
    let items = json.as_array().or_else(|| {
        ["events", "batch", "data"]
            .iter()
            .find_map(|k| json[*k].as_array())
    })?;
    let all = !items.is_empty()
        && items
            .iter()
            .all(|e| first_string(e, NAMES).is_some() && first_time(e, TIMES).is_some());
    all.then(|| items.iter().collect())
}
