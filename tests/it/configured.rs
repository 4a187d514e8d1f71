//! What the user configured is a marker: the LLM endpoint named in the agent's environment
//! (by variable name) and the git identity, found where a telemetry request carried them.

use serde_json::Value;

use crate::support::{run, Scratch, Upstream};

/// An "agent" that makes one LLM call to `ACME_BASE_URL`, then reports the endpoint and the
/// git email to a telemetry host that does not exist (answered by the sinkhole).
const AGENT_PY: &str = r#"
import json, os, subprocess, urllib.request, urllib.error
base = os.environ.get("ACME_BASE_URL") or os.environ["ACME_SETTINGS"]
def post(url, doc):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(),
                                 headers={"content-type": "application/json", "user-agent": "acme/1.0"})
    try:
        urllib.request.urlopen(req).read()
    except urllib.error.HTTPError:
        pass
post(base + "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi there"}]})
email = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True).stdout.strip()
post("https://telemetry.acme.invalid/v1/events", {"event": "start", "llm": base, "author": email})
"#;

fn have(program: &str) -> bool {
    let ok = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: {program} is not installed");
    }
    ok
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

#[tokio::test]
async fn the_configured_endpoint_and_git_identity_sent_to_telemetry_are_leaks() {
    if !have("python3") || !have("git") {
        return;
    }
    let scratch = Scratch::new();
    let dir = scratch.dir.path();
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.name", "Ada Tester"]);
    git(dir, &["config", "user.email", "ada@acme.test"]);
    std::fs::write(scratch.path("agent.py"), AGENT_PY).expect("write");
    let upstream = Upstream::start(None).await;
    let base = format!("http://127.0.0.1:{}/v1", upstream.port());
    let out = scratch.path("configured.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.current_dir(dir).env("ACME_BASE_URL", &base).args([
        "--sinkhole",
        "unreachable",
        "--",
        "python3",
        "agent.py",
    ]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let capture = std::fs::read_to_string(&out).expect("capture");
    let header: Value =
        serde_json::from_str(capture.lines().next().expect("header")).expect("json");
    let values = header["markers"]["values"].to_string();
    for marker in [
        r#"{"kind":"git_user","value":"Ada Tester"}"#,
        r#"{"kind":"git_email","value":"ada@acme.test"}"#,
        &format!(r#"{{"kind":"llm_endpoint","value":"{base}"}}"#),
    ] {
        assert!(values.contains(marker), "{marker} in {values}");
    }

    let mut report = scratch.phonehome();
    report.args(["report", "--format", "json"]).arg(&out);
    let json: Value = serde_json::from_str(&run(report).await.stdout).expect("report");
    let leaks = json["leaks"].as_array().expect("leaks");
    let leak = |kind: &str| {
        leaks.iter().any(|l| {
            l["kind"] == kind && l["host"] == "telemetry.acme.invalid" && l["expected"] == false
        })
    };
    assert!(leak("llm_endpoint") && leak("git_email"), "{leaks:#?}");
    assert!(
        leaks
            .iter()
            .filter(|l| l["kind"] == "llm_endpoint")
            .all(|l| l["host"] != "127.0.0.1" || l["expected"] == true),
        "sent to the provider itself it is expected: {leaks:#?}"
    );
    let content = &json["verdict"][0];
    assert_eq!(content["answer"], "yes", "{content}");
    let named = format!("the configured LLM endpoint {base} was sent to telemetry.acme.invalid");
    assert!(
        content["evidence"]
            .as_str()
            .is_some_and(|e| e.contains(&named)),
        "{content}"
    );
    let findings = json["findings"]["be_aware_of"].to_string();
    assert!(
        findings.contains(&format!(
            "The configured LLM endpoint `{base}` was sent to telemetry.acme.invalid"
        )) && findings
            .contains("The git user email `ada@acme.test` was sent to telemetry.acme.invalid"),
        "{findings}"
    );
}

/// With the endpoint in a variable whose name says nothing, the LLM host seen in the capture's
/// LLM calls (loopback here, not a public provider's) is still looked for elsewhere.
#[tokio::test]
async fn the_llm_host_seen_is_found_in_telemetry_without_configuration() {
    if !have("python3") {
        return;
    }
    let scratch = Scratch::new();
    std::fs::write(scratch.path("agent.py"), AGENT_PY).expect("write");
    let upstream = Upstream::start(None).await;
    let authority = format!("127.0.0.1:{}", upstream.port());
    let out = scratch.path("seen.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.current_dir(scratch.dir.path())
        .env("ACME_SETTINGS", format!("http://{authority}/v1"))
        .args(["--sinkhole", "unreachable", "--", "python3", "agent.py"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let mut report = scratch.phonehome();
    report.args(["report", "--format", "json"]).arg(&out);
    let json: Value = serde_json::from_str(&run(report).await.stdout).expect("report");
    assert_eq!(json["provider"], "127.0.0.1");
    let leaks = json["leaks"].as_array().expect("leaks");
    assert!(
        leaks.iter().any(|l| l["kind"] == "llm_host"
            && l["marker"] == authority.as_str()
            && l["host"] == "telemetry.acme.invalid"),
        "{leaks:#?}"
    );
    assert_eq!(json["verdict"][0]["answer"], "yes");
    let findings = json["findings"]["be_aware_of"].to_string();
    assert!(
        findings.contains(&format!(
            "The LLM endpoint's host `{authority}` was sent to telemetry.acme.invalid"
        )),
        "{findings}"
    );
}
