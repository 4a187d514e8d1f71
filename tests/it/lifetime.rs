//! What phonehome leaves behind: no command outliving a `kill -9` of phonehome (with and
//! without `--isolate`), a CA certificate and trust bundle no one else can write whatever the
//! umask, and no capture written through a symbolic link.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{run, Scratch, BIN};

/// Waits (a hang guard, not a timing assertion) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs no more).
fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

async fn kill_9_ends_the_command(extra: &[&str]) {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let pid_file = scratch.path("command.pid");
    let mut cmd = scratch.run_prefix(&out, None);
    let script = format!(
        "echo $$ > {}.tmp && mv {0}.tmp {0} && exec sleep 300",
        pid_file.display()
    );
    cmd.args(extra).args(["--", "sh", "-c", &script]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut phonehome = cmd.spawn().expect("phonehome starts");
    wait_until("the command wrote its pid", || pid_file.exists());
    let pid = std::fs::read_to_string(&pid_file).expect("pid");
    let pid = pid.trim().to_owned();
    assert!(!is_gone(&pid), "the command runs");
    phonehome.start_kill().expect("kill -9 phonehome");
    phonehome.wait().await.expect("phonehome ended");
    wait_until("the command ended with phonehome", || is_gone(&pid));
}

#[tokio::test]
async fn kill_9_of_phonehome_ends_the_command() {
    kill_9_ends_the_command(&[]).await;
}

#[tokio::test]
async fn kill_9_of_phonehome_ends_the_isolated_command() {
    crate::support::skip_without_isolation!();
    kill_9_ends_the_command(&["--isolate"]).await;
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn ca_certificate_and_bundle_are_0644_at_umask_000() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    // phonehome itself started by a shell whose umask is 000.
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000 && exec \"$0\" run --out \"$1\" -- true")
        .arg(BIN)
        .arg(&out)
        .env("XDG_DATA_HOME", scratch.path("data"))
        .env("PHONEHOME_CA_DIR", scratch.path("ca"));
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ca = scratch.path("ca");
    assert_eq!(mode(&ca.join("ca.pem")), 0o644, "the CA certificate");
    assert_eq!(mode(&ca.join("bundle.pem")), 0o644, "the trust bundle");
    assert_eq!(mode(&ca.join("ca.key")), 0o600, "the CA key");
    assert_eq!(mode(&out), 0o600, "the capture");
}

#[tokio::test]
async fn out_is_never_written_through_a_symbolic_link() {
    let scratch = Scratch::new();
    let target = scratch.path("someone-elses-file");
    std::fs::write(&target, "precious").expect("write");
    let link = scratch.path("cap.jsonl");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let mut cmd = scratch.run_prefix(&link, None);
    cmd.args(["--", "true"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(125), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!(
            "cannot write the capture file {}: it is a symbolic link",
            link.display()
        )),
        "{}",
        ran.stderr
    );
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");

    // The user's own regular file is fine with --force: it is truncated and made private.
    let own = scratch.path("own.jsonl");
    std::fs::write(&own, "old").expect("write");
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut cmd = scratch.run_prefix(&own, None);
    cmd.args(["--force", "--", "true"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(mode(&own), 0o600);
    assert!(std::fs::read_to_string(&own)
        .expect("read")
        .starts_with(r#"{"type":"capture""#));
}
