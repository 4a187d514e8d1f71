//! LLM calls in a capture: recognising them (which API, model, prompt) and decoding them into
//! conversations (system instructions, messages, tools, the streamed answer put back together,
//! usage, time to first token, errors).
//!
//! Field names follow the OpenTelemetry GenAI semantic conventions
//! (<https://opentelemetry.io/docs/specs/semconv/gen-ai/>) where one exists: `provider`
//! (`gen_ai.provider.name`), `operation` (`gen_ai.operation.name`), `request_model`,
//! `response_model`, `system_instructions`, `input_messages`, `output_messages`,
//! `tool_definitions`, `finish_reasons`, `usage.input_tokens`, … and message parts typed
//! `text`, `tool_call`, `tool_call_response`, `reasoning`.
//!
//! Each API is one implementation of [`api::Api`] in its own file, listed once in [`APIS`].
//!
//! ```text
//! exchange ─ recognise (API by path) ─ decode ─┬─ request: openai_chat · openai_responses ·
//!                                              │           anthropic · gemini · ollama
//!                                              └─ response: framing (JSON, SSE, NDJSON, array)
//!                                                 ─ chunks ─ the API's decoder (draft)
//!                                     ─ Conversation (conversation.rs, the wire model)
//! ```

mod api;
mod calls;
mod conversation;
mod decode;
mod draft;
mod fields;
mod flow_order;
mod framing;
mod lenient;
mod listing;
mod meta;
mod recognise;
mod session;
pub mod sse;
pub mod text;

decoders!(
    /// The LLM APIs, tried in this order.
    APIS: api::Api = [
        openai_chat::OpenAiChat,
        openai_responses::OpenAiResponses,
        anthropic::Anthropic,
        gemini::Gemini,
        ollama::Ollama,
    ]
);

pub use calls::Calls;
pub use conversation::{Conversation, LlmError, Message, Part, ToolDefinition, Usage};
pub use decode::decode;
pub(crate) use decode::recognise_and_decode;
pub use listing::Listing;
pub use meta::{is_meta, meta_reason, MetaReason, SHORT_ANSWER, SMALL_SCHEMA};
pub use recognise::{recognise, LlmCall};
pub use session::session_id;

/// Whether a request with this method and path (without the query) is one of the LLM APIs
/// [`decode`] knows, by its path alone: a cheap test before reading the body.
pub fn is_call(method: &str, path: &str) -> bool {
    api::api_of(method, path).is_some()
}

#[cfg(test)]
pub(crate) mod tests;
