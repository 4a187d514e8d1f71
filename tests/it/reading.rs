//! Reading what real runs leave behind: records lacking fields the analysis can do without,
//! bad bytes, a capture without its `end`, a torn last line, and paths that are not files.
//! Every command says what it passed over, names the file and the line, never repeats itself
//! and never hangs.

use std::path::{Path, PathBuf};

use crate::support::{run, Ran, Scratch};

const HEADER: &str = r#"{"type":"capture","ts":"2026-01-01T00:00:00.000Z","format":"phonehome/1","id":"1","tool_version":"0","mode":"run","command":["agent"],"cwd":"/w","policy":"observe","options":{}}"#;
const REQUEST: &str = r#"{"type":"request","ts":"2026-01-01T00:00:01.000Z","flow":1,"conn":1,"method":"POST","url":"https://api.openai.test/v1/chat/completions","version":"HTTP/1.1","headers":[["content-type","application/json"]],"body":{"size":60,"encoding":"utf8","data":"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}","truncated":false}}"#;
const RESPONSE: &str = r#"{"type":"response","ts":"2026-01-01T00:00:02.000Z","flow":1,"status":200,"reason":"OK","version":"HTTP/1.1","headers":[["content-type","application/json"]],"body":{"size":10,"encoding":"utf8","data":"{\"id\":\"x\"}","truncated":false},"ttfb_ms":5,"duration_ms":9}"#;
/// A `conn` record lacking every field the analysis can do without.
const CONN_LACKING: &str = r#"{"type":"conn","ts":"2026-01-01T00:00:02.100Z","conn":1,"client":"127.0.0.1:1","target":{"host":"api.openai.test","port":443},"transport":"tls-intercept"}"#;
const END: &str = r#"{"type":"end","ts":"2026-01-01T00:00:03.000Z","exit_code":0,"counts":{"conns":1,"requests":1,"responses":1,"errors":0,"blocked":0,"ws":0},"dropped_bytes":0}"#;

fn write(scratch: &Scratch, name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch.path(name);
    std::fs::write(&path, bytes).expect("write capture");
    path
}

