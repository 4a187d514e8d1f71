//! Each agent, asked by the LLM stand-in (tool-call mode) to run `curl` against a local server
//! with its own shell tool: the curl's connection and request are joined to that tool call
//! (`phonehome llm --json`, `tool_calls[].caused`), by command line, and the agent's own
//! connections are not.

use serde_json::Value;

use super::{AgentRun, REPLY};
use crate::support::{of_type, Upstream};

/// The local server the tool's command reaches, and that command.
pub struct Target {
    pub server: Upstream,
}

impl Target {
    pub async fn start() -> Self {
        Target {
            server: Upstream::start(None).await,
        }
    }

    /// `curl` to the server's `/hello`, its output shown to the model.
    pub fn command(&self) -> String {
        format!("curl -sS http://127.0.0.1:{}/hello", self.server.port())
    }
}

impl AgentRun {
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
