//! Tests of the wire types: tag order, names, display, sinkhole modes.

use super::*;

#[test]
fn type_tag_comes_first_and_names_are_snake_case() {
    let record = Record::Error(ErrorRecord {
        ts: "2026-01-01T00:00:00.000Z".into(),
        flow: None,
        conn: Some(ConnId(3)),
        target: Target {
            host: "x.invalid".into(),
            port: 443,
        },
        phase: Phase::TlsUpstream,
        message: "m".into(),
    });
    let line = serde_json::to_string(&record).expect("serializes");
    assert!(line.starts_with(r#"{"type":"error","ts":"#), "{line}");
    assert!(line.contains(r#""phase":"tls_upstream""#));
    let back: Record = serde_json::from_str(&line).expect("parses");
    assert_eq!(back, record);
    assert_eq!(Record::from_line(&line).expect("parses"), record);
    let without_tag = line.replacen(r#""type":"error","#, "", 1);
    let reordered = format!(
        r#"{},"type":"error"}}"#,
        without_tag.strip_suffix('}').expect("an object")
    );
    assert_eq!(Record::from_line(&reordered).expect("parses"), record);
}

#[test]
fn transport_is_kebab_case() {
    let json = serde_json::to_string(&Transport::TlsIntercept).expect("serializes");
    assert_eq!(json, r#""tls-intercept""#);
}

#[test]
fn ipv6_target_displays_bracketed() {
    let t = Target {
        host: "::1".into(),
        port: 8080,
    };
    assert_eq!(t.to_string(), "[::1]:8080");
}
