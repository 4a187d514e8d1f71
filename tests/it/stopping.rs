//! Stopping always works: the first Ctrl-C or SIGTERM drains for at most the drain time, a
//! second one stops at once; either way the capture is closed with its `end` record and what
//! was left unwritten is counted.

use std::process::Stdio;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use crate::support::{read_capture, Scratch, StandaloneProxy, Upstream};

fn signal(child: &tokio::process::Child, sig: Signal) {
    let pid = i32::try_from(child.id().expect("running")).expect("pid");
    kill(Pid::from_raw(pid), sig).expect("signal");
}

type Stderr = tokio::io::BufReader<tokio::process::ChildStderr>;

/// Reads standard error up to a line containing `text`; returns what was read.
async fn stderr_until(stderr: &mut Stderr, text: &str) -> String {
    use tokio::io::AsyncBufReadExt as _;
    let mut seen = String::new();
    while !seen.contains(text) {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).await.expect("read stderr");
        assert!(read > 0, "stderr ended before {text:?}: {seen}");
        seen.push_str(&line);
    }
    seen
}

/// Waits for the process and returns its exit code and the rest of its standard error.
async fn finish(mut child: tokio::process::Child, mut stderr: Stderr) -> (Option<i32>, String) {
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest).await;
    let _ = child.stderr.take();
    let status = tokio::time::timeout(std::time::Duration::from_secs(120), child.wait())
        .await
        .expect("stopped within the hang guard")
        .expect("wait");
    (status.code(), rest)
}

fn stderr_of(child: &mut tokio::process::Child) -> Stderr {
    tokio::io::BufReader::new(child.stderr.take().expect("stderr piped"))
}

fn end_of(records: &[Value]) -> &Value {
    let end = records.last().expect("records");
    assert_eq!(end["type"], "end", "the capture ends with `end`");
    end
}

/// A proxy whose writer is slow (test-only setting) with a backlog of records.
async fn proxy_with_backlog(scratch: &Scratch, out: &std::path::Path) -> StandaloneProxy {
    let upstream = Upstream::start(None).await;
    // Test-only setting (src/capture.rs): a disk that takes 0.2 s per record.
    let proxy = StandaloneProxy::start_with(
        scratch,
        out,
        &[],
        &[("PHONEHOME_TEST_WRITE_DELAY_US", "200000")],
    )
    .await;
    // The upstream is served by this test's runtime: curl runs without blocking it.
    let status = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--proxy", &proxy.proxy_url])
        .arg(format!(
            "http://127.0.0.1:{}/hello?n=[1-40]",
            upstream.port()
        ))
        .status()
        .await
        .expect("curl");
    assert!(status.success());
    proxy
}

#[tokio::test]
async fn a_second_interrupt_stops_the_proxy_at_once_with_the_capture_closed() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let mut proxy = proxy_with_backlog(&scratch, &out).await;
    let mut pipe = stderr_of(&mut proxy.child);
    signal(&proxy.child, Signal::SIGINT);
    stderr_until(&mut pipe, "stopping: in-flight flows get up to").await;
    signal(&proxy.child, Signal::SIGINT);
    let (code, stderr) = finish(proxy.child, pipe).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopping at once"), "{stderr}");
    let records = read_capture(&out);
    let end = end_of(&records);
    assert!(end["lost"]["unwritten_at_stop"].as_u64() > Some(0), "{end}");
    assert!(
        stderr.contains("still queued when phonehome was stopped"),
        "{stderr}"
    );
}

#[tokio::test]
async fn one_sigterm_drains_for_the_drain_time_then_closes_the_capture() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    // 80 records at 0.2 s each: 16 s to write them all, against a 3 s drain.
    let mut proxy = proxy_with_backlog(&scratch, &out).await;
    let pipe = stderr_of(&mut proxy.child);
    signal(&proxy.child, Signal::SIGTERM);
    let (code, stderr) = finish(proxy.child, pipe).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("the drain time is over"), "{stderr}");
    let end = end_of(&read_capture(&out)).clone();
    assert!(end["lost"]["unwritten_at_stop"].as_u64() > Some(0), "{end}");
}

#[tokio::test]
async fn a_second_sigterm_ends_a_run_whose_command_ignores_it() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let ready = scratch.path("ready");
    let script = format!(
        "trap '' INT TERM; touch {}; while :; do sleep 1; done",
        ready.display()
    );
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run starts");
    let mut pipe = stderr_of(&mut child);
    while !ready.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    signal(&child, Signal::SIGTERM);
    stderr_until(&mut pipe, "passed SIGTERM on to the command").await;
    signal(&child, Signal::SIGTERM);
    let (code, stderr) = finish(child, pipe).await;
    assert_eq!(code, Some(128 + 9), "the command was killed: {stderr}");
    assert!(stderr.contains("stopping at once"), "{stderr}");
    let end = end_of(&read_capture(&out)).clone();
    assert_eq!(end["exit_code"], 128 + 9);
}
