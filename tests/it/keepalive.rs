//! An intercepted HTTP/1.1 keep-alive connection at rest (crates/proxy/src/http/keepalive.rs):
//! after a pause hyper's connection state is let go on both sides, and the next request goes
//! over the same client and upstream streams; a client that stays silent past the head
//! timeout, or sends its head too slowly across rests, is still answered 408; an upstream
//! that closes a resting connection is let go at once.

use std::path::Path;

use crate::support::{
    of_type, read_capture, spawn_printing_port, Scratch, StandaloneProxy, TestPki,
};

const UPSTREAM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/keepalive/upstream.py"
);
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/keepalive/client.py");

fn have_python() -> bool {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: no python3");
    }
    found
}

/// The upstream (keepalive/upstream.py) and its port; `marker` is the file it writes once
/// phonehome closed a connection the upstream had closed its side of.
async fn upstream(
    scratch: &Scratch,
    pki: &TestPki,
    marker: Option<&Path>,
) -> (tokio::process::Child, u16) {
    let (cert, key) = pki.write_server_pem(scratch.dir.path());
    let mut command = tokio::process::Command::new("python3");
    command.arg(UPSTREAM).arg(cert).arg(key).args(marker);
    spawn_printing_port(&mut command).await
}

/// Runs keepalive/client.py with `steps`; its lines.
async fn client(proxy: &StandaloneProxy, port: u16, ca: &Path, steps: &[&str]) -> Vec<String> {
    let ran = tokio::process::Command::new("python3")
        .arg(CLIENT)
        .arg(&proxy.addr)
        .arg(format!("localhost:{port}"))
        .arg(ca)
        .args(steps)
        .kill_on_drop(true)
        .output();
    let ran = tokio::time::timeout(std::time::Duration::from_secs(120), ran)
        .await
        .expect("the client ended within the hang guard")
        .expect("python3 runs");
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    String::from_utf8_lossy(&ran.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn requests_after_a_rest_go_over_the_same_streams() {
    if !have_python() {
        return;
    }
    // A pause of a second lets the connection rest; `split` rests with half a head read.
    let steps = ["get", "sleep:1", "get", "split", "sleep:1", "get"];
    let (lines, records) = through_proxy(&Scratch::new(), &steps, &[], None).await;
    // Every answer came over the upstream's first connection.
    assert_eq!(lines, vec!["HTTP/1.1 200 OK 1"; 4]);
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 1, "{conns:#?}");
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert!(
        requests.iter().all(|r| r["conn"] == conns[0]["conn"]),
        "{requests:#?}"
    );
    assert!(of_type(&records, "error").is_empty(), "{records:#?}");
}

/// The upstream closes its side half a second after answering /bye, while the client is silent
/// and the connection rests: phonehome closes its side in turn without waiting for the
/// client's next request (which the client sends only once the upstream has seen that close),
/// and that request goes over a new upstream connection.
#[tokio::test]
async fn an_upstream_that_closes_a_resting_connection_is_let_go_at_once() {
    if !have_python() {
        return;
    }
    let scratch = Scratch::new();
    let marker = scratch.path("closed-by-phonehome");
    let wait = format!("waitfile:{}", marker.display());
    let steps = ["bye", wait.as_str(), "get"];
    let (lines, records) = through_proxy(&scratch, &steps, &[], Some(&marker)).await;
    assert_eq!(lines, ["HTTP/1.1 200 OK 1", "seen", "HTTP/1.1 200 OK 2"]);
    assert_eq!(of_type(&records, "conn").len(), 1, "{records:#?}");
    assert_eq!(of_type(&records, "request").len(), 2, "{records:#?}");
    assert!(of_type(&records, "error").is_empty(), "{records:#?}");
}

/// Runs keepalive/client.py with `steps` through a proxy whose head timeout is 1,500 ms; the
/// client's lines and the capture's records once the proxy has stopped.
async fn with_head_timeout_1500ms(steps: &[&str]) -> (Vec<String>, Vec<serde_json::Value>) {
    let env = [("PHONEHOME_TEST_HEAD_TIMEOUT_MS", "1500")];
    through_proxy(&Scratch::new(), steps, &env, None).await
}

/// Runs keepalive/client.py with `steps` through a standalone proxy (its environment `env`)
/// in front of the upstream (`marker`: see [`upstream`]), all in `scratch`; the client's lines
/// and the capture's records once the proxy has stopped.
async fn through_proxy(
    scratch: &Scratch,
    steps: &[&str],
    env: &[(&str, &str)],
    marker: Option<&Path>,
) -> (Vec<String>, Vec<serde_json::Value>) {
    let pki = TestPki::new(scratch.dir.path());
    let (_upstream, port) = upstream(scratch, &pki, marker).await;
    let out = scratch.path("cap.jsonl");
    let extra_ca = pki.ca_pem.display().to_string();
    let proxy = StandaloneProxy::start_with(scratch, &out, &["--extra-ca", &extra_ca], env).await;
    let ca = scratch.path("ca").join("ca.pem");
    let lines = client(&proxy, port, &ca, steps).await;
    proxy.stop().await;
    (lines, read_capture(&out))
}

#[tokio::test]
async fn a_resting_client_silent_past_the_head_timeout_is_answered_408() {
    if !have_python() {
        return;
    }
    let (lines, records) = with_head_timeout_1500ms(&["get", "idle"]).await;
    assert_eq!(lines, ["HTTP/1.1 200 OK 1", "HTTP/1.1 408 Request Timeout"]);
    let errors = of_type(&records, "error");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let message = errors[0]["message"].as_str().expect("message");
    assert!(
        message.contains("the request head did not arrive within 1500 ms")
            && message.contains("408"),
        "{message}"
    );
    assert_eq!(errors[0]["phase"], "client_http");
}

/// A head sent a byte at a time, each pause longer than a rest: the head timeout is not
/// restarted by every rest, so the client is answered 408 long before its head is whole.
#[tokio::test]
async fn a_head_dripped_across_rests_is_still_answered_408() {
    if !have_python() {
        return;
    }
    // After a first request, as between the requests of a kept-alive connection.
    let (lines, records) = with_head_timeout_1500ms(&["get", "drip"]).await;
    assert_eq!(lines, ["HTTP/1.1 200 OK 1", "HTTP/1.1 408 Request Timeout"]);
    assert_eq!(of_type(&records, "request").len(), 1, "{records:#?}");
    let errors = of_type(&records, "error");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["phase"], "client_http");
}
