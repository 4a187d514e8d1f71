//! The allowlist in other enforcers' formats (srt, Claude Code, Codex, a devcontainer
//! firewall), `policy test --capture` replaying a capture against them, readable denials, and
//! Anthropic's sandbox-runtime (`srt`) enforcing the generated settings on a real curl.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fixtures::{h, text, Synth};
use crate::support::{run, Ran, Scratch, Upstream};

const FORMATS: [&str; 7] = [
    "policy",
    "hosts",
    "json",
    "srt",
    "claude-code",
    "codex",
    "firewall",
];
const LLM_HOST: &str = "llm.enforcer.test";
const REGISTRY_HOST: &str = "npm-mirror.corp.test";
/// Hosts the run contacted and did not need.
const NOT_NEEDED: [&str; 3] = ["models.dev", "unknown.enforcer.test", "us.i.posthog.com"];

/// An OpenCode run: three successful LLM calls and a rate-limited one, a package fetched
/// from a (made-up) registry mirror, the model catalog, telemetry, an unknown host and a
/// loopback server.
fn enforcer_capture(path: &Path) {
    let mut s = Synth::create(path, &["opencode", "run", "fix it"], Default::default());
    let chat = r#"{"model":"m","messages":[{"role":"user","content":"fix the test"}]}"#;
    let json = || h(&[("content-type", "application/json")]);
    let llm = format!("http://{LLM_HOST}/v1/chat/completions");
    for (i, status) in [200, 429, 200, 200].into_iter().enumerate() {
        let body = if status == 200 {
            r#"{"choices":[{"message":{"role":"assistant","content":"ok"}}]}"#
        } else {
            r#"{"error":{"type":"rate_limit_exceeded"}}"#
        };
        s.exchange(
            1_000 * i as i64,
            "POST",
            &llm,
            json(),
            text(chat),
            status,
            json(),
            text(body),
        );
    }
    let get = |s: &mut Synth, at: i64, url: &str| {
        s.exchange(
            at,
            "GET",
            url,
            h(&[("user-agent", "opencode/1.18.33")]),
            None,
            200,
            json(),
            text("{}"),
        );
    };
    get(&mut s, 5_000, "https://models.dev/api.json");
    get(
        &mut s,
        5_100,
        &format!("https://{REGISTRY_HOST}/zod/-/zod-4.1.0.tgz"),
    );
    get(&mut s, 5_200, "https://unknown.enforcer.test/x");
    get(&mut s, 5_300, "http://127.0.0.1:11434/api/tags");
    s.exchange(
        5_400,
        "POST",
        "https://us.i.posthog.com/batch",
        json(),
        text("{}"),
        200,
        json(),
        text("{}"),
    );
    s.finish(6_000);
}

async fn phonehome(scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = scratch.phonehome();
    cmd.args(args);
    run(cmd).await
}

