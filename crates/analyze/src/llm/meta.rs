//! Telling side calls (title generation, summaries, compaction, routing) from the turns of the
//! conversation, so that readers can hide them, and saying why ([`MetaReason`]).
//!
//! A call is meta when any of these holds, checked in this order:
//! 1. Codex marks it as a `compact` or `memory_consolidation` sub-agent call with the
//!    `x-openai-subagent` header (openai/codex, `codex-rs/codex-api/src/requests/headers.rs`).
//! 2. Its system instructions ask for a title or a summary of the conversation, as OpenCode's
//!    title agent does ("You are a title generator. You output ONLY a thread title.", sst/opencode
//!    `packages/opencode/src/agent/prompt/title.txt`) — or, when it offers no tools, one of its
//!    user messages does ("Generate a title for this conversation:").
//! 3. It asks a small model (a name with the word `mini`, `nano`, `haiku`, `lite`, `small` or
//!    `tiny`) for an answer shaped by a JSON schema of a small object (at most
//!    [`SMALL_SCHEMA`] properties) and offers no tools: a helper that fills in a record for the
//!    agent rather than talking to the user. Claude Code's session title (a haiku model,
//!    `output_config.format` `{title}`, `tools: []`) and Gemini CLI's routing classifier (a
//!    `flash-lite` model, `responseJsonSchema` `{complexity_reasoning, complexity_score}`) are
//!    both of this shape, whatever their prompts say.
//! 4. It asks a small model for a short answer (at most [`SHORT_ANSWER`] output tokens) and
//!    offers no tools.
//!
//! Only the request is looked at, so a call is classified before its response arrives.

use std::fmt;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use serde_json::{Map, Value};

use crate::event::Exchange;

use super::conversation::{Conversation, Part};

/// The most output tokens a side call asks for, under rule 4.
pub const SHORT_ANSWER: u64 = 1024;

/// The most properties of the object a structured side call asks for, under rule 3.
pub const SMALL_SCHEMA: usize = 4;

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

/// Why a call was judged a side call (`meta_reason` in `phonehome llm --json`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaReason {
    /// Codex's `x-openai-subagent` header names a side task.
    CodexSubagent(String),
    /// The system prompt asks for a title or summary; the phrase found.
    SystemAsksForSideOutput(&'static str),
    /// A user message asks for a title or summary, and no tools are offered; the phrase found.
    UserAsksForSideOutput(&'static str),
    /// A small model, no tools, an answer shaped by a JSON schema with these properties.
    StructuredHelper { model: String, fields: Vec<String> },
    /// A small model, no tools, at most this many output tokens.
    ShortAnswer { model: String, max_output: u64 },
}

impl fmt::Display for MetaReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CodexSubagent(kind) => {
                write!(f, "codex sub-agent call (x-openai-subagent: {kind})")
            }
            Self::SystemAsksForSideOutput(phrase) => {
                write!(
                    f,
                    "system prompt asks for a title or summary (\"{phrase}\")"
                )
            }
            Self::UserAsksForSideOutput(phrase) => write!(
                f,
                "a user message asks for a title or summary (\"{phrase}\") and no tools are offered"
            ),
            Self::StructuredHelper { model, fields } => write!(
                f,
                "small model {model}, no tools, answer shaped by a JSON schema {{{}}}",
                fields.join(", ")
            ),
            Self::ShortAnswer { model, max_output } => write!(
                f,
                "small model {model}, no tools, at most {max_output} output tokens"
            ),
        }
    }
}

/// Whether `c` (decoded from `exchange`'s request) is a side call; see the module docs.
pub fn is_meta(exchange: &Exchange, c: &Conversation) -> bool {
    meta_reason(exchange, c).is_some()
}

