//! Credentials planted by a real client (python3 over raw sockets, through `phonehome run` and
//! a local upstream) never reach the capture, in clear or in base64: custom credential
//! headers, form bodies, userinfo in an absolute-form URL, base64 bodies, binary WebSocket
//! messages and binary bodies with text inside.

use base64::Engine as _;
use serde_json::Value;

use crate::support::{of_type, read_capture, run, Scratch, Upstream};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/redaction/client.py");
/// The secret every case derives its planted values from (`<SECRET>-h1`, …).
const SECRET: &str = "planted7Zq4WmXr";
/// A key shape (Anthropic's) that the redactor recognises anywhere.
const KEY: &str = "sk-ant-api03-PlantedKeyValue0123456789abcdef";

/// Runs the client's `case` under `phonehome run` and returns the capture's records.
async fn capture(case: &str) -> Vec<Value> {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    let port = upstream.port().to_string();
    // In the environment under names that mark nothing: on the command line they would be
    // recorded (redacted) as the command, and a credential-like name would make them known
    // secrets, redacted wherever they appear, which would hide a rule that fails.
    cmd.env("PLANTED", SECRET).env("PLANTED_SHAPE", KEY);
    cmd.args(["--", "python3", CLIENT, case, &port]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let records = read_capture(&out);
    assert_nothing_planted_is_stored(&out, &records);
    records
}

/// Neither the secret (whatever follows it) nor the key is in the file, nor in any `data`
/// decoded from base64.
fn assert_nothing_planted_is_stored(out: &std::path::Path, records: &[Value]) {
    let mut stored = std::fs::read_to_string(out).expect("capture");
    for record in records {
        for data in [&record["data"], &record["body"]["data"]] {
            let Some(data) = data.as_str() else { continue };
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
                stored.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    for planted in [SECRET, KEY] {
        assert!(!stored.contains(planted), "{planted} stored:\n{stored}");
    }
}

/// The value of header `name` in a request or response record.
fn header<'a>(record: &'a Value, name: &str) -> &'a str {
    record["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
        .unwrap_or_else(|| panic!("no {name} in {record}"))
}

fn fingerprint(value: &str) -> String {
    phonehome_record::fingerprint(value)
}

#[tokio::test]
async fn custom_credential_headers() {
    let records = capture("headers").await;
    let request = of_type(&records, "request")[0];
    for (name, suffix) in [
        ("x-my-service-key", "h1"),
        ("x-auth", "h2"),
        ("x-access-key", "h3"),
    ] {
        assert_eq!(
            header(request, name),
            fingerprint(&format!("{SECRET}-{suffix}")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn form_bodies() {
    let records = capture("form").await;
    let request = of_type(&records, "request")[0];
    assert_eq!(
        request["body"]["data"],
        format!(
            "grant_type=password&token={}&password={}&client_secret={}",
            fingerprint(&format!("{SECRET}-f1")),
            fingerprint(&format!("{SECRET}-f2")),
            fingerprint(&format!("{SECRET}-f3")),
        )
    );
}

#[tokio::test]
async fn userinfo_in_an_absolute_form_url() {
    let records = capture("userinfo").await;
    let request = of_type(&records, "request")[0];
    let url = request["url"].as_str().expect("url");
    let expected = format!(
        "http://user:{}@127.0.0.1:",
        fingerprint(&format!("{SECRET}-u1"))
    );
    assert!(url.starts_with(&expected), "{url}");
}

#[tokio::test]
async fn base64_bodies_are_stored_decoded_and_redacted() {
    let records = capture("base64").await;
    let request = of_type(&records, "request")[0];
    let body = &request["body"];
    assert_eq!(body["redaction"], "base64_text", "{body}");
    assert_eq!(body["encoding"], "utf8");
    assert_eq!(
        body["data"],
        format!(
            r#"{{"note":"{}","api_key":"{}"}}"#,
            fingerprint(KEY),
            fingerprint(&format!("{SECRET}-b1"))
        )
    );
    let response = of_type(&records, "response")[0];
    assert_eq!(response["body"]["redaction"], "base64_text", "the echo too");
}

#[tokio::test]
async fn binary_websocket_messages_and_binary_bodies() {
    let records = capture("binary").await;
    let binary: Vec<_> = of_type(&records, "ws")
        .into_iter()
        .filter(|r| r["opcode"] == "binary")
        .collect();
    assert_eq!(binary.len(), 2, "up and its echo: {records:#?}");
    let expected = format!(
        r#"{} {{"password":"{}"}}"#,
        fingerprint(KEY),
        fingerprint(&format!("{SECRET}-w1"))
    );
    for message in binary {
        assert_eq!(message["redaction"], "binary");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(message["data"].as_str().expect("data"))
            .expect("base64");
        assert_eq!(&bytes[..3], b"\x00\xff\x10");
        assert_eq!(
            String::from_utf8_lossy(&bytes[3..bytes.len() - 3]),
            expected
        );
    }
    let body = &of_type(&records, "request")
        .into_iter()
        .find(|r| r["url"].as_str().is_some_and(|u| u.ends_with("/echo")))
        .expect("the binary body")["body"];
    assert_eq!(body["redaction"], "binary", "{body}");
}

/// One run through the whole path with a credential in every position, and what must stay
/// readable stays: the session id `phonehome llm` groups calls by.
#[tokio::test]
async fn every_position_in_one_run() {
    let records = capture("all").await;
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), 8, "{records:#?}");
    let json = requests
        .iter()
        .find(|r| {
            r["body"]["data"]
                .as_str()
                .is_some_and(|d| d.contains("session_id"))
        })
        .expect("the JSON request");
    assert!(
        json["body"]["data"]
            .as_str()
            .expect("text")
            .contains(r#""session_id":"ses-visible""#),
        "{json}"
    );
    let query = requests
        .iter()
        .find(|r| r["url"].as_str().is_some_and(|u| u.contains("page=1")))
        .expect("the query request");
    assert!(
        query["url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("api_key={}", fingerprint(&format!("{SECRET}-q1")))),
        "{query}"
    );
}

/// A credential header inside a multi-line argument (`sh -c "curl -H 'X-My-Service-Key: …'"`)
/// is redacted in `capture.command` and in every process's `argv` alike, and the header
/// curl sends is redacted too: the planted value is nowhere in the capture.
#[tokio::test]
async fn credential_headers_inside_multi_line_arguments() {
    let planted = "Hq8z3Xv7Lm2Rk9WsPlant";
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    let script = format!(
        "curl -s -o /dev/null \\\n  -H 'X-My-Service-Key: {planted}' \\\n  http://127.0.0.1:{}/hello",
        upstream.port()
    );
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let stored = std::fs::read_to_string(&out).expect("capture");
    assert!(!stored.contains(planted), "{stored}");
    let records = read_capture(&out);
    let command = records[0]["command"].as_array().expect("capture.command");
    let redacted = format!("X-My-Service-Key: {}", fingerprint(planted));
    assert!(
        command[2].as_str().is_some_and(|c| c.contains(&redacted)),
        "{command:?}"
    );
    let request = of_type(&records, "request")[0];
    assert_eq!(header(request, "x-my-service-key"), fingerprint(planted));
}

/// Base64 in an argument that decodes to a credential (the base64 of JSON with a password)
/// is redacted in `capture.command` and in the `argv` of every process recorded alike (here
/// the shell, the parent of the curl that connected): neither the value nor its base64 is in
/// the file.
#[tokio::test]
async fn base64_credentials_in_arguments() {
    let planted = "Hq8z3Xv7Lm2Rk9WsB64";
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{{\"password\":\"{planted}\"}}"));
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    let url = format!("http://127.0.0.1:{}/hello", upstream.port());
    cmd.args([
        "--",
        "sh",
        "-c",
        "curl -s -o /dev/null \"$1\"",
        "sh",
        &url,
        &encoded,
    ]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let records = read_capture(&out);
    let stored = std::fs::read_to_string(&out).expect("capture");
    assert!(!stored.contains(planted), "{stored}");
    assert!(!stored.contains(&encoded), "{stored}");
    let command = records[0]["command"].as_array().expect("capture.command");
    assert_eq!(command.len(), 6, "{command:?}");
    assert_eq!(command[5], fingerprint(&encoded), "{command:?}");
    assert_eq!(of_type(&records, "request").len(), 1, "{stored}");
}
