//! The index fed line by line: processes joined to rows by connection, sinkholed requests
//! joined to their `blocked` record in either order.

use phonehome_record::Sinkhole;

use super::data::IndexData;
use super::line::LineIndexer;
use super::row::RowKind;

/// The index of `lines`, in order.
fn index(lines: &[&str]) -> IndexData {
    let mut indexer = LineIndexer::new();
    let mut data = IndexData::default();
    let mut at = 0;
    let changes: Vec<_> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let text = format!("{line}\n");
            let change = indexer.line(text.as_bytes(), at, i as u64 + 1);
            at += text.len() as u64;
            change
        })
        .collect();
    data.apply(changes.into_iter());
    data
}

const BLOCKED: &str = r#"{"type":"blocked","ts":"2026-01-01T00:00:01.000Z","conn":2,"flow":2,"target":{"host":"t.test","port":443},"method":"POST","url":"https://t.test/e","rule":"deny","enforced":true}"#;
const SINKHOLED: &str = r#"{"type":"request","ts":"2026-01-01T00:00:01.010Z","flow":2,"conn":2,"method":"POST","url":"https://t.test/e","version":"HTTP/1.1","headers":[],"sinkhole":"denied"}"#;
const CONN: &str = r#"{"type":"conn","ts":"2026-01-01T00:00:01.020Z","conn":2,"client":"127.0.0.1:1","target":{"host":"t.test","port":443},"transport":"tls-intercept","bytes_up":1,"bytes_down":1,"opened":"2026-01-01T00:00:01.000Z","duration_ms":20,"process":{"pid":7,"ppid":1,"exe":"/usr/lib/node (deleted)","argv":["node"],"start":"2026-01-01T00:00:00.000Z"}}"#;

#[test]
fn a_sinkholed_request_takes_the_row_of_its_blocked_record() {
    let data = index(&[BLOCKED, SINKHOLED, CONN]);
    assert_eq!(data.len(), 1);
    let row = data.get(0).expect("a row").to_row();
    assert_eq!(row.kind, RowKind::Flow);
    assert_eq!(row.sinkhole, Some(Sinkhole::Denied));
    assert_eq!(row.time, "00:00:01.000", "the row keeps its place and time");
    assert_eq!(
        row.error_at,
        Some(0),
        "the blocked record stays with the flow"
    );
    assert_eq!(row.process.as_deref(), Some("node"));
    assert!(row.conn_at.is_some());
}

#[test]
fn a_blocked_record_after_its_sinkholed_request_adds_no_row() {
    let data = index(&[SINKHOLED, BLOCKED]);
    assert_eq!(data.len(), 1);
    let row = data.get(0).expect("a row").to_row();
    assert_eq!(row.sinkhole, Some(Sinkhole::Denied));
    assert_eq!(row.error_at, Some(SINKHOLED.len() as u64 + 1));
    assert_eq!(row.process, None, "no conn record yet");
}

#[test]
fn a_blocked_request_that_was_not_sinkholed_keeps_its_row() {
    let plain = SINKHOLED.replace(r#","sinkhole":"denied""#, "");
    let data = index(&[BLOCKED, &plain]);
    assert_eq!(data.len(), 2);
    assert_eq!(data.get(0).expect("row").kind(), RowKind::Blocked);
    assert_eq!(data.get(1).expect("row").sinkhole(), None);
}

#[test]
fn an_unknown_owner_is_a_question_mark_and_no_process_is_none() {
    let unknown = CONN.replace(
        r#""process":{"pid":7,"ppid":1,"exe":"/usr/lib/node (deleted)","argv":["node"],"start":"2026-01-01T00:00:00.000Z"}"#,
        r#""process":{"unknown":"not Linux"}"#,
    );
    let data = index(&[SINKHOLED, &unknown]);
    assert_eq!(data.get(0).expect("row").process(), Some("?"));
    assert!(data.has_processes());
    let absent = CONN.replace(r#","process":{"pid":7,"ppid":1,"exe":"/usr/lib/node (deleted)","argv":["node"],"start":"2026-01-01T00:00:00.000Z"}"#, "");
    let data = index(&[SINKHOLED, &absent]);
    assert_eq!(data.get(0).expect("row").process(), None);
    assert!(!data.has_processes());
}

const HEADER: &str = r#"{"type":"capture","ts":"2026-01-01T00:00:00.000Z","format":"phonehome/1","id":"1","tool_version":"0","mode":"proxy","command":[],"cwd":"/","policy":"observe","options":{}}"#;

#[test]
fn every_line_that_cannot_be_used_is_counted() {
    let deep = format!(
        r#"{{"type":"conn","ts":"2026-01-01T00:00:00.000Z","x":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let deep_ws = deep.replace(r#""type":"conn""#, r#""type":"ws""#);
    let lines = [
        HEADER,
        r#"{"type":"bogus"}"#,
        &deep,
        &deep_ws,
        r#"{"type":"ws","ts":"2026-01-01T00:00:00.000Z","flow":1}"#,
        "[1,2]",
        "not json",
    ];
    let data = index(&lines);
    let bad: Vec<u64> = data.bad_lines.iter().map(|(line, _)| *line).collect();
    assert_eq!(bad, [2, 3, 4, 5, 6, 7], "{:?}", data.bad_lines);
    assert!(
        data.bad_lines[0].1.contains("bogus"),
        "{:?}",
        data.bad_lines[0]
    );
}
