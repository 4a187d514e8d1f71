//! Messages that say what was meant: a mistake is refused before anything starts, naming the
//! spelling that works.

use crate::support::{run, Scratch};

#[tokio::test]
async fn otlp_then_a_url_asks_whether_otlp_equals_url_was_meant() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--otlp", "http://127.0.0.1:4318", "--", "true"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(125), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("did you mean --otlp=http://127.0.0.1:4318?"),
        "{}",
        ran.stderr
    );
    assert!(!out.exists(), "nothing was started or written");
}

#[tokio::test]
async fn json_lines_without_type_are_named_as_such() {
    let scratch = Scratch::new();
    let file = scratch.path("objects.jsonl");
    std::fs::write(&file, "{}\n{}\n{}\n").expect("write");
    let mut cmd = scratch.phonehome();
    cmd.arg("report").arg(&file);
    let ran = run(cmd).await;
    assert_ne!(ran.code, Some(0));
    assert!(
        ran.stderr.contains("JSON lines") && ran.stderr.contains("not a phonehome capture"),
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn export_to_stdout_writes_nothing_when_it_cannot_finish() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "true"]);
    assert_eq!(run(cmd).await.code, Some(0));
    // A damaged line in the middle: the export cannot finish.
    let text = std::fs::read_to_string(&out).expect("capture");
    let (first, rest) = text.split_once('\n').expect("lines");
    std::fs::write(
        &out,
        format!("{first}\n{{\"type\":\"request\",\"oops\n{rest}"),
    )
    .expect("write");
    let mut cmd = scratch.phonehome();
    cmd.arg("export").arg(&out).args(["--format", "har"]);
    let ran = run(cmd).await;
    assert_ne!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "", "nothing on standard output");
    assert!(ran.stderr.contains("line 2"), "{}", ran.stderr);
}
