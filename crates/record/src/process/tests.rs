//! `process` and `ancestry` on the wire: round trips, old captures, the format document's
//! examples.

use crate::{Conn, ConnId, Record, Target, Transport};

use super::*;

fn conn(process: Option<ConnProcess>, ancestry: Vec<Ancestor>) -> Conn {
    Conn {
        ts: "2026-11-21T08:18:06.133Z".into(),
        conn: ConnId(1),
        client: "127.0.0.1:51474".into(),
        target: Target {
            host: "api.example.test".into(),
            port: 443,
        },
        transport: Transport::Http,
        tls: None,
        upstream: None,
        bytes_up: 1,
        bytes_down: 2,
        opened: "2026-11-21T08:18:06.125Z".into(),
        duration_ms: 7,
        sinkhole: None,
        first_bytes: None,
        process: process.map(Box::new),
        ancestry,
    }
}

fn round_trip(record: &Record) -> String {
    let line = serde_json::to_string(record).expect("serializes");
    assert_eq!(&Record::from_line(&line).expect("parses"), record, "{line}");
    line
}

#[test]
fn known_process_and_ancestry_round_trip() {
    let process = ConnProcess::Known(ProcessInfo {
        pid: 4242,
        ppid: 4200,
        exe: "/usr/bin/curl".into(),
        argv: vec![
            "curl".into(),
            "-s".into(),
            "https://api.example.test/".into(),
        ],
        start: "2026-11-21T08:18:06.040Z".into(),
    });
    let ancestry = vec![
        Ancestor {
            pid: 4200,
            exe: Some("/usr/bin/bash".into()),
            comm: None,
            argv: vec![
                "bash".into(),
                "-c".into(),
                "curl -s https://api.example.test/".into(),
            ],
            start: Some("2026-11-21T08:18:05.990Z".into()),
        },
        Ancestor {
            pid: 1,
            exe: None,
            comm: Some("systemd".into()),
            argv: Vec::new(),
            start: None,
        },
    ];
    let line = round_trip(&Record::Conn(conn(Some(process), ancestry)));
    assert!(
        line.ends_with(concat!(
            r#""duration_ms":7,"process":{"pid":4242,"ppid":4200,"exe":"/usr/bin/curl","#,
            r#""argv":["curl","-s","https://api.example.test/"],"start":"2026-11-21T08:18:06.040Z"},"#,
            r#""ancestry":[{"pid":4200,"exe":"/usr/bin/bash","argv":["bash","-c","curl -s https://api.example.test/"],"#,
            r#""start":"2026-11-21T08:18:05.990Z"},{"pid":1,"comm":"systemd"}]}"#
        )),
        "{line}"
    );
}

#[test]
fn unknown_process_is_a_reason() {
    let record = Record::Conn(conn(Some(ConnProcess::unknown("not Linux")), Vec::new()));
    let line = round_trip(&record);
    assert!(
        line.ends_with(r#""duration_ms":7,"process":{"unknown":"not Linux"}}"#),
        "{line}"
    );
    assert_eq!(ConnProcess::unknown("x").known(), None);
}

#[test]
fn absent_fields_are_skipped_and_old_lines_still_read() {
    let line = round_trip(&Record::Conn(conn(None, Vec::new())));
    assert!(line.ends_with(r#""duration_ms":7}"#), "{line}");
    let old = r#"{"type":"conn","ts":"2026-11-21T08:18:06.133Z","conn":1,"client":"127.0.0.1:51474","target":{"host":"127.0.0.1","port":28999},"transport":"http","bytes_up":201,"bytes_down":217,"opened":"2026-11-21T08:18:06.125Z","duration_ms":7}"#;
    let Record::Conn(read) = Record::from_line(old).expect("an old line parses") else {
        panic!("a conn record");
    };
    assert_eq!((read.process.is_none(), read.ancestry), (true, Vec::new()));
}

#[test]
fn a_process_object_without_its_fields_is_refused() {
    let half = r#"{"pid":1,"exe":"/bin/sh"}"#;
    assert!(serde_json::from_str::<ConnProcess>(half).is_err());
}

#[test]
fn the_format_documents_examples_parse() {
    let doc = include_str!("../../../../docs/capture-format.md");
    let lines: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with(r#"{"type":"#))
        .collect();
    assert!(lines.iter().any(|l| l.contains(r#""process":{"pid""#)));
    for line in lines {
        let record = Record::from_line(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(serde_json::to_string(&record).expect("serializes"), line);
    }
}
