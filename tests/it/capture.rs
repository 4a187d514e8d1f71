//! Requests through `phonehome run` land in the capture with their responses.

use serde_json::Value;

use crate::support::{of_type, read_capture, response_of, run, Cert, Scratch, TestPki, Upstream};

async fn tls_upstream(scratch: &Scratch) -> (TestPki, Upstream) {
    let pki = TestPki::new(scratch.dir.path());
    let config = pki.server_config(Cert::Valid, &[b"h2", b"http/1.1"]);
    (pki, Upstream::start(Some(config)).await)
}

/// The single request and its response in a capture.
fn exchange(records: &[Value]) -> (&Value, &Value) {
    let requests = of_type(records, "request");
    assert_eq!(requests.len(), 1, "one request: {records:#?}");
    (requests[0], response_of(records, &requests[0]["flow"]))
}

#[tokio::test]
async fn curl_https_http1() {
    let scratch = Scratch::new();
    let (pki, upstream) = tls_upstream(&scratch).await;
    let out = scratch.path("cap.jsonl");
    let url = format!("https://localhost:{}/hello", upstream.port());
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args(["--", "curl", "-sS", "--http1.1", &url]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, r#"{"hello":"world"}"#);

    let records = read_capture(&out);
    assert_eq!(records[0]["type"], "capture");
    assert_eq!(records[0]["format"], "phonehome/1");
    assert_eq!(records.last().expect("records")["type"], "end");
    assert_eq!(records.last().expect("records")["exit_code"], 0);
    let (request, response) = exchange(&records);
    assert_eq!(request["method"], "GET");
    assert_eq!(request["url"], url);
    assert_eq!(request["version"], "HTTP/1.1");
    assert_eq!(response["status"], 200);
    assert_eq!(response["body"]["data"], r#"{"hello":"world"}"#);
    assert_eq!(response["body"]["truncated"], false);
    let conn = of_type(&records, "conn")[0];
    assert_eq!(conn["transport"], "tls-intercept");
    assert_eq!(conn["tls"]["sni"], "localhost");
    assert_eq!(conn["tls"]["alpn"], "http/1.1");
    assert_eq!(conn["target"]["port"], upstream.port());
    assert!(conn["bytes_up"].as_u64() > Some(0) && conn["bytes_down"].as_u64() > Some(0));
    assert!(
        ran.stderr.contains("localhost"),
        "summary names the host: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(&out.display().to_string()),
        "summary names the capture"
    );
}

#[tokio::test]
async fn curl_https_http2() {
    let scratch = Scratch::new();
    let (pki, upstream) = tls_upstream(&scratch).await;
    let out = scratch.path("cap.jsonl");
    let url = format!("https://localhost:{}/echo", upstream.port());
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args(["--", "curl", "-sS", "--http2", "-d", "ping=1", &url]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "ping=1");

    let records = read_capture(&out);
    let (request, response) = exchange(&records);
    assert_eq!(request["version"], "HTTP/2");
    assert_eq!(request["method"], "POST");
    assert_eq!(request["body"]["data"], "ping=1");
    assert_eq!(response["version"], "HTTP/2");
    assert_eq!(response["body"]["data"], "ping=1");
    let conn = of_type(&records, "conn")[0];
    assert_eq!(conn["tls"]["alpn"], "h2");
    assert_eq!(conn["upstream"]["alpn"], "h2");
}

#[tokio::test]
async fn upstream_without_h2_gets_the_client_http1() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let upstream = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"http/1.1"]))).await;
    let out = scratch.path("cap.jsonl");
    let url = format!("https://localhost:{}/hello", upstream.port());
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args(["--", "curl", "-sS", "--http2", &url]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let records = read_capture(&out);
    let conn = of_type(&records, "conn")[0];
    assert_eq!(
        conn["tls"]["alpn_offered"],
        serde_json::json!(["h2", "http/1.1"])
    );
    assert_eq!(
        conn["tls"]["alpn"], "http/1.1",
        "only what the upstream accepted"
    );
}