/// Writes the allowlist of `capture` in `format` to a file; its path.
async fn allowlist(scratch: &Scratch, capture: &Path, format: &str) -> PathBuf {
    let out = scratch.path(&format!("allowlist.{format}"));
    let ran = phonehome(
        scratch,
        &[
            "allowlist",
            capture.to_str().expect("utf-8"),
            "--format",
            format,
            "-o",
            out.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(ran.code, Some(0), "{format}: {}", ran.stderr);
    out
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect()
}

#[tokio::test]
async fn each_format_parses_with_its_own_parser_and_matches_its_snapshot() {
    let scratch = Scratch::new();
    let capture = scratch.path("enforcers.jsonl");
    enforcer_capture(&capture);
    for format in FORMATS {
        let file = allowlist(&scratch, &capture, format).await;
        let output = std::fs::read_to_string(&file).expect("read");
        check_parses(format, &file, &output).await;
        insta::assert_snapshot!(format!("allowlist_{format}"), output);
    }
}

async fn check_parses(format: &str, file: &Path, output: &str) {
    let allowed = [LLM_HOST, REGISTRY_HOST];
    match format {
        "policy" => {
            toml::from_str::<toml::Table>(output).expect("TOML");
        }
        "hosts" => assert_eq!(output.lines().collect::<Vec<_>>(), allowed),
        "json" => {
            let json: Value = serde_json::from_str(output).expect("JSON");
            let denied: Vec<&str> = json["deny"]
                .as_array()
                .expect("deny")
                .iter()
                .map(|d| d["host"].as_str().expect("host"))
                .collect();
            for host in NOT_NEEDED {
                assert!(denied.contains(&host), "{host} denied: {output}");
            }
            let models = json["deny"]
                .as_array()
                .expect("deny")
                .iter()
                .find(|d| d["host"] == "models.dev")
                .expect("models.dev");
            assert_eq!(models["purpose"], "model-catalog");
            assert_eq!(models["switch"], "OPENCODE_DISABLE_MODELS_FETCH=1");
        }
        "srt" => {
            let json: Value = serde_json::from_str(output).expect("JSON");
            assert_eq!(strings(&json["network"]["allowedDomains"]), allowed);
            let mut denied = strings(&json["network"]["deniedDomains"]);
            denied.sort_unstable();
            assert_eq!(denied, NOT_NEEDED, "loopback is left to the sandbox");
            let reason = &json["network"]["deniedDomainReasons"]["models.dev"];
            assert!(
                reason
                    .as_str()
                    .is_some_and(|r| r.contains("OPENCODE_DISABLE_MODELS_FETCH=1")),
                "{reason}"
            );
            assert!(
                json["filesystem"].is_object(),
                "srt needs a filesystem object"
            );
        }
        "claude-code" => {
            let json: Value = serde_json::from_str(output).expect("JSON");
            assert_eq!(json["sandbox"]["enabled"], true);
            assert_eq!(
                strings(&json["sandbox"]["network"]["allowedDomains"]),
                allowed
            );
        }
        "codex" => {
            let table: toml::Table = toml::from_str(output).expect("TOML");
            assert_eq!(table["default_permissions"].as_str(), Some("phonehome"));
            let profile = &table["permissions"]["phonehome"];
            assert_eq!(profile["network"]["enabled"].as_bool(), Some(true));
            let domains = profile["network"]["domains"].as_table().expect("domains");
            assert_eq!(domains[LLM_HOST].as_str(), Some("allow"));
            assert_eq!(domains["models.dev"].as_str(), Some("deny"));
            assert_eq!(table["features"]["network_proxy"].as_bool(), Some(true));
        }
        "firewall" => {
            let checked = std::process::Command::new("bash")
                .arg("-n")
                .arg(file)
                .output()
                .expect("bash");
            assert!(
                checked.status.success(),
                "bash -n: {}",
                String::from_utf8_lossy(&checked.stderr)
            );
        }
        other => panic!("no check for {other}"),
    }
}

/// `policy test --capture --json`: its exit code and report.
async fn policy_test(scratch: &Scratch, policy: &str, capture: &Path) -> (Option<i32>, Value) {
    let ran = phonehome(
        scratch,
        &[
            "policy",
            "test",
            policy,
            "--capture",
            capture.to_str().expect("utf-8"),
            "--json",
        ],
    )
    .await;
    let json = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{policy}: {e}: {}\n{}", ran.stdout, ran.stderr));
    (ran.code, json)
}

fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report}"))
}

#[tokio::test]
async fn a_capture_replayed_against_its_own_allowlist_keeps_every_llm_call_and_denies_the_rest() {
    let scratch = Scratch::new();
    let capture = scratch.path("enforcers.jsonl");
    enforcer_capture(&capture);
    for format in FORMATS {
        let file = allowlist(&scratch, &capture, format).await;
        let (code, report) = policy_test(&scratch, file.to_str().expect("utf-8"), &capture).await;
        assert_eq!(code, Some(0), "{format}: {report}");
        assert_eq!(report["llm_successful"], 3, "{format}: {report}");
        assert_eq!(report["llm_broken"], 0, "{format}: {report}");
        let llm = host(&report, LLM_HOST);
        assert_eq!(
            (llm["allowed"].as_u64(), llm["denied"].as_u64()),
            (Some(4), Some(0)),
            "{format}"
        );
        assert_eq!(host(&report, REGISTRY_HOST)["denied"], 0, "{format}");
        for name in NOT_NEEDED.iter().chain(&["127.0.0.1"]) {
            let h = host(&report, name);
            assert_eq!(h["allowed"], 0, "{format}: {name}: {h}");
            assert_eq!(h["denied"], 1, "{format}: {name}: {h}");
        }
    }
}

