//! The capture under load and on a full disk: forwarding goes on, memory stays bounded, and
//! every record that does not reach the file is counted in `end` and said once on stderr.

use std::path::Path;

use serde_json::Value;

use crate::support::{of_type, read_capture, run, Scratch, Upstream};

/// The `end` record, which every capture here must have.
fn end_of(records: &[Value]) -> &Value {
    let end = records.last().expect("records");
    assert_eq!(end["type"], "end", "the capture ends with `end`");
    end
}

/// `end.counts` agree with the records in the file, and `end.dropped_bytes` with the sum of
/// the bodies' own `dropped_bytes`.
fn assert_totals_agree(records: &[Value]) {
    let end = end_of(records);
    for (kind, field) in [
        ("request", "requests"),
        ("response", "responses"),
        ("conn", "conns"),
        ("error", "errors"),
    ] {
        assert_eq!(
            end["counts"][field].as_u64(),
            Some(of_type(records, kind).len() as u64),
            "end.counts.{field} is the number of `{kind}` records"
        );
    }
    let body_dropped: u64 = records
        .iter()
        .filter_map(|r| r["body"]["dropped_bytes"].as_u64())
        .sum();
    assert_eq!(end["dropped_bytes"].as_u64(), Some(body_dropped));
}

/// A value in kB from `/proc/<pid>/status` as written by `grep NAME /proc/PID/status`.
fn status_kib(path: &Path, name: &str) -> u64 {
    let text = std::fs::read_to_string(path).expect("status copy");
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

#[tokio::test]
async fn a_recorder_slower_than_traffic_stays_bounded_and_counts_what_it_drops() {
    const REQUESTS: u64 = 3000;
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("cap.jsonl");
    let (codes, before, after) = (
        scratch.path("codes"),
        scratch.path("before"),
        scratch.path("after"),
    );
    // 16 KiB of headers per request: queued unbounded, 3000 of them would hold ~50 MiB.
    let pad = "p".repeat(8 * 1024);
    let script = format!(
        "grep VmRSS /proc/$PPID/status > {before}; \
         curl -s -o /dev/null -w '%{{http_code}}\\n' -H 'x-pad-a: {pad}' -H 'x-pad-b: {pad}' \
           'http://127.0.0.1:{port}/hello?n=[1-{REQUESTS}]' > {codes}; \
         grep VmHWM /proc/$PPID/status > {after}",
        before = before.display(),
        after = after.display(),
        codes = codes.display(),
        port = upstream.port(),
    );
    let mut cmd = scratch.run_prefix(&out, None);
    // Test-only settings (src/capture.rs): a slow disk, and a 1 MiB budget.
    cmd.env("PHONEHOME_TEST_WRITE_DELAY_US", "3000")
        .env("PHONEHOME_TEST_RECORDER_BUDGET", (1024 * 1024).to_string())
        .args(["--drain", "1", "--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let codes = std::fs::read_to_string(&codes).expect("curl's status codes");
    assert_eq!(
        codes.lines().filter(|c| *c == "200").count() as u64,
        REQUESTS,
        "every request was answered"
    );
    let grown = status_kib(&after, "VmHWM").saturating_sub(status_kib(&before, "VmRSS"));
    assert!(
        grown < 24 * 1024,
        "peak memory grew by {grown} KiB while records queued; bounded it stays far below \
         the ~50 MiB an unbounded queue holds"
    );
    let records = read_capture(&out);
    let end = end_of(&records);
    let lost = &end["lost"];
    let lost_records = lost["recorder_full"].as_u64().unwrap_or(0)
        + lost["unwritten_at_stop"].as_u64().unwrap_or(0);
    assert!(lost["recorder_full"].as_u64() > Some(0), "{end}");
    assert!(
        of_type(&records, "request").len() as u64 + lost_records >= REQUESTS,
        "every request is in the file or counted as lost: {end}"
    );
    assert_totals_agree(&records);
    assert_eq!(
        ran.stderr
            .matches("written slower than traffic arrives")
            .count(),
        1,
        "said once: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("records were not recorded"),
        "{}",
        ran.stderr
    );
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// None (with the reason printed) where mounting is not allowed.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            Some(Self(dir.to_owned()))
        } else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root), so no full disk to test");
            None
        }
    }
}

