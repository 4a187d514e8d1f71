//! The decoders against synthetic payloads written from each format's public docs
//! (`crates/analyze/tests/fixtures/telemetry/`), and requests that must not be read as
//! telemetry.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use phonehome_record::{Body, BodyEncoding};

use super::*;
use crate::event::{Exchange, ResponsePart};

mod analytics;
mod errors_logs;
mod otlp;

/// A fixture's text.
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/telemetry/",
            $name
        ))
    };
}
pub(super) use fixture;

fn body(encoding: BodyEncoding, data: String, size: usize) -> Body {
    Body {
        size: size as u64,
        encoding,
        data,
        truncated: false,
        decoded_from: None,
        dropped_bytes: 0,
        redaction: None,
    }
}

/// A POST of `text` to `url` with that content type.
pub(super) fn post(url: &str, content_type: &str, text: &str) -> Exchange {
    let headers = if content_type.is_empty() {
        Vec::new()
    } else {
        vec![("content-type".to_owned(), content_type.to_owned())]
    };
    crate::event::exchange(
        phonehome_record::FlowId(3),
        DateTime::default(),
        "POST".into(),
        url.into(),
        "HTTP/1.1".into(),
        headers,
        Some(body(BodyEncoding::Utf8, text.to_owned(), text.len())),
    )
}

/// A POST of binary bytes, stored base64 as the capture does.
pub(super) fn post_binary(url: &str, content_type: &str, bytes: &[u8]) -> Exchange {
    let mut x = post(url, content_type, "");
    x.request_body = Some(body(
        BodyEncoding::Base64,
        base64::engine::general_purpose::STANDARD.encode(bytes),
        bytes.len(),
    ));
    x
}

/// `x` answered with a JSON body.
pub(super) fn answered(mut x: Exchange, json: &str) -> Exchange {
    x.response = Some(ResponsePart {
        status: 200,
        reason: "OK".into(),
        version: "HTTP/1.1".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(body(BodyEncoding::Utf8, json.to_owned(), json.len())),
        ttfb_ms: 1,
        first_byte_ms: None,
        duration_ms: 2,
    });
    x
}

/// Decodes, expecting telemetry.
pub(super) fn decoded(x: &Exchange) -> Telemetry {
    decode(x).unwrap_or_else(|| panic!("{} {} is telemetry", x.method, x.url))
}

pub(super) fn names(t: &Telemetry) -> Vec<&str> {
    t.events.iter().map(|e| e.name.as_str()).collect()
}

pub(super) fn at(rfc3339: &str) -> Option<DateTime<Utc>> {
    Some(phonehome_record::parse_timestamp(rfc3339).expect("test time"))
}

/// The identifiers as (name, value, found by), sorted: a payload's key order is not kept
/// unless serde_json's `preserve_order` is on (the viewer turns it on for the workspace).
pub(super) fn ids(t: &Telemetry) -> Vec<(&str, &str, FoundBy)> {
    let mut ids: Vec<_> = t
        .identifiers
        .iter()
        .map(|i| (i.name.as_str(), i.value.as_str(), i.found_by))
        .collect();
    ids.sort_unstable();
    ids
}

pub(super) fn sorted<T: Ord, const N: usize>(items: [T; N]) -> Vec<T> {
    let mut items = Vec::from(items);
    items.sort_unstable();
    items
}

pub(super) fn attribute<'t>(e: &'t TelemetryEvent, name: &str) -> Option<&'t str> {
    e.attributes
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn llm_calls_and_plain_json_apis_are_not_telemetry() {
    let chat = post(
        "https://llm.test/v1/chat/completions",
        "application/json",
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"events":[{"name":"x","timestamp":1}]}"#,
    );
    assert_eq!(decode(&chat), None);
    for (url, body) in [
        (
            "https://api.test/v1/items",
            r#"[{"id":1,"name":"a"},{"id":2,"name":"b"}]"#,
        ),
        (
            "https://api.test/graphql",
            r#"{"query":"{ viewer { login } }"}"#,
        ),
        ("https://api.test/v1/logs", "plain text, not OTLP"),
        (
            "https://api.test/upload",
            r#"{"data":[{"type":"file","size":3}]}"#,
        ),
        (
            "https://git.test/repo.git/git-upload-pack",
            "0032want 0a53e9ddeaddad63ad106860237bbf53411d11a7\n",
        ),
    ] {
        let ct = if body.starts_with(['{', '[']) {
            "application/json"
        } else {
            "text/plain"
        };
        assert_eq!(decode(&post(url, ct, body)), None, "{url}");
    }
    let mut get = post("https://t.test/v1/logs", "application/json", "{}");
    get.method = "GET".into();
    assert_eq!(decode(&get), None, "a GET is not an export");
}

#[test]
fn recognition_never_needs_a_host() {
    // The same OTLP body on a loopback collector, a private address and a made-up name.
    for host in [
        "http://127.0.0.1:4318",
        "https://10.1.2.3",
        "https://otel.never-seen.invalid/prefix",
    ] {
        let t = decoded(&post(
            &format!("{host}/v1/logs"),
            "application/json",
            fixture!("otlp_logs.json"),
        ));
        assert_eq!(t.protocol, Some(Protocol::OtlpJson), "{host}");
    }
}
