//! A capture survives `kill -9` of phonehome: every complete line parses.

use std::time::Duration;

use crate::support::{Scratch, Upstream};

#[tokio::test]
async fn kill_9_mid_capture_leaves_whole_lines() {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("killed.jsonl");
    let url = format!("http://127.0.0.1:{}/echo", upstream.port());
    let script = format!("while true; do curl -s -d 'payload-{{}}' {url} >/dev/null; done");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "sh", "-c", &script]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("phonehome starts");
    // Wait until traffic is being recorded (bounded), then kill without warning.
    for _ in 0..200 {
        let lines = std::fs::read_to_string(&out)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill().expect("kill -9");
    child.wait().await.expect("wait");
    // The orphaned loop outlives phonehome; stop it.
    let _ = std::process::Command::new("pkill")
        .args(["-f", &url])
        .status();

    let text = std::fs::read_to_string(&out).expect("capture");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert!(lines.len() > 20, "traffic was recorded before the kill");
    for (i, line) in lines.iter().enumerate() {
        if !line.ends_with('\n') {
            assert_eq!(i, lines.len() - 1, "only the very last line may be torn");
            continue;
        }
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("line {} does not parse: {e}: {line}", i + 1));
    }
    let reader = phonehome_record::CaptureReader::new(text.as_bytes());
    for item in reader {
        if let Err(e) = item {
            assert!(e.is_torn_tail(), "{e}");
        }
    }
}
