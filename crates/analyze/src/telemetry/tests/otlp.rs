//! OTLP over HTTP: JSON and protobuf, logs, traces and metrics.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

use super::*;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

#[test]
fn json_logs_resource_events_and_identifiers() {
    let t = decoded(&post(
        "https://collector.test/otlp/v1/logs",
        "application/json",
        fixture!("otlp_logs.json"),
    ));
    assert_eq!(t.protocol, Some(Protocol::OtlpJson));
    assert_eq!(t.signal, Some(Signal::Logs));
    assert_eq!(names(&t), ["session.start", "turn finished"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(
        t.events[1].time,
        at("2025-01-02T03:04:06Z"),
        "observed time"
    );
    assert_eq!(attribute(&t.events[0], "turns"), Some("3"));
    assert_eq!(attribute(&t.events[1], "cached"), Some("true"));
    let r = &t.resource;
    assert_eq!(r.service.as_deref(), Some("demo-agent"));
    assert_eq!(r.version.as_deref(), Some("1.2.3"));
    assert_eq!(r.os.as_deref(), Some("linux 6.1.0"));
    assert_eq!(r.runtime.as_deref(), Some("nodejs 22.1.0"));
    assert!(r.attributes.iter().any(|(k, _)| k == "user.id"));
    assert_eq!(
        ids(&t),
        sorted([
            ("user.id", "user-7f3a", FoundBy::Name),
            (
                "app.installation",
                "0f8fad5b-d9cb-469f-a165-70867728950e",
                FoundBy::Shape
            ),
        ]),
        "session.id is not persistent"
    );
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn json_traces_and_metrics() {
    let t = decoded(&post(
        "http://127.0.0.1:4318/v1/traces",
        "application/json",
        fixture!("otlp_traces.json"),
    ));
    assert_eq!(t.signal, Some(Signal::Traces));
    assert_eq!(names(&t), ["llm.call", "tool.run"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:07Z"));
    assert_eq!(
        ids(&t),
        sorted([("host.id", "a3f1c2d4e5b60718293a4b5c6d7e8f90", FoundBy::Name)])
    );

    let t = decoded(&post(
        "http://127.0.0.1:4318/v1/metrics",
        "application/json",
        fixture!("otlp_metrics.json"),
    ));
    assert_eq!(t.signal, Some(Signal::Metrics));
    assert_eq!(names(&t), ["demo.token.usage", "demo.session.count"]);
    assert_eq!(attribute(&t.events[0], "data_points"), Some("2"));
    assert_eq!(attribute(&t.events[0], "unit"), Some("{token}"));
    assert_eq!(
        t.events[0].time,
        at("2025-01-02T03:04:09Z"),
        "the latest point"
    );
}

#[test]
fn json_recognised_by_body_shape_on_any_path() {
    let t = decoded(&post(
        "https://ingest.test/custom/endpoint",
        "text/plain",
        fixture!("otlp_metrics.json"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::OtlpJson), Some(Signal::Metrics))
    );
}

#[test]
fn protobuf_logs_and_traces_encoded_with_the_proto_types() {
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(OtlpResource {
                attributes: vec![
                    kv("service.name", "proto-agent"),
                    kv("installation_id", "inst-1"),
                ],
                ..OtlpResource::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_735_787_045_000_000_000,
                    event_name: "tool.decision".to_owned(),
                    attributes: vec![kv("decision", "accept")],
                    ..LogRecord::default()
                }],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let t = decoded(&post_binary(
        "https://collector.test/v1/logs",
        "application/x-protobuf",
        &logs.encode_to_vec(),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::OtlpProtobuf), Some(Signal::Logs))
    );
    assert_eq!(names(&t), ["tool.decision"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(t.resource.service.as_deref(), Some("proto-agent"));
    assert_eq!(
        ids(&t),
        sorted([("installation_id", "inst-1", FoundBy::Name)])
    );

    let traces = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "agent.turn".to_owned(),
                    start_time_unix_nano: 1_735_787_046_000_000_000,
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let t = decoded(&post_binary(
        "https://collector.test/v1/traces",
        "application/x-protobuf",
        &traces.encode_to_vec(),
    ));
    assert_eq!(names(&t), ["agent.turn"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:06Z"));
}

#[test]
fn what_cannot_be_decoded_is_noted() {
    let t = decoded(&post_binary(
        "https://collector.test/v1/logs",
        "application/x-protobuf",
        &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
    ));
    assert_eq!(t.protocol, Some(Protocol::OtlpProtobuf));
    assert!(t.events.is_empty());
    assert!(
        t.notes[0].starts_with("request body is not OTLP protobuf"),
        "{:?}",
        t.notes
    );

    let mut cut = post(
        "https://collector.test/v1/logs",
        "application/json",
        &fixture!("otlp_logs.json")[..200],
    );
    if let Some(b) = cut.request_body.as_mut() {
        b.truncated = true;
    }
    let t = decoded(&cut);
    assert!(
        t.notes[0].starts_with("request body was truncated in the capture"),
        "{:?}",
        t.notes
    );

    let t = decoded(&post(
        "https://collector.test/v1/logs",
        "application/json",
        "{not json",
    ));
    assert!(
        t.notes[0].starts_with("request body is not OTLP/JSON"),
        "{:?}",
        t.notes
    );
}
