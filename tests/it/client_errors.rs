//! Client mistakes on the proxy port leave a trace: an `error` record (phase `client_http`)
//! and an answer, and the connection is closed.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{of_type, read_capture, Scratch, StandaloneProxy};

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
