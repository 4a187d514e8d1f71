//! Datadog's intake APIs: logs (<https://docs.datadoghq.com/api/latest/logs/#send-logs>),
//! POST `/api/v2/logs` (or the older `/v1/input`, `/v1/input/{api_key}`) with one log or an
//! array of them, `{message, ddsource, ddtags, hostname, service, status, timestamp}`; and
//! Real User Monitoring from the browser SDK (<https://docs.datadoghq.com/real_user_monitoring/>,
//! event schema: <https://github.com/DataDog/rum-events-format>), POST `/api/v2/rum` with
//! newline-delimited JSON events `{type: view | action | resource | error | long_task, date
//! (ms), application.id, session.id, view, usr, service, version}`. The browser SDK sends
//! both as newline-delimited JSON. Recognised by path and a JSON body.

use serde_json::Value;

use super::fields::{attributes, fill, first_line, first_string, first_time, string};
use super::identifiers::walk;
use super::protocol::{json_shaped, Decoder, Request};
use super::{Protocol, Signal, Telemetry, TelemetryEvent};

pub(crate) struct Datadog;

const LOGS: &[&str] = &["/api/v2/logs", "/v1/input", "/v1/input/"];
const RUM: &[&str] = &["/api/v2/rum"];

impl Decoder for Datadog {
    fn protocol(&self) -> Protocol {
        Protocol::Datadog
    }

    fn recognises(&self, r: &Request<'_>) -> bool {
        let path = r.path_ends(LOGS) || r.path_ends(RUM) || r.path.contains("/v1/input/");
        r.is_post() && path && r.text().is_some_and(json_shaped)
    }

    fn decode(&self, r: &Request<'_>, t: &mut Telemetry) {
        let rum = r.path_ends(RUM);
        t.signal = Some(if rum { Signal::Events } else { Signal::Logs });
        let Some(text) = r.text() else {
            t.notes.push(r.no_text());
            return;
        };
        let (records, bad) = json_records(r, text);
        if bad > 0 {
            t.notes.push(r.unreadable(
                "JSON",
                &format!("{bad} line{} not JSON", if bad == 1 { " is" } else { "s are" }),
            ));
        }
        for record in &records {
            walk(record, t);
            fill(&mut t.resource.service, string(&record["service"]));
            fill(&mut t.resource.version, string(&record["version"]));
            fill(&mut t.resource.runtime, string(&record["ddsource"]));
            t.events.push(if rum {
                rum_event(record)
            } else {
                log_event(record)
            });
        }
    }
}

/// The records of a body: one JSON document (an array or one object), else one per line.
fn json_records(r: &Request<'_>, text: &str) -> (Vec<Value>, usize) {
    if let Some(json) = r.json() {
        return match json {
            Value::Array(items) => (items.clone(), 0),
            other => (vec![other.clone()], 0),
        };
    }
    let mut bad = 0;
    let records = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            serde_json::from_str(l)
                .map_err(|_| bad += 1)
                .ok()
        })
        .collect();
    (records, bad)
}

const TIMES: &[&str] = &["timestamp", "date", "@timestamp", "time"];

/// A log: named by its message's first line, else its status.
fn log_event(record: &Value) -> TelemetryEvent {
    let name = record["message"]
        .as_str()
        .and_then(first_line)
        .or_else(|| first_string(record, &["status", "ddsource"]))
        .unwrap_or_else(|| "log".to_owned());
    TelemetryEvent {
        name,
        time: first_time(record, TIMES),
        attributes: attributes(record, &["message"]),
    }
}

/// A RUM event: named by its type, with the action's type (`action: click`).
fn rum_event(record: &Value) -> TelemetryEvent {
    let kind = record["type"].as_str().unwrap_or("rum");
    let name = match record["action"]["type"].as_str() {
        Some(action) if kind == "action" => format!("action: {action}"),
        _ => kind.to_owned(),
    };
    TelemetryEvent {
        name,
        time: first_time(record, TIMES),
        attributes: attributes(record, &["type", "date"]),
    }
}