/// Why `c` (decoded from `exchange`'s request) is a side call, or `None` when it is a turn of
/// the conversation; see the module docs for the rules.
pub fn meta_reason(exchange: &Exchange, c: &Conversation) -> Option<MetaReason> {
    if let Some(kind @ ("compact" | "memory_consolidation")) =
        exchange.request_header("x-openai-subagent")
    {
        return Some(MetaReason::CodexSubagent(kind.to_owned()));
    }
    if let Some(phrase) = side_phrase(&c.system_instructions) {
        return Some(MetaReason::SystemAsksForSideOutput(phrase));
    }
    if !c.tool_definitions.is_empty() {
        return None;
    }
    let asked_by_user = c
        .input_messages
        .iter()
        .filter(|m| m.role == "user")
        .find_map(|m| side_phrase(&m.parts));
    if let Some(phrase) = asked_by_user {
        return Some(MetaReason::UserAsksForSideOutput(phrase));
    }
    let model = c.request_model.as_deref().filter(|m| small_model(m))?;
    if let Some(fields) = answer_schema(&c.parameters).and_then(small_object_fields) {
        return Some(MetaReason::StructuredHelper {
            model: model.to_owned(),
            fields,
        });
    }
    let max_output = max_output(c).filter(|n| *n <= SHORT_ANSWER)?;
    Some(MetaReason::ShortAnswer {
        model: model.to_owned(),
        max_output,
    })
}

/// The side-output phrase the opening of one of `parts` holds.
fn side_phrase(parts: &[Part]) -> Option<&'static str> {
    parts.iter().find_map(|p| match p {
        Part::Text { content } => opening_phrase(content),
        _ => None,
    })
}

/// Characters of a prompt's opening searched for a side-output phrase: the opening of a
/// prompt says what it is for; long prompts are not searched whole.
const OPENING_CHARS: usize = 2_000;

/// The first of [`SIDE_PROMPTS`] (in their order) that the opening of `content` holds, in any
/// case.
fn opening_phrase(content: &str) -> Option<&'static str> {
    let ascii_end = content.len().min(OPENING_CHARS);
    if content.as_bytes()[..ascii_end].is_ascii() {
        // An ASCII opening: its characters are its bytes, and ASCII case folding is the
        // lowercasing the phrases (ASCII) are compared with.
        return side_prompts_ascii()
            .find_overlapping_iter(&content[..ascii_end])
            .map(|m| m.pattern().as_usize())
            .min()
            .map(|i| SIDE_PROMPTS[i]);
    }
    let end = content
        .char_indices()
        .nth(OPENING_CHARS)
        .map_or(content.len(), |(i, _)| i);
    let head = content[..end].to_lowercase();
    SIDE_PROMPTS
        .into_iter()
        .find(|phrase| head.contains(phrase))
}

/// [`SIDE_PROMPTS`] as one automaton, ASCII case-insensitive, built once.
fn side_prompts_ascii() -> &'static AhoCorasick {
    static PHRASES: OnceLock<AhoCorasick> = OnceLock::new();
    PHRASES.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(SIDE_PROMPTS)
            .expect("ten short literal phrases build an automaton")
    })
}

fn small_model(model: &str) -> bool {
    model
        .to_ascii_lowercase()
        .split(['-', '_', '/', ':', '.', '@'])
        .any(|word| SMALL_MODEL_WORDS.contains(&word))
}

/// The JSON schema the request constrains its answer to, under any API's name for it: OpenAI
/// Chat Completions `response_format` and Responses `text.format` (`type: json_schema`),
/// Anthropic `output_format` and `output_config.format`, Gemini `responseJsonSchema` and
/// `responseSchema` (from `generationConfig`, flattened into the parameters).
fn answer_schema(parameters: &Map<String, Value>) -> Option<&Value> {
    parameters
        .get("response_format")
        .and_then(|f| json_schema(f, "json_schema").map(|s| &s["schema"]))
        .or_else(|| {
            parameters
                .get("text")
                .and_then(|t| json_schema(&t["format"], "schema"))
        })
        .or_else(|| {
            parameters
                .get("output_format")
                .and_then(|f| json_schema(f, "schema"))
        })
        .or_else(|| {
            let config = parameters.get("output_config")?;
            json_schema(&config["format"], "schema")
        })
        .or_else(|| parameters.get("responseJsonSchema"))
        .or_else(|| parameters.get("responseSchema"))
        .filter(|schema| schema.is_object())
}

