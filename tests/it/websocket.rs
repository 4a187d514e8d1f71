//! WebSocket upgrades pass through the proxy; messages are recorded as `ws` records.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{of_type, read_capture, Scratch, StandaloneProxy, Upstream};

#[tokio::test]
async fn websocket_echo_through_the_standalone_proxy() {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("ws.jsonl");
    let proxy = StandaloneProxy::start(&scratch, &out, &[]).await;
    let target = format!("127.0.0.1:{}", upstream.port());
    let tcp = proxy.tunnel(&target).await;
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

    proxy.stop().await;

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
