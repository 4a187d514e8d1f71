//! Telling side calls (title generation, summaries, compaction) from the turns of the
//! conversation, so that readers can hide them.
//!
//! A call is meta when any of these holds:
//! 1. Codex marks it as a `compact` or `memory_consolidation` sub-agent call with the
//!    `x-openai-subagent` header (openai/codex, `codex-rs/codex-api/src/requests/headers.rs`).
//! 2. Its system instructions ask for a title or a summary of the conversation, as OpenCode's
//!    title agent does ("You are a title generator. You output ONLY a thread title.", sst/opencode
//!    `packages/opencode/src/agent/prompt/title.txt`) — or, when it offers no tools, one of its
//!    user messages does ("Generate a title for this conversation:").
//! 3. It asks a small model (a name with the word `mini`, `nano`, `haiku`, `lite`, `small` or
//!    `tiny`) for a short answer (at most [`SHORT_ANSWER`] output tokens) and offers no tools.
//!
//! Only the request is looked at, so a call is classified before its response arrives.

use crate::source::Exchange;

use super::conversation::{Conversation, Part};

/// The most output tokens a side call asks for, under rule 3.
pub const SHORT_ANSWER: u64 = 1024;

/// Phrases (lower case) of prompts that ask for a title or a summary.
const SIDE_PROMPTS: [&str; 10] = [
    "title generator",
    "generate a title",
    "generate a short title",
    "generate a concise title",
    "write a title",
    "summarize this conversation",
    "summarize the conversation",
    "summarizing conversations",
    "summary of the conversation",
    "summarize what was done in this conversation",
];

/// Words of a model name that mark a small model.
const SMALL_MODEL_WORDS: [&str; 6] = ["mini", "nano", "haiku", "lite", "small", "tiny"];

/// Whether `c` (decoded from `exchange`'s request) is a side call; see the module docs.
pub fn is_meta(exchange: &Exchange, c: &Conversation) -> bool {
    if matches!(
        exchange.request_header("x-openai-subagent"),
        Some("compact" | "memory_consolidation")
    ) {
        return true;
    }
    if asks_for_side_output(&c.system_instructions) {
        return true;
    }
    let no_tools = c.tool_definitions.is_empty();
    if no_tools
        && c.input_messages
            .iter()
            .any(|m| m.role == "user" && asks_for_side_output(&m.parts))
    {
        return true;
    }
    let small = c.request_model.as_deref().is_some_and(small_model);
    small && no_tools && max_output(c).is_some_and(|n| n <= SHORT_ANSWER)
}

fn asks_for_side_output(parts: &[Part]) -> bool {
    parts.iter().any(|p| match p {
        Part::Text { content } => {
            // The opening of a prompt says what it is for; long prompts are not searched whole.
            let head: String = content
                .chars()
                .take(2_000)
                .collect::<String>()
                .to_lowercase();
            SIDE_PROMPTS.iter().any(|phrase| head.contains(phrase))
        }
        _ => false,
    })
}

fn small_model(model: &str) -> bool {
    model
        .to_ascii_lowercase()
        .split(['-', '_', '/', ':', '.', '@'])
        .any(|word| SMALL_MODEL_WORDS.contains(&word))
}

/// The output token limit the request set, under any API's name for it.
fn max_output(c: &Conversation) -> Option<u64> {
    [
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "maxOutputTokens",
        "num_predict",
    ]
    .iter()
    .find_map(|k| c.parameters.get(*k)?.as_u64())
}

#[cfg(test)]
mod tests {
    use crate::llm::decode;
    use crate::llm::tests::post;

    fn meta(url: &str, body: &str) -> bool {
        decode(&post(url, body)).expect("llm").meta
    }

    const CHAT: &str = "https://h.test/v1/chat/completions";

    #[test]
    fn opencode_title_prompt_is_meta() {
        assert!(meta(
            CHAT,
            r#"{"model":"gpt-4.1","messages":[{"role":"system","content":"You are a title generator. You output ONLY a thread title. Nothing else."},{"role":"user","content":"fix the test"}]}"#
        ));
        // The same request asked by the user of an agent with tools is a turn.
        assert!(!meta(
            CHAT,
            r#"{"model":"gpt-4.1","tools":[{"type":"function","function":{"name":"bash"}}],"messages":[{"role":"user","content":"Generate a title for my blog post"}]}"#
        ));
        assert!(meta(
            CHAT,
            r#"{"model":"gpt-4.1","messages":[{"role":"user","content":"Generate a title for this conversation:"},{"role":"user","content":"hi"}]}"#
        ));
        assert!(!meta(
            CHAT,
            r#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#
        ));
    }

    #[test]
    fn summaries_and_codex_compaction_are_meta() {
        assert!(meta(
            "https://api.anthropic.test/v1/messages",
            r#"{"model":"claude-sonnet-4","system":"You are a helpful AI assistant tasked with summarizing conversations.","messages":[]}"#
        ));
        let mut x = post(
            "https://chatgpt.test/backend-api/codex/responses",
            r#"{"model":"gpt-5","input":"…","tools":[{"type":"function","name":"shell"}]}"#,
        );
        assert!(!decode(&x).expect("llm").meta);
        x.request_headers = vec![("x-openai-subagent".into(), "compact".into())];
        assert!(decode(&x).expect("llm").meta);
        x.request_headers = vec![("x-openai-subagent".into(), "review".into())];
        assert!(!decode(&x).expect("llm").meta);
    }

    #[test]
    fn small_model_short_answer_without_tools_is_meta() {
        let small = r#"{"model":"claude-3-5-haiku-20241022","max_tokens":512,"messages":[{"role":"user","content":"hello"}]}"#;
        assert!(meta("https://api.anthropic.test/v1/messages", small));
        // A long answer, tools offered, or a model that only contains "mini" inside a word: a turn.
        for body in [
            r#"{"model":"claude-3-5-haiku-20241022","max_tokens":8192,"messages":[]}"#,
            r#"{"model":"claude-3-5-haiku-20241022","max_tokens":512,"tools":[{"name":"t","input_schema":{}}],"messages":[]}"#,
            r#"{"model":"claude-3-5-haiku-20241022","messages":[]}"#,
        ] {
            assert!(
                !meta("https://api.anthropic.test/v1/messages", body),
                "{body}"
            );
        }
        assert!(!meta(
            "https://g.test/v1beta/models/gemini-2.5-pro:generateContent",
            r#"{"contents":[],"generationConfig":{"maxOutputTokens":100}}"#
        ));
        assert!(meta(
            "https://g.test/v1beta/models/gemini-2.0-flash-lite:generateContent",
            r#"{"contents":[],"generationConfig":{"maxOutputTokens":100}}"#
        ));
        assert!(meta(
            CHAT,
            r#"{"model":"gpt-4.1-nano","max_completion_tokens":64,"messages":[]}"#
        ));
    }
}
