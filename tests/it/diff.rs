//! `phonehome diff` of two real clients against the same local server, and of synthetic
//! captures whose connections name their processes.

use crate::fixtures::{h, Synth};
use crate::support::{run, Cert, Scratch, TestPki, Upstream};

#[tokio::test]
async fn curl_and_python_differ_and_a_capture_equals_itself() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let upstream =
        Upstream::start(Some(pki.server_config(Cert::Valid, &[b"h2", b"http/1.1"]))).await;
    let url = format!("https://localhost:{}/hello", upstream.port());
    let python = format!("import urllib.request; urllib.request.urlopen('{url}').read()");
    let (curl_out, python_out) = (scratch.path("curl.jsonl"), scratch.path("python.jsonl"));
    for (out, command) in [
        (&curl_out, vec!["curl", "-sS", &url]),
        (&python_out, vec!["python3", "-c", &python]),
    ] {
        let mut cmd = scratch.run_prefix(out, Some(&pki.ca_pem));
        cmd.arg("--").args(&command);
        assert_eq!(run(cmd).await.code, Some(0));
    }

    let mut cmd = scratch.phonehome();
    cmd.args(["diff", "--format", "json"])
        .arg(&curl_out)
        .arg(&python_out);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let diff: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON diff");
    let host = diff["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["host"] == "localhost")
        .expect("localhost");
    let whats: Vec<&str> = host["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["what"].as_str().expect("what"))
        .collect();
    for expected in ["HTTP version", "ALPN", "JA3", "JA4"] {
        assert!(whats.contains(&expected), "{expected} differs: {whats:?}");
    }
    let signature = &diff["signatures"][0];
    assert_eq!(signature["signature"], "GET localhost/hello");
    let changes: Vec<&str> = signature["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["what"].as_str().expect("what"))
        .collect();
    assert!(changes.contains(&"header user-agent"), "{changes:?}");
    assert!(changes.contains(&"header order"), "{changes:?}");
    let user_agent = signature["changes"]
        .as_array()
        .expect("c")
        .iter()
        .find(|c| c["what"] == "header user-agent")
        .expect("ua");
    assert!(
        user_agent["a"].as_str().expect("a").starts_with("curl/"),
        "{user_agent}"
    );
    assert!(
        user_agent["b"]
            .as_str()
            .expect("b")
            .starts_with("Python-urllib/"),
        "{user_agent}"
    );

    let mut cmd = scratch.phonehome();
    cmd.arg("diff").arg(&curl_out).arg(&curl_out);
    let ran = run(cmd).await;
    assert!(ran.stdout.ends_with("No differences.\n"), "{}", ran.stdout);
}

/// Two synthetic runs of the same script: B's `node` was replaced by `python3`, and one of its
/// connections has an owner phonehome could not find.
fn runs(scratch: &Scratch) -> (std::path::PathBuf, std::path::PathBuf) {
    let (a, b) = (scratch.path("a.jsonl"), scratch.path("b.jsonl"));
    let markers = phonehome_record::Markers::default();
    for (path, second, third) in [
        (&a, Some("/usr/bin/node"), Some("/usr/bin/node")),
        (&b, Some("/usr/bin/python3.12"), None),
    ] {
        let mut s = Synth::create(path, &["sh", "-c", "fetch"], markers.clone());
        for (i, (host, exe)) in [
            ("api.test", Some("/usr/bin/curl")),
            ("api.test", second),
            ("telemetry.test", third),
        ]
        .into_iter()
        .enumerate()
        {
            let at = i as i64 * 100;
            let url = format!("https://{host}/v1");
            s.exchange(at, "GET", &url, h(&[]), None, 200, Vec::new(), None);
            s.conn(at + 50, host, exe);
        }
        s.finish(1_000);
    }
    (a, b)
}

#[tokio::test]
async fn processes_are_compared_by_executable_and_host() {
    let scratch = Scratch::new();
    let (a, b) = runs(&scratch);
    let mut cmd = scratch.phonehome();
    cmd.args(["diff", "--format", "json"]).arg(&a).arg(&b);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let diff: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON diff");
    assert_eq!(diff["processes_only_in_a"], serde_json::json!(["node"]));
    assert_eq!(
        diff["processes_only_in_b"],
        serde_json::json!(["?", "python3.12"])
    );
    assert_eq!(diff["unattributed"], serde_json::json!([]));
    let node = &diff["processes"][2];
    assert_eq!(node["exe"], "node");
    assert_eq!(
        node["a"],
        serde_json::json!({"connections": 2, "hosts": {"api.test": 1, "telemetry.test": 1}})
    );
    assert_eq!(node["b"], serde_json::Value::Null);

    let mut cmd = scratch.phonehome();
    cmd.arg("diff").arg(&a).arg(&b);
    let ran = run(cmd).await;
    let section = ran
        .stdout
        .split("## Processes\n\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Processes section");
    insta::assert_snapshot!(section, @r"
    Connections by executable (the process that owned each client socket) and host.

    | executable | A | B |
    |---|---|---|
    | `?` | — | telemetry.test (1) |
    | `curl` | api.test (1) | api.test (1) |
    | `node` | api.test (1), telemetry.test (1) | — |
    | `python3.12` | — | api.test (1) |

    Only in A: `node`

    Only in B: `?`, `python3.12`
    ");

    let mut cmd = scratch.phonehome();
    cmd.arg("diff").arg(&a).arg(&a);
    let ran = run(cmd).await;
    assert!(ran.stdout.ends_with("No differences.\n"), "{}", ran.stdout);
}
