//! Malformed, truncated and oversized ClientHellos never crash the proxy: each connection is
//! recorded as an error and the proxy keeps serving.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{of_type, read_capture, Scratch, StandaloneProxy, Upstream};

/// A record header claiming a handshake of `len` bytes, then `body`.
fn record(len: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x16, 0x03, 0x01];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[tokio::test]
async fn bad_client_hellos_are_errors_not_crashes() {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let target = format!("127.0.0.1:{}", upstream.port());
    let out = scratch.path("bad-hellos.jsonl");
    let proxy = StandaloneProxy::start(&scratch, &out, &[]).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "not a ClientHello",
            record(6, &[0x02, 0x00, 0x00, 0x02, 0x03, 0x03]),
        ),
        (
            "garbage extensions",
            record(
                50,
                &[[0x01, 0x00, 0x00, 0x2e, 0x03, 0x03].as_slice(), &[0xff; 44]].concat(),
            ),
        ),
        (
            "truncated",
            record(300, &[0x01, 0x00, 0x01, 0x28, 0x03, 0x03, 1, 2, 3]),
        ),
        (
            "oversized",
            [record(16_000, &[0x01, 0x7f, 0xff, 0xff]), vec![0u8; 15_996]].concat(),
        ),
        (
            "bad record length",
            vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01],
        ),
    ];
    for (name, bytes) in &cases {
        let mut tunnel = proxy.tunnel(&target).await;
        tunnel
            .write_all(bytes)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        tunnel
            .shutdown()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut rest = Vec::new();
        let _ = tunnel.read_to_end(&mut rest).await;
    }
    // Still serving: a plain request through a new tunnel.
    let mut tunnel = proxy.tunnel(&target).await;
    tunnel
        .write_all(
            format!("GET /hello HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("write");
    let mut response = String::new();
    tunnel.read_to_string(&mut response).await.expect("read");
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with(r#"{"hello":"world"}"#),
        "{response}"
    );
    proxy.stop().await;

    let records = read_capture(&out);
    let errors = of_type(&records, "error");
    let tls_errors: Vec<&str> = errors
        .iter()
        .filter(|e| e["phase"] == "tls_client")
        .map(|e| e["message"].as_str().expect("message"))
        .collect();
    assert_eq!(
        tls_errors.len(),
        cases.len(),
        "one error per bad ClientHello: {tls_errors:#?}"
    );
    assert!(
        tls_errors.iter().any(|m| m.contains("larger than")),
        "{tls_errors:?}"
    );
    assert!(
        tls_errors.iter().any(|m| m.contains("closed before")),
        "{tls_errors:?}"
    );
    assert!(
        tls_errors.iter().any(|m| m.contains("malformed")),
        "{tls_errors:?}"
    );
}