fn lines(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

/// `phonehome report|llm|export PATH`, each run to its end.
async fn analyse(scratch: &Scratch, path: &Path) -> Vec<(&'static str, Ran)> {
    let mut out = Vec::new();
    for command in ["report", "llm", "export"] {
        let mut cmd = scratch.phonehome();
        cmd.arg(command).arg(path);
        if command == "export" {
            cmd.args(["--format", "har"]);
        }
        out.push((command, run(cmd).await));
    }
    out
}

#[tokio::test]
async fn a_record_lacking_counters_is_read_with_one_warning() {
    let scratch = Scratch::new();
    let lacking = CONN_LACKING.to_owned();
    let path = write(
        &scratch,
        "lacking.jsonl",
        &lines(&[HEADER, REQUEST, RESPONSE, &lacking, &lacking, END]),
    );
    for (command, ran) in analyse(&scratch, &path).await {
        assert_eq!(ran.code, Some(0), "{command}: {}", ran.stderr);
        let warning = format!(
            "phonehome: warning: {}: line 4: no bytes_up, bytes_down, opened, duration_ms in this record; read as not measured (1 more records lack fields)\n",
            path.display()
        );
        assert_eq!(ran.stderr, warning, "{command}");
    }
}

#[tokio::test]
async fn invalid_utf8_is_reported_at_its_line_with_the_reason() {
    let scratch = Scratch::new();
    for bad_line in [1usize, 4] {
        let mut records: Vec<Vec<u8>> = [HEADER, REQUEST, RESPONSE, CONN_LACKING, END]
            .iter()
            .map(|l| l.as_bytes().to_vec())
            .collect();
        records[bad_line - 1].splice(20..20, [0xff]);
        let text: Vec<u8> = records.join(&b'\n');
        let path = write(&scratch, &format!("bad{bad_line}.jsonl"), &text);
        for (command, ran) in analyse(&scratch, &path).await {
            assert_eq!(ran.code, Some(1), "{command}: {}", ran.stderr);
            assert_eq!(
                ran.stderr,
                format!(
                    "phonehome: error: {}: line {bad_line}: not UTF-8: invalid utf-8 sequence of 1 bytes from index 20\n",
                    path.display()
                ),
                "{command}"
            );
        }
    }
}

#[tokio::test]
async fn a_line_that_is_not_a_record_is_named_once() {
    let scratch = Scratch::new();
    let path = write(
        &scratch,
        "bogus.jsonl",
        &lines(&[HEADER, r#"{"type":"bogus"}"#, END]),
    );
    for (command, ran) in analyse(&scratch, &path).await {
        assert_eq!(ran.code, Some(1), "{command}: {}", ran.stderr);
        assert_eq!(
            ran.stderr.matches("line 2").count(),
            1,
            "{command}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr
                .contains("line 2: not a phonehome record: unknown variant `bogus`"),
            "{command}: {}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("line 1 column"), "{}", ran.stderr);
    }
}

#[tokio::test]
async fn a_capture_without_its_end_is_incomplete_everywhere() {
    let scratch = Scratch::new();
    let mut torn = lines(&[HEADER, REQUEST, RESPONSE]);
    torn.extend_from_slice(br#"{"type":"conn","ts":"2026-01-0"#);
    let cases = [
        ("no-end.jsonl", lines(&[HEADER, REQUEST, RESPONSE]), None),
        ("torn.jsonl", torn, Some(4)),
    ];
    for (name, text, torn_line) in cases {
        let path = write(&scratch, name, &text);
        for (command, ran) in analyse(&scratch, &path).await {
            assert_eq!(ran.code, Some(0), "{command}: {}", ran.stderr);
            let mut expected = String::new();
            if let Some(line) = torn_line {
                expected += &format!(
                    "phonehome: warning: {}: line {line}: the last line is incomplete (the capture was cut off) and was skipped\n",
                    path.display()
                );
            }
            expected += &format!(
                "phonehome: warning: {}: incomplete: phonehome stopped before the end\n",
                path.display()
            );
            assert_eq!(ran.stderr, expected, "{command}");
            if command == "report" {
                assert!(
                    ran.stdout
                        .contains("incomplete: phonehome stopped before the end"),
                    "the report says so too:\n{}",
                    ran.stdout
                );
            }
        }
    }
}

#[tokio::test]
async fn a_fifo_or_a_device_is_refused_without_hanging() {
    let scratch = Scratch::new();
    let fifo = scratch.path("capture.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    for (path, what) in [
        (fifo.as_path(), "a FIFO (named pipe)"),
        (Path::new("/dev/zero"), "a device"),
    ] {
        for (command, ran) in analyse(&scratch, path).await {
            assert_eq!(ran.code, Some(1), "{command}: {}", ran.stderr);
            assert!(
                ran.stderr.contains(&format!("{what}, not a capture file")),
                "{command}: {}",
                ran.stderr
            );
        }
        let mut view = scratch.phonehome();
        view.args(["view", "--static"]).arg(path);
        let ran = run(view).await;
        assert_ne!(ran.code, Some(0), "view: {}", ran.stderr);
        assert!(ran.stderr.contains(what), "view: {}", ran.stderr);
    }
}

/// `phonehome report PATH` under `/usr/bin/time -v`: its peak resident memory in KiB.
async fn report_peak_kib(scratch: &Scratch, path: &Path) -> u64 {
    let mut cmd = tokio::process::Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg(crate::support::BIN)
        .arg("report")
        .arg(path);
    cmd.env("XDG_DATA_HOME", scratch.path("data"));
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    ran.stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {}", ran.stderr))
}

/// One record of 96 MiB (a text body, one byte in ten escaped) is read in about its own size:
/// `report` stays well under twice the line above what it takes for a small capture (it took
/// 2.8 times before the line was parsed in place; BENCHMARKS.md has the figures).
#[tokio::test]
async fn a_huge_record_is_read_in_about_its_own_size() {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("skipped: no /usr/bin/time (Debian package time) to measure peak memory");
        return;
    }
    let scratch = Scratch::new();
    let small = write(
        &scratch,
        "small.jsonl",
        &lines(&[HEADER, REQUEST, RESPONSE, END]),
    );
    let body = "a \"quoted\" line\n".repeat(96 * 1024 * 1024 / 16);
    let mut request: serde_json::Value = serde_json::from_str(REQUEST).expect("request");
    request["url"] = "https://upload.test/upload".into();
    request["headers"] = serde_json::json!([["content-type", "text/plain"]]);
    request["body"]["data"] = body.into();
    let request = request.to_string();
    let huge = write(
        &scratch,
        "huge.jsonl",
        &lines(&[HEADER, &request, RESPONSE, END]),
    );
    let line_kib = request.len() as u64 / 1024;
    drop(request);
    let floor = report_peak_kib(&scratch, &small).await;
    let peak = report_peak_kib(&scratch, &huge).await;
    assert!(
        peak < floor + line_kib * 2,
        "report held {peak} KiB at its peak for a {line_kib} KiB record ({floor} KiB without it)"
    );
}
