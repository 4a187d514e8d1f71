use phonehome_record::{Ancestor, ConnId, ConnProcess, ProcessInfo, Target, Transport};

use super::*;

fn conn(host: &str, process: Option<ConnProcess>) -> Conn {
    Conn {
        ts: "2026-01-01T00:00:00.000Z".into(),
        conn: ConnId(1),
        client: "127.0.0.1:40000".into(),
        target: Target {
            host: host.into(),
            port: 443,
        },
        transport: Transport::TlsIntercept,
        tls: None,
        upstream: None,
        bytes_up: 0,
        bytes_down: 0,
        opened: "2026-01-01T00:00:00.000Z".into(),
        duration_ms: 0,
        sinkhole: None,
        first_bytes: None,
        process: process.map(Box::new),
        ancestry: vec![Ancestor {
            pid: 1,
            exe: None,
            comm: Some("init".into()),
            argv: Vec::new(),
            start: None,
        }],
    }
}

fn known(exe: &str) -> Option<ConnProcess> {
    Some(ConnProcess::Known(ProcessInfo {
        pid: 10,
        ppid: 1,
        exe: exe.into(),
        argv: vec![exe.into()],
        start: "2026-01-01T00:00:00.000Z".into(),
    }))
}

fn processes(conns: &[(&str, Option<ConnProcess>)]) -> Processes {
    let mut p = Processes::default();
    for (host, process) in conns {
        p.conn(&conn(host, process.clone()));
    }
    p
}

#[test]
fn connections_count_by_executable_name_and_host() {
    let p = processes(&[
        ("api.test", known("/usr/bin/curl")),
        ("api.test", known("/usr/local/bin/curl")),
        ("cdn.test", known("/usr/lib/node (deleted)")),
        ("x.test", Some(ConnProcess::unknown("not Linux"))),
        ("y.test", None),
    ]);
    let curl = &p.by_exe["curl"];
    assert_eq!(curl.connections, 2);
    assert_eq!(curl.hosts["api.test"], 2);
    assert_eq!(p.by_exe["node"].hosts["cdn.test"], 1);
    assert_eq!(p.by_exe[UNKNOWN].connections, 1);
    assert_eq!(p.by_exe.len(), 3, "a conn naming no process is not counted");
}

#[test]
fn equal_inputs_compare_empty() {
    let a = processes(&[("api.test", known("/usr/bin/curl"))]);
    let b = processes(&[("api.test", known("/bin/curl"))]);
    assert_eq!(compare(&a, &b), Compared::default());
}

#[test]
fn executables_of_one_side_and_changed_hosts_are_listed() {
    let a = processes(&[
        ("api.test", known("/usr/bin/curl")),
        ("api.test", known("/usr/bin/node")),
    ]);
    let b = processes(&[
        ("api.test", known("/usr/bin/node")),
        ("telemetry.test", known("/usr/bin/node")),
        ("api.test", known("/usr/bin/python3")),
    ]);
    let c = compare(&a, &b);
    assert_eq!(c.only_in_a, ["curl"]);
    assert_eq!(c.only_in_b, ["python3"]);
    let names: Vec<&str> = c.executables.iter().map(|e| e.exe.as_str()).collect();
    assert_eq!(names, ["curl", "node", "python3"]);
    let node = &c.executables[1];
    assert_eq!(hosts_text(node.a.as_ref()), "api.test (1)");
    assert_eq!(
        hosts_text(node.b.as_ref()),
        "api.test (1), telemetry.test (1)"
    );
    assert_eq!(hosts_text(c.executables[0].b.as_ref()), "—");
    assert!(c.unattributed.is_empty());
}

#[test]
fn an_input_without_attribution_is_named_not_counted_as_missing_everything() {
    let a = processes(&[("api.test", None)]);
    let b = processes(&[("api.test", known("/usr/bin/curl"))]);
    let c = compare(&a, &b);
    assert_eq!(c.unattributed, ["A"]);
    assert!(c.only_in_b.is_empty());
    assert_eq!(c.executables.len(), 1);
}
