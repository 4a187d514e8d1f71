use chrono::{DateTime, TimeZone as _, Utc};

use super::*;
use crate::telemetry::{FoundBy, Identifier, Protocol, Resource, Signal, TelemetryEvent};

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + s, 0)
        .single()
        .expect("valid time")
}

fn event(name: &str, s: i64, attributes: &[(&str, &str)]) -> TelemetryEvent {
    TelemetryEvent {
        name: name.to_owned(),
        time: Some(at(s)),
        attributes: attributes
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn seen(host: &str, telemetry: Option<Telemetry>, ids: Vec<Identifier>, llm: bool) -> Seen {
    Seen {
        host: host.to_owned(),
        ts: at(0),
        telemetry,
        identifiers: ids,
        llm_call: llm,
    }
}

fn otlp(events: Vec<TelemetryEvent>) -> Telemetry {
    Telemetry {
        protocol: Some(Protocol::OtlpJson),
        signal: Some(Signal::Logs),
        resource: Resource {
            service: Some("my-agent".into()),
            version: Some("1.2.3".into()),
            os: Some("linux".into()),
            runtime: None,
            attributes: vec![("host.arch".into(), "amd64".into())],
        },
        events,
        identifiers: vec![Identifier {
            name: "user.id".into(),
            value: "u-12345".into(),
            found_by: FoundBy::Name,
        }],
        notes: Vec::new(),
    }
}

#[test]
fn counts_events_names_spans_and_identifiers() {
    let mut tally = Tally::default();
    tally.add(seen(
        "t.example",
        Some(otlp(vec![
            event("session.start", 1, &[("model", "gpt-4.1")]),
            event("turn", 2, &[("tokens", "10"), ("model", "other")]),
        ])),
        Vec::new(),
        false,
    ));
    tally.add(seen(
        "t.example",
        Some(otlp(vec![event("turn", 5, &[])])),
        Vec::new(),
        false,
    ));
    let hosts = tally.finish();
    assert_eq!(hosts.len(), 1);
    let h = &hosts[0];
    assert_eq!((h.requests, h.events), (2, 3));
    assert_eq!(h.protocols[0].protocol, "otlp/json");
    assert_eq!(h.protocols[0].requests, 2);
    assert_eq!(h.event_names[0].name, "turn");
    assert_eq!(h.event_names[0].count, 2);
    assert_eq!(
        h.event_names[0].first.as_deref(),
        Some("2023-11-14T22:13:22.000Z")
    );
    assert_eq!(
        h.event_names[0].last.as_deref(),
        Some("2023-11-14T22:13:25.000Z")
    );
    let names: Vec<_> = h
        .attributes
        .iter()
        .map(|a| (&*a.name, &*a.sample))
        .collect();
    assert_eq!(names, [("model", "gpt-4.1"), ("tokens", "10")]);
    assert_eq!(h.resource.service.as_deref(), Some("my-agent"));
    assert_eq!(h.identifiers.len(), 1);
    assert_eq!(h.identifiers[0].requests, 2);
    let text = render_text(&hosts);
    assert!(
        text.contains("=== t.example: 2 telemetry requests (otlp/json logs ×2)"),
        "{text}"
    );
    assert!(
        text.contains("sent by: my-agent 1.2.3 · os linux"),
        "{text}"
    );
    assert!(
        text.contains("user.id = u-12345  (by name, telemetry, 2 requests)"),
        "{text}"
    );
}

#[test]
fn bounded_with_what_is_left_out_counted() {
    let mut tally = Tally::default();
    let events: Vec<TelemetryEvent> = (0..MAX_EVENT_NAMES + 7)
        .map(|i| event(&format!("e{i}"), 0, &[(&format!("a{i}"), "v")]))
        .collect();
    tally.add(seen(
        "t.example",
        Some(otlp(events.clone())),
        Vec::new(),
        false,
    ));
    tally.add(seen("t.example", Some(otlp(events)), Vec::new(), false));
    let ids = (0..MAX_IDENTIFIERS + 3)
        .map(|i| Identifier {
            name: "device_id".into(),
            value: format!("d-{i:04}"),
            found_by: FoundBy::Name,
        })
        .collect();
    tally.add(seen("t.example", None, ids, false));
    let h = &tally.finish()[0];
    assert_eq!(h.event_names.len(), MAX_EVENT_NAMES);
    assert_eq!((h.more_event_names, h.more_events), (7, 14));
    assert_eq!(h.attributes.len(), MAX_ATTRIBUTES);
    assert_eq!(
        h.more_attributes,
        (MAX_EVENT_NAMES + 7 - MAX_ATTRIBUTES) as u64
    );
    assert_eq!(h.identifiers.len(), MAX_IDENTIFIERS);
    // One identifier of the telemetry, 23 of the other request: 20 kept, 4 left out.
    assert_eq!(h.more_identifiers, 4);
    let text = render_text(std::slice::from_ref(h));
    assert!(
        text.contains("… and 7 more event names (14 events)"),
        "{text}"
    );
}

#[test]
fn identifiers_of_llm_hosts_requests_are_left_out() {
    let id = || Identifier {
        name: "client_id".into(),
        value: "c-12345".into(),
        found_by: FoundBy::Name,
    };
    let mut tally = Tally::default();
    tally.add(seen("llm.example", None, vec![id()], false));
    tally.add(seen("llm.example", None, Vec::new(), true));
    tally.add(seen("other.example", None, vec![id()], false));
    let hosts = tally.finish();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].host, "other.example");
    assert_eq!(hosts[0].requests, 0);
    assert_eq!(hosts[0].identifiers[0].source, "request");
    assert!(render_text(&hosts).contains("no telemetry decoded"));
    assert_eq!(
        render_text(&[]),
        "No telemetry or persistent identifier found.\n"
    );
}
