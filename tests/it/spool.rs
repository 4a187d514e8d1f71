//! Large bodies spooled to a nameless file (`--spool-dir`): stored as before, forwarded whole,
//! no file left behind (also when phonehome is killed), a directory that cannot take a spool
//! file refused at start.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;

use crate::support::{of_type, read_capture, response_of, run, Cert, Scratch, TestPki, Upstream};

/// Bytes of a body kept in memory before the proxy spools it (`SPOOL_AFTER`).
const SPOOL_AFTER: usize = 1 << 20;

async fn tls_upstream(scratch: &Scratch) -> (TestPki, Upstream) {
    let pki = TestPki::new(scratch.dir.path());
    let config = pki.server_config(Cert::Valid, &[b"http/1.1"]);
    (pki, Upstream::start(Some(config)).await)
}

/// The single request and its response in a capture.
fn exchange(records: &[Value]) -> (&Value, &Value) {
    let requests = of_type(records, "request");
    assert_eq!(requests.len(), 1, "one request: {records:#?}");
    (requests[0], response_of(records, &requests[0]["flow"]))
}

/// The names in `dir`.
fn names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("spool dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// A TLS upstream with `/echo`, a payload in a file, and `phonehome run --spool-dir` to post
/// it there through (its command to follow).
struct Posting {
    scratch: Scratch,
    _pki: TestPki,
    _upstream: Upstream,
    out: PathBuf,
    spool: PathBuf,
    sent: PathBuf,
    url: String,
    cmd: tokio::process::Command,
}

impl Posting {
    async fn new(payload: &[u8]) -> Self {
        let scratch = Scratch::new();
        let (pki, upstream) = tls_upstream(&scratch).await;
        let out = scratch.path("cap.jsonl");
        let spool = scratch.path("spool");
        std::fs::create_dir(&spool).expect("spool dir");
        let sent = scratch.path("payload.bin");
        std::fs::write(&sent, payload).expect("payload");
        let url = format!("https://localhost:{}/echo", upstream.port());
        let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
        cmd.arg("--spool-dir").arg(&spool);
        Self {
            scratch,
            _pki: pki,
            _upstream: upstream,
            out,
            spool,
            sent,
            url,
            cmd,
        }
    }
}

/// `payload` posted to `/echo` over HTTP/1.1 through `phonehome run --spool-dir`, with
/// `--max-body`; the capture's request and response and what curl got back.
async fn echo(payload: &[u8], max_body: usize) -> (Vec<Value>, Vec<u8>, Vec<String>) {
    let mut posting = Posting::new(payload).await;
    let got = posting.scratch.path("echoed.bin");
    let cmd = &mut posting.cmd;
    cmd.arg("--max-body").arg(max_body.to_string());
    cmd.args(["--", "curl", "-sS", "--http1.1"]);
    cmd.arg("--data-binary")
        .arg(format!("@{}", posting.sent.display()));
    cmd.arg("-o").arg(&got).arg(&posting.url);
    let ran = run(posting.cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let echoed = std::fs::read(&got).expect("echoed");
    (read_capture(&posting.out), echoed, names(&posting.spool))
}

/// A binary body past the spool's first MiB and past `--max-body`, both ways over HTTP/1.1:
/// forwarded whole, its first `--max-body` bytes stored as base64 (written from the spool),
/// `truncated`, and the spool directory empty afterwards.
#[tokio::test]
async fn a_spooled_binary_body_is_stored_up_to_max_body_and_forwarded_whole() {
    let max_body = 3 * SPOOL_AFTER;
    let payload: Vec<u8> = (0..5 * SPOOL_AFTER + 1)
        .map(|i| (i * 31 + i / 977) as u8)
        .collect();
    let (records, echoed, left) = echo(&payload, max_body).await;
    assert!(echoed == payload, "the client got every byte");
    assert!(left.is_empty(), "no spool file left: {left:?}");
    let (request, response) = exchange(&records);
    assert_eq!(response["version"], "HTTP/1.1");
    for body in [&request["body"], &response["body"]] {
        assert_eq!(body["size"], payload.len());
        assert_eq!(body["encoding"], "base64");
        assert_eq!(body["truncated"], true);
        assert!(body.get("dropped_bytes").is_none(), "{body:?}");
        assert!(body.get("redaction").is_none(), "{:?}", body["redaction"]);
        let stored = base64::engine::general_purpose::STANDARD
            .decode(body["data"].as_str().expect("data"))
            .expect("base64");
        assert!(stored == payload[..max_body], "the first --max-body bytes");
    }
}

/// A spooled body that is not plain binary is stored as a body in memory is: text redacted
/// where it stands, credential text inside binary bytes replaced.
#[tokio::test]
async fn a_spooled_body_with_text_or_a_key_is_redacted() {
    let key = format!("sk-ant-api03-{}", "Q".repeat(30));
    let mut text = "lorem ipsum ".repeat(2 * SPOOL_AFTER / 12);
    text.push_str(&key);
    let (records, echoed, left) = echo(text.as_bytes(), 4 * SPOOL_AFTER).await;
    assert!(echoed == text.as_bytes() && left.is_empty());
    let (_, response) = exchange(&records);
    let body = &response["body"];
    assert_eq!(body["encoding"], "utf8");
    assert_eq!(body["truncated"], false);
    let data = body["data"].as_str().expect("data");
    assert!(data.starts_with("lorem ipsum") && !data.contains(&key));

    let mut binary = vec![0u8; 2 * SPOOL_AFTER];
    binary[SPOOL_AFTER + 5..SPOOL_AFTER + 5 + key.len()].copy_from_slice(key.as_bytes());
    let (records, echoed, left) = echo(&binary, 4 * SPOOL_AFTER).await;
    assert!(echoed == binary && left.is_empty());
    let (_, response) = exchange(&records);
    let body = &response["body"];
    assert_eq!(body["encoding"], "base64");
    assert_eq!(body["redaction"], "binary");
    let stored = base64::engine::general_purpose::STANDARD
        .decode(body["data"].as_str().expect("data"))
        .expect("base64");
    assert!(!String::from_utf8_lossy(&stored).contains(&key));
}

#[tokio::test]
async fn a_spool_dir_that_cannot_take_a_file_is_refused_at_start() {
    let scratch = Scratch::new();
    let missing = scratch.path("no-such-dir");
    let mut cmd = scratch.run_prefix(&scratch.path("cap.jsonl"), None);
    cmd.arg("--spool-dir").arg(&missing);
    cmd.args(["--", "true"]);
    let ran = run(cmd).await;
    assert_ne!(ran.code, Some(0));
    assert!(
        ran.stderr.contains("--spool-dir") && ran.stderr.contains(&*missing.to_string_lossy()),
        "{}",
        ran.stderr
    );
    assert_eq!(
        ran.stderr.matches("--spool-dir").count(),
        1,
        "said once: {}",
        ran.stderr
    );
}

/// The bytes of the file process `pid` has open in `dir` (a spool file shows as
/// `DIR/#INODE (deleted)` under `/proc/PID/fd`), if any.
fn file_open_in(pid: u32, dir: &std::path::Path) -> Option<Vec<u8>> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let fd = fds.filter_map(Result::ok).find(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| target.starts_with(dir) && !target.ends_with("cap.jsonl"))
    })?;
    std::fs::read(fd.path()).ok()
}

