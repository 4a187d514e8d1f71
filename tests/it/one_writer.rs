//! One writer per capture file: a second `run` or `proxy` on the same `--out` fails before
//! starting its command, and an existing capture is never emptied without `--force`.

use std::process::Stdio;

use crate::support::{read_capture, run, Scratch};

const LOCKED: &str = "is being written by another phonehome";
const EXISTS: &str = "already exists and is not empty";

#[tokio::test]
async fn a_second_run_on_a_file_being_written_fails_before_its_command() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let (ready, go, marker) = (
        scratch.path("ready"),
        scratch.path("go"),
        scratch.path("marker"),
    );
    let script = format!(
        "touch {}; while [ ! -e {} ]; do sleep 0.1; done",
        ready.display(),
        go.display()
    );
    let mut first = scratch.run_prefix(&out, None);
    first
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let first = first.spawn().expect("first run");
    while !ready.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for force in [false, true] {
        let mut second = scratch.run_prefix(&out, None);
        if force {
            second.arg("--force");
        }
        second.args(["--", "touch"]).arg(&marker);
        let ran = run(second).await;
        assert_eq!(ran.code, Some(125), "{}", ran.stderr);
        assert!(ran.stderr.contains(LOCKED), "{}", ran.stderr);
        assert!(!marker.exists(), "the second command never started");
    }
    let mut proxy = scratch.phonehome();
    proxy
        .args(["proxy", "--listen", "127.0.0.1:0", "--out"])
        .arg(&out);
    let ran = run(proxy).await;
    assert_eq!(ran.code, Some(125), "{}", ran.stderr);
    assert!(ran.stderr.contains(LOCKED), "{}", ran.stderr);

    std::fs::write(&go, "").expect("go");
    let output = first.wait_with_output().await.expect("first run ends");
    assert!(output.status.success());
    let records = read_capture(&out);
    assert_eq!(records[0]["type"], "capture");
    assert_eq!(records.last().expect("records")["type"], "end");
}

#[tokio::test]
async fn an_existing_capture_is_kept_unless_forced() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let first = scratch.run_prefix(&out, None);
    let ran = run({
        let mut cmd = first;
        cmd.args(["--", "true"]);
        cmd
    })
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let before = std::fs::read(&out).expect("capture");

    let mut again = scratch.run_prefix(&out, None);
    again.args(["--", "touch"]).arg(scratch.path("marker"));
    let ran = run(again).await;
    assert_eq!(ran.code, Some(125), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(EXISTS) && ran.stderr.contains("--force"),
        "{}",
        ran.stderr
    );
    assert!(!scratch.path("marker").exists());
    assert_eq!(std::fs::read(&out).expect("capture"), before, "untouched");

    let mut forced = scratch.run_prefix(&out, None);
    forced.args(["--force", "--", "true"]);
    let ran = run(forced).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(read_capture(&out).last().expect("records")["type"], "end");
}

#[tokio::test]
async fn three_runs_at_once_on_one_file_leave_one_whole_capture() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let runs = (0..3).map(|_| {
        let mut cmd = scratch.run_prefix(&out, None);
        cmd.args(["--", "sleep", "0.5"]);
        run(cmd)
    });
    let ran = futures_util::future::join_all(runs).await;
    let ok = ran.iter().filter(|r| r.code == Some(0)).count();
    assert_eq!(ok, 1, "exactly one writer");
    for r in ran.iter().filter(|r| r.code != Some(0)) {
        assert_eq!(r.code, Some(125));
        assert!(
            r.stderr.contains(LOCKED) || r.stderr.contains(EXISTS),
            "{}",
            r.stderr
        );
    }
    let records = read_capture(&out);
    assert_eq!(records.iter().filter(|r| r["type"] == "capture").count(), 1);
    assert_eq!(records.last().expect("records")["type"], "end");
}