#[tokio::test]
async fn python_urllib_https() {
    let scratch = Scratch::new();
    let (pki, upstream) = tls_upstream(&scratch).await;
    let out = scratch.path("cap.jsonl");
    let url = format!("https://localhost:{}/hello", upstream.port());
    let script =
        format!("import urllib.request; print(urllib.request.urlopen('{url}').read().decode())");
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args(["--", "python3", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), r#"{"hello":"world"}"#);
    let records = read_capture(&out);
    let (request, response) = exchange(&records);
    assert_eq!(request["url"], url);
    let agent = request["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .find(|h| h[0] == "user-agent")
        .expect("user-agent");
    assert!(agent[1].as_str().expect("str").starts_with("Python-urllib"));
    assert_eq!(response["status"], 200);
}

#[tokio::test]
async fn plain_http_absolute_form() {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("cap.jsonl");
    let url = format!("http://127.0.0.1:{}/gzip", upstream.port());
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "curl", "-sS", "--compressed", &url]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, r#"{"compressed":true}"#);
    let records = read_capture(&out);
    let (request, response) = exchange(&records);
    assert_eq!(request["url"], url);
    assert_eq!(
        response["body"]["data"], r#"{"compressed":true}"#,
        "stored decoded"
    );
    assert_eq!(response["body"]["decoded_from"], "gzip");
    let conn = of_type(&records, "conn")[0];
    assert_eq!(conn["transport"], "http");
}

#[tokio::test]
async fn planted_credentials_never_reach_the_capture() {
    let scratch = Scratch::new();
    let (pki, upstream) = tls_upstream(&scratch).await;
    let out = scratch.path("cap.jsonl");
    let bearer = "test-bearer-credential-0123456789";
    let api_key = "test-api-key-credential-9876543210";
    let query_key = "AIzaTestQueryKeyValue0123456789abcdefgh";
    let body_key = "sk-ant-api03-TestBodyKeyValue0123456789";
    let base = format!("https://localhost:{}", upstream.port());
    let script = format!(
        "curl -sS {base}/echo -H 'Authorization: Bearer {bearer}' -H 'x-api-key: {api_key}' \
           -d '{{\"note\":\"{body_key}\"}}' && \
         curl -sS '{base}/echo?key={query_key}&alt=sse' -H 'Authorization: Bearer {bearer}' \
           -H 'x-api-key: {bearer}'"
    );
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let text = std::fs::read_to_string(&out).expect("capture");
    for secret in [bearer, api_key, query_key, body_key] {
        assert!(!text.contains(secret), "{secret} leaked into the capture");
    }
    let records = read_capture(&out);
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), 2);
    let header = |request: &Value, name: &str| -> String {
        request["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .find(|h| h[0] == name)
            .map(|h| h[1].as_str().expect("str").to_owned())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let first_auth = header(requests[0], "authorization");
    assert!(first_auth.starts_with("Bearer [REDACTED:"), "{first_auth}");
    assert_eq!(
        first_auth,
        header(requests[1], "authorization"),
        "equal secrets, equal fingerprints"
    );
    assert_eq!(
        header(requests[1], "x-api-key"),
        first_auth.trim_start_matches("Bearer "),
        "the same credential in another header has the same fingerprint"
    );
    assert_ne!(
        header(requests[0], "x-api-key"),
        header(requests[1], "x-api-key")
    );
    let url = requests[1]["url"].as_str().expect("url");
    assert!(
        url.contains("key=[REDACTED:") && url.ends_with("&alt=sse"),
        "{url}"
    );
    assert!(requests[0]["body"]["data"]
        .as_str()
        .expect("body")
        .contains("[REDACTED:"));
    // The upstream still got the real values: redaction is for the record only.
    let response = response_of(&records, &requests[0]["flow"]);
    assert!(response["body"]["data"]
        .as_str()
        .expect("echo")
        .contains("[REDACTED:"));
}

#[tokio::test]
async fn bodies_beyond_max_body_are_truncated_but_forwarded_whole() {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("cap.jsonl");
    let url = format!("http://127.0.0.1:{}/echo", upstream.port());
    let payload = "0123456789".repeat(10);
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--max-body", "16"]);
    cmd.args(["--", "curl", "-sS", "-d", &payload, &url]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, payload, "the client got every byte");
    let records = read_capture(&out);
    let (request, response) = exchange(&records);
    for body in [&request["body"], &response["body"]] {
        assert_eq!(body["size"], 100);
        assert_eq!(body["data"], "0123456789012345");
        assert_eq!(body["truncated"], true);
    }
}

/// A binary body of several MiB over HTTP/2 both ways: forwarded whole, stored as base64 of its
/// first `--max-body` bytes, `truncated` because of `--max-body` (no `dropped_bytes`: the
/// recorder kept up).
#[tokio::test]
async fn a_large_http2_body_is_forwarded_whole_and_stored_up_to_max_body() {
    use base64::Engine as _;
    const MAX_BODY: usize = 1 << 20;
    let scratch = Scratch::new();
    let (pki, upstream) = tls_upstream(&scratch).await;
    let out = scratch.path("cap.jsonl");
    let sent = scratch.path("payload.bin");
    let got = scratch.path("echoed.bin");
    // 3 MiB + 1 of every byte value (NUL included: stored as base64), not a multiple of 3.
    let payload: Vec<u8> = (0..3 * MAX_BODY + 1)
        .map(|i| (i * 31 + i / 977) as u8)
        .collect();
    std::fs::write(&sent, &payload).expect("payload");
    let url = format!("https://localhost:{}/echo", upstream.port());
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args([
        "--max-body",
        &MAX_BODY.to_string(),
        "--",
        "curl",
        "-sS",
        "--http2",
    ]);
    cmd.arg("--data-binary").arg(format!("@{}", sent.display()));
    cmd.arg("-o").arg(&got).arg(&url);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        std::fs::read(&got).expect("echoed") == payload,
        "the client got every byte"
    );

    let records = read_capture(&out);
    let (request, response) = exchange(&records);
    assert_eq!(request["version"], "HTTP/2");
    assert_eq!(response["version"], "HTTP/2");
    for body in [&request["body"], &response["body"]] {
        assert_eq!(body["size"], payload.len());
        assert_eq!(body["encoding"], "base64");
        assert_eq!(body["truncated"], true);
        assert!(
            body.get("dropped_bytes").is_none(),
            "cut by --max-body only: {}",
            body["dropped_bytes"]
        );
        let data = body["data"].as_str().expect("data");
        let stored = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64");
        assert!(
            stored == payload[..MAX_BODY],
            "the first --max-body bytes, in order"
        );
    }
}

