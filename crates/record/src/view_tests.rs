//! The views against [`Record::from_line`]: over generated `request` and `response` lines and
//! lines edited from them, a view reads a line only when the record reader reads it as the
//! same kind, and then to the same record.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const REQUEST: &str = r#"{"type":"request","ts":"2026-03-02T10:00:00.000Z","flow":1,"conn":1,"method":"POST","url":"https://api.test/v1/x?a=1","version":"HTTP/1.1","headers":[["user-agent","x/1"],["content-type","application/json"]],"body":{"size":11,"encoding":"utf8","data":"{\"a\":\"b\"}","truncated":false}}"#;
const RESPONSE: &str = r#"{"type":"response","ts":"2026-03-02T10:00:00.005Z","flow":1,"status":200,"reason":"","version":"HTTP/1.1","headers":[["content-type","text/event-stream"]],"ttfb_ms":3,"duration_ms":5,"body":{"size":2,"encoding":"utf8","data":"{}","truncated":false}}"#;

/// Both readers agree on `line`: a view that reads it reads the record `from_line` reads.
fn agree(line: &str) -> Result<(), TestCaseError> {
    let record = Record::from_line(line).ok();
    if let Some(view) = RequestView::from_line(line) {
        prop_assert_eq!(
            record,
            Some(Record::Request(view.into_request())),
            "{}",
            line
        );
    } else if let Some(view) = ResponseView::from_line(line) {
        let missing = view.missing_fields(line);
        let response = Record::Response(view.into_response());
        prop_assert_eq!(response.missing_fields(line), missing, "{}", line);
        prop_assert_eq!(record, Some(response), "{}", line);
    }
    Ok(())
}

/// `line` with member `key` of the object at `path` (empty: the record) replaced by `value`,
/// or taken out when `value` is `None`; `type` stays first.
fn edited(line: &str, path: &[&str], key: &str, value: Option<Value>) -> String {
    let mut record: Value = serde_json::from_str(line).expect("a JSON line");
    let mut at = &mut record;
    for step in path {
        at = &mut at[*step];
    }
    if let Value::Object(object) = at {
        match value {
            Some(value) => object.insert(key.to_owned(), value),
            None => object.remove(key),
        };
    }
    type_first(record)
}

/// `record` written with its `type` first, as phonehome writes it (whatever order serde_json's
/// maps keep).
fn type_first(mut record: Value) -> String {
    let kind = record
        .as_object_mut()
        .and_then(|object| object.remove("type"));
    let rest = record.to_string();
    match (kind, rest.strip_prefix('{')) {
        (Some(kind), Some("}")) => format!("{{\"type\":{kind}}}"),
        (Some(kind), Some(rest)) => format!("{{\"type\":{kind},{rest}"),
        _ => rest,
    }
}

#[test]
fn lines_phonehome_writes_are_read_by_their_views() {
    let request = RequestView::from_line(REQUEST).expect("a request line");
    assert!(matches!(request.ts, Cow::Borrowed(_)));
    assert_eq!(request.method, "POST");
    let response = ResponseView::from_line(RESPONSE).expect("a response line");
    assert_eq!((response.status, response.ttfb_ms), (200, 3));
    assert!(RequestView::from_line(RESPONSE).is_none());
    assert!(ResponseView::from_line(REQUEST).is_none());
    agree(REQUEST).expect("agree");
    agree(RESPONSE).expect("agree");
}

