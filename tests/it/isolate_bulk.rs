//! `run --isolate` carries bodies larger than the userspace TCP stack's segment and window
//! (a 64 KiB MTU, windows of 512 KiB) whole both ways, over HTTP/1.1 and HTTP/2, and
//! records them whole; a raw upload of many windows arrives whole, and a client that
//! half-closes still gets its answer.

use base64::Engine as _;
use serde_json::Value;

use crate::isolate::{isolated, isolated_to_host, HOST};
use crate::support::{of_type, response_of, Cert, Scratch, TestPki, Upstream};

/// 1 MiB and a little: many segments and windows, and a multiple of neither.
const BODY_BYTES: usize = (1 << 20) + 4_321;

/// Pseudo-random bytes (xorshift64), which no step on the way could shorten or mistake for text.
fn body() -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..BODY_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// The recorded body of a request or response, decoded; panics unless it is whole.
fn recorded_body(message: &Value) -> Vec<u8> {
    let body = &message["body"];
    assert_eq!(body["size"], BODY_BYTES, "{}", body["size"]);
    assert_eq!(body["truncated"], false);
    assert_eq!(body["encoding"], "base64");
    base64::engine::general_purpose::STANDARD
        .decode(body["data"].as_str().expect("data"))
        .expect("base64")
}

#[tokio::test]
async fn isolate_a_body_larger_than_the_window_arrives_whole_both_ways_and_is_recorded() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let server = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"h2", b"http/1.1"]))).await;
    let sent = body();
    let upload = scratch.path("upload.bin");
    std::fs::write(&upload, &sent).expect("write the body");
    // The client trusts phonehome's CA from the bundle laid over /etc inside the namespace.
    let script = ["http1.1", "http2"]
        .map(|version| {
            format!(
                "env -u SSL_CERT_FILE -u CURL_CA_BUNDLE curl -sS --noproxy '*' --{version} \
                 --data-binary @{up} -H 'content-type: application/octet-stream' \
                 -o {down} https://{HOST}:{port}/echo",
                up = upload.display(),
                down = scratch.path(version).display(),
                port = server.port(),
            )
        })
        .join(" && ");
    let (ran, records, refused) = isolated_to_host(&scratch, &pki, &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(refused.is_empty(), "nothing went out: {refused:?}");
    for version in ["http1.1", "http2"] {
        let received = std::fs::read(scratch.path(version)).expect("the downloaded body");
        assert!(
            received == sent,
            "{version}: the echo came back whole ({} of {BODY_BYTES} bytes)",
            received.len()
        );
    }
    let requests = of_type(&records, "request");
    let versions: Vec<&Value> = requests.iter().map(|r| &r["version"]).collect();
    assert_eq!(versions, ["HTTP/1.1", "HTTP/2"], "{versions:?}");
    for request in requests {
        assert!(
            recorded_body(request) == sent,
            "the request body recorded whole"
        );
        let response = response_of(&records, &request["flow"]);
        assert!(
            recorded_body(response) == sent,
            "the response body recorded whole"
        );
    }
    for conn in of_type(&records, "conn") {
        let down = conn["bytes_down"].as_u64().expect("bytes_down");
        let up = conn["bytes_up"].as_u64().expect("bytes_up");
        assert!(down > BODY_BYTES as u64 && up > BODY_BYTES as u64, "{conn}");
    }
}

/// 16 MiB: hundreds of the client's segments, many windows of any size the stack offers.
const UPLOAD_BYTES: u64 = 16 << 20;

/// A TCP sink on the host's 127.0.0.1: counts each connection's bytes up to the client's FIN,
/// then answers the count as a line and closes.
async fn counting_sink() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 16];
                let mut total = 0u64;
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
                let _ = stream.write_all(format!("{total}\n").as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn isolate_a_raw_upload_of_many_windows_arrives_whole_and_the_answer_after_a_half_close() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let sink = counting_sink().await;
    // Sends UPLOAD_BYTES in 1 MiB writes, half-closes (shutdown SHUT_WR), then reads the
    // sink's count on the same connection.
    let client = scratch.path("upload.py");
    std::fs::write(
        &client,
        format!(
            "import socket\n\
             s = socket.create_connection(('10.0.2.2', {port}), timeout=60)\n\
             chunk = bytes(range(256)) * 4096\n\
             for _ in range({UPLOAD_BYTES} // len(chunk)):\n    s.sendall(chunk)\n\
             s.shutdown(socket.SHUT_WR)\n\
             print(s.makefile().readline().strip())\n",
            port = sink.port()
        ),
    )
    .expect("write the client");
    let script = format!("python3 {}", client.display());
    let (ran, records, refused) = isolated(&scratch, &["--isolate-host-loopback"], &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(refused.is_empty(), "nothing went out: {refused:?}");
    assert_eq!(
        ran.stdout.trim(),
        UPLOAD_BYTES.to_string(),
        "the sink counted every byte and its answer came back after the half-close"
    );
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0]["bytes_up"], UPLOAD_BYTES, "{}", conns[0]);
}
