//! The four real agents (OpenCode, Claude Code, Codex CLI, Gemini CLI; pinned in
//! tests/node/package.json, installed by scripts/setup-tests) under
//! `phonehome run --sinkhole all`, each configured as a user would to reach the tests' own LLM
//! server (tests/agents/fake_llm.py) over HTTPS: its certificate comes from a test CA that only
//! phonehome is given (`--extra-ca`); the agent trusts phonehome's CA through the environment
//! `run` sets. phonehome's only way out is a local proxy that refuses everything, so every
//! other attempt is answered by the sinkhole and recorded whole: nothing leaves the machine.
//!
//! Per agent: the answer arrives, the LLM calls are intercepted and decode (prompt, answer,
//! tokens, session), every failed attempt names its host, the API key never reaches the
//! capture, the report names the agent, its version and the provider; side calls carry a
//! reason; the telemetry it sends in the run is read by `phonehome telemetry` (protocol and
//! event names; see each agent's file); and the catalog's `observed` requests for the agent are
//! checked against a run, then against one run per switch.

mod claude_code;
mod codex;
mod gemini_cli;
mod opencode;
pub(crate) mod tool_calls;
mod tool_spans;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::support::{connect_proxy, of_type, read_capture, Ran, Scratch, TestPki};

pub const REPLY: &str = "PHONEHOME-FAKE-REPLY";
pub const PROMPT: &str = "Say hello";

/// An agent's executable in .test-deps.
pub fn executable(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".test-deps/node_modules/.bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-tests (the README's test command does)",
        path.display()
    );
    path
}

/// The version tests/node/package.json pins for `package`.
pub fn pinned(package: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/package.json");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("package.json")).expect("json");
    json["dependencies"][package]
        .as_str()
        .unwrap_or_else(|| panic!("{package} is not pinned"))
        .to_owned()
}

/// Where one run keeps its state: a scratch folder with the agent's HOME and XDG dirs, its
/// working directory, and the LLM server's port.
pub struct Place {
    pub scratch: Scratch,
    pub port: u16,
}

impl Place {
    pub fn home(&self) -> PathBuf {
        self.scratch.path("home")
    }

    pub fn work(&self) -> PathBuf {
        self.scratch.path("work")
    }
}

/// How to run one agent: what its configuration files hold, its environment and arguments.
pub struct Launch {
    pub exe: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Written to the agent's standard input, which is then closed (else /dev/null).
    pub stdin: Option<String>,
}

/// What one run produced; the scratch folder lives as long as this.
pub struct AgentRun {
    pub place: Place,
    pub ran: Ran,
    pub out: PathBuf,
    pub records: Vec<Value>,
    pub capture: String,
}

/// The fake LLM server over HTTPS, with a certificate of `pki`'s CA.
pub(crate) async fn start_server(dir: &Path, pki: &TestPki) -> (tokio::process::Child, u16) {
    start_server_with(dir, pki, None).await
}

/// [`start_server`], in tool-call mode when `tool_command` is given: its first answer asks
/// the agent to run that shell command with its own shell tool.
async fn start_server_with(
    dir: &Path,
    pki: &TestPki,
    tool_command: Option<&str>,
) -> (tokio::process::Child, u16) {
    let (cert, key) = pki.write_server_pem(dir);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake_llm.py");
    let mut server = tokio::process::Command::new("python3");
    if let Some(command) = tool_command {
        server.env("FAKE_LLM_TOOL_COMMAND", command);
    }
    let mut server = server
        .arg(&script)
        .args(["--reply", REPLY, "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 starts the fake LLM server");
    let port = BufReader::new(server.stdout.take().expect("stdout"))
        .lines()
        .next_line()
        .await
        .expect("read")
        .expect("the fake LLM server prints its port")
        .parse()
        .expect("a port number");
    (server, port)
}

/// Runs the agent that `launch` configures under
/// `phonehome run --sinkhole all --extra-ca CA -- EXE ARGS…` and reads its capture.
pub async fn run_agent(launch: impl FnOnce(&Place) -> Launch) -> AgentRun {
    run_agent_with(None, launch).await
}

/// [`run_agent`] with the LLM stand-in in tool-call mode when `tool` is given: it asks for
/// the tool's command, phonehome trusts the tool's server's CA too and takes its extra `run`
/// arguments.
pub async fn run_agent_with(
    tool: Option<&tool_calls::Target>,
    launch: impl FnOnce(&Place) -> Launch,
) -> AgentRun {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let command = tool.map(tool_calls::Target::command);
    let (mut server, port) = start_server_with(scratch.dir.path(), &pki, command.as_deref()).await;
    let (firewall, _refused) = connect_proxy(false).await;
    let place = Place { scratch, port };
    for dir in ["home", "work", "config", "data", "cache", "state"] {
        std::fs::create_dir_all(place.scratch.path(dir)).expect("scratch dir");
    }
    let launch = launch(&place);
    let out = place.scratch.path("capture.jsonl");
    let mut cmd = place.scratch.phonehome();
    cmd.current_dir(place.work())
        .env("PWD", place.work())
        // phonehome's own way out: everything but loopback goes to the refusing proxy.
        .env("HTTPS_PROXY", format!("http://{firewall}"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("HOME", place.home())
        .env("XDG_CONFIG_HOME", place.scratch.path("config"))
        .env("XDG_CACHE_HOME", place.scratch.path("cache"))
        .env("XDG_STATE_HOME", place.scratch.path("state"));
    for (name, _) in std::env::vars().filter(|(n, _)| agent_setting(n)) {
        cmd.env_remove(name);
    }
    cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
    cmd.args(["run", "--sinkhole", "all", "--extra-ca"])
        .arg(&pki.ca_pem);
    if let Some(tool) = tool {
        cmd.arg("--extra-ca")
            .arg(tool.ca_pem())
            .args(&tool.run_args);
    }
    cmd.arg("--out")
        .arg(&out)
        .arg("--")
        .arg(&launch.exe)
        .args(&launch.args);
    let ran = run_with_stdin(cmd, launch.stdin).await;
    drop(server.start_kill());
    let capture = std::fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nstdout:\n{}\nstderr:\n{}",
            out.display(),
            ran.stdout,
            ran.stderr
        )
    });
    let records = read_capture(&out);
    AgentRun {
        place,
        ran,
        out,
        records,
        capture,
    }
}