#[test]
fn odd_lines_are_read_as_the_record_reader_reads_them() {
    let cases = [
        edited(
            REQUEST,
            &[],
            "ts",
            Some(json!("2026-03-02T10:00:00.000\u{e9}Z")),
        ),
        edited(REQUEST, &[], "ts", Some(json!(5))),
        edited(REQUEST, &[], "ts", None),
        edited(REQUEST, &[], "flow", Some(json!(-1))),
        edited(REQUEST, &[], "headers", Some(json!([["a"]]))),
        edited(REQUEST, &[], "body", Some(Value::Null)),
        edited(REQUEST, &[], "sinkhole", Some(json!("denied"))),
        edited(REQUEST, &[], "sinkhole", Some(json!("maybe"))),
        edited(REQUEST, &[], "process", Some(json!({"pid": 7}))),
        edited(
            REQUEST,
            &[],
            "process",
            Some(json!({"pid": 7, "name": "curl"})),
        ),
        edited(REQUEST, &[], "ancestry", Some(json!([1]))),
        edited(
            REQUEST,
            &[],
            "raw_header_names",
            Some(json!(["User-Agent"])),
        ),
        edited(REQUEST, &[], "extra", Some(json!({"nested": [1, 2]}))),
        edited(REQUEST, &["body"], "encoding", Some(json!("utf16"))),
        edited(RESPONSE, &[], "ttfb_ms", None),
        edited(RESPONSE, &[], "duration_ms", Some(json!(0))),
        edited(RESPONSE, &[], "ttfb_ms", Some(Value::Null)),
        edited(RESPONSE, &[], "first_byte_ms", Some(json!(4))),
        edited(RESPONSE, &[], "status", Some(json!(70000))),
        edited(RESPONSE, &[], "reason", None),
        REQUEST.replace("\"flow\":1", "\"flow\":1,\"flow\":2"),
        REQUEST
            .replace("{\"type\":\"request\",", "{")
            .replace('}', ",\"type\":\"request\"}"),
        REQUEST.replace("\"type\":\"request\"", "\"type\":\"requests\""),
        format!("  {RESPONSE}"),
        RESPONSE.replace("\\\"", "\\u0022"),
        RESPONSE[..RESPONSE.len() - 3].to_owned(),
    ];
    for line in cases {
        agree(&line).expect("agree");
    }
}

/// A request or response line as phonehome writes it, from generated field values.
fn line_strategy() -> impl Strategy<Value = String> {
    let text = "\\PC{0,12}|[\"\\\\\u{0}-\u{1f}a\u{e9}]{0,6}";
    let headers = prop::collection::vec((text, text), 0..4);
    let body = prop::option::of((any::<u64>(), text, any::<bool>()));
    (
        any::<bool>(),
        (text, any::<u64>(), any::<u64>(), text, text),
        headers,
        body,
        (any::<u16>(), prop::option::of(any::<u64>()), any::<u64>()),
    )
        .prop_map(
            |(is_request, (ts, flow, conn, a, b), headers, body, numbers)| {
                let body = body.map(|(size, data, truncated)| {
                json!({"size": size, "encoding": "utf8", "data": data, "truncated": truncated})
            });
                let (status, first_byte_ms, ms) = numbers;
                let mut line = match is_request {
                    true => json!({"type": "request", "ts": ts, "flow": flow, "conn": conn,
                    "method": a, "url": b, "version": "HTTP/2", "headers": headers}),
                    false => json!({"type": "response", "ts": ts, "flow": flow, "status": status,
                    "reason": a, "version": b, "headers": headers, "ttfb_ms": ms % 3,
                    "duration_ms": ms % 2, "first_byte_ms": first_byte_ms}),
                };
                if let Some(body) = body {
                    line["body"] = body;
                }
                type_first(line)
            },
        )
}

proptest! {
    #[test]
    fn views_read_generated_lines_as_the_record_reader_does(
        line in line_strategy(),
        cut in any::<prop::sample::Index>(),
        drop_key in prop::sample::select(vec!["", "ts", "ttfb_ms", "duration_ms", "headers", "body"]),
    ) {
        prop_assert!(RequestView::from_line(&line).is_some() || ResponseView::from_line(&line).is_some());
        agree(&line)?;
        agree(&edited(&line, &[], drop_key, None))?;
        let mut end = cut.index(line.len());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        agree(&line[..end])?;
    }
}