/// `format[key]` when `format` is a `json_schema` output format.
fn json_schema<'a>(format: &'a Value, key: &str) -> Option<&'a Value> {
    (format["type"] == "json_schema").then(|| &format[key])
}

/// The property names of a schema for an object of at most [`SMALL_SCHEMA`] properties (JSON
/// Schema or Gemini's upper-case `OBJECT`); `None` for any other schema.
fn small_object_fields(schema: &Value) -> Option<Vec<String>> {
    let object = schema["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("object"));
    let properties = schema["properties"].as_object()?;
    if !object || properties.is_empty() || properties.len() > SMALL_SCHEMA {
        return None;
    }
    Some(properties.keys().cloned().collect())
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
    use proptest::prelude::*;

    use super::{opening_phrase, OPENING_CHARS, SIDE_PROMPTS};
    use crate::llm::decode;
    use crate::llm::tests::post;

    /// The phrase search as first written: the opening lowercased into a copy, each phrase
    /// looked for in turn.
    fn opening_phrase_by_copy(content: &str) -> Option<&'static str> {
        let end = content
            .char_indices()
            .nth(OPENING_CHARS)
            .map_or(content.len(), |(i, _)| i);
        let opening = &content[..end];
        let head = if opening.is_ascii() {
            opening.to_ascii_lowercase()
        } else {
            opening.to_lowercase()
        };
        SIDE_PROMPTS
            .into_iter()
            .find(|phrase| head.contains(phrase))
    }

    /// Text made of phrase pieces, case changes, padding and non-ASCII letters, so that
    /// phrases overlap, straddle the opening's end and meet Unicode lowercasing.
    fn prompt() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            proptest::sample::select(SIDE_PROMPTS.to_vec()).prop_map(str::to_owned),
            proptest::sample::select(SIDE_PROMPTS.to_vec()).prop_map(str::to_ascii_uppercase),
            "[a-zA-Z ]{0,12}",
            "[ÄİKé\\u{212A}ß]{1,2}",
            (1_900usize..2_100).prop_map(|n| "x".repeat(n)),
            Just("Generate a Title".to_owned()),
            Just("summarize the conversationTITLE GENERATOR".to_owned()),
        ];
        proptest::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn opening_phrase_agrees_with_the_lowercased_copy(content in prompt()) {
            prop_assert_eq!(opening_phrase(&content), opening_phrase_by_copy(&content));
        }
    }

    #[test]
    fn opening_phrase_takes_the_first_phrase_in_order_not_in_text() {
        let text = "Please summarize the conversation, then write a title";
        assert_eq!(opening_phrase(text), Some("write a title"));
        let late = format!("{}generate a title", "x".repeat(OPENING_CHARS - 5));
        assert_eq!(opening_phrase(&late), None);
        let inside = format!("{}generate a title", "x".repeat(OPENING_CHARS - 16));
        assert_eq!(opening_phrase(&inside), Some("generate a title"));
    }

    fn meta(url: &str, body: &str) -> bool {
        decode(&post(url, body)).expect("llm").meta
    }

    fn reason(url: &str, body: &str) -> Option<String> {
        decode(&post(url, body)).expect("llm").meta_reason
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

    /// Claude Code 2.1.332's session title (as `generate_session_title` sends it, prompt cut):
    /// a haiku model, `tools: []`, a `{title}` schema in `output_config`, and a large
    /// `max_tokens`, so only the structure gives it away.
    const CLAUDE_TITLE: &str = r#"{"model":"claude-haiku-5-5","max_tokens":128000,"stream":true,"tools":[],
        "system":[{"type":"text","text":"You are a Claude agent, built on Anthropic's Claude Agent SDK."},{"type":"text","text":"You are naming a coding session so the user can pick it out of a long list."}],
        "messages":[{"role":"user","content":[{"type":"text","text":"<session>\nFix the flaky test\n</session>"}]}],
        "output_config":{"effort":"medium","format":{"type":"json_schema","schema":{"type":"object","properties":{"title":{"type":"string"}},"required":["title"],"additionalProperties":false}}}}"#;

    /// Gemini CLI 0.61.0's routing classifier (prompt cut): a flash-lite model, no tools, a
    /// `responseJsonSchema` in Gemini's upper-case dialect, no output limit.
    const GEMINI_ROUTER: &str = r#"{"contents":[{"role":"user","parts":[{"text":"Say hello"}]}],
        "systemInstruction":{"role":"user","parts":[{"text":"You are a specialized Task Routing AI."}]},
        "generationConfig":{"temperature":1,"responseMimeType":"application/json","responseJsonSchema":{"type":"OBJECT","properties":{"complexity_reasoning":{"type":"STRING"},"complexity_score":{"type":"INTEGER"}},"required":["complexity_reasoning","complexity_score"]}}}"#;

    const GEMINI_LITE: &str = "https://g.test/v1beta/models/gemini-3.5-flash-lite:generateContent";

    #[test]
    fn claude_code_title_and_gemini_router_are_meta_by_structure() {
        let claude = reason("https://a.test/v1/messages?beta=true", CLAUDE_TITLE);
        assert_eq!(
            claude.as_deref(),
            Some("small model claude-haiku-5-5, no tools, answer shaped by a JSON schema {title}")
        );
        let router = reason(GEMINI_LITE, GEMINI_ROUTER);
        assert_eq!(
            router.as_deref(),
            Some(
                "small model gemini-3.5-flash-lite, no tools, answer shaped by a JSON schema \
                 {complexity_reasoning, complexity_score}"
            )
        );
    }

    #[test]
    fn structured_output_is_a_turn_with_tools_a_big_model_or_a_big_schema() {
        let with_tools = CLAUDE_TITLE.replace(
            r#""tools":[]"#,
            r#""tools":[{"name":"Bash","input_schema":{}}]"#,
        );
        let big_model = CLAUDE_TITLE.replace("claude-haiku-5-5", "claude-opus-5-5");
        let big_schema = CLAUDE_TITLE.replace(
            r#""properties":{"title":{"type":"string"}}"#,
            r#""properties":{"a":{},"b":{},"c":{},"d":{},"e":{}}"#,
        );
        for body in [with_tools, big_model, big_schema] {
            assert!(!meta("https://a.test/v1/messages", &body), "{body}");
        }
        let router = GEMINI_LITE.replace("flash-lite", "pro");
        assert!(!meta(&router, GEMINI_ROUTER));
        // The same shape in the OpenAI APIs.
        assert!(meta(
            CHAT,
            r#"{"model":"gpt-5-mini","messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"t","schema":{"type":"object","properties":{"title":{"type":"string"}}}}}}"#
        ));
        assert!(meta(
            "https://h.test/v1/responses",
            r#"{"model":"gpt-5-nano","input":"x","text":{"format":{"type":"json_schema","name":"t","schema":{"type":"object","properties":{"title":{"type":"string"}}}}}}"#
        ));
    }

    #[test]
    fn every_rule_gives_its_reason() {
        let title = r#"{"model":"gpt-4.1","messages":[{"role":"system","content":"You are a title generator."}]}"#;
        assert_eq!(
            reason(CHAT, title).as_deref(),
            Some("system prompt asks for a title or summary (\"title generator\")")
        );
        let short = r#"{"model":"gpt-4.1-nano","max_completion_tokens":64,"messages":[]}"#;
        assert_eq!(
            reason(CHAT, short).as_deref(),
            Some("small model gpt-4.1-nano, no tools, at most 64 output tokens")
        );
        assert_eq!(reason(CHAT, r#"{"model":"gpt-4.1","messages":[]}"#), None);
    }
}