/// phonehome killed (SIGKILL) while a body is being spooled leaves no file behind; what the
/// spool file held meanwhile was sealed: a credential in the body is not in it.
#[tokio::test]
async fn a_killed_proxy_leaves_no_spool_file() {
    let key = format!("sk-ant-api03-{}", "Q".repeat(30));
    let line = format!("{key} lorem ipsum\n");
    let payload = line.repeat(4 * SPOOL_AFTER / line.len());
    let mut posting = Posting::new(payload.as_bytes()).await;
    let (spool, sent, url) = (&posting.spool, &posting.sent, &posting.url);
    let cmd = &mut posting.cmd;
    // Slow enough that the upload is still going when the spool file is seen.
    cmd.args(["--", "curl", "-sS", "--http1.1", "--limit-rate", "256k"]);
    cmd.arg("--data-binary").arg(format!("@{}", sent.display()));
    cmd.arg("-o").arg("/dev/null").arg(url);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("phonehome starts");
    let pid = child.id().expect("pid");
    // A hang guard, not a timing assertion.
    let mut seen = None;
    for _ in 0..600 {
        seen = file_open_in(pid, spool).filter(|held| held.len() > SPOOL_AFTER);
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let held = seen.unwrap_or_else(|| panic!("phonehome spooled in {}", spool.display()));
    assert!(
        !held.windows(key.len()).any(|w| w == key.as_bytes()),
        "the spool file holds the body sealed"
    );
    assert!(names(spool).is_empty(), "the spool file has no name");
    child.start_kill().expect("kill");
    child.wait().await.expect("reaped");
    assert!(names(spool).is_empty(), "nothing left after SIGKILL");
}

/// Forwarding never waits on the spool: with the spool's disk taking no writes (a test gate
/// holds the spooler), a 4 MiB body is posted and echoed whole through `phonehome run`, and
/// the client is done, while nothing of it is recorded yet; once the disk takes writes again,
/// the exchange is recorded whole.
#[tokio::test]
async fn forwarding_does_not_wait_for_the_spool_to_be_written() {
    let payload: Vec<u8> = (0..4 * SPOOL_AFTER)
        .map(|i| (i * 7 + i / 991) as u8)
        .collect();
    let mut posting = Posting::new(&payload).await;
    let gate = posting.scratch.path("gate");
    let got = posting.scratch.path("echoed.bin");
    let done = posting.scratch.path("done");
    let (out, sent, url) = (&posting.out, &posting.sent, &posting.url);
    let cmd = &mut posting.cmd;
    cmd.env("PHONEHOME_TEST_SPOOL_GATE", &gate);
    let client = format!(
        "curl -sS --http1.1 --data-binary @'{}' -o '{}' '{url}' && touch '{}'",
        sent.display(),
        got.display(),
        done.display()
    );
    cmd.args(["--", "sh", "-c", &client]);
    cmd.stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("phonehome starts");
    // A hang guard, not a timing assertion: the client is done while the spool is held.
    for _ in 0..1200 {
        if done.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let finished = done.exists();
    let recorded_early = std::fs::read_to_string(out)
        .unwrap_or_default()
        .contains(r#""type":"request""#);
    std::fs::write(&gate, b"").expect("gate opened");
    let status = child.wait().await.expect("phonehome ends");
    assert!(finished, "the client finished while the spool was held");
    assert!(
        !recorded_early,
        "nothing recorded before the spool was written"
    );
    assert!(status.success(), "phonehome exits 0");
    assert!(
        std::fs::read(&got).expect("echoed") == payload,
        "every byte"
    );
    let records = read_capture(out);
    let (request, response) = exchange(&records);
    for body in [&request["body"], &response["body"]] {
        assert_eq!(body["truncated"], false, "{body:?}");
        let stored = base64::engine::general_purpose::STANDARD
            .decode(body["data"].as_str().expect("data"))
            .expect("base64");
        assert!(stored == payload, "stored whole");
    }
}
