//! Recognising LLM API calls in a capture, enough for the report: which API, which model,
//! streamed or not, and the user's prompt text (to find it where it should not be).
//!
//! Shapes from the OpenAI API reference (Chat Completions, Responses), the Anthropic Messages
//! API, Google's Gemini `generateContent` / `streamGenerateContent`, and Ollama's `/api/chat`.

use phonehome_record::BodyEncoding;
use serde_json::Value;

use super::api::{api_of, Api};
use crate::source::Exchange;

/// An LLM call recognised in an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmCall {
    /// `openai.chat`, `openai.responses`, `anthropic.messages`, `gemini`, `ollama.chat`.
    pub api: &'static str,
    pub model: String,
    pub streaming: bool,
    /// The text of the last user message, when there is one.
    pub prompt: Option<String>,
}

/// Recognises the call from its path and its JSON request body.
pub fn recognise(exchange: &Exchange) -> Option<LlmCall> {
    let api = api_of(&exchange.method, &exchange.path)?;
    let body = exchange
        .request_body
        .as_ref()
        .filter(|b| b.encoding == BodyEncoding::Utf8);
    let json: Value = body
        .and_then(|b| serde_json::from_str(&b.data).ok())
        .unwrap_or(Value::Null);
    Some(call_of(exchange, api, &json))
}

/// The call `exchange` makes to `api`, given its request body's JSON (`Null` when it has none
/// or it is not JSON).
pub(super) fn call_of(exchange: &Exchange, api: &dyn Api, json: &Value) -> LlmCall {
    let path = exchange.path.as_str();
    let model = api
        .model_in_path(path)
        .or_else(|| json["model"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    let event_stream = exchange
        .response_header("content-type")
        .is_some_and(|c| c.contains("event-stream") || c.contains("ndjson"));
    let streaming = json["stream"].as_bool().unwrap_or(false)
        || api.streams_by_path(path)
        || event_stream
        || (api.streams_by_default() && json["stream"].as_bool() != Some(false));
    LlmCall {
        api: api.name(),
        model,
        streaming,
        prompt: last_user_text(json),
    }
}

/// The text of the last user message across the API shapes.
fn last_user_text(json: &Value) -> Option<String> {
    let messages = json["messages"]
        .as_array()
        .or_else(|| json["input"].as_array())
        .or_else(|| json["contents"].as_array());
    if let Some(text) = json["input"].as_str() {
        return Some(text.to_owned());
    }
    let last = messages?
        .iter()
        .rev()
        .find(|m| m["role"].as_str().is_none_or(|r| r == "user"))?;
    let content = if last["content"].is_null() {
        &last["parts"]
    } else {
        &last["content"]
    };
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let text: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            (!text.is_empty()).then(|| text.join("\n"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::tests::post;

    #[test]
    fn openai_chat() {
        let call = recognise(&post(
            "https://api.test/v1/chat/completions",
            r#"{"model":"m1","stream":true,"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi there"}]}"#,
        ))
        .expect("llm");
        assert_eq!(
            (call.api, call.model.as_str(), call.streaming),
            ("openai.chat", "m1", true)
        );
        assert_eq!(call.prompt.as_deref(), Some("hi there"));
    }

    #[test]
    fn anthropic_parts_and_gemini_model_from_path() {
        let call = recognise(&post(
            "https://api.test/v1/messages",
            r#"{"model":"claude","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#,
        ))
        .expect("llm");
        assert_eq!(call.prompt.as_deref(), Some("a\nb"));
        let gemini = recognise(&post(
            "https://g.test/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
            r#"{"contents":[{"role":"user","parts":[{"text":"q"}]}]}"#,
        ))
        .expect("llm");
        assert_eq!(
            (gemini.model.as_str(), gemini.streaming),
            ("gemini-2.5-pro", true)
        );
    }
}