/// Settings of the user's own agents that must not reach the agent under test.
fn agent_setting(name: &str) -> bool {
    [
        "OPENCODE",
        "ANTHROPIC",
        "CLAUDE",
        "CODEX",
        "OPENAI",
        "GEMINI",
        "GOOGLE",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        || ["DISABLE_TELEMETRY", "DO_NOT_TRACK"].contains(&name)
}

/// Runs phonehome to completion with `stdin` written and closed (a hang guard of 120 s, not a
/// timing assertion).
async fn run_with_stdin(mut cmd: tokio::process::Command, stdin: Option<String>) -> Ran {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("phonehome starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the agent finished within the hang guard")
        .expect("phonehome ran");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl AgentRun {
    fn context(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.ran.code, self.ran.stdout, self.ran.stderr
        )
    }

    /// `phonehome ARGS… CAPTURE`: its standard output; asserts it succeeded.
    pub fn phonehome(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(crate::support::BIN)
            .args(args)
            .arg(&self.out)
            .output()
            .expect("phonehome runs");
        assert!(
            out.status.success(),
            "phonehome {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// The decoded LLM calls, side calls included.
    pub fn calls(&self) -> Vec<Value> {
        self.phonehome(&["llm", "--json", "--include-meta"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("llm --json line"))
            .collect()
    }

    /// `phonehome telemetry --json` on the capture: one summary a host.
    pub fn telemetry(&self) -> Vec<Value> {
        self.phonehome(&["telemetry", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("telemetry --json line"))
            .collect()
    }

    /// Some host's telemetry was read as `protocol` and lists every one of `events` by name.
    pub fn assert_telemetry_names(&self, protocol: &str, events: &[&str]) {
        let hosts = self.telemetry();
        let names = |h: &Value| -> Vec<String> {
            h["event_names"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["name"].as_str().map(str::to_owned))
                .collect()
        };
        assert!(
            hosts.iter().any(|h| {
                let listed = names(h);
                h["protocols"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["protocol"] == protocol))
                    && events.iter().all(|e| listed.iter().any(|n| n == e))
            }),
            "{protocol} telemetry naming {events:?}: {hosts:#?}"
        );
    }

    pub fn report(&self) -> Value {
        serde_json::from_str(&self.phonehome(&["report", "--format", "json"])).expect("report")
    }

    /// Requests to hosts other than loopback, as (host, method, path without query).
    pub fn outside_requests(&self) -> Vec<(String, String, String)> {
        of_type(&self.records, "request")
            .into_iter()
            .filter_map(|r| {
                let rest = r["url"].as_str()?.split_once("://")?.1;
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let (host, _) = phonehome_record::split_authority(authority, 443);
                let path = path.split('?').next().unwrap_or_default();
                (!phonehome_record::is_loopback(host)).then(|| {
                    let method = r["method"].as_str().unwrap_or_default().to_owned();
                    (host.to_owned(), method, path.to_owned())
                })
            })
            .collect()
    }

    /// Everything every agent must show: see the module docs. `key` is the planted API key.
    /// Gemini CLI sends no session id (`sends_session` false): then none is made up.
    pub fn assert_common(&self, agent: &str, package: &str, key: &str, sends_session: bool) {
        assert_eq!(self.ran.code, Some(0), "{}", self.context());
        assert!(self.ran.stdout.contains(REPLY), "{}", self.context());
        self.assert_intercepted();
        self.assert_decoded(sends_session);
        self.assert_failures_named();
        for text in [
            &self.capture,
            &self.phonehome(&["llm", "--json", "--include-meta"]),
            &self.phonehome(&["report"]),
        ] {
            assert!(!text.contains(key), "the planted API key leaked");
        }
        self.assert_report(agent, package);
    }

    /// The LLM server's TLS was intercepted, and every call to it was answered 200.
    fn assert_intercepted(&self) {
        assert!(
            of_type(&self.records, "conn").iter().any(|c| {
                c["transport"] == "tls-intercept"
                    && c["tls"]["sni"] == "localhost"
                    && c["target"]["port"] == self.place.port
            }),
            "the agent's TLS to the LLM server was intercepted: {}",
            self.context()
        );
        let prefix = format!("https://localhost:{}/", self.place.port);
        let llm: Vec<_> = of_type(&self.records, "request")
            .into_iter()
            .filter(|r| r["url"].as_str().is_some_and(|u| u.starts_with(&prefix)))
            .collect();
        assert!(!llm.is_empty(), "{}", self.context());
        for r in llm {
            let response = crate::support::response_of(&self.records, &r["flow"]);
            assert_eq!(response["status"], 200, "{r}");
        }
    }

    /// A turn decodes: the prompt, the answer, tokens, the session id.
    fn assert_decoded(&self, sends_session: bool) {
        let calls = self.calls();
        let turn = calls
            .iter()
            .find(|c| c["meta"] == false && c["host"] == "localhost")
            .unwrap_or_else(|| panic!("a decoded turn: {calls:#?}"));
        let text = |messages: &Value| messages.to_string();
        assert!(text(&turn["input_messages"]).contains(PROMPT), "{turn:#}");
        assert!(text(&turn["output_messages"]).contains(REPLY), "{turn:#}");
        assert_eq!(turn["usage"]["input_tokens"], 10, "{turn:#}");
        assert_eq!(turn["usage"]["output_tokens"], 5, "{turn:#}");
        assert_eq!(turn["session"].is_string(), sends_session, "{turn:#}");
        assert!(turn["error"].is_null(), "{turn:#}");
    }

    /// Every failure record names a host, and every attempt outside was read by the sinkhole.
    fn assert_failures_named(&self) {
        for e in of_type(&self.records, "error") {
            let host = e["target"]["host"].as_str().unwrap_or_default();
            assert!(!host.is_empty(), "a failure without its host: {e}");
        }
        for r in of_type(&self.records, "request") {
            let url = r["url"].as_str().expect("url");
            if !url.contains("://localhost:") {
                assert_eq!(r["sinkhole"], "unreachable", "{r}");
            }
        }
    }

    /// The report names the agent and its pinned version, the configured provider, and
    /// advises off no essential host.
    fn assert_report(&self, agent: &str, package: &str) {
        let report = self.report();
        let agents = &report["setup"]["agents"];
        assert!(
            agents
                .as_array()
                .expect("agents")
                .iter()
                .any(|a| a["name"] == agent
                    && a["version"].as_str() == Some(pinned(package).as_str())),
            "{agents:#}"
        );
        assert_eq!(report["provider"], "localhost", "{:#}", report["domains"]);
        assert_other_providers_got_llm_calls(&report);
        let purpose_of = |host: &Value| {
            report["domains"]
                .as_array()
                .expect("domains")
                .iter()
                .find(|d| &d["domain"] == host)
                .map(|d| d["purpose"].clone())
        };
        let observed = observed(agent, &pinned(package));
        for advice in report["hardening"].as_array().expect("hardening") {
            let purpose = &advice["purpose"];
            assert!(purpose != "llm-api" && purpose != "local", "{advice:#}");
            let switch = advice["env"].as_str().or(advice["config"].as_str());
            for host in advice["hosts"].as_array().expect("hosts") {
                let domain = purpose_of(host).unwrap_or_default();
                if domain != "llm-api" && domain != "local" {
                    continue;
                }
                // On a host the agent needs, only a switch seen to stop the non-essential
                // requests there, never the host.
                assert!(
                    observed.iter().any(|(h, o)| h == host
                        && o["stopped_by"]
                            .as_array()
                            .is_some_and(|l| l.iter().any(|s| s.as_str() == switch))),
                    "an essential host advised off: {advice:#}"
                );
            }
        }
    }

    /// The domain table's concern for `host`, which the run must have contacted.
    pub fn concern(&self, host: &str) -> String {
        let report = self.report();
        let domains = report["domains"].as_array().expect("domains");
        let row = domains
            .iter()
            .find(|d| d["domain"] == host)
            .unwrap_or_else(|| panic!("{host} contacted: {domains:#?}"));
        row["concern"].as_str().expect("concern").to_owned()
    }

    /// Whether any request outside matches the catalog's `observed` entry on `host`.
    fn shows(&self, host: &str, observed: &Value) -> bool {
        self.outside_requests()
            .iter()
            .any(|(h, method, path)| h == host && matches(observed, method, path))
    }
}

/// A host is called an LLM provider other than the configured one only when LLM calls went
/// there: not for an LLM vendor's host that got only the agent's telemetry.
fn assert_other_providers_got_llm_calls(report: &Value) {
    let llm = report["llm"].as_array().expect("llm");
    for d in report["domains"].as_array().expect("domains") {
        let concern = d["concern"].as_str().expect("concern");
        if concern.contains("other than the configured provider") {
            assert!(
                llm.iter().any(|row| row["host"] == d["domain"]),
                "named an LLM provider without an LLM call there: {d:#}"
            );
        }
    }
}

/// The catalog's `observed` entries for `agent`, as (host, entry), checked to name `version`.
pub fn observed(agent: &str, version: &str) -> Vec<(String, Value)> {
    let out = std::process::Command::new(crate::support::BIN)
        .args(["catalog", "--json"])
        .output()
        .expect("phonehome catalog");
    let endpoints: Value = serde_json::from_slice(&out.stdout).expect("catalog json");
    let mut found = Vec::new();
    for e in endpoints.as_array().expect("endpoints") {
        for o in e["observed"].as_array().into_iter().flatten() {
            if o["agent"] == agent {
                assert_eq!(
                    o["version"], version,
                    "verified with the pinned version: {o}"
                );
                found.push((e["hosts"][0].as_str().expect("host").to_owned(), o.clone()));
            }
        }
    }
    assert!(
        !found.is_empty(),
        "the catalog has observations for {agent}"
    );
    found
}

/// The catalog's own rule (`Observed::matches`), restated: `METHOD /path`, `*` within a part.
fn matches(observed: &Value, method: &str, path: &str) -> bool {
    observed["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(Value::as_str)
        .any(|r| {
            let (m, pattern) = r.split_once(' ').expect("METHOD /path");
            let (pattern, path): (Vec<_>, Vec<_>) =
                (pattern.split('/').collect(), path.split('/').collect());
            m == method
                && pattern.len() == path.len()
                && pattern
                    .iter()
                    .zip(&path)
                    .all(|(p, s)| match p.split_once('*') {
                        None => p == s,
                        Some((head, tail)) => s.starts_with(head) && s.ends_with(tail),
                    })
        })
}

/// Checks the catalog's observations for `agent` against a run without switches (each shows
/// up) and one run per switch (`with_switch` runs the agent with it): the requests it is said
/// to stop are gone, the ones it is said not to stop are still there.
pub async fn check_observed<F, Fut>(agent: &str, version: &str, default: &AgentRun, with_switch: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = AgentRun>,
{
    let observed = observed(agent, version);
    for (host, o) in &observed {
        assert!(
            default.shows(host, o),
            "{host} {o}: not seen in {:?}",
            default.outside_requests()
        );
    }
    let mut switches: Vec<String> = observed
        .iter()
        .flat_map(|(_, o)| {
            let list = |k: &str| o[k].as_array().cloned().unwrap_or_default();
            list("stopped_by").into_iter().chain(list("not_stopped_by"))
        })
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    switches.sort();
    switches.dedup();
    for switch in switches {
        let run = with_switch(switch.clone()).await;
        assert_eq!(run.ran.code, Some(0), "with {switch}: {}", run.context());
        for (host, o) in &observed {
            let has = |k: &str| {
                o[k].as_array()
                    .is_some_and(|l| l.iter().any(|s| s == switch.as_str()))
            };
            if has("stopped_by") {
                assert!(
                    !run.shows(host, o),
                    "{switch} stops {host} {o}, yet: {:?}",
                    run.outside_requests()
                );
            }
            if has("not_stopped_by") {
                assert!(
                    run.shows(host, o),
                    "{switch} does not stop {host} {o}, yet it is gone: {:?}",
                    run.outside_requests()
                );
            }
        }
    }
}
