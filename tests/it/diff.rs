//! `phonehome diff` of two real clients against the same local server.

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