#[tokio::test]
async fn offline_denies_every_attempt_but_loopback_and_says_which_llm_calls_break() {
    let scratch = Scratch::new();
    let capture = scratch.path("enforcers.jsonl");
    enforcer_capture(&capture);
    let (code, report) = policy_test(&scratch, "offline", &capture).await;
    assert_eq!(code, Some(3), "successful LLM calls would break: {report}");
    for h in report["hosts"].as_array().expect("hosts") {
        let loopback = h["host"] == "127.0.0.1";
        assert_eq!(h["allowed"] == 0, !loopback, "{h}");
        assert_eq!(h["denied"] == 0, loopback, "{h}");
    }
    assert_eq!(report["llm_broken"], 3, "{report}");
    let ran = phonehome(
        &scratch,
        &[
            "policy",
            "test",
            "offline",
            "--capture",
            capture.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(ran.code, Some(3));
    assert!(
        ran.stdout.contains(&format!(
            "the policy would break 3:\n  {LLM_HOST}:80: 3 calls denied by default deny (offline)"
        )),
        "{}",
        ran.stdout
    );
}

#[tokio::test]
async fn a_denial_names_the_rule_the_purpose_and_the_switch() {
    let scratch = Scratch::new();
    let out = scratch.path("denied.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args([
        "--policy",
        "offline",
        "--",
        "curl",
        "-sS",
        "https://models.dev/api.json",
    ]);
    let ran = run(cmd).await;
    let error: Value = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr));
    let error = &error["error"];
    assert_eq!(error["type"], "policy_blocked");
    assert_eq!(error["rule"], "default deny (offline)");
    assert_eq!(error["host"], "models.dev");
    assert_eq!(error["purpose"], "model-catalog (SST / Anomaly (OpenCode))");
    let message = error["message"].as_str().expect("message");
    assert!(
        message.ends_with(
            "Retrying will not help: allowed by adding `models.dev` to the policy, or switch it \
             off with OPENCODE_DISABLE_MODELS_FETCH=1 (opencode)"
        ),
        "{message}"
    );
    // Without the sinkhole the CONNECT itself is refused, with the same explanation.
    let mut cmd = scratch.run_prefix(&scratch.path("off.jsonl"), None);
    cmd.args([
        "--policy",
        "offline",
        "--sinkhole",
        "off",
        "--",
        "curl",
        "-sS",
        "-v",
    ])
    .arg("https://models.dev/api.json");
    let ran = run(cmd).await;
    assert!(
        ran.stderr.contains(
            "x-phonehome-remedy: allowed by adding `models.dev` to the policy, or switch it off \
             with OPENCODE_DISABLE_MODELS_FETCH=1 (opencode)"
        ),
        "{}",
        ran.stderr
    );
}

fn srt() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-deps/node_modules/.bin/srt");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-tests (the README's test command does)",
        path.display()
    );
    path
}