/// Bytes free on the filesystem of `dir` (`stat -f`).
fn free_bytes(dir: &Path) -> u64 {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%a %S"])
        .arg(dir)
        .output()
        .expect("stat");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<u64>().expect("a number"));
    fields.next().expect("blocks") * fields.next().expect("block size")
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_said_at_once_counted_and_writing_resumes_when_space_returns() {
    let scratch = Scratch::new();
    let Some(disk) = Tmpfs::mount(&scratch.path("small"), "256k") else {
        return;
    };
    let upstream = Upstream::start(None).await;
    let out = disk.0.join("cap.jsonl");
    let filler = disk.0.join("filler");
    // Fill the disk but for room for the capture's first line.
    let room = free_bytes(&disk.0);
    std::fs::write(&filler, vec![0u8; (room - 8 * 1024) as usize]).expect("filler");
    let script = format!(
        "curl -s -o /dev/null -H 'x-pad: {pad}' 'http://127.0.0.1:{port}/hello?before=[1-200]'; \
         rm {filler}; sleep 1.5; \
         curl -s -o /dev/null 'http://127.0.0.1:{port}/hello?after=[1-3]'",
        pad = "p".repeat(2048),
        port = upstream.port(),
        filler = filler.display(),
    );
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(
        ran.code,
        Some(0),
        "the command's exit status, not phonehome's: {}",
        ran.stderr
    );
    assert_eq!(
        ran.stderr.matches("cannot write the capture file").count(),
        1,
        "said once: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("No space left on device"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("capture writing resumed"),
        "{}",
        ran.stderr
    );

    let records = read_capture(&out);
    let end = end_of(&records);
    assert!(end["lost"]["write_failed"].as_u64() > Some(0), "{end}");
    assert!(
        end["lost"]["write_error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left")),
        "{end}"
    );
    let after = of_type(&records, "request")
        .iter()
        .filter(|r| r["url"].as_str().is_some_and(|u| u.contains("after=")))
        .count();
    assert_eq!(after, 3, "the requests after space returned are recorded");
    assert_totals_agree(&records);

    let report = run({
        let mut cmd = scratch.phonehome();
        cmd.arg("report").arg(&out);
        cmd
    })
    .await;
    assert!(
        report.stdout.contains("No space left") || report.stderr.contains("No space left"),
        "report says why the capture is incomplete: {}{}",
        report.stdout,
        report.stderr
    );
}

/// A command that exits normally while the writer is behind (a slow disk) has every queued
/// record written: `--drain` bounds a stop by signal, not a writer that is merely behind.
#[tokio::test]
async fn a_normal_exit_writes_every_queued_record_however_slow_the_file() {
    const REQUESTS: usize = 300;
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    // A slow disk (src/capture.rs's test setting): ~600 records at 10 ms each are several
    // seconds behind the command, far past `--drain 0` and the writer's one-second grace.
    cmd.env("PHONEHOME_TEST_WRITE_DELAY_US", "10000").args([
        "--drain",
        "0",
        "--",
        "curl",
        "-s",
        "-o",
        "/dev/null",
        &format!(
            "http://127.0.0.1:{}/hello?n=[1-{REQUESTS}]",
            upstream.port()
        ),
    ]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let records = read_capture(&out);
    let end = end_of(&records);
    assert!(end.get("lost").is_none(), "nothing lost: {end}");
    assert_eq!(of_type(&records, "request").len(), REQUESTS, "{end}");
    assert_eq!(of_type(&records, "response").len(), REQUESTS, "{end}");
    assert_totals_agree(&records);
    assert!(
        !ran.stderr.contains("not recorded"),
        "nothing said lost: {}",
        ran.stderr
    );
}
