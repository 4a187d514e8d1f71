//! The head of a record: its `type`, `ts` and ids, read from a line without reading the rest
//! into memory. Indexes and streaming readers use it to decide what a line is before (or
//! instead of) parsing the whole [`Record`](crate::Record).

use std::borrow::Cow;

use serde::Deserialize;

use crate::{ConnId, FlowId};

/// The `type` of a record, as its tag is spelt in the capture format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordKind {
    Capture,
    Conn,
    Request,
    Response,
    Error,
    Blocked,
    Ws,
    Dns,
    End,
    /// A type this version does not know (a newer writer's); readers skip it.
    #[serde(other)]
    Other,
}

impl RecordKind {
    /// The tag as the capture format writes it (`other` for an unknown one).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Capture => "capture",
            RecordKind::Conn => "conn",
            RecordKind::Request => "request",
            RecordKind::Response => "response",
            RecordKind::Error => "error",
            RecordKind::Blocked => "blocked",
            RecordKind::Ws => "ws",
            RecordKind::Dns => "dns",
            RecordKind::End => "end",
            RecordKind::Other => "other",
        }
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed head of one capture line: what every record has (`type`, `ts`), the ids that
/// join records (`flow`, `conn`), and the small fields a list of flows shows for the records
/// read most (`method`, `url`, `status`, `duration_ms`, the body's `size`), borrowed from the
/// line. Every other field (headers, body data) is skipped without being stored, so reading a
/// head allocates nothing unless a string holds a JSON escape (the writer puts none in `ts`).
///
/// ```
/// use phonehome_record::{RecordHead, RecordKind};
///
/// let line = r#"{"type":"response","ts":"2026-01-01T00:00:00.000Z","flow":7,"status":200}"#;
/// let head = RecordHead::from_line(line).expect("a record head");
/// assert_eq!(head.kind, RecordKind::Response);
/// assert_eq!(head.ts, "2026-01-01T00:00:00.000Z");
/// assert_eq!((head.flow, head.conn), (Some(phonehome_record::FlowId(7)), None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RecordHead<'a> {
    /// The record's `type`.
    #[serde(rename = "type")]
    pub kind: RecordKind,
    /// RFC 3339, UTC, millisecond precision; empty when the line has none.
    #[serde(default, borrow)]
    pub ts: Cow<'a, str>,
    /// The flow (`request`, `response`, `ws`; `error` and `blocked` when they concern one).
    #[serde(default)]
    pub flow: Option<FlowId>,
    /// The connection (`conn`, `request`; `error` and `blocked` when they concern one).
    #[serde(default)]
    pub conn: Option<ConnId>,
    /// The request's method (`request`; `blocked` when it concerns a request).
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub method: Option<Cow<'a, str>>,
    /// The request's absolute URL (`request`; `blocked` when it concerns a request).
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub url: Option<Cow<'a, str>>,
    /// The response's status code (`response`).
    #[serde(default)]
    pub status: Option<u16>,
    /// Milliseconds: request sent to response end (`response`), open to close (`conn`).
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// The body's `size`, in bytes on the wire (`request`, `response`; absent when empty).
    /// Its data is skipped unread.
    #[serde(default, rename = "body", deserialize_with = "body_size")]
    pub body_size: Option<u64>,
    /// Why phonehome answered the request or connection itself instead of forwarding it
    /// (`request`, `conn`): `denied` or `unreachable`, as spelt in the line.
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub sinkhole: Option<Cow<'a, str>>,
}

/// An optional string borrowed from the line when it has no escape (serde borrows a `Cow`
/// field, but not one inside an `Option`).
fn borrowed<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    value: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'a>>::deserialize(value)?.map(|b| b.0))
}

/// Reads a body object's `size` only.
fn body_size<'de, D: serde::Deserializer<'de>>(body: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Size {
        size: u64,
    }
    Ok(Option::<Size>::deserialize(body)?.map(|b| b.size))
}

