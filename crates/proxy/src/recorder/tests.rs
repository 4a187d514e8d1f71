//! The recorder's redaction of records, here of a `conn` record's process command line.

use phonehome_record::{
    fingerprint, Ancestor, ConnId, ConnProcess, ProcessInfo, Record, Redactor, Target, Transport,
};

use super::memo::RedactionMemo;
use super::redact_record;

#[test]
fn a_conn_records_its_process_argv_redacted() {
    let key = format!("sk-ant-{}", "k".repeat(30));
    let process = ProcessInfo {
        pid: 7,
        ppid: 1,
        exe: "/usr/bin/agent".into(),
        argv: vec![
            "agent".into(),
            "--token".into(),
            "opaque-value".into(),
            key.clone(),
        ],
        start: "2026-11-21T08:18:06.040Z".into(),
    };
    let conn = phonehome_record::Conn {
        ts: "2026-11-21T08:18:06.133Z".into(),
        conn: ConnId(1),
        client: "127.0.0.1:51474".into(),
        target: Target {
            host: "api.example.test".into(),
            port: 443,
        },
        transport: Transport::Tcp,
        tls: None,
        upstream: None,
        bytes_up: 0,
        bytes_down: 0,
        opened: "2026-11-21T08:18:06.125Z".into(),
        duration_ms: 0,
        sinkhole: None,
        first_bytes: None,
        process: Some(Box::new(ConnProcess::Known(process))),
        ancestry: vec![Ancestor {
            pid: 1,
            exe: None,
            comm: Some("init".into()),
            argv: vec!["init".into(), "--token".into(), "opaque-value".into()],
            start: None,
        }],
    };
    let mut memo = RedactionMemo::new(Redactor::new());
    // The second time, the command lines come from the memo: the same answer.
    for _ in 0..2 {
        assert_conn_redacted(redact_record(Record::Conn(conn.clone()), &mut memo), &key);
    }
}

fn assert_conn_redacted(record: Record, key: &str) {
    let Record::Conn(redacted) = record else {
        panic!("a conn stays a conn");
    };
    let argv = &redacted
        .process
        .as_deref()
        .and_then(ConnProcess::known)
        .expect("known")
        .argv;
    assert_eq!(
        argv,
        &[
            "agent".to_owned(),
            "--token".into(),
            fingerprint("opaque-value"),
            fingerprint(key)
        ]
    );
    assert_eq!(
        redacted.ancestry[0].argv,
        ["init", "--token", &fingerprint("opaque-value")],
        "an ancestor's command line is redacted the same way"
    );
}
