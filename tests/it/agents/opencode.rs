//! OpenCode (`opencode-ai`, a Bun binary) through an `opencode.json` provider with `baseURL`,
//! under the same harness as the other agents (tests/it/opencode.rs has its own tests of
//! policies and isolation).

use super::tool_calls::Target;
use super::{check_observed, executable, pinned, run_agent_with, AgentRun, Launch, PROMPT};

const KEY: &str = "sk-phonehome-opencode-0000000000000000000000";
const PACKAGE: &str = "opencode-ai";

/// `opencode run PROMPT`, with `switch` (`NAME=value`) set.
async fn run_opencode(switch: Option<String>) -> AgentRun {
    run_opencode_tool(switch, None).await
}

/// [`run_opencode`], with the stand-in asking for `target`'s command first (OpenCode's `bash`
/// permission set to `allow` in its configuration).
pub(super) async fn run_opencode_tool(switch: Option<String>, target: Option<&Target>) -> AgentRun {
    let tool = target.is_some();
    run_agent_with(target, |place| {
        let mut config = serde_json::json!({
            "provider": {"fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake local",
                "options": {"baseURL": format!("https://localhost:{}/v1", place.port), "apiKey": KEY},
                "models": {"fake-model": {"name": "Fake model"}},
            }},
            "model": "fake/fake-model",
            "small_model": "fake/fake-model",
        });
        if tool {
            config["permission"] = serde_json::json!({"bash": "allow"});
        }
        std::fs::write(place.work().join("opencode.json"), config.to_string()).expect("config");
        let mut env = Vec::new();
        if let Some((name, value)) = switch.as_deref().and_then(|s| s.split_once('=')) {
            env.push((name.to_owned(), value.to_owned()));
        }
        Launch {
            exe: executable("opencode"),
            args: ["run", "-m", "fake/fake-model", PROMPT].map(str::to_owned).to_vec(),
            env,
            stdin: None,
        }
    })
    .await
}

#[tokio::test]
async fn opencode_answers_under_the_sinkhole_and_its_model_catalog_fetch_is_as_the_catalog_says() {
    let default = run_opencode(None).await;
    default.assert_common("opencode", PACKAGE, KEY, true);
    // OpenCode sends no telemetry in this run: its only requests outside are GETs without a
    // body (its model catalog, the package lookup of its plugin), so nothing is read as
    // telemetry.
    let telemetry = default.telemetry();
    assert!(telemetry.is_empty(), "{telemetry:#?}");
    check_observed("opencode", &pinned(PACKAGE), &default, |s| {
        run_opencode(Some(s))
    })
    .await;
}

/// OpenCode runs the stand-in's `curl` with its `bash` tool, and the request is joined to that
/// tool call.
#[tokio::test]
async fn opencodes_bash_tool_call_is_joined_to_the_request_it_made() {
    let target = Target::start().await;
    let run = run_opencode_tool(None, Some(&target)).await;
    run.assert_tool_call_joined(&target);
}
