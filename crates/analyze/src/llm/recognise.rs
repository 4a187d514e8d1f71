//! Recognising LLM API calls in a capture, enough for the report: which API, which model,
//! streamed or not, and the user's prompt text (to find it where it should not be).
//!
//! Shapes from the OpenAI API reference (Chat Completions, Responses), the Anthropic Messages
//! API, Google's Gemini `generateContent` / `streamGenerateContent`, and Ollama's `/api/chat`.

use phonehome_record::BodyEncoding;
use serde_json::Value;

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

/// The API shapes the decoders know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAiChat,
    OpenAiResponses,
    Anthropic,
    Gemini,
    Ollama,
}

impl Api {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::OpenAiChat => "openai.chat",
            Api::OpenAiResponses => "openai.responses",
            Api::Anthropic => "anthropic.messages",
            Api::Gemini => "gemini",
            Api::Ollama => "ollama.chat",
        }
    }

    /// `gen_ai.provider.name` of the API family.
    pub(crate) fn provider(self) -> &'static str {
        match self {
            Api::OpenAiChat | Api::OpenAiResponses => "openai",
            Api::Anthropic => "anthropic",
            Api::Gemini => "gcp.gemini",
            Api::Ollama => "ollama",
        }
    }

    /// The event that ends a complete stream, for the note when it is missing.
    pub(crate) fn final_event(self) -> &'static str {
        match self {
            Api::OpenAiChat => "data: [DONE]",
            Api::OpenAiResponses => "response.completed",
            Api::Anthropic => "message_stop",
            Api::Gemini => "a finishReason",
            Api::Ollama => "\"done\": true",
        }
    }
}

/// The API an exchange's method and path belong to: the detection [`recognise`] and
/// [`super::decode()`] share.
pub(crate) fn api_of(method: &str, path: &str) -> Option<Api> {
    if !method.eq_ignore_ascii_case("POST") {
        return None;
    }
    if path.ends_with("/chat/completions") {
        Some(Api::OpenAiChat)
    } else if path.ends_with("/responses") {
        Some(Api::OpenAiResponses)
    } else if path.ends_with("/messages") && !path.contains("/sessions/") {
        Some(Api::Anthropic)
    } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        Some(Api::Gemini)
    } else if path.ends_with("/api/chat") || path.ends_with("/api/generate") {
        Some(Api::Ollama)
    } else {
        None
    }
}

/// Gemini's model, from the path (`…/models/{model}:generateContent`).
pub(crate) fn gemini_model(path: &str) -> Option<String> {
    let last = path.rsplit('/').next()?;
    let model = last.split(':').next()?;
    (!model.is_empty()).then(|| model.to_owned())
}

/// Recognises the call from its path and its JSON request body.
pub fn recognise(exchange: &Exchange) -> Option<LlmCall> {
    let path = exchange.path.as_str();
    let api = api_of(&exchange.method, path)?;
    let body = exchange
        .request_body
        .as_ref()
        .filter(|b| b.encoding == BodyEncoding::Utf8);
    let json: Value = body
        .and_then(|b| serde_json::from_str(&b.data).ok())
        .unwrap_or(Value::Null);
    let model = match api {
        Api::Gemini => gemini_model(path),
        _ => json["model"].as_str().map(str::to_owned),
    }
    .unwrap_or_else(|| "unknown".to_owned());
    let event_stream = exchange
        .response_header("content-type")
        .is_some_and(|c| c.contains("event-stream") || c.contains("ndjson"));
    let streaming = json["stream"].as_bool().unwrap_or(false)
        || path.contains(":streamGenerateContent")
        || event_stream
        || (api == Api::Ollama && json["stream"].as_bool() != Some(false));
    Some(LlmCall {
        api: api.name(),
        model,
        streaming,
        prompt: last_user_text(&json),
    })
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
