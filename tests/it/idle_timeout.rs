//! `--idle-timeout`: an upstream response that sends nothing for that long is ended and
//! recorded as a `timeout`, with the bytes that came before.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{of_type, read_capture, response_of, run, Scratch};

/// A plain HTTP server that stalls: `/body` gets a head and 5 of 10 body bytes, `/head` gets
/// nothing; both connections are then held open, silent, until the client goes away.
async fn stalling_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let Ok(byte) = socket.read_u8().await else {
                        return;
                    };
                    head.push(byte);
                }
                if head.starts_with(b"GET /body ") {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npart-")
                        .await;
                }
                let mut rest = [0u8; 64];
                while matches!(socket.read(&mut rest).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_stalled_response_is_ended_and_recorded_as_a_timeout() {
    let scratch = Scratch::new();
    let addr = stalling_server().await;
    let out = scratch.path("idle.jsonl");
    let script = format!("curl -sS http://{addr}/body; curl -sS http://{addr}/head; true");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--idle-timeout", "1", "-q", "--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.starts_with("part-"), "{}", ran.stdout);
    let records = read_capture(&out);
    let errors = of_type(&records, "error");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors.iter().all(|e| e["phase"] == "timeout"),
        "{errors:#?}"
    );
    let body_error = errors[0]["message"].as_str().expect("message");
    assert!(
        body_error.contains("sent no byte for 1 s (--idle-timeout)")
            && body_error.contains("after 5 bytes"),
        "{body_error}"
    );
    let response = response_of(&records, &errors[0]["flow"]);
    assert_eq!(response["status"], 200);
    assert_eq!(response["body"]["data"], "part-");
    assert_eq!(response["body"]["truncated"], true);
    let head_error = errors[1]["message"].as_str().expect("message");
    assert!(
        head_error.contains("no response head for 1 s"),
        "{head_error}"
    );
    assert!(
        records
            .iter()
            .all(|r| r["type"] != "response" || r["flow"] != errors[1]["flow"]),
        "the stalled head has no response record"
    );
}
