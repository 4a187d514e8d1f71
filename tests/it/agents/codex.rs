//! Codex CLI (`@openai/codex`, a static Rust binary with its own TLS stack behind a node
//! launcher) through a `[model_providers.*]` entry with `wire_api = "responses"` in
//! `$CODEX_HOME/config.toml`, headless (`codex exec`).

use super::tool_calls::Target;
use super::{check_observed, executable, pinned, run_agent_with, AgentRun, Launch, PROMPT};

const KEY: &str = "sk-phonehome-codex-000000000000000000000000";
const PACKAGE: &str = "@openai/codex";

/// `codex exec PROMPT` with `switch` (a config.toml snippet) added to its configuration.
async fn run_codex(switch: Option<String>) -> AgentRun {
    run_codex_tool(switch, None).await
}

/// [`run_codex`], with the stand-in asking for `target`'s command first; then Codex runs commands
/// without approval or sandbox (`--dangerously-bypass-approvals-and-sandbox`: its sandbox
/// would refuse the network).
async fn run_codex_tool(switch: Option<String>, target: Option<&Target>) -> AgentRun {
    let tool = target.is_some();
    run_agent_with(target, |place| {
        let home = place.home().join(".codex");
        std::fs::create_dir_all(&home).expect("CODEX_HOME");
        let provider = format!(
            "model = \"fake-model\"\nmodel_provider = \"fake\"\n\n\
             [model_providers.fake]\nname = \"Fake local\"\n\
             base_url = \"https://localhost:{}/v1\"\nenv_key = \"FAKE_API_KEY\"\n\
             wire_api = \"responses\"\n",
            place.port
        );
        // A top-level key must come before the first table.
        let config = match switch {
            Some(s) if !s.starts_with('[') => format!("{s}\n{provider}"),
            Some(s) => format!("{provider}\n{s}\n"),
            None => provider,
        };
        std::fs::write(home.join("config.toml"), config).expect("config.toml");
        Launch {
            exe: executable("codex"),
            args: ["exec", "--skip-git-repo-check"]
                .into_iter()
                .chain(tool.then_some("--dangerously-bypass-approvals-and-sandbox"))
                .chain([PROMPT])
                .map(str::to_owned)
                .collect(),
            env: vec![
                ("CODEX_HOME".into(), home.display().to_string()),
                ("FAKE_API_KEY".into(), KEY.into()),
            ],
            stdin: None,
        }
    })
    .await
}

#[tokio::test]
async fn codex_answers_through_phonehome_and_its_telemetry_is_as_the_catalog_says() {
    let default = run_codex(None).await;
    default.assert_common("codex", PACKAGE, KEY, true);
    let calls = default.calls();
    assert!(
        calls
            .iter()
            .any(|c| c["api"] == "openai.responses" && c["streaming"] == true),
        "{calls:#?}"
    );
    // Its plugin list came from chatgpt.com, no LLM call: not another LLM provider.
    let concern = default.concern("chatgpt.com");
    // (Unreachable without a network, sinkholed: "; every attempt failed" may follow.)
    assert!(
        concern.starts_with("package registry of Codex CLI (not LLM calls)"),
        "{concern}"
    );
    assert_github_advice(&default);
    // Its telemetry: OTLP/JSON metrics (POST /otlp/v1/metrics), each metric's name an event's.
    default.assert_telemetry_names(
        "otlp/json",
        &[
            "codex.process.start",
            "codex.thread.started",
            "codex.turn.ttft.duration_ms",
        ],
    );
    check_observed("codex", &pinned(PACKAGE), &default, run_codex_with).await;
}

async fn run_codex_with(switch: String) -> AgentRun {
    run_codex(Some(switch)).await
}

/// Its plugin sync reads api.github.com; the catalog saw `check_for_update_on_startup = false`
/// not stop that and `[features] plugins = false` stop it: only the latter is advised there.
fn assert_github_advice(run: &AgentRun) {
    let on_github = |a: &&serde_json::Value| {
        a["hosts"]
            .as_array()
            .is_some_and(|hosts| hosts.iter().any(|h| h == "api.github.com"))
    };
    assert!(
        run.outside_requests()
            .iter()
            .any(|(host, method, path)| host == "api.github.com"
                && method == "GET"
                && path == "/repos/openai/plugins"),
        "{}",
        run.context()
    );
    let report = run.report();
    let advice: Vec<_> = report["hardening"]
        .as_array()
        .expect("hardening")
        .iter()
        .filter(on_github)
        .collect();
    assert!(
        advice
            .iter()
            .any(|a| a["config"] == "[features]\nplugins = false"),
        "{advice:#?}"
    );
    assert!(
        !advice
            .iter()
            .any(|a| a["config"] == "check_for_update_on_startup = false"),
        "{advice:#?}"
    );
}

/// Codex runs the stand-in's `curl` with its shell tool, and the request is joined to that
/// tool call.
#[tokio::test]
async fn codexs_shell_tool_call_is_joined_to_the_request_it_made() {
    let target = Target::start().await;
    let run = run_codex_tool(None, Some(&target)).await;
    run.assert_tool_call_joined(&target);
}
