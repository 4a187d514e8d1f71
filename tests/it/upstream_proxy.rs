//! An upstream proxy carries every outbound connection, tunnels included.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{of_type, read_capture, run, Cert, Scratch, TestPki, Upstream};

/// A minimal CONNECT-only proxy that logs the targets it was asked for.
async fn connect_proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let Ok(byte) = client.read_u8().await else {
                        return;
                    };
                    head.push(byte);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().expect("lock").push(target.clone());
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, log)
}

#[tokio::test]
async fn upstream_proxy_option_carries_tunnels_and_plain_http() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let tls = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"http/1.1"]))).await;
    let plain = Upstream::start(None).await;
    let (proxy, log) = connect_proxy().await;
    let out = scratch.path("up.jsonl");
    let script = format!(
        "curl -sS https://localhost:{}/hello && curl -sS http://127.0.0.1:{}/hello",
        tls.port(),
        plain.port()
    );
    let mut cmd = scratch.phonehome();
    cmd.arg("run")
        .arg("--extra-ca")
        .arg(&pki.ca_pem)
        .arg("--out")
        .arg(&out);
    cmd.arg("--upstream-proxy").arg(format!("http://{proxy}"));
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let seen = log.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![
            format!("localhost:{}", tls.port()),
            format!("127.0.0.1:{}", plain.port())
        ]
    );
    let records = read_capture(&out);
    for conn in of_type(&records, "conn") {
        assert_eq!(conn["upstream"]["via"], proxy.to_string());
        assert_eq!(conn["upstream"]["addr"], proxy.to_string());
    }
    assert_eq!(of_type(&records, "response").len(), 2);
}

#[tokio::test]
async fn run_takes_the_upstream_proxy_from_its_environment_and_honours_no_proxy() {
    let scratch = Scratch::new();
    let plain = Upstream::start(None).await;
    let (proxy, log) = connect_proxy().await;
    let out = scratch.path("env.jsonl");
    let script = format!(
        "curl -sS http://127.0.0.1:{port}/hello && curl -sS http://localhost:{port}/hello",
        port = plain.port()
    );
    let mut cmd = scratch.phonehome();
    cmd.env("HTTPS_PROXY", format!("http://{proxy}"))
        .env("NO_PROXY", "localhost");
    cmd.arg("run")
        .arg("--out")
        .arg(&out)
        .args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        *log.lock().expect("lock"),
        vec![format!("127.0.0.1:{}", plain.port())]
    );
    assert_eq!(
        of_type(&read_capture(&out), "response").len(),
        2,
        "both were captured"
    );
}