impl<'a> RecordHead<'a> {
    /// Reads the head of one line (without its newline).
    ///
    /// # Errors
    /// The JSON error when the line is not a JSON object with a string `type`.
    pub fn from_line(line: &'a str) -> Result<RecordHead<'a>, serde_json::Error> {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Blocked, Body, BodyEncoding, Capture, CaptureWriter, Conn, Counts, Direction, Dns, End,
        ErrorRecord, Mode, Phase, Record, Request, Response, Target, Transport, Ws,
    };

    const TS: &str = "2026-01-01T00:00:00.000Z";

    fn target() -> Target {
        Target {
            host: "api.test".into(),
            port: 443,
        }
    }

    fn body(data: &str) -> Option<Body> {
        Some(Body {
            size: data.len() as u64,
            encoding: BodyEncoding::Utf8,
            data: data.into(),
            truncated: false,
            decoded_from: None,
            dropped_bytes: 0,
            redaction: None,
        })
    }

    /// One record of every type, with the head each must give.
    fn records() -> Vec<(Record, RecordKind, Option<FlowId>, Option<ConnId>)> {
        use RecordKind as K;
        vec![
            (
                Record::Capture(Capture {
                    ts: TS.into(),
                    format: crate::FORMAT.into(),
                    id: "1".into(),
                    tool_version: "0".into(),
                    mode: Mode::Run,
                    command: vec!["agent".into(), "--flow".into(), "9".into()],
                    cwd: "/w".into(),
                    policy: "observe".into(),
                    options: Default::default(),
                    markers: Default::default(),
                    agent: None,
                }),
                K::Capture,
                None,
                None,
            ),
            (
                Record::Conn(Conn {
                    ts: TS.into(),
                    conn: ConnId(3),
                    client: "127.0.0.1:5000".into(),
                    target: target(),
                    transport: Transport::TlsIntercept,
                    tls: None,
                    upstream: None,
                    bytes_up: 1,
                    bytes_down: 2,
                    opened: TS.into(),
                    duration_ms: 4,
                    sinkhole: None,
                    first_bytes: None,
                    process: None,
                    ancestry: Vec::new(),
                }),
                K::Conn,
                None,
                Some(ConnId(3)),
            ),
            (
                Record::Request(Request {
                    ts: TS.into(),
                    flow: FlowId(7),
                    conn: ConnId(3),
                    method: "POST".into(),
                    url: "https://api.test/v1?flow=1".into(),
                    version: "HTTP/1.1".into(),
                    headers: vec![("x-flow".into(), "\"quoted\"\n\u{1}".into())],
                    raw_header_names: vec!["X-Flow".into()],
                    body: body(r#"{"flow":99,"conn":98,"ts":"x"}"#),
                    sinkhole: None,
                    process: None,
                    ancestry: Vec::new(),
                }),
                K::Request,
                Some(FlowId(7)),
                Some(ConnId(3)),
            ),
            (
                Record::Response(Response {
                    ts: TS.into(),
                    flow: FlowId(7),
                    status: 200,
                    reason: "OK".into(),
                    version: "HTTP/1.1".into(),
                    headers: Vec::new(),
                    body: body("data: {\"type\":\"x\"}\n\n"),
                    ttfb_ms: 1,
                    first_byte_ms: Some(2),
                    duration_ms: 3,
                }),
                K::Response,
                Some(FlowId(7)),
                None,
            ),
            (
                Record::Error(ErrorRecord {
                    ts: TS.into(),
                    flow: None,
                    conn: Some(ConnId(4)),
                    target: target(),
                    phase: Phase::Dns,
                    message: "no such host".into(),
                }),
                K::Error,
                None,
                Some(ConnId(4)),
            ),
            (
                Record::Blocked(Blocked {
                    ts: TS.into(),
                    conn: Some(ConnId(5)),
                    flow: Some(FlowId(8)),
                    target: target(),
                    method: Some("GET".into()),
                    url: Some("https://api.test/".into()),
                    rule: "default".into(),
                    enforced: true,
                }),
                K::Blocked,
                Some(FlowId(8)),
                Some(ConnId(5)),
            ),
            (
                Record::Ws(Ws {
                    ts: TS.into(),
                    flow: FlowId(9),
                    dir: Direction::Down,
                    opcode: "text".into(),
                    size: 2,
                    encoding: BodyEncoding::Utf8,
                    data: "hi".into(),
                    truncated: false,
                    redaction: None,
                }),
                K::Ws,
                Some(FlowId(9)),
                None,
            ),
            (
                Record::Dns(Dns {
                    ts: TS.into(),
                    query: "api.test".into(),
                    qtype: "A".into(),
                    answers: vec!["192.0.2.1".into()],
                }),
                K::Dns,
                None,
                None,
            ),
            (
                Record::End(End {
                    ts: TS.into(),
                    exit_code: Some(0),
                    counts: Counts::default(),
                    dropped_bytes: 0,
                    lost: None,
                    otlp: None,
                }),
                K::End,
                None,
                None,
            ),
        ]
    }

    /// The lines the capture writer makes of `records`.
    fn written(records: &[Record]) -> String {
        // One file per call: tests run in parallel.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "phonehome-record-head-{}-{call}.jsonl",
            std::process::id()
        ));
        let mut writer = CaptureWriter::create(&path).expect("create");
        for record in records {
            writer.write(record).expect("write");
        }
        writer.flush().expect("flush");
        drop(writer);
        let text = std::fs::read_to_string(&path).expect("read back");
        std::fs::remove_file(&path).expect("remove");
        text
    }