/// Why bubblewrap cannot make a sandbox on this machine (no user namespaces, say), if so.
fn sandbox_unavailable() -> Option<String> {
    let probe = std::process::Command::new("bwrap")
        .args([
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--unshare-net",
            "true",
        ])
        .output();
    match probe {
        Err(e) => Some(format!("bwrap cannot run: {e}")),
        Ok(out) if !out.status.success() => Some(format!(
            "bwrap cannot make a sandbox: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// srt enforces the settings `phonehome allowlist --format srt` wrote: a curl inside its
/// sandbox reaches the host the run needed and is refused the hosts it did not need. srt
/// refuses to dial loopback addresses itself, so the test server plays the proxy srt forwards
/// allowed connections to (its parent proxy, taken from HTTP_PROXY in srt's environment):
/// the allowed request arriving there went through srt's allowlist, without DNS or
/// /etc/hosts.
#[tokio::test]
async fn srt_lets_the_needed_host_through_and_refuses_the_others() {
    let srt = srt();
    if let Some(reason) = sandbox_unavailable() {
        eprintln!("skipped: srt's sandbox cannot start here: {reason}");
        return;
    }
    let scratch = Scratch::new();
    let capture = scratch.path("enforcers.jsonl");
    enforcer_capture(&capture);
    let settings = allowlist(&scratch, &capture, "srt").await;
    let parent = Upstream::start(None).await;
    let script = format!(
        "curl -sS -D- -d hello-through-srt http://{LLM_HOST}/echo; echo; \
         curl -sS -D- http://unknown.enforcer.test/echo; echo; \
         curl -sS -v https://models.dev/api.json 2>&1 | grep '^< HTTP'"
    );
    let mut cmd = tokio::process::Command::new(&srt);
    cmd.arg("--settings")
        .arg(&settings)
        .arg("-c")
        .arg(&script)
        .current_dir(scratch.dir.path())
        .env("HOME", scratch.dir.path())
        .env("HTTP_PROXY", format!("http://127.0.0.1:{}", parent.port()))
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", parent.port()))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let out = ran.stdout.to_ascii_lowercase();
    let (allowed, rest) = out.split_once("hello-through-srt").unwrap_or_else(|| {
        panic!(
            "the allowed request did not reach the server: {}",
            ran.stdout
        )
    });
    assert!(allowed.starts_with("http/1.1 200"), "{}", ran.stdout);
    assert!(
        allowed.contains(&format!("[\"host\",\"{LLM_HOST}\"]")),
        "the server saw the allowed host's request: {}",
        ran.stdout
    );
    assert!(
        rest.contains("http/1.1 403") && rest.contains("x-proxy-error: blocked-by-allowlist"),
        "srt refused the unneeded host: {}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("403 phonehome allowlist: model-catalog (SST / Anomaly (OpenCode))"),
        "srt gave the allowlist's reason for the denied host: {}",
        ran.stdout
    );
}

/// Loopback the run needed (a local LLM server) is allowed in phonehome's own lists, and left
/// out of srt's, as the README says: the sandbox has a loopback of its own on Linux.
#[tokio::test]
async fn srt_leaves_out_loopback_even_when_the_run_needed_it() {
    let scratch = Scratch::new();
    let capture = scratch.path("local-llm.jsonl");
    let mut s = Synth::create(&capture, &["opencode", "run", "fix it"], Default::default());
    let json = || h(&[("content-type", "application/json")]);
    for at in [0, 1_000] {
        s.exchange(
            at,
            "POST",
            "http://127.0.0.1:11434/v1/chat/completions",
            json(),
            text(r#"{"model":"m","messages":[{"role":"user","content":"fix it"}]}"#),
            200,
            json(),
            text(r#"{"choices":[{"message":{"role":"assistant","content":"ok"}}]}"#),
        );
    }
    s.exchange(
        2_000,
        "GET",
        "http://[::1]:8080/x",
        json(),
        None,
        200,
        json(),
        text("{}"),
    );
    s.finish(3_000);
    let listed =
        std::fs::read_to_string(allowlist(&scratch, &capture, "json").await).expect("read");
    let listed: Value = serde_json::from_str(&listed).expect("JSON");
    let allowed: Vec<_> = listed["allow"]
        .as_array()
        .expect("allow")
        .iter()
        .map(|a| a["host"].as_str().expect("host"))
        .collect();
    assert!(allowed.contains(&"127.0.0.1"), "needed: {listed}");
    let srt = std::fs::read_to_string(allowlist(&scratch, &capture, "srt").await).expect("read");
    let settings: Value = serde_json::from_str(&srt).expect("JSON");
    for list in ["allowedDomains", "deniedDomains"] {
        let hosts = strings(&settings["network"][list]);
        assert!(
            !hosts
                .iter()
                .any(|h| h.contains("127.0.0.1") || h.contains("::1")),
            "{list} has no loopback: {srt}"
        );
    }
}
