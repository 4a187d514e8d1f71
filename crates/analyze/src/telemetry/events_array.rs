//! The fallback for analytics protocols without a decoder of their own: a JSON array of
//! event objects, or an object holding one under `events`, `batch` or `data`, where every
//! element carries an event name (`event`, `name`, `event_name`, `event_type`, `eventName`,
//! `type`) and a timestamp (`timestamp`, `time`, `ts`, `event_time`, `client_timestamp`,
//! `created_at`) that reads as a time. Every element must, and there must be one: a JSON API
//! call whose body is a list of records without both is not telemetry. LLM calls never reach
//! it (see `decode`).
//!
//! An element may wrap its event: when it has no time of its own but the object under
//! `event_data`, `data` or `payload` has a name and a time (`{"event_type": "KIND",
//! "event_data": {"event_name": "…", "client_timestamp": "…", …}}`), that object is the event
//! (its name, time and attributes) and the element's other entries (the kind) are attributes
//! too.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use serde_json::Value;

use super::fields::{attributes, event, first_string, first_time};
use super::identifiers::walk;
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry, TelemetryEvent};

pub(crate) struct EventsArray;

const NAMES: &[&str] = &[
    "event",
    "name",
    "event_name",
    "event_type",
    "eventName",
    "type",
];
const TIMES: &[&str] = &[
    "timestamp",
    "time",
    "ts",
    "event_time",
    "client_timestamp",
    "created_at",
];
const NESTED: &[&str] = &["properties", "attributes", "data", "metadata", "params"];
/// Where an element without a time of its own may wrap its event.
const WRAPPERS: &[&str] = &["event_data", "data", "payload"];

impl Decoder for EventsArray {
    fn protocol(&self) -> Protocol {
        Protocol::EventsArray
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        // A cheap look for a time key before parsing a body no other decoder wanted.
        r.is_post()
            && r.text().is_some_and(has_quoted_time_key)
            && r.json().and_then(events).is_some()
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        t.signal = Some(Signal::Events);
        let Some(json) = r.json_or_note(t) else {
            return;
        };
        walk(json, t);
        for e in events(json).unwrap_or_default() {
            t.events.extend(element_event(e));
        }
    }
}

/// Whether `text` holds one of [`TIMES`] in double quotes (`"ts"`), as a member name would be.
fn has_quoted_time_key(text: &str) -> bool {
    static KEYS: OnceLock<AhoCorasick> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        AhoCorasick::new(TIMES).expect("a few short literal keys build an automaton")
    });
    let bytes = text.as_bytes();
    keys.find_overlapping_iter(text).any(|m| {
        m.start() > 0 && bytes[m.start() - 1] == b'"' && bytes.get(m.end()) == Some(&b'"')
    })
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
            .all(|e| named_and_timed(e) || wrapped(e).is_some());
    all.then(|| items.iter().collect())
}

fn named_and_timed(e: &Value) -> bool {
    first_string(e, NAMES).is_some() && first_time(e, TIMES).is_some()
}

/// The event an element wraps, when it has no time of its own (see the module head).
fn wrapped(e: &Value) -> Option<&Value> {
    if first_time(e, TIMES).is_some() {
        return None;
    }
    WRAPPERS
        .iter()
        .map(|k| &e[*k])
        .find(|inner| named_and_timed(inner))
}

/// One element's event: its own, or the one it wraps with the element's entries first.
fn element_event(e: &Value) -> Option<TelemetryEvent> {
    let Some(inner) = wrapped(e) else {
        return event(e, NAMES, TIMES, NESTED);
    };
    let mut decoded = event(inner, NAMES, TIMES, NESTED)?;
    let mut outer = attributes(e, WRAPPERS);
    outer.append(&mut decoded.attributes);
    decoded.attributes = outer;
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{has_quoted_time_key, TIMES};

    /// The look as first written: each key quoted into a copy, looked for in turn.
    fn by_copies(text: &str) -> bool {
        TIMES
            .iter()
            .any(|key| text.contains(&format!("\"{key}\"")))
    }

    proptest! {
        #[test]
        fn quoted_time_keys_found_as_by_copies(
            pieces in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(TIMES.to_vec()).prop_map(str::to_owned),
                    Just("\"".to_owned()),
                    "[a-z_\":{} ]{0,8}",
                    Just("é".to_owned()),
                ],
                0..10,
            )
        ) {
            let text = pieces.concat();
            prop_assert_eq!(has_quoted_time_key(&text), by_copies(&text));
        }
    }

    #[test]
    fn a_key_counts_only_in_quotes() {
        assert!(has_quoted_time_key(r#"[{"event":"e","ts":1}]"#));
        assert!(has_quoted_time_key(r#""timestamp""#));
        assert!(!has_quoted_time_key(r#"{"tsx":1,"time_zone":"x","at ts":2}"#));
        assert!(!has_quoted_time_key("ts\"") && !has_quoted_time_key(""));
    }
}
