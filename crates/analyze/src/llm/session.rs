//! The agent's session id, for grouping an agent's LLM calls into its sessions.
//!
//! What agents send (each from the agent's own source or from what was observed of it):
//! - OpenCode: `x-opencode-session` to its own gateway, `X-Session-Id` (and
//!   `x-session-affinity`, the same value) to other providers (sst/opencode,
//!   `packages/opencode/src/session/llm/request.ts`).
//! - Codex CLI: `session_id`, the conversation id (openai/codex,
//!   `codex-rs/codex-api/src/requests/headers.rs`); `session-id` in 0.171.0 (seen, with
//!   `thread-id` and the same id in the body's `client_metadata`).
//! - Gemini CLI (0.61.0, API key): none; `x-gemini-api-privileged-user-id` names the
//!   installation, not a session.
//! - Claude Code: `X-Claude-Code-Session-Id` from v2.1.86; before that only in the body's
//!   `metadata.user_id`, either `user_<hash>_account_<id>_session_<uuid>` or, from v2.1.78, a
//!   JSON string with `session_id` (as documented by coder/aibridge pull request 241, which
//!   reads all three).

use serde_json::Value;

use crate::event::Exchange;

/// Request headers that carry a session id, in the order they are tried.
const HEADERS: [&str; 6] = [
    "x-opencode-session",
    "x-claude-code-session-id",
    "session_id",
    "session-id",
    "x-session-id",
    "x-session-affinity",
];

/// The session id the agent sent with this request: a header, else Anthropic's
/// `metadata.user_id` as Claude Code fills it. `None` when there is none.
pub fn session_id(exchange: &Exchange) -> Option<String> {
    if let Some(id) = from_headers(exchange) {
        return Some(id);
    }
    let body = exchange.request_body.as_ref()?;
    if !body.data.contains("user_id") {
        return None;
    }
    let json: Value = serde_json::from_str(&body.data).ok()?;
    from_metadata(&json)
}

/// As [`session_id`], with the request's JSON already parsed.
pub(crate) fn find(exchange: &Exchange, json: Option<&Value>) -> Option<String> {
    from_headers(exchange).or_else(|| from_metadata(json?))
}

fn from_headers(exchange: &Exchange) -> Option<String> {
    HEADERS.iter().find_map(|name| {
        exchange
            .request_header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    })
}

/// Claude Code's `metadata.user_id`: a JSON string with `session_id`, or
/// `user_<hash>_account_<id>_session_<uuid>`.
fn from_metadata(json: &Value) -> Option<String> {
    let user_id = json["metadata"]["user_id"].as_str()?;
    if let Ok(inner) = serde_json::from_str::<Value>(user_id) {
        return inner["session_id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
    }
    let (_, session) = user_id.rsplit_once("_session_")?;
    (!session.is_empty()).then(|| session.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::tests::post;

    #[test]
    fn headers_in_order() {
        let mut x = post("https://h.test/v1/chat/completions", "{}");
        assert_eq!(session_id(&x), None);
        x.request_headers = vec![
            ("X-Session-Id".into(), "ses_other".into()),
            ("x-opencode-session".into(), "ses_1".into()),
        ];
        assert_eq!(session_id(&x).as_deref(), Some("ses_1"));
        x.request_headers = vec![("session_id".into(), "0199-codex".into())];
        assert_eq!(session_id(&x).as_deref(), Some("0199-codex"));
        x.request_headers = vec![("x-session-id".into(), "  ".into())];
        assert_eq!(session_id(&x), None);
    }

    #[test]
    fn claude_code_metadata_both_formats() {
        let legacy = post(
            "https://api.anthropic.test/v1/messages",
            r#"{"metadata":{"user_id":"user_ab12_account_cd34_session_5f0e1a2b-0000-4000-8000-000000000001"}}"#,
        );
        assert_eq!(
            session_id(&legacy).as_deref(),
            Some("5f0e1a2b-0000-4000-8000-000000000001")
        );
        let json = post(
            "https://api.anthropic.test/v1/messages",
            r#"{"metadata":{"user_id":"{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"s-2\"}"}}"#,
        );
        assert_eq!(session_id(&json).as_deref(), Some("s-2"));
        let plain = post(
            "https://api.anthropic.test/v1/messages",
            r#"{"metadata":{"user_id":"someone"}}"#,
        );
        assert_eq!(session_id(&plain), None);
    }
}
