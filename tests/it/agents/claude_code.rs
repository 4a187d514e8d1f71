//! Claude Code (`@anthropic-ai/claude-code`, a Bun binary) through `ANTHROPIC_BASE_URL` and
//! `ANTHROPIC_API_KEY`, headless (`claude -p`). Its session title is asked for the way the
//! Agent SDK asks for it: a `generate_session_title` control request on stream-json input.

use super::tool_calls::Target;
use super::{
    check_observed, executable, pinned, run_agent, run_agent_with, AgentRun, Launch, Place, PROMPT,
};

const KEY: &str = "sk-ant-api03-phonehome-claude-0000000000000000000000";
const PACKAGE: &str = "@anthropic-ai/claude-code";

fn env(place: &Place, switch: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "ANTHROPIC_BASE_URL".to_owned(),
            format!("https://localhost:{}", place.port),
        ),
        ("ANTHROPIC_API_KEY".to_owned(), KEY.to_owned()),
        (
            "CLAUDE_CONFIG_DIR".to_owned(),
            place.home().join(".claude").display().to_string(),
        ),
    ];
    if let Some((name, value)) = switch.and_then(|s| s.split_once('=')) {
        env.push((name.to_owned(), value.to_owned()));
    }
    env
}

/// `claude -p PROMPT`, with `switch` (`NAME=value`) set.
async fn run_plain(switch: Option<String>) -> AgentRun {
    run_agent(|place| Launch {
        exe: executable("claude"),
        args: vec!["-p".into(), PROMPT.into()],
        env: env(place, switch.as_deref()),
        stdin: None,
    })
    .await
}

/// The SDK's way: a title request, then the prompt, as stream-json on standard input.
async fn run_with_title() -> AgentRun {
    let title = serde_json::json!({"type": "control_request", "request_id": "title-1",
        "request": {"subtype": "generate_session_title", "description": "Fix the flaky scheduler test"}});
    let turn = serde_json::json!({"type": "user",
        "message": {"role": "user", "content": PROMPT}});
    run_agent(|place| Launch {
        exe: executable("claude"),
        args: [
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        .map(str::to_owned)
        .to_vec(),
        env: env(place, None),
        stdin: Some(format!("{title}\n{turn}\n")),
    })
    .await
}

#[tokio::test]
async fn claude_code_answers_through_phonehome_and_its_title_call_is_a_side_call() {
    let run = run_with_title().await;
    run.assert_common("claude-code", PACKAGE, KEY, true);
    let calls = run.calls();
    let title = calls
        .iter()
        .find(|c| c["meta"] == true)
        .unwrap_or_else(|| panic!("the title call: {calls:#?}"));
    let reason = title["meta_reason"].as_str().expect("meta_reason");
    assert!(
        reason.contains("no tools") && reason.contains("JSON schema {title}"),
        "{reason}"
    );
    assert!(
        title["request_model"]
            .as_str()
            .is_some_and(|m| m.contains("haiku")),
        "{title:#}"
    );
    let turns = run.phonehome(&["llm", "--json"]);
    assert_eq!(
        turns.lines().count(),
        calls.len() - 1,
        "the title call is hidden by default"
    );
    assert!(
        run.ran.stdout.contains(r#""title":"PHONEHOME-FAKE-REPLY""#),
        "{}",
        run.ran.stdout
    );
}

#[tokio::test]
async fn claude_code_telemetry_is_as_the_catalog_says_and_its_switches_work() {
    let default = run_plain(None).await;
    default.assert_common("claude-code", PACKAGE, KEY, true);
    // api.anthropic.com is its LLM API host, never advised off; the switches for the
    // telemetry it also receives there are.
    let report = default.report();
    let advice = report["hardening"].as_array().expect("hardening");
    assert!(
        advice.iter().any(|a| a["env"] == "DISABLE_TELEMETRY=1"
            && a["purpose"] == "telemetry"
            && a["hosts"][0] == "api.anthropic.com"),
        "{advice:#?}"
    );
    // It got telemetry and feature flags there, no LLM call: not another LLM provider.
    let concern = default.concern("api.anthropic.com");
    // (Unreachable without a network, sinkholed: "; every attempt failed" may follow.)
    assert!(
        concern.starts_with("telemetry and feature flags of Claude Code (not LLM calls)"),
        "{report:#}"
    );
    // Its telemetry there: one POST /api/event_logging/v2/batch of
    // `{events: [{event_type, event_data: {event_name, client_timestamp, …}}]}`, read as an
    // events array of the wrapped events, named by `event_name` (not by the one event_type).
    default.assert_telemetry_names("events-array", &["tengu_started", "tengu_cli_flags"]);
    check_observed("claude-code", &pinned(PACKAGE), &default, |s| {
        run_plain(Some(s))
    })
    .await;
}

/// Claude Code runs the stand-in's `curl` with its Bash tool (allowed by `--allowedTools`,
/// since `-p` cannot ask), and the request is joined to that tool call.
#[tokio::test]
async fn claude_codes_bash_tool_call_is_joined_to_the_request_it_made() {
    let target = Target::start().await;
    let run = run_agent_with(Some(&target), |place| Launch {
        exe: executable("claude"),
        args: ["-p", PROMPT, "--allowedTools", "Bash"]
            .map(str::to_owned)
            .to_vec(),
        env: env(place, None),
        stdin: None,
    })
    .await;
    run.assert_tool_call_joined(&target);
}
