//! Error reports, log and RUM intake, Clearcut, and the events-array fallback.

use prost::Message as _;

use super::*;
use crate::telemetry::clearcut::{LogEvent, LogRequest};

#[test]
fn sentry_envelope_behind_a_relay() {
    let t = decoded(&post(
        "https://relay.internal.test/sentry/api/42/envelope/",
        "application/x-sentry-envelope",
        fixture!("sentry_envelope.txt"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::Sentry), Some(Signal::Errors))
    );
    assert_eq!(
        names(&t),
        [
            "TypeError: Cannot read properties of undefined",
            "session",
            "session",
            "GET /v1/models"
        ]
    );
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:08.500Z"));
    assert_eq!(t.events[2].time, at("2025-01-02T03:04:10Z"));
    assert_eq!(attribute(&t.events[0], "level"), Some("error"));
    let r = &t.resource;
    assert_eq!(r.service.as_deref(), Some("demo-agent"));
    assert_eq!(r.version.as_deref(), Some("1.2.3"));
    assert_eq!(r.os.as_deref(), Some("Linux 6.1.0"));
    assert_eq!(r.runtime.as_deref(), Some("sentry.javascript.node 8.30.0"));
    assert_eq!(
        ids(&t),
        sorted([
            ("user.id", "sentry-user-3", FoundBy::Name),
            ("did", "sentry-user-3", FoundBy::Name),
        ]),
        "event, trace, span and session ids are not persistent"
    );
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn sentry_store_and_a_cut_envelope() {
    let t = decoded(&post(
        "https://errors.test/api/7/store/",
        "application/json",
        r#"{"event_id":"0123456789abcdef0123456789abcdef","message":"disk full","timestamp":"2025-01-02T03:04:05Z"}"#,
    ));
    assert_eq!(names(&t), ["disk full"]);
    let text = fixture!("sentry_envelope.txt");
    let cut = &text[..text
        .find(r#"{"type":"transaction","transaction""#)
        .unwrap_or(0)
        + 20];
    let t = decoded(&post(
        "https://errors.test/api/7/envelope/",
        "text/plain",
        cut,
    ));
    assert_eq!(
        t.events.len(),
        4,
        "what arrived is decoded: {:?}",
        names(&t)
    );
}

#[test]
fn datadog_logs_and_rum() {
    let t = decoded(&post(
        "https://intake.test/api/v2/logs",
        "application/json",
        fixture!("datadog_logs.json"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::Datadog), Some(Signal::Logs))
    );
    assert_eq!(names(&t), ["agent started", "request failed"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(t.events[1].time, at("2025-01-02T03:04:06Z"));
    assert_eq!(t.resource.service.as_deref(), Some("demo-agent"));
    assert_eq!(ids(&t), sorted([("usr.id", "dd-user-2", FoundBy::Name)]));

    let t = decoded(&post(
        "https://rum.test/api/v2/rum?ddsource=browser",
        "text/plain;charset=UTF-8",
        fixture!("datadog_rum.ndjson"),
    ));
    assert_eq!(t.signal, Some(Signal::Events));
    assert_eq!(names(&t), ["view", "action: click"]);
    assert_eq!(t.events[1].time, at("2025-01-02T03:04:06Z"));
    assert_eq!(t.resource.version.as_deref(), Some("1.2.3"));
    assert_eq!(ids(&t), sorted([("usr.id", "dd-user-2", FoundBy::Name)]));
}

#[test]
fn clearcut_json_as_gemini_cli_sends_it() {
    let t = decoded(&post(
        "https://cc.test/log?format=json&hasfast=true",
        "",
        fixture!("clearcut.json"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::Clearcut), Some(Signal::Events))
    );
    assert_eq!(names(&t), ["start_session", "api_response"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(attribute(&t.events[0], "model"), Some("demo-model"));
    assert_eq!(attribute(&t.events[1], "duration_ms"), Some("812"));
    assert_eq!(t.resource.service.as_deref(), Some("CONCORD"));
    assert_eq!(
        ids(&t),
        sorted([("client_install_id", "inst-0a1b2c3d", FoundBy::Name)])
    );
}

#[test]
fn clearcut_protobuf_decodes_the_documented_fields() {
    let request = LogRequest {
        log_source: Some(1503),
        log_event: vec![LogEvent {
            event_time_ms: Some(1_735_787_045_000),
            tag: Some("session_start".to_owned()),
            ..LogEvent::default()
        }],
        request_time_ms: Some(1_735_787_050_000),
        ..LogRequest::default()
    };
    let t = decoded(&post_binary(
        "https://cc.test/log?format=proto",
        "application/x-protobuf",
        &request.encode_to_vec(),
    ));
    assert_eq!(t.protocol, Some(Protocol::Clearcut));
    assert_eq!(names(&t), ["session_start"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(t.resource.service.as_deref(), Some("log source 1503"));
    assert!(t
        .notes
        .iter()
        .any(|n| n.contains("source_extension is not")));

    let t = decoded(&post_binary(
        "https://cc.test/log",
        "application/x-protobuf",
        b"\x1a\xff\xff\xff",
    ));
    assert!(t.events.is_empty());
    assert!(
        t.notes[0].starts_with("request body is not a Clearcut protobuf LogRequest"),
        "{:?}",
        t.notes
    );
}

#[test]
fn events_array_fallback() {
    let t = decoded(&post(
        "https://unknown-analytics.test/collect",
        "application/json",
        fixture!("events_array.json"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::EventsArray), Some(Signal::Events))
    );
    assert_eq!(names(&t), ["cli_start", "cli_exit"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(t.events[1].time, at("2025-01-02T03:04:10Z"));
    assert_eq!(attribute(&t.events[0], "version"), Some("1.2.3"));
    assert_eq!(ids(&t), sorted([("machine_id", "m-77", FoundBy::Name)]));

    // One element without a time: not an events array.
    let mixed = r#"[{"event":"a","timestamp":1735787045},{"event":"b"}]"#;
    assert_eq!(
        decode(&post("https://x.test/c", "application/json", mixed)),
        None
    );
}

/// Elements that wrap their event (`{event_type: KIND, event_data: {event_name,
/// client_timestamp, …}}`) under a `/batch` path: the wrapped events, not Amplitude (no
/// `api_key`), not one event named after the kind.
#[test]
fn events_array_of_wrapped_events() {
    let t = decoded(&post(
        "https://collector.test/api/v2/batch",
        "application/json",
        fixture!("events_array_wrapped.json"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::EventsArray), Some(Signal::Events))
    );
    assert_eq!(names(&t), ["tool_started", "tool_turn_end"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(t.events[1].time, at("2025-01-02T03:04:07.5Z"));
    let first = &t.events[0];
    assert_eq!(attribute(first, "event_type"), Some("ToolInternalEvent"));
    assert_eq!(attribute(first, "session_id"), Some("session-0001"));
    assert_eq!(
        attribute(first, "env"),
        Some(r#"{"platform":"linux","version":"1.2.3"}"#)
    );
    assert_eq!(
        ids(&t),
        sorted([(
            "device_id",
            "0123456789abcdef0123456789abcdef01234567",
            FoundBy::Name
        )])
    );

    // A wrapper without a time of its own inside: not an events array.
    let untimed = r#"{"events":[{"event_type":"K","event_data":{"event_name":"a"}}]}"#;
    assert_eq!(
        decode(&post(
            "https://x.test/v2/batch",
            "application/json",
            untimed
        )),
        None
    );
}

#[test]
fn redacted_values_are_not_identifiers() {
    let body = r#"[{"event":"a","timestamp":1735787045,"user_id":"[REDACTED:0badc0de]","install":"[REDACTED:0f8fad5bd9cb469fa16570867728950e]"}]"#;
    let t = decoded(&post("https://x.test/c", "application/json", body));
    assert_eq!(names(&t), ["a"]);
    assert!(t.identifiers.is_empty(), "{:?}", t.identifiers);
}
