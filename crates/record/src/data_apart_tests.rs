//! The body data decoded apart against serde_json's parse of the whole line: the same record
//! whenever the plain case is taken, and the plain case taken for the lines phonehome writes.

use proptest::prelude::*;

use super::parse;
use crate::{Body, BodyEncoding, ConnId, FlowId, Record, Request, Response};

fn request(data: Option<String>, header: String) -> Request {
    Request {
        ts: "2026-01-01T00:00:00.000Z".into(),
        flow: FlowId(7),
        conn: ConnId(3),
        method: "POST".into(),
        url: "https://api.example.test/v1/chat/completions".into(),
        version: "HTTP/1.1".into(),
        headers: vec![("x-test".into(), header)],
        raw_header_names: Vec::new(),
        body: data.map(|data| Body {
            size: data.len() as u64,
            encoding: BodyEncoding::Utf8,
            data,
            truncated: false,
            decoded_from: None,
            dropped_bytes: 0,
            redaction: None,
        }),
        sinkhole: None,
        process: None,
        ancestry: Vec::new(),
    }
}

fn response(data: Option<String>) -> Response {
    Response {
        ts: "2026-01-01T00:00:00.005Z".into(),
        flow: FlowId(7),
        status: 200,
        reason: "OK".into(),
        version: "HTTP/1.1".into(),
        headers: vec![("content-type".into(), "text/event-stream".into())],
        body: data.map(|data| Body {
            size: data.len() as u64,
            encoding: BodyEncoding::Utf8,
            data,
            truncated: true,
            decoded_from: Some("gzip".into()),
            dropped_bytes: 0,
            redaction: None,
        }),
        ttfb_ms: 3,
        first_byte_ms: Some(4),
        duration_ms: 5,
    }
}

fn request_data(r: &mut Request) -> Option<&mut String> {
    r.body.as_mut().map(|b| &mut b.data)
}

fn response_data(r: &mut Response) -> Option<&mut String> {
    r.body.as_mut().map(|b| &mut b.data)
}

/// Ways a line may differ from what phonehome writes.
fn edits(line: &str, at: usize) -> Vec<String> {
    let cut = line
        .char_indices()
        .map(|(i, _)| i)
        .nth(at % line.chars().count().max(1))
        .unwrap_or(0);
    vec![
        line.replacen(r#""data":""#, r#""data": ""#, 1),
        line.replacen(r#""ts":"#, r#""extra":{"data":"x"},"ts":"#, 1),
        line.replacen(r#""ts":"#, r#""extra":["data"],"ts":"#, 1),
        line.replacen(r#""size":"#, r#""data":"twice","size":"#, 1),
        line.replacen(r#""size":"#, r#""d\u0061ta":"\u0000","size":"#, 1),
        line.replacen(r#""data":""#, r#""data":"\ud800"#, 1),
        line.replacen(r#""data":""#, "\"data\":\"\u{1}", 1),
        line.replacen(r#""data":""#, r#""data":"\q"#, 1),
        line.replacen(r#""data":""#, r#""data":"\u0000"#, 1),
        line[..cut].to_owned(),
        format!("{line} x"),
    ]
}

/// Where the decoded-apart parse is taken, it gives serde_json's record of the whole line;
/// and `Record::from_line` gives what serde_json's enum path gives.
fn agrees<T>(line: &str, data: fn(&mut T) -> Option<&mut String>) -> Result<(), TestCaseError>
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Some(apart) = parse::<T>(line, data) {
        let whole = serde_json::from_str::<T>(line);
        prop_assert!(whole.is_ok(), "{line}: taken apart, whole is {whole:?}");
        prop_assert_eq!(Some(apart), whole.ok(), "{}", line);
    }
    let expected = serde_json::from_str::<Record>(line).ok();
    prop_assert_eq!(Record::from_line(line).ok(), expected, "{}", line);
    Ok(())
}

const TEXT: &str = "\\PC*|[\"\\\\\u{0}-\u{1f}\u{10000}-\u{10ffff}a{}:,]*";

proptest! {
    #[test]
    fn a_request_reads_as_serde_json_reads_it(
        data in proptest::option::of(TEXT),
        header in "data|\\PC{0,12}",
        at in 0usize..10_000,
    ) {
        let record = request(data, header);
        let line = serde_json::to_string(&Record::Request(record.clone())).expect("serializes");
        if record.body.is_some() && record.headers[0].1 != "data" {
            prop_assert_eq!(parse(&line, request_data), Some(record), "{}", line);
        }
        agrees(&line, request_data)?;
        for edited in edits(&line, at) {
            agrees(&edited, request_data)?;
        }
    }

    #[test]
    fn a_response_reads_as_serde_json_reads_it(
        data in proptest::option::of(TEXT),
        at in 0usize..10_000,
    ) {
        let record = response(data);
        let line = serde_json::to_string(&Record::Response(record.clone())).expect("serializes");
        if record.body.is_some() {
            prop_assert_eq!(parse(&line, response_data), Some(record), "{}", line);
        }
        agrees(&line, response_data)?;
        for edited in edits(&line, at) {
            agrees(&edited, response_data)?;
        }
    }
}

#[test]
fn a_line_with_two_data_keys_is_left_whole() {
    let line = r#"{"type":"request","ts":"t","flow":1,"conn":1,"method":"GET","url":"http://a.test/","version":"HTTP/1.1","headers":[],"extra":{"data":"x"},"body":{"size":1,"encoding":"utf8","data":"y","truncated":false}}"#;
    assert_eq!(parse(line, request_data), None);
    let Ok(Record::Request(r)) = Record::from_line(line) else {
        panic!("a request");
    };
    assert_eq!(r.body.expect("a body").data, "y");
}
