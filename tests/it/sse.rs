//! Server-sent events are forwarded as they arrive, never held back for recording.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{of_type, read_capture, response_of, Cert, Scratch, TestPki, Upstream};

/// The upstream sends its last event only after the client has seen the first one, so a proxy
/// that buffered the stream would never let this test finish (the hang guard fails it).
#[tokio::test]
async fn client_sees_the_first_event_before_the_upstream_sends_the_last() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    for alpn in ["--http1.1", "--http2"] {
        let upstream =
            Upstream::start(Some(pki.server_config(Cert::Valid, &[b"h2", b"http/1.1"]))).await;
        let out = scratch.path(&format!("sse{alpn}.jsonl"));
        let url = format!("https://localhost:{}/sse", upstream.port());
        let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
        cmd.args(["--", "curl", "-sSN", alpn, &url]);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("phonehome starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();

        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the first event arrived while the upstream still held the last one")
            .expect("read");
        assert_eq!(first.as_deref(), Some("data: first"));
        upstream.release.notify_one();
        let mut rest = Vec::new();
        while let Some(line) = lines.next_line().await.expect("read") {
            rest.push(line);
        }
        assert!(rest.contains(&"data: last".to_owned()), "{rest:?}");
        let status = child.wait().await.expect("wait");
        assert!(status.success());

        let records = read_capture(&out);
        let request = of_type(&records, "request")[0];
        let response = response_of(&records, &request["flow"]);
        assert_eq!(response["body"]["data"], "data: first\n\ndata: last\n\n");
        assert!(response["duration_ms"].as_u64() >= response["ttfb_ms"].as_u64());
        // Time to the first event, within the response.
        let first = response["first_byte_ms"].as_u64().expect("first_byte_ms");
        assert!(first >= response["ttfb_ms"].as_u64().expect("ttfb"));
        assert!(first <= response["duration_ms"].as_u64().expect("duration"));
    }
}