    #[test]
    fn the_head_of_every_written_record_is_typed_and_borrowed() {
        let cases = records();
        let all: Vec<Record> = cases.iter().map(|(r, ..)| r.clone()).collect();
        let text = written(&all);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), cases.len());
        for (line, (_, kind, flow, conn)) in lines.iter().zip(&cases) {
            let head = RecordHead::from_line(line).expect("a head");
            assert_eq!(head.kind, *kind, "{line}");
            assert_eq!((head.flow, head.conn), (*flow, *conn), "{line}");
            assert_eq!(head.ts, TS);
            assert!(matches!(head.ts, Cow::Borrowed(_)), "ts is borrowed");
            let tag = format!(r#"{{"type":"{kind}","#);
            assert!(line.starts_with(&tag), "{line}");
        }
    }

    #[test]
    fn the_listed_fields_of_requests_and_responses_are_read() {
        let cases = records();
        let all: Vec<Record> = cases.iter().map(|(r, ..)| r.clone()).collect();
        let text = written(&all);
        let heads: Vec<RecordHead<'_>> = text
            .lines()
            .map(|line| RecordHead::from_line(line).expect("a head"))
            .collect();
        let request = &heads[2];
        assert_eq!(request.method.as_deref(), Some("POST"));
        assert_eq!(request.url.as_deref(), Some("https://api.test/v1?flow=1"));
        assert!(
            matches!(request.url, Some(Cow::Borrowed(_))),
            "url is borrowed"
        );
        assert_eq!(request.body_size, Some(30));
        let response = &heads[3];
        assert_eq!(response.status, Some(200));
        assert_eq!(response.duration_ms, Some(3));
        assert_eq!(response.body_size, Some(20));
        assert_eq!((heads[1].duration_ms, heads[1].body_size), (Some(4), None));
        assert_eq!(heads[5].method.as_deref(), Some("GET"), "blocked request");
        assert_eq!(request.sinkhole, None);
        assert_eq!(heads[8].status, None);
    }

    #[test]
    fn a_sinkholed_request_says_so() {
        let line = r#"{"type":"request","ts":"t","flow":1,"conn":1,"body":{"size":3,"data":"\"sinkhole\":"},"sinkhole":"denied"}"#;
        let head = RecordHead::from_line(line).expect("a head");
        assert_eq!(head.sinkhole.as_deref(), Some("denied"));
        assert_eq!(head.body_size, Some(3));
    }

    #[test]
    fn an_escaped_ts_and_a_reordered_line_still_read() {
        let line = r#"{"flow":2,"ts":"2026-01-01T00:00:00\u002e000Z","type":"ws"}"#;
        let head = RecordHead::from_line(line).expect("a head");
        assert_eq!(head.kind, RecordKind::Ws);
        assert_eq!(head.ts, TS);
        assert_eq!(head.flow, Some(FlowId(2)));
    }

    #[test]
    fn an_unknown_type_is_other_and_a_non_record_is_an_error() {
        let head = RecordHead::from_line(r#"{"type":"future","ts":"t"}"#).expect("a head");
        assert_eq!(head.kind, RecordKind::Other);
        assert!(RecordHead::from_line(r#"{"ts":"t"}"#).is_err(), "no type");
        assert!(RecordHead::from_line("[1]").is_err());
        assert!(RecordHead::from_line(r#"{"type":"request","flow":"#).is_err());
    }
}
