//! Policy rules on the connecting process (`exe`, `own`), through the binary: decided at
//! CONNECT from attribution under `phonehome run`, and the same by `policy test --capture`
//! from the capture's recorded processes.

use serde_json::Value;

use crate::support::{of_type, read_capture, run, Cert, Scratch, TestPki, Upstream};

/// `phonehome run --policy POLICY --sinkhole off -- sh -c SCRIPT` against a local HTTPS
/// server; its output and capture.
async fn run_policy(policy: &str, script: &str) -> (crate::support::Ran, Vec<Value>, Scratch) {
    let scratch = Scratch::new();
    let path = scratch.path("policy.toml");
    std::fs::write(&path, policy).expect("policy");
    let out = scratch.path("capture.jsonl");
    let pki = TestPki::new(scratch.dir.path());
    let server = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"http/1.1"]))).await;
    let script = script.replace("URL", &format!("https://127.0.0.1:{}/hello", server.port()));
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.arg("--policy")
        .arg(&path)
        .args(["--sinkhole", "off", "--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    let records = read_capture(&out);
    (ran, records, scratch)
}

/// `python3` fetching URL through the proxy the environment names, printing the body.
const PYTHON: &str = "python3 -c 'import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())' URL";

/// The executables of the connections the capture says were blocked, and of those not.
fn blocked_exes(records: &[Value]) -> (Vec<String>, Vec<String>) {
    let blocked: Vec<&Value> = of_type(records, "blocked")
        .into_iter()
        .map(|b| &b["conn"])
        .collect();
    let mut denied = Vec::new();
    let mut passed = Vec::new();
    for conn in of_type(records, "conn") {
        let Some(exe) = conn["process"]["exe"].as_str() else {
            continue;
        };
        let name = exe.rsplit('/').next().unwrap_or(exe).to_owned();
        if blocked.contains(&&conn["conn"]) {
            denied.push(name);
        } else {
            passed.push(name);
        }
    }
    (denied, passed)
}

/// `policy test POLICY --capture CAPTURE --json`.
async fn policy_test(scratch: &Scratch, _policy: &str) -> Value {
    let mut cmd = scratch.phonehome();
    cmd.args(["policy", "test"])
        .arg(scratch.path("policy.toml"))
        .arg("--capture")
        .arg(scratch.path("capture.jsonl"))
        .arg("--json");
    let ran = run(cmd).await;
    assert!(ran.code.is_some_and(|c| c == 0 || c == 3), "{}", ran.stderr);
    serde_json::from_str(&ran.stdout).expect("policy test --json")
}

#[tokio::test]
async fn an_exe_rule_blocks_curl_and_lets_another_client_through() {
    let policy = "default = \"allow\"\n[[rule]]\naction = \"deny\"\nexe = [\"*/curl\"]\n";
    let script = format!("curl -sS -D- URL; echo; {PYTHON}");
    let (ran, records, scratch) = run_policy(policy, &script).await;
    assert!(
        ran.stdout.contains("x-phonehome-blocked: rule 1"),
        "curl is denied at CONNECT: {}\n{}",
        ran.stdout,
        ran.stderr
    );
    assert!(
        ran.stdout.contains(r#"{"hello":"world"}"#),
        "python3 gets through: {}\n{}",
        ran.stdout,
        ran.stderr
    );
    let (denied, passed) = blocked_exes(&records);
    assert_eq!(denied, ["curl"], "{records:#?}");
    assert!(passed.iter().all(|p| p.starts_with("python")), "{passed:?}");
    assert!(!passed.is_empty(), "{records:#?}");
    let blocked = of_type(&records, "blocked");
    assert!(
        blocked[0]["rule"]
            .as_str()
            .is_some_and(|r| r.contains("deny exe [\"*/curl\"]")),
        "{blocked:?}"
    );

    // The same decisions from the capture.
    let replay = policy_test(&scratch, policy).await;
    assert_eq!(replay["denied"], 1, "{replay:#}");
    assert_eq!(replay["allowed"], 1, "{replay:#}");
}

/// The command phonehome starts (python3, `exec`ed by the shell so it is the command itself)
/// runs `curl` (not its own program) and then fetches the URL itself.
const AGENT: &str = "import subprocess, sys, urllib.request
subprocess.run(['curl', '-sS', '-D-', sys.argv[1]])
print()
try:
    print(urllib.request.urlopen(sys.argv[1]).read().decode())
except Exception as e:
    print('python3 denied:', e)
";

#[tokio::test]
async fn own_rules_tell_the_command_from_what_it_runs() {
    let files = Scratch::new();
    let agent = files.path("agent.py");
    std::fs::write(&agent, AGENT).expect("script");
    let command = format!("exec python3 {} URL", agent.display());
    for own in [true, false] {
        let policy = format!("default = \"allow\"\n[[rule]]\naction = \"deny\"\nown = {own}\n");
        let (ran, records, scratch) = run_policy(&policy, &command).await;
        let (denied, passed) = blocked_exes(&records);
        let context = format!("own = {own}: {}\n{}\n{records:#?}", ran.stdout, ran.stderr);
        let (agent_side, curl_side) = if own {
            (&denied, &passed)
        } else {
            (&passed, &denied)
        };
        assert_eq!(curl_side, &["curl"], "{context}");
        assert!(
            !agent_side.is_empty() && agent_side.iter().all(|d| d.starts_with("python")),
            "{context}"
        );
        assert_eq!(
            ran.stdout.contains("python3 denied"),
            own,
            "python3's own request is denied only by own = true: {context}"
        );
        let replay = policy_test(&scratch, &policy).await;
        assert_eq!(replay["denied"], 1, "{context}\n{replay:#}");
        assert_eq!(replay["allowed"], 1, "{context}\n{replay:#}");
    }
}
