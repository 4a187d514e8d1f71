//! The real OpenCode CLI (npm package `opencode-ai`, pinned in tests/node/package.json and
//! installed by scripts/setup-tests) under `phonehome run`, against a local OpenAI-compatible
//! HTTPS server. phonehome's only way out is a local upstream proxy that refuses everything,
//! so nothing leaves the machine; OpenCode's other attempts become findings.

use std::path::PathBuf;

use crate::support::{connect_proxy, of_type, read_capture, response_of, run, Scratch, TestPki};

pub(crate) use crate::agents::REPLY;
pub(crate) const API_KEY: &str = "sk-phonehome-test-000000000000000000000000";

fn opencode() -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-deps/node_modules/.bin/opencode");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-tests (the README's test command does)",
        path.display()
    );
    path
}

/// The errors OpenCode logged, for the failure message.
fn opencode_log(dir: &std::path::Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return format!("(no log in {})", dir.display());
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .flat_map(|text| {
            text.lines()
                .rev()
                .take(25)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What one OpenCode run under phonehome produced.
pub(crate) struct OpenCodeRun {
    pub(crate) ran: crate::support::Ran,
    pub(crate) records: Vec<serde_json::Value>,
    pub(crate) capture: String,
    /// CONNECT targets the refusing upstream proxy was asked for.
    refused: Vec<String>,
    port: String,
    log: String,
}

/// Runs `opencode run` under `phonehome run --policy POLICY [EXTRA…]` against the fake server.
async fn run_opencode(policy: &str) -> OpenCodeRun {
    run_opencode_with(policy, &[]).await
}

async fn run_opencode_with(policy: &str, extra: &[&str]) -> OpenCodeRun {
    run_opencode_wrapped(policy, extra, &[]).await
}

/// [`run_opencode_with`], with OpenCode's command line after `wrap` (a program and its
/// arguments, such as `sh -c SCRIPT sh`).
pub(crate) async fn run_opencode_wrapped(
    policy: &str,
    extra: &[&str],
    wrap: &[&str],
) -> OpenCodeRun {
    let opencode = opencode();
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let (mut server, port) = crate::agents::start_server(scratch.dir.path(), &pki).await;
    let port = port.to_string();
    let (firewall, refused) = connect_proxy(false).await;

    let work = scratch.path("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let config = serde_json::json!({
        "$schema": "https://opencode.ai/config.json",
        "provider": {"fake": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Fake local",
            "options": {"baseURL": format!("https://localhost:{port}/v1"), "apiKey": API_KEY},
            "models": {"fake-model": {"name": "Fake model"}},
        }},
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
    });
    std::fs::write(work.join("opencode.json"), config.to_string()).expect("config");

    let out = scratch.path("opencode.jsonl");
    let mut cmd = scratch.phonehome();
    cmd.current_dir(&work)
        // OpenCode takes its project directory from $PWD, not from the process's cwd.
        .env("PWD", &work)
        // phonehome's own way out: everything but loopback goes to the refusing proxy.
        .env("HTTPS_PROXY", format!("http://{firewall}"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        // OpenCode's state in the scratch folder, never the user's.
        .env("HOME", scratch.path("home"))
        .env("XDG_CONFIG_HOME", scratch.path("config"))
        .env("XDG_CACHE_HOME", scratch.path("cache"))
        .env("XDG_STATE_HOME", scratch.path("state"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OPENCODE")) {
        cmd.env_remove(name);
    }
    cmd.arg("run")
        .arg("--extra-ca")
        .arg(&pki.ca_pem)
        .arg("--out")
        .arg(&out);
    cmd.args(["--policy", policy]).args(extra);
    cmd.arg("--")
        .args(wrap)
        .arg(&opencode)
        .args(["run", "-m", "fake/fake-model", "Say hello"]);
    let ran = run(cmd).await;
    let log = opencode_log(&scratch.path("data/opencode/log"));
    let records = read_capture(&out);
    let capture = std::fs::read_to_string(&out).expect("capture");
    let refused = refused.lock().expect("lock").clone();
    drop(server.start_kill());
    OpenCodeRun {
        ran,
        records,
        capture,
        refused,
        port,
        log,
    }
}

impl OpenCodeRun {
    /// Asserts that OpenCode answered and its chat completions were captured decrypted.
    pub(crate) fn assert_answered(&self) {
        let ran = &self.ran;
        assert_eq!(
            ran.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}\nOpenCode's log:\n{}",
            ran.stdout,
            ran.stderr,
            self.log
        );
        assert!(
            ran.stdout.contains(REPLY),
            "the answer arrived: {}",
            ran.stdout
        );
        let chat_url = format!("https://localhost:{}/v1/chat/completions", self.port);
        let chats: Vec<_> = of_type(&self.records, "request")
            .into_iter()
            .filter(|r| r["url"] == chat_url.as_str() && r["method"] == "POST")
            .collect();
        assert!(
            !chats.is_empty(),
            "chat completions captured: {:#?}",
            self.records
        );
        for chat in &chats {
            let response = response_of(&self.records, &chat["flow"]);
            assert_eq!(response["status"], 200);
            let body = response["body"]["data"].as_str().expect("body");
            assert!(body.contains("data: "), "SSE");
        }
        assert!(
            of_type(&self.records, "conn")
                .iter()
                .any(|c| c["transport"] == "tls-intercept" && c["tls"]["sni"] == "localhost"),
            "OpenCode's TLS was intercepted (it trusted phonehome's CA)"
        );
        assert!(
            !self.capture.contains(API_KEY),
            "the provider key is redacted"
        );
    }
}

fn hosts_of(records: &[serde_json::Value], kind: &str) -> std::collections::BTreeSet<String> {
    of_type(records, kind)
        .iter()
        .map(|e| e["target"]["host"].as_str().expect("host").to_owned())
        .filter(|h| h != "localhost" && h != "127.0.0.1")
        .collect()
}

#[tokio::test]
async fn opencode_chat_and_side_traffic_are_captured() {
    let run = run_opencode("observe").await;
    run.assert_answered();
    let attempted = hosts_of(&run.records, "error");
    assert!(
        attempted.contains("models.opencode.ai"),
        "its model catalog fetch is a finding with its host: {attempted:?}"
    );
    assert!(
        run.refused.iter().any(|t| t == "models.opencode.ai:443"),
        "{:?}",
        run.refused
    );
    eprintln!("OpenCode's other outbound attempts: {attempted:?}");
}

#[tokio::test]
async fn opencode_under_llm_only_answers_and_its_side_traffic_is_blocked() {
    let run = run_opencode("llm-only").await;
    run.assert_answered();
    let blocked = hosts_of(&run.records, "blocked");
    assert!(
        blocked.contains("models.opencode.ai"),
        "the model catalog is blocked: {blocked:?}"
    );
    assert!(
        blocked.len() >= 2,
        "the catalog and its package fetch are blocked and reported: {blocked:?}"
    );
    assert!(
        of_type(&run.records, "blocked")
            .iter()
            .all(|b| b["rule"] == "default deny (llm-only)"),
        "{:#?}",
        of_type(&run.records, "blocked")
    );
    assert!(
        run.refused.is_empty(),
        "nothing was even dialled: {:?}",
        run.refused
    );
    assert!(run.ran.stderr.contains("blocked:"), "{}", run.ran.stderr);
    // Blocking does not blind: the sinkhole (on by default for denials) read every blocked
    // HTTPS attempt, so each `blocked` carries the flow of the request it stopped.
    let requests = of_type(&run.records, "request");
    for b in of_type(&run.records, "blocked") {
        let request = requests
            .iter()
            .find(|r| b.get("flow").is_some() && r["flow"] == b["flow"])
            .unwrap_or_else(|| panic!("a blocked attempt without its request: {b}"));
        assert_eq!(request["sinkhole"], "denied", "{request}");
        assert!(
            request["method"].is_string()
                && request["url"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("https://")),
            "{request}"
        );
    }
}

/// Every host OpenCode tried, by any record that names one (connections, failures, blocks),
/// loopback aside.
fn attempted_hosts(records: &[serde_json::Value]) -> std::collections::BTreeSet<String> {
    let mut hosts = hosts_of(records, "conn");
    hosts.extend(hosts_of(records, "error"));
    hosts.extend(hosts_of(records, "blocked"));
    hosts
}

#[tokio::test]
async fn opencode_under_isolate_gives_the_hosts_of_plain_run_and_any_that_bypassed_it() {
    crate::support::skip_without_isolation!();
    let plain = run_opencode("observe").await;
    plain.assert_answered();
    let isolated = run_opencode_with("observe", &["--isolate"]).await;
    isolated.assert_answered();
    assert_eq!(isolated.records[0]["mode"], "isolate");
    let plain_hosts = attempted_hosts(&plain.records);
    let isolated_hosts = attempted_hosts(&isolated.records);
    assert!(
        plain_hosts.contains("models.opencode.ai"),
        "plain run saw the catalog fetch: {plain_hosts:?}"
    );
    let missing: Vec<_> = plain_hosts.difference(&isolated_hosts).collect();
    assert!(
        missing.is_empty(),
        "isolation sees every host plain run sees; missing {missing:?} from {isolated_hosts:?}"
    );
    let bypassed: Vec<_> = isolated_hosts.difference(&plain_hosts).collect();
    let queried: std::collections::BTreeSet<_> = of_type(&isolated.records, "dns")
        .iter()
        .map(|d| d["query"].as_str().expect("query").to_owned())
        .collect();
    eprintln!(
        "OpenCode under --isolate: hosts {isolated_hosts:?}; beyond plain run {bypassed:?}; \
         DNS queries {queried:?}"
    );
    assert!(
        isolated.refused.iter().all(|t| !t.starts_with("localhost")),
        "nothing but the refusing proxy's refusals left: {:?}",
        isolated.refused
    );
}
