//! Gemini CLI (`@google/gemini-cli`, a node bundle) through `GOOGLE_GEMINI_BASE_URL` with an API
//! key (`security.auth.selectedType = "gemini-api-key"`), headless (`gemini -p`) in a trusted
//! workspace. Before each turn it asks a small model to route the prompt: a side call.

use serde_json::{json, Value};

use super::tool_calls::Target;
use super::{check_observed, executable, pinned, run_agent_with, AgentRun, Launch, PROMPT};

const KEY: &str = "AIzaSyPhonehomeGeminiTest000000000000000";
const PACKAGE: &str = "@google/gemini-cli";

/// Merges `patch` into `base`, objects key by key.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(base.entry(k).or_insert(Value::Null), v);
            }
        }
        (base, patch) => *base = patch,
    }
}

/// `gemini -p PROMPT` with `switch` (a settings.json snippet) merged into its settings.
async fn run_gemini(switch: Option<String>) -> AgentRun {
    run_gemini_tool(switch, None).await
}

/// [`run_gemini`], with the stand-in asking for `target`'s command first; then Gemini CLI runs
/// tools without asking (`--yolo`).
async fn run_gemini_tool(switch: Option<String>, target: Option<&Target>) -> AgentRun {
    let tool = target.is_some();
    run_agent_with(target, |place| {
        let dir = place.home().join(".gemini");
        std::fs::create_dir_all(&dir).expect(".gemini");
        let mut settings = json!({"security": {"auth": {"selectedType": "gemini-api-key"}}});
        if let Some(s) = switch {
            merge(
                &mut settings,
                serde_json::from_str(&format!("{{{s}}}")).expect("snippet"),
            );
        }
        std::fs::write(dir.join("settings.json"), settings.to_string()).expect("settings");
        Launch {
            exe: executable("gemini"),
            args: ["-p", PROMPT]
                .into_iter()
                .chain(tool.then_some("--yolo"))
                .map(str::to_owned)
                .collect(),
            env: [
                (
                    "GOOGLE_GEMINI_BASE_URL",
                    format!("https://localhost:{}", place.port),
                ),
                ("GEMINI_API_KEY", KEY.to_owned()),
                ("GEMINI_CLI_TRUST_WORKSPACE", "true".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v))
            .to_vec(),
            stdin: None,
        }
    })
    .await
}

#[tokio::test]
async fn gemini_cli_answers_through_phonehome_and_its_router_is_a_side_call() {
    let default = run_gemini(None).await;
    default.assert_common("gemini-cli", PACKAGE, KEY, false);
    let calls = default.calls();
    let router = calls
        .iter()
        .find(|c| c["meta"] == true)
        .unwrap_or_else(|| panic!("the routing call: {calls:#?}"));
    let reason = router["meta_reason"].as_str().expect("meta_reason");
    assert!(
        reason.contains("no tools") && reason.contains("complexity_score"),
        "{reason}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c["meta"] == false && c["streaming"] == true),
        "{calls:#?}"
    );
    // Its telemetry: one Clearcut `/log?format=json` batch; in this `-p` run it holds only the
    // session start.
    default.assert_telemetry_names("clearcut", &["start_session"]);
    check_observed("gemini-cli", &pinned(PACKAGE), &default, run_gemini_with).await;
}

async fn run_gemini_with(switch: String) -> AgentRun {
    run_gemini(Some(switch)).await
}

/// Gemini CLI runs the stand-in's `curl` with `run_shell_command`, and the request is joined to
/// that tool call.
#[tokio::test]
async fn gemini_clis_shell_tool_call_is_joined_to_the_request_it_made() {
    let target = Target::start().await;
    let run = run_gemini_tool(None, Some(&target)).await;
    run.assert_tool_call_joined(&target);
}
