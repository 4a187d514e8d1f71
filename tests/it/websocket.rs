//! WebSocket upgrades pass through the proxy; messages are recorded as `ws` records.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{of_type, read_capture, Scratch, Upstream};

#[tokio::test]
async fn websocket_echo_through_the_standalone_proxy() {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("ws.jsonl");
    let mut cmd = scratch.phonehome();
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--out"])
        .arg(&out);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut proxy = cmd.spawn().expect("proxy starts");
    let mut stdout = BufReader::new(proxy.stdout.take().expect("stdout")).lines();
    let first = stdout
        .next_line()
        .await
        .expect("read")
        .expect("a first line");
    let addr = first
        .strip_prefix("# phonehome proxy listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let mut env_lines = Vec::new();
    while let Some(line) = stdout.next_line().await.expect("read") {
        env_lines.push(line);
        if env_lines
            .iter()
            .any(|l| l.starts_with("export GIT_SSL_CAINFO="))
        {
            break;
        }
    }
    assert!(
        env_lines.contains(&format!("export HTTPS_PROXY='http://{addr}'")),
        "{env_lines:?}"
    );

    // A client that tunnels through the proxy with CONNECT, as WebSocket clients do.
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect proxy");
    let target = format!("127.0.0.1:{}", upstream.port());
    tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .expect("write CONNECT");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.expect("read CONNECT response"));
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{target}/ws"), tcp)
        .await
        .expect("websocket handshake");
    ws.send(Message::text("hello over ws")).await.expect("send");
    let echo = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("echo within the hang guard")
        .expect("a message")
        .expect("ok");
    assert_eq!(echo.into_text().expect("text").as_str(), "hello over ws");
    ws.send(Message::binary(vec![0u8, 159, 146, 150]))
        .await
        .expect("send");
    let _ = ws.next().await;
    ws.close(None).await.expect("close");
    drop(ws);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(proxy.id().expect("pid")).expect("pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal");
    let output = proxy.wait_with_output().await.expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let records = read_capture(&out);
    let request = of_type(&records, "request")[0];
    assert_eq!(request["url"], format!("http://{target}/ws"));
    let ws_records = of_type(&records, "ws");
    let texts: Vec<_> = ws_records
        .iter()
        .filter(|r| r["opcode"] == "text")
        .map(|r| {
            (
                r["dir"].as_str().expect("dir"),
                r["data"].as_str().expect("data"),
            )
        })
        .collect();
    assert_eq!(
        texts,
        vec![("up", "hello over ws"), ("down", "hello over ws")]
    );
    let binary = ws_records
        .iter()
        .find(|r| r["opcode"] == "binary")
        .expect("binary message");
    assert_eq!(binary["encoding"], "base64");
    assert_eq!(binary["data"], "AJ+Slg==");
    assert!(ws_records
        .iter()
        .any(|r| r["opcode"] == "close" && r["dir"] == "up"));
    assert_eq!(records.last().expect("records")["type"], "end");
    let position = |kind: &str| records.iter().rposition(|r| r["type"] == kind).expect(kind);
    let order: Vec<_> = records
        .iter()
        .map(|r| r["type"].as_str().expect("type"))
        .collect();
    assert!(
        position("conn") > position("ws"),
        "the conn record closes the connection's records: {order:?}"
    );
}
