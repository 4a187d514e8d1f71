//! Upstream failures reach the client as errors and the capture as `error` records.

use crate::support::{of_type, read_capture, run, Cert, Scratch, TestPki, Upstream};

#[tokio::test]
async fn certificates_the_client_would_reject_are_rejected() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    for (cert, why) in [
        (Cert::SelfSigned, "not trusted (self-signed)"),
        (Cert::WrongHost, "is for other names"),
        (Cert::Expired, "Expired"),
    ] {
        let upstream = Upstream::start(Some(pki.server_config(cert, &[b"http/1.1"]))).await;
        let out = scratch.path(&format!("bad-{why}.jsonl"));
        let url = format!("https://localhost:{}/hello", upstream.port());
        let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
        cmd.args(["--", "curl", "-sS", &url]);
        let ran = run(cmd).await;
        assert_ne!(ran.code, Some(0), "curl must fail for {why}");
        assert!(
            !ran.stdout.contains("hello"),
            "no response body reached the client"
        );
        let records = read_capture(&out);
        let errors = of_type(&records, "error");
        assert_eq!(errors.len(), 1, "{records:#?}");
        assert_eq!(errors[0]["phase"], "tls_upstream");
        assert_eq!(errors[0]["target"]["host"], "localhost");
        let message = errors[0]["message"].as_str().expect("message");
        assert!(
            message.to_lowercase().contains(&why.to_lowercase()),
            "{why} in {message}"
        );
        assert!(of_type(&records, "request").is_empty());
    }
}

#[tokio::test]
async fn extra_ca_makes_a_private_upstream_work() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let upstream = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"http/1.1"]))).await;
    let url = format!("https://127.0.0.1:{}/hello", upstream.port());
    let without = scratch.path("without.jsonl");
    let mut cmd = scratch.run_prefix(&without, None);
    cmd.args(["--", "curl", "-sS", &url]);
    let ran = run(cmd).await;
    assert_ne!(ran.code, Some(0));
    assert_eq!(
        of_type(&read_capture(&without), "error")[0]["phase"],
        "tls_upstream"
    );

    let with = scratch.path("with.jsonl");
    let mut cmd = scratch.run_prefix(&with, Some(&pki.ca_pem));
    cmd.args(["--", "curl", "-sS", &url]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(of_type(&read_capture(&with), "error").is_empty());
}

#[tokio::test]
async fn unresolvable_host_is_a_dns_error_naming_the_host() {
    let scratch = Scratch::new();
    let out = scratch.path("dns.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args([
        "--",
        "sh",
        "-c",
        "curl -sS https://telemetry.phonehome-test.invalid/v1/e; \
                                curl -sS http://plain.phonehome-test.invalid/x",
    ]);
    let ran = run(cmd).await;
    assert!(
        ran.stdout.contains("plain.phonehome-test.invalid"),
        "the 502 body names the host"
    );
    assert!(
        ran.stdout.contains("(dns)"),
        "the 502 body names the phase: {}",
        ran.stdout
    );
    let records = read_capture(&out);
    let errors = of_type(&records, "error");
    let hosts: Vec<_> = errors
        .iter()
        .map(|e| e["target"]["host"].as_str().expect("host"))
        .collect();
    assert_eq!(
        hosts,
        vec![
            "telemetry.phonehome-test.invalid",
            "plain.phonehome-test.invalid"
        ]
    );
    assert!(errors.iter().all(|e| e["phase"] == "dns"));
    assert!(
        ran.stderr
            .contains("telemetry.phonehome-test.invalid:443 dns"),
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let scratch = Scratch::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let out = scratch.path("refused.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "curl", "-sS", &format!("https://127.0.0.1:{port}/")]);
    let ran = run(cmd).await;
    assert_ne!(ran.code, Some(0));
    let records = read_capture(&out);
    assert_eq!(of_type(&records, "error")[0]["phase"], "connect");
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_a_timeout() {
    let scratch = Scratch::new();
    // An upstream proxy that accepts and then says nothing: the CONNECT through it never ends.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let out = scratch.path("timeout.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--connect-timeout", "1"]);
    cmd.arg("--upstream-proxy").arg(format!("http://{addr}"));
    cmd.args(["--", "curl", "-sS", "https://slow.phonehome-test.invalid/"]);
    let ran = run(cmd).await;
    assert_ne!(ran.code, Some(0));
    let records = read_capture(&out);
    let error = of_type(&records, "error")[0];
    assert_eq!(error["phase"], "timeout");
    assert_eq!(error["target"]["host"], "slow.phonehome-test.invalid");
}
