//! Bad input gets a clear error naming what was wrong, and a non-zero exit.

use crate::support::{run, Scratch};

#[tokio::test]
async fn missing_command() {
    let scratch = Scratch::new();
    let mut cmd = scratch.phonehome();
    cmd.arg("run");
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(2));
    assert!(ran.stderr.contains("<CMD>"), "{}", ran.stderr);
}

#[tokio::test]
async fn command_that_does_not_exist() {
    let scratch = Scratch::new();
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "/nonexistent/agent", "x"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(127));
    assert!(ran.stderr.contains("/nonexistent/agent"), "{}", ran.stderr);
    let text = std::fs::read_to_string(&out).expect("the capture is complete");
    assert!(text
        .lines()
        .last()
        .expect("lines")
        .contains(r#""type":"end""#));
}

#[tokio::test]
async fn port_in_use() {
    let scratch = Scratch::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.phonehome();
    cmd.args(["proxy", "--listen", &addr, "--out"]).arg(&out);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(125));
    assert!(
        ran.stderr.contains(&format!("cannot listen on {addr}")),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.to_lowercase().contains("in use"),
        "{}",
        ran.stderr
    );
    assert!(!out.exists(), "no empty capture is left behind");
}

#[tokio::test]
async fn unreadable_extra_ca() {
    let scratch = Scratch::new();
    let missing = scratch.path("missing-ca.pem");
    let not_pem = scratch.path("not-a-cert.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    for file in [&missing, &not_pem] {
        let mut cmd = scratch.phonehome();
        cmd.arg("run")
            .arg("--extra-ca")
            .arg(file)
            .args(["--", "true"]);
        let ran = run(cmd).await;
        assert_eq!(ran.code, Some(125));
        assert!(
            ran.stderr.contains(&file.display().to_string()),
            "{}",
            ran.stderr
        );
    }
}

#[tokio::test]
async fn non_writable_out() {
    let scratch = Scratch::new();
    let file = scratch.path("a-file");
    std::fs::write(&file, "").expect("write");
    let out = file.join("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "true"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(125));
    assert!(
        ran.stderr.contains(&out.display().to_string()),
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn bad_upstream_proxy() {
    let scratch = Scratch::new();
    let mut cmd = scratch.phonehome();
    cmd.args([
        "run",
        "--upstream-proxy",
        "socks5://127.0.0.1:1",
        "--",
        "true",
    ]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(125));
    assert!(
        ran.stderr.contains("socks5://127.0.0.1:1"),
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn exit_code_of_the_child_is_ours() {
    let scratch = Scratch::new();
    let mut cmd = scratch.phonehome();
    cmd.arg("run")
        .arg("--out")
        .arg(scratch.path("c.jsonl"))
        .args(["--", "sh", "-c", "exit 7"]);
    assert_eq!(run(cmd).await.code, Some(7));
}

#[tokio::test]
async fn default_capture_path_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let scratch = Scratch::new();
    let mut cmd = scratch.phonehome();
    cmd.args(["run", "--", "true"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let dir = scratch.path("data/phonehome/captures");
    let files: Vec<_> = std::fs::read_dir(&dir).expect("captures dir").collect();
    assert_eq!(files.len(), 1);
    let path = files[0].as_ref().expect("entry").path();
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with("-true.jsonl"), "{name}");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key_mode = std::fs::metadata(scratch.path("ca/ca.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
}

#[tokio::test]
async fn ca_path_show_export() {
    let scratch = Scratch::new();
    let mut cmd = scratch.phonehome();
    cmd.args(["ca", "path"]);
    let ran = run(cmd).await;
    assert_eq!(
        ran.stdout.trim(),
        scratch.path("ca/ca.pem").display().to_string()
    );
    let mut cmd = scratch.phonehome();
    cmd.args(["ca", "export"]);
    let ran = run(cmd).await;
    let on_disk = std::fs::read_to_string(scratch.path("ca/ca.pem")).expect("ca");
    assert_eq!(ran.stdout, on_disk);
    let mut cmd = scratch.phonehome();
    cmd.args(["ca", "show"]);
    let ran = run(cmd).await;
    assert!(ran.stdout.contains("phonehome local CA"), "{}", ran.stdout);
    assert!(ran.stdout.contains("sha256"), "{}", ran.stdout);
}
