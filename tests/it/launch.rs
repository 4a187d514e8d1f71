//! What `run` gives its child, and how signals and exit codes pass between them.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::support::{read_capture, run, Scratch, StandaloneProxy};

#[tokio::test]
async fn child_gets_proxy_and_ca_trust_environment() {
    let scratch = Scratch::new();
    let out = scratch.path("env.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--bypass", "internal.test,10.0.0.1", "--", "env"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let env: std::collections::HashMap<_, _> = ran
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .collect();
    let proxy = env["HTTPS_PROXY"];
    assert!(proxy.starts_with("http://127.0.0.1:"), "{proxy}");
    for name in ["HTTP_PROXY", "http_proxy", "https_proxy"] {
        assert_eq!(env[name], proxy, "{name}");
    }
    assert_eq!(env["NO_PROXY"], "internal.test,10.0.0.1");
    assert_eq!(env["no_proxy"], "internal.test,10.0.0.1");
    assert_eq!(env["NODE_USE_ENV_PROXY"], "1");
    let ca = scratch.path("ca/ca.pem").display().to_string();
    assert_eq!(env["NODE_EXTRA_CA_CERTS"], ca);
    assert_eq!(env["DENO_CERT"], ca);
    let bundle = env["SSL_CERT_FILE"];
    for name in ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"] {
        assert_eq!(env[name], bundle, "{name}");
    }
    let bundle_text = std::fs::read_to_string(bundle).expect("bundle");
    let ca_text = std::fs::read_to_string(&ca).expect("ca");
    assert!(
        bundle_text.ends_with(&ca_text),
        "the bundle ends with the local CA"
    );
    assert!(
        bundle_text.matches("BEGIN CERTIFICATE").count() > 1,
        "the bundle also holds the system roots (it replaces the default store)"
    );
}

#[tokio::test]
async fn sigterm_reaches_the_child_and_its_exit_code_becomes_ours() {
    let scratch = Scratch::new();
    let out = scratch.path("term.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args([
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("phonehome starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the child started")
        .expect("read");
    assert_eq!(ready.as_deref(), Some("ready"));
    let pid = i32::try_from(child.id().expect("pid")).expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal phonehome");
    let after = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the child reacted to SIGTERM (hang guard)")
        .expect("read");
    assert_eq!(after.as_deref(), Some("got-term"));
    let status = child.wait().await.expect("wait");
    assert_eq!(status.code(), Some(42));
    let records = read_capture(&out);
    let end = records.last().expect("records");
    assert_eq!(end["type"], "end");
    assert_eq!(end["exit_code"], 42);
}

#[tokio::test]
async fn a_child_killed_by_a_signal_gives_128_plus_the_signal() {
    let scratch = Scratch::new();
    let mut cmd = scratch.phonehome();
    cmd.arg("run")
        .arg("--out")
        .arg(scratch.path("k.jsonl"))
        .args(["--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(run(cmd).await.code, Some(137));
}

#[tokio::test]
async fn proxy_prints_the_environment_a_client_needs() {
    let scratch = Scratch::new();
    let out = scratch.path("p.jsonl");
    let mut cmd = scratch.phonehome();
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--out"])
        .arg(&out);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("proxy starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut text = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read") {
        let done = line.starts_with("export GIT_SSL_CAINFO=");
        text.push(line);
        if done {
            break;
        }
    }
    let addr = text[0]
        .strip_prefix("# phonehome proxy listening on ")
        .expect("address line");
    assert!(
        text.contains(&format!("export HTTPS_PROXY='http://{addr}'")),
        "{text:?}"
    );
    assert!(
        text.contains(&format!("export HTTP_PROXY='http://{addr}'")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|l| l.starts_with("export NODE_EXTRA_CA_CERTS=")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|l| l.starts_with("export SSL_CERT_FILE=")),
        "{text:?}"
    );
    let proxy = StandaloneProxy {
        child,
        addr: addr.to_owned(),
        proxy_url: format!("http://{addr}"),
    };
    proxy.stop().await;
    assert_eq!(read_capture(&out).last().expect("records")["type"], "end");
}
