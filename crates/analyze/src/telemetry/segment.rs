//! Segment's HTTP Tracking API (<https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/>):
//! POST `/v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias` with
//! one message, or `/v1/batch` (and `/v1/import`) with `{batch: [...]}`; the short forms
//! `/v1/t`, `/v1/i`, `/v1/p`, `/v1/b` the JavaScript library uses. A message has `type`,
//! `event` (track), `userId` and/or `anonymousId`, `properties` or `traits`, `timestamp`, and
//! `context` (`app`, `os`, `library`, `device`). Services that speak the same API (RudderStack,
//! self-hosted collectors) are read the same: recognised by path and body, not host.

use serde_json::Value;

use super::fields::{event, fill_resource, records, ResourceKeys};
use super::identifiers::walk;
use super::protocol::{Decoder, Request};
use super::{Protocol, Signal, Telemetry};

pub(crate) struct Segment;

const PATHS: &[&str] = &[
    "/v1/batch",
    "/v1/import",
    "/v1/track",
    "/v1/identify",
    "/v1/page",
    "/v1/screen",
    "/v1/group",
    "/v1/alias",
    "/v1/b",
    "/v1/t",
    "/v1/i",
    "/v1/p",
];

const KEYS: ResourceKeys = ResourceKeys {
    service: &["context.app.name", "context.app.namespace"],
    version: &["context.app.version"],
    os: &["context.os.name"],
    os_version: &["context.os.version"],
    runtime: &["context.library.name"],
    runtime_version: &["context.library.version"],
};

impl Decoder for Segment {
    fn protocol(&self) -> Protocol {
        Protocol::Segment
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        r.is_post() && r.path_ends(PATHS) && r.json().is_some_and(segment_shaped)
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        t.signal = Some(Signal::Events);
        let Some(json) = r.json_or_note(t) else {
            return;
        };
        walk(json, t);
        fill_resource(&mut t.resource, json, &KEYS);
        for message in records(json, &["batch"]) {
            fill_resource(&mut t.resource, message, &KEYS);
            t.events.extend(event(
                message,
                &["event", "type"],
                &["timestamp", "originalTimestamp", "sentAt"],
                &["properties", "traits"],
            ));
        }
    }
}

/// `{batch: [...]}`, or one message with a `type`, a user or a message id.
fn segment_shaped(json: &Value) -> bool {
    json["batch"].is_array()
        || ["type", "userId", "anonymousId", "messageId"]
            .iter()
            .any(|k| json[*k].is_string())
}
