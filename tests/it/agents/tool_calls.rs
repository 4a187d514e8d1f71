//! Each agent, asked by the LLM stand-in (tool-call mode) to run `curl` against a local HTTPS
//! server with its own shell tool: the curl's connection and request (intercepted, as the
//! agent's own LLM calls are) are joined to that tool call (`phonehome llm --json`,
//! `tool_calls[].caused`), by command line, and the agent's own connections are not.

use std::path::Path;

use serde_json::Value;

use super::{AgentRun, REPLY};
use crate::support::{of_type, Cert, Scratch, TestPki, Upstream};

/// The local HTTPS server the tool's command reaches (its certificate from a CA of its own,
/// given to phonehome with `--extra-ca`; the curl trusts phonehome's CA through the
/// environment `run` sets), that command, and extra `phonehome run` arguments.
pub struct Target {
    pub server: Upstream,
    pki: TestPki,
    /// Arguments added to `phonehome run` (`--otlp=…`).
    pub run_args: Vec<String>,
    _dir: Scratch,
}

impl Target {
    pub async fn start() -> Self {
        let dir = Scratch::new();
        let pki = TestPki::new(dir.dir.path());
        let tls = pki.server_config(Cert::Valid, &[b"http/1.1"]);
        Target {
            server: Upstream::start(Some(tls)).await,
            pki,
            run_args: Vec::new(),
            _dir: dir,
        }
    }

    /// `curl` to the server's `/hello` over HTTPS, its output shown to the model.
    pub fn command(&self) -> String {
        format!("curl -sS https://127.0.0.1:{}/hello", self.server.port())
    }

    /// The CA that issued the server's certificate.
    pub fn ca_pem(&self) -> &Path {
        &self.pki.ca_pem
    }
}

impl AgentRun {
    /// The tool call (`llm --json`) whose command reaches `target`, and the curl's entry in
    /// its `caused`.
    pub fn curl_call(&self, target: &Target) -> (Value, Value) {
        let port = target.server.port();
        let call = self
            .calls()
            .iter()
            .flat_map(|c| c["tool_calls"].as_array().into_iter().flatten())
            .find(|t| {
                t["command"]
                    .as_str()
                    .is_some_and(|c| c.contains(&format!(":{port}/hello")))
            })
            .cloned()
            .unwrap_or_else(|| panic!("the tool call with the command\n{}", self.capture));
        let caused = call["caused"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["port"] == port)
            .cloned()
            .unwrap_or_else(|| panic!("the curl's connection is joined: {call:#}"));
        (call, caused)
    }

    /// The tool call ran, its result went back, the final answer arrived, and the curl's
    /// connection is joined to the call by its command line, with its request.
    pub fn assert_tool_call_joined(&self, target: &Target) {
        let context = || {
            format!(
                "exit {:?}\n{}\n{}",
                self.ran.code, self.ran.stdout, self.ran.stderr
            )
        };
        assert_eq!(self.ran.code, Some(0), "{}", context());
        assert!(self.ran.stdout.contains(REPLY), "{}", context());
        let port = target.server.port();
        let calls = self.calls();
        let tool_calls: Vec<&Value> = calls
            .iter()
            .flat_map(|c| c["tool_calls"].as_array().into_iter().flatten())
            .collect();
        let call = tool_calls
            .iter()
            .find(|t| {
                t["command"]
                    .as_str()
                    .is_some_and(|c| c.contains(&format!(":{port}/hello")))
            })
            .unwrap_or_else(|| {
                panic!(
                    "the tool call with the command: {tool_calls:#?}\n{}",
                    context()
                )
            });
        assert!(call["result"].is_string(), "its result went back: {call:#}");
        let caused = call["caused"].as_array().expect("caused");
        let curl = caused
            .iter()
            .find(|c| c["port"] == port && c["host"] == "127.0.0.1")
            .unwrap_or_else(|| {
                panic!(
                    "the curl's connection is joined: {call:#}\n{}",
                    self.capture
                )
            });
        assert_eq!(curl["method"], "argv", "{curl:#}");
        assert_eq!(curl["process"], "curl", "{curl:#}");
        let conn = of_type(&self.records, "conn")
            .into_iter()
            .find(|c| c["conn"] == curl["conn"])
            .unwrap_or_else(|| panic!("the curl's conn record: {curl:#}"));
        assert_eq!(conn["transport"], "tls-intercept", "over HTTPS: {conn:#}");
        let flows = curl["flows"].as_array().expect("flows");
        let requests = of_type(&self.records, "request");
        assert!(
            flows.iter().any(|f| requests.iter().any(
                |r| &r["flow"] == f && r["url"].as_str().is_some_and(|u| u.ends_with("/hello"))
            )),
            "the curl's request is among its flows: {curl:#}"
        );
        // The report says the same: a "Caused by tool calls" row, and the request counted as
        // made by a tool command on its domain.
        let report = self.report();
        let rows = report["caused"].as_array().expect("caused");
        assert!(
            rows.iter()
                .any(|r| r["port"] == port && r["method"] == "argv" && r["process"] == "curl"),
            "{rows:#?}"
        );
        let domain = report["domains"]
            .as_array()
            .expect("domains")
            .iter()
            .find(|d| d["domain"] == "127.0.0.1")
            .unwrap_or_else(|| panic!("127.0.0.1 in the domains: {:#}", report["domains"]));
        assert!(domain["tool_requests"].as_u64() >= Some(1), "{domain:#}");
        assert!(self
            .phonehome(&["report"])
            .contains("## Caused by tool calls"));
        // The agent's own connections (its LLM calls) are not said to be caused.
        for t in &tool_calls {
            for c in t["caused"].as_array().into_iter().flatten() {
                assert_ne!(
                    c["host"], "localhost",
                    "an LLM connection joined to a tool: {t:#}"
                );
            }
        }
    }
}