#[tokio::test]
async fn no_redact_warns_and_keeps_credentials() {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("cap.jsonl");
    let url = format!("http://127.0.0.1:{}/hello", upstream.port());
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.arg("--no-redact");
    cmd.args([
        "--",
        "curl",
        "-sS",
        "-H",
        "Authorization: Bearer visible-on-purpose-123",
        &url,
    ]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("--no-redact"), "{}", ran.stderr);
    assert!(std::fs::read_to_string(&out)
        .expect("capture")
        .contains("Bearer visible-on-purpose-123"));
}

/// JA4 as the spec shapes it: `t` + version + `d`/`i` + two counts + ALPN, then two hashes.
fn is_ja4(ja4: &str) -> bool {
    let parts: Vec<&str> = ja4.split('_').collect();
    parts.len() == 3
        && parts[0].len() == 10
        && parts[0].starts_with('t')
        && parts[1..]
            .iter()
            .all(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn real_clients_get_ja3_and_ja4_fingerprints() {
    let scratch = Scratch::new();
    let (pki, upstream) = tls_upstream(&scratch).await;
    let url = format!("https://localhost:{}/hello", upstream.port());
    let python = format!("import urllib.request; urllib.request.urlopen('{url}').read()");
    let mut prints = Vec::new();
    for (name, command) in [
        ("curl-1", vec!["curl", "-sS", &url]),
        ("curl-2", vec!["curl", "-sS", &url]),
        ("python", vec!["python3", "-c", &python]),
    ] {
        let out = scratch.path(&format!("{name}.jsonl"));
        let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
        cmd.arg("--").args(&command);
        let ran = run(cmd).await;
        assert_eq!(ran.code, Some(0), "{name}: {}", ran.stderr);
        let records = read_capture(&out);
        let conn = of_type(&records, "conn")[0].clone();
        let upstream_ja4 = conn["upstream"]["ja4"]
            .as_str()
            .expect("phonehome's own JA4 upstream");
        assert!(is_ja4(upstream_ja4), "{upstream_ja4}");
        let tls = conn["tls"].clone();
        assert_ne!(
            tls["ja4"].as_str(),
            Some(upstream_ja4),
            "phonehome presents its own ClientHello upstream"
        );
        let ja4 = tls["ja4"].as_str().expect("ja4").to_owned();
        assert!(is_ja4(&ja4), "{name}: {ja4}");
        assert!(ja4.starts_with("t13d"), "TLS 1.3 with SNI: {ja4}");
        let ja3 = tls["ja3"].as_str().expect("ja3");
        assert!(
            ja3.len() == 32 && ja3.bytes().all(|b| b.is_ascii_hexdigit()),
            "{ja3}"
        );
        let ja4_r = tls["ja4_r"].as_str().expect("ja4_r");
        assert!(ja4_r.starts_with(&ja4[..10]), "{ja4_r}");
        assert!(tls["ja3_text"]
            .as_str()
            .expect("ja3_text")
            .starts_with("771,"));
        prints.push(ja4);
    }
    assert_eq!(prints[0], prints[1], "the same client, the same JA4");
    assert_ne!(
        prints[0], prints[2],
        "curl and python present different ClientHellos"
    );
}

#[tokio::test]
async fn header_names_are_recorded_as_sent() {
    let scratch = Scratch::new();
    let (pki, tls) = tls_upstream(&scratch).await;
    let plain = Upstream::start(None).await;
    let out = scratch.path("raw.jsonl");
    let script = format!(
        "curl -sS --http1.1 -H 'X-Trace: 1' -H 'x-trace: 2' -d body https://localhost:{tls}/echo >/dev/null; \
         curl -sS --http2 https://localhost:{tls}/hello >/dev/null; \
         curl -sS -H 'ACCEPT-LANGUAGE: en' http://127.0.0.1:{plain}/hello >/dev/null",
        tls = tls.port(),
        plain = plain.port()
    );
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let records = read_capture(&out);
    let names: Vec<Vec<String>> = of_type(&records, "request")
        .iter()
        .map(|r| {
            r["raw_header_names"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|n| n.as_str().expect("name").to_owned())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        names[0],
        [
            "Host",
            "User-Agent",
            "Accept",
            "X-Trace",
            "x-trace",
            "Content-Length",
            "Content-Type"
        ],
        "case, order and duplicates as sent"
    );
    assert_eq!(
        names[1],
        [
            ":method",
            ":path",
            ":scheme",
            ":authority",
            "user-agent",
            "accept"
        ],
        "HTTP/2: curl's pseudo-header order, from its HPACK-encoded HEADERS frame"
    );
    assert_eq!(
        names[2],
        [
            "Host",
            "User-Agent",
            "Accept",
            "Proxy-Connection",
            "ACCEPT-LANGUAGE"
        ]
    );
}
