//! The decoded conversation: what one LLM call sent and got back, in the OpenTelemetry GenAI
//! terms (`gen_ai.*`), as `phonehome llm --json` writes it; and the phrases people read about
//! it (model, usage, timing).

use serde::Serialize;
use serde_json::{Map, Value};

use phonehome_record::FlowId;

use crate::event::Exchange;

/// One decoded LLM call: the request and what came back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub flow: FlowId,
    /// When the request started (RFC 3339, as in the capture).
    pub ts: String,
    /// `openai`, `anthropic`, `gcp.gemini`, `ollama` (`gen_ai.provider.name`).
    pub provider: &'static str,
    /// `chat`, `generate_content` (`gen_ai.operation.name`).
    pub operation: &'static str,
    /// The API shape: `openai.chat`, `openai.responses`, `anthropic.messages`, `gemini`,
    /// `ollama.chat`.
    pub api: &'static str,
    pub host: String,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub response_id: Option<String>,
    pub streaming: bool,
    pub system_instructions: Vec<Part>,
    pub input_messages: Vec<Message>,
    pub output_messages: Vec<Message>,
    pub tool_definitions: Vec<ToolDefinition>,
    /// Request parameters other than model, messages, tools and stream (temperature,
    /// max_tokens, top_p, …), as sent.
    pub parameters: Map<String, Value>,
    pub finish_reasons: Vec<String>,
    pub usage: Usage,
    /// Milliseconds from the request to the first byte of the streamed answer (streaming only).
    pub ttft_ms: Option<u64>,
    /// Milliseconds from the request to the end of the response.
    pub duration_ms: Option<u64>,
    pub error: Option<LlmError>,
    /// A side call (title generation, summaries, routing) rather than a turn of the
    /// conversation.
    pub meta: bool,
    /// Why the call was judged a side call ([`super::MetaReason`] in words); side calls only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_reason: Option<String>,
    /// The agent's session id, when it sends one.
    pub session: Option<String>,
    /// What could not be decoded, in words: the raw bodies stay in the capture.
    pub notes: Vec<String>,
}

/// A message: a role and its parts (`gen_ai.input.messages` / `gen_ai.output.messages`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`.
    pub role: String,
    pub parts: Vec<Part>,
    /// Output messages only: why generation stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        content: String,
    },
    /// Model reasoning ("thinking") shown to the client.
    Reasoning {
        content: String,
    },
    ToolCall {
        id: Option<String>,
        name: String,
        /// The arguments: JSON when they parse, else the text as sent.
        arguments: Value,
    },
    ToolCallResponse {
        id: Option<String>,
        response: Value,
    },
    /// Anything else (images, files, unknown part types), kept as sent.
    Other {
        kind: String,
        value: Value,
    },
}

/// A tool the model was offered (`gen_ai.tool.definitions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: Option<String>,
    /// The JSON Schema of its parameters.
    pub parameters: Value,
}

/// Token counts as the provider reported them (`gen_ai.usage.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
}

/// An error the API answered with, or the failure that ended the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmError {
    pub status: Option<u16>,
    /// The provider's error type or code (`rate_limit_error`, `invalid_request_error`, …), or
    /// the capture's failure phase.
    pub kind: Option<String>,
    pub message: String,
}

impl Usage {
    /// One line for people: `tokens: 1830 in (1536 cached), 61 out (12 reasoning)`.
    pub fn summary(&self) -> String {
        let (Some(input), Some(output)) = (self.input_tokens, self.output_tokens) else {
            return "no usage reported".to_owned();
        };
        let mut text = format!("tokens: {input} in");
        let mut cache = Vec::new();
        if let Some(read) = self.cache_read_input_tokens.filter(|n| *n > 0) {
            cache.push(format!("{read} cached"));
        }
        if let Some(written) = self.cache_creation_input_tokens.filter(|n| *n > 0) {
            cache.push(format!("{written} written to cache"));
        }
        if !cache.is_empty() {
            text.push_str(&format!(" ({})", cache.join(", ")));
        }
        text.push_str(&format!(", {output} out"));
        if let Some(reasoning) = self.reasoning_tokens.filter(|n| *n > 0) {
            text.push_str(&format!(" ({reasoning} reasoning)"));
        }
        text
    }
}

impl Conversation {
    /// The model asked for, and the one that answered when it differs: `gpt-4.1 → gpt-4.1-…`.
    pub fn model_label(&self) -> String {
        match (&self.request_model, &self.response_model) {
            (Some(asked), Some(answered)) if asked != answered => format!("{asked} → {answered}"),
            (Some(m), _) | (None, Some(m)) => m.clone(),
            (None, None) => "unknown model".to_owned(),
        }
    }

    /// Usage, time to first token, duration and finish reasons, as short phrases.
    pub fn timing(&self) -> Vec<String> {
        let mut timing = vec![self.usage.summary()];
        if let Some(ttft) = self.ttft_ms {
            timing.push(format!("TTFT {ttft} ms"));
        }
        if let Some(duration) = self.duration_ms {
            timing.push(format!("{duration} ms"));
        }
        if !self.finish_reasons.is_empty() {
            timing.push(format!("finish: {}", self.finish_reasons.join(", ")));
        }
        timing
    }

    /// The conversation of `x` before anything is decoded: ids, the API's names (`provider`,
    /// `operation` of this call, `api`), host and start time.
    pub(crate) fn new(
        x: &Exchange,
        provider: &'static str,
        operation: &'static str,
        api: &'static str,
    ) -> Self {
        Self {
            flow: x.flow,
            ts: phonehome_record::timestamp(x.ts),
            provider,
            operation,
            api,
            host: x.host.clone(),
            request_model: None,
            response_model: None,
            response_id: None,
            streaming: false,
            system_instructions: Vec::new(),
            input_messages: Vec::new(),
            output_messages: Vec::new(),
            tool_definitions: Vec::new(),
            parameters: Map::new(),
            finish_reasons: Vec::new(),
            usage: Usage::default(),
            ttft_ms: None,
            duration_ms: None,
            error: None,
            meta: false,
            meta_reason: None,
            session: None,
            notes: Vec::new(),
        }
    }

    /// Adds the output messages and their finish reasons.
    pub(crate) fn push_output(&mut self, messages: Vec<Message>) {
        for m in messages {
            if let Some(reason) = &m.finish_reason {
                self.finish_reasons.push(reason.clone());
            }
            self.output_messages.push(m);
        }
    }
}
