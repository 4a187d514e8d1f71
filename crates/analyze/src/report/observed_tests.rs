use phonehome_catalog::{Catalog, Purpose};

use super::*;
use crate::report::concern::{concern, Host};

fn catalog() -> Catalog {
    Catalog::builtin()
}

/// Counts `requests` (method, path, LLM call) to `host` and labels it as the domain table does.
fn label(
    catalog: &Catalog,
    host: &str,
    agents: &[&str],
    requests: &[(&str, &str, bool)],
) -> String {
    let endpoint = catalog.lookup(host, 443).expect("in the catalog");
    let mut seen = Observations::default();
    for (method, path, call) in requests {
        seen.add(endpoint, method, path, *call);
    }
    let sent = seen.sent(requests.len() as u64, agents);
    let row = Host {
        host,
        purpose: Some(endpoint.purpose),
        sent: sent.as_ref(),
        requests: requests.len() as u64,
        failures: 0,
        leaked: false,
    };
    concern(&row, Some("localhost"), catalog)
}

const CLAUDE_TELEMETRY: [(&str, &str, bool); 3] = [
    ("POST", "/api/event_logging/v2/batch", false),
    ("POST", "/api/eval/sdk-abc123", false),
    ("GET", "/api/claude_cli/bootstrap", false),
];

#[test]
fn an_llm_host_that_got_only_observed_telemetry_is_labelled_by_what_was_sent() {
    let catalog = catalog();
    let text = label(
        &catalog,
        "api.anthropic.com",
        &["claude-code"],
        &CLAUDE_TELEMETRY,
    );
    assert_eq!(
        text,
        "telemetry and feature flags of Claude Code (not LLM calls)"
    );
    let text = label(
        &catalog,
        "chatgpt.com",
        &["codex"],
        &[("GET", "/backend-api/plugins/export/curated", false)],
    );
    assert_eq!(text, "package registry of Codex CLI (not LLM calls)");
}

#[test]
fn an_llm_call_or_an_unobserved_request_keeps_the_other_provider_warning() {
    let catalog = catalog();
    let warning = "LLM API other than the configured provider";
    let mut with_call = CLAUDE_TELEMETRY.to_vec();
    with_call.push(("POST", "/v1/messages", true));
    let unobserved = [("POST", "/v1/messages", false)];
    for requests in [&with_call[..], &unobserved[..]] {
        let text = label(&catalog, "api.anthropic.com", &["claude-code"], requests);
        assert_eq!(text, warning, "{requests:?}");
    }
    // An LLM call on an observed path is still an LLM call.
    let call = [("POST", "/api/event_logging/v2/batch", true)];
    assert_eq!(
        label(&catalog, "api.anthropic.com", &["claude-code"], &call),
        warning
    );
    // Observed for another agent than the ones detected.
    let text = label(
        &catalog,
        "api.anthropic.com",
        &["opencode"],
        &CLAUDE_TELEMETRY,
    );
    assert_eq!(text, warning);
}

#[test]
fn a_host_with_no_request_has_no_observed_purpose() {
    assert_eq!(Observations::default().sent(0, &["claude-code"]), None);
    assert!(!Observations::default().all_observed(0));
}

/// A capture whose only requests are Claude Code's telemetry on api.anthropic.com.
fn telemetry_capture() -> String {
    let header = r#"{"type":"capture","ts":"2026-01-01T00:00:00.000Z","format":"phonehome/1","id":"1","tool_version":"0","mode":"run","command":["claude","-p","hi"],"cwd":"/","policy":"observe","options":{}}"#;
    let mut text = format!("{header}\n");
    for (flow, (method, path, _)) in CLAUDE_TELEMETRY.iter().enumerate() {
        text.push_str(&format!(
            r#"{{"type":"request","ts":"2026-01-01T00:00:01.000Z","flow":{flow},"conn":{flow},"method":"{method}","url":"https://api.anthropic.com{path}","version":"HTTP/1.1","headers":[["host","api.anthropic.com"]],"sinkhole":"unreachable"}}"#,
        ));
        text.push('\n');
    }
    text
}

#[test]
fn telemetry_on_an_llm_host_makes_it_neither_the_provider_nor_another_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("capture.jsonl");
    std::fs::write(&path, telemetry_capture()).expect("write capture");
    let report = crate::report::build(&path, &catalog()).expect("report");
    assert_eq!(report.provider, None, "{:#?}", report.domains);
    let row = &report.domains[0];
    assert_eq!(row.domain, "api.anthropic.com");
    assert_eq!(
        row.concern,
        "telemetry and feature flags of Claude Code (not LLM calls)"
    );
    assert_eq!(row.sent, [Purpose::Telemetry, Purpose::FeatureFlags]);
    let beyond = &report.verdict[1];
    assert_eq!(beyond.evidence, "1 other host (telemetry, feature-flags)");
}
