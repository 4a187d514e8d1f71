//! Client mistakes on the proxy port leave a trace: an `error` record (phase `client_http`)
//! and an answer, and the connection is closed. The libraries' own log lines about them reach
//! stderr through phonehome's formatting: plain text, each once, repeats counted.

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{of_type, read_capture, Cert, Scratch, StandaloneProxy, TestPki, Upstream};

/// The HTTP/2 client that resets its streams (python3's h2 package).
const H2_RESETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/h2_resets.py");

/// The `client_http` error records of a capture.
fn client_errors(records: &[Value]) -> Vec<&Value> {
    of_type(records, "error")
        .into_iter()
        .filter(|e| e["phase"] == "client_http")
        .collect()
}

/// Sends `head` on a new connection to the proxy; returns everything it answered before
/// closing the connection (the read ends: the proxy closed it).
async fn answer_to(proxy: &StandaloneProxy, head: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(&proxy.addr)
        .await
        .expect("connect proxy");
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tcp.read_to_end(&mut answer),
    )
    .await
    .expect("the proxy closed the connection within the hang guard")
    .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_connect_to_an_invalid_port_or_no_host_is_a_recorded_400_and_closed() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let proxy = StandaloneProxy::start(&scratch, &out, &[]).await;
    for (target, why) in [
        ("127.0.0.1:65536", "port \"65536\""),
        ("127.0.0.1:0", "port \"0\""),
        ("localhost", "no port"),
    ] {
        let answer = answer_to(
            &proxy,
            &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        assert!(answer.contains(why), "{target}: {answer}");
    }
    proxy.stop().await;
    let records = read_capture(&out);
    let errors = of_type(&records, "error");
    for port in ["65536", ":0", "localhost"] {
        assert!(
            errors.iter().any(|e| e["phase"] == "client_http"
                && e["message"].as_str().is_some_and(|m| m.contains(port))),
            "an error record for {port}: {errors:#?}"
        );
    }
    assert!(
        !errors
            .iter()
            .any(|e| e["phase"] == "dns" || e["target"]["port"] == 443),
        "nothing was looked up or dialled: {errors:#?}"
    );
}

#[tokio::test]
async fn an_oversized_head_and_garbage_are_answered_and_recorded_as_client_errors() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let proxy = StandaloneProxy::start(&scratch, &out, &[]).await;
    let huge = format!(
        "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-Big: {}\r\n\r\n",
        "b".repeat(1024 * 1024)
    );
    let answer = answer_to(&proxy, &huge).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let answer = answer_to(&proxy, "this is not HTTP at all\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let stderr = proxy.stop().await;
    let records = read_capture(&out);
    let errors: Vec<_> = of_type(&records, "error")
        .into_iter()
        .filter(|e| e["phase"] == "client_http")
        .collect();
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("over hyper's limit") && m.contains("431"))),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("malformed request") && m.contains("400"))),
        "{errors:#?}"
    );
    let end = records.last().expect("records");
    assert_eq!(end["counts"]["errors"].as_u64(), Some(errors.len() as u64));
    assert!(
        stderr.contains("2 errors"),
        "counted in the summary: {stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "no colour codes off a terminal: {stderr}"
    );
}

#[tokio::test]
async fn a_head_sent_too_slowly_is_answered_408_and_recorded_with_the_limit() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    // The test-only setting (src/capture.rs) shortens the 30 s a client has for its head.
    let proxy = StandaloneProxy::start_with(
        &scratch,
        &out,
        &[],
        &[("PHONEHOME_TEST_HEAD_TIMEOUT_MS", "300")],
    )
    .await;
    for _ in 0..3 {
        // A slowloris client: part of a head, then nothing.
        let answer = answer_to(
            &proxy,
            "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-Slow: 1",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
    let stderr = proxy.stop().await;
    let records = read_capture(&out);
    let errors = client_errors(&records);
    assert_eq!(
        errors
            .iter()
            .filter(|e| e["message"].as_str().is_some_and(|m| m
                .contains("the request head did not arrive within 300 ms")
                && m.contains("408")))
            .count(),
        3,
        "{errors:#?}"
    );
    assert!(
        stderr.contains("3 errors"),
        "counted in the summary: {stderr}"
    );
}

/// A python3 with the h2 package (Debian's python3-h2, which scripts/setup-tests installs),
/// or `None` with the reason printed.
fn python_with_h2() -> Option<&'static str> {
    let found = ["python3", "/usr/bin/python3"].into_iter().find(|python| {
        std::process::Command::new(python)
            .args(["-c", "import h2"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        eprintln!(
            "skipped: no python3 with the h2 package (scripts/setup-tests installs python3-h2)"
        );
    }
    found
}

#[tokio::test]
async fn http2_streams_the_client_resets_are_recorded_and_h2s_log_line_said_once() {
    let Some(python) = python_with_h2() else {
        return;
    };
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let upstream =
        Upstream::start(Some(pki.server_config(Cert::Valid, &[b"h2", b"http/1.1"]))).await;
    let out = scratch.path("cap.jsonl");
    let extra_ca = pki.ca_pem.display().to_string();
    let proxy = StandaloneProxy::start(&scratch, &out, &["--extra-ca", &extra_ca]).await;
    let client = tokio::process::Command::new(python)
        .arg(H2_RESETS)
        .arg(&proxy.addr)
        .arg(upstream.port().to_string())
        .arg(scratch.path("ca").join("ca.pem"))
        .kill_on_drop(true)
        .output();
    let ran = tokio::time::timeout(std::time::Duration::from_secs(120), client)
        .await
        .expect("the client ended within the hang guard")
        .expect("python3 runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(ran.status.success(), "{said}");
    upstream.release.notify_waiters();
    let stderr = proxy.stop().await;

    let records = read_capture(&out);
    let requests = of_type(&records, "request");
    let held = requests
        .iter()
        .filter(|r| r["url"].as_str().is_some_and(|u| u.ends_with("/hold")))
        .count();
    assert!(held >= 5, "the held requests were recorded: {said}");
    // Every request has its end: a response, or the error that ended it.
    for request in &requests {
        let flow = &request["flow"];
        let ended = records
            .iter()
            .any(|r| (r["type"] == "response" || r["type"] == "error") && r["flow"] == *flow);
        assert!(
            ended,
            "request {flow} has neither response nor error: {request}"
        );
    }
    let errors = client_errors(&records);
    let cancelled = errors
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("cancelled"))
        })
        .count();
    assert!(cancelled >= 5, "the resets are recorded: {errors:#?}");
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("HTTP/2"))),
        "the flood's connection errors are recorded: {errors:#?}"
    );
    // h2's warning, once per flooded connection, said once and the repeats counted.
    assert_eq!(
        stderr.matches("streams reached limit").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("repeated library log lines were not printed again"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "no colour codes off a terminal: {stderr}"
    );
}
