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

mod anthropic;
mod gemini;
mod meta;
mod ollama;
mod openai_chat;
mod openai_responses;
mod recognise;
mod session;
pub mod sse;

pub use meta::{is_meta, SHORT_ANSWER};
pub use recognise::{recognise, LlmCall};

/// Whether a request with this method and path (without the query) is one of the LLM APIs
/// [`decode`] knows, by its path alone: a cheap test before reading the body.
pub fn is_call(method: &str, path: &str) -> bool {
    recognise::api_of(method, path).is_some()
}
pub use session::session_id;

use std::path::Path;

use phonehome_record::BodyEncoding;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::source::{Event, Exchange, ResponsePart, SourceError};

/// One decoded LLM call: the request and what came back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub flow: u64,
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
    pub parameters: serde_json::Map<String, Value>,
    pub finish_reasons: Vec<String>,
    pub usage: Usage,
    /// Milliseconds from the request to the first byte of the streamed answer (streaming only).
    pub ttft_ms: Option<u64>,
    /// Milliseconds from the request to the end of the response.
    pub duration_ms: Option<u64>,
    pub error: Option<LlmError>,
    /// A side call (title generation, summaries) rather than a turn of the conversation.
    pub meta: bool,
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

/// Decodes an exchange that is an LLM call; `None` when it is not one (recognised by method
/// and path, as [`recognise`] does).
///
/// Never fails: what cannot be decoded (a body that is not JSON, a stream cut short, an
/// unknown shape) leaves its fields empty and says so in [`Conversation::notes`]. Works on a
/// request alone too (no response yet): then only the request side is filled in.
pub fn decode(exchange: &Exchange) -> Option<Conversation> {
    let api = recognise::api_of(&exchange.method, &exchange.path)?;
    let mut c = Conversation::new(exchange, api);
    let json = body_json(exchange.request_body.as_ref(), "request").unwrap_or_else(|note| {
        c.notes.push(note);
        None
    });
    if let Some(json) = &json {
        c.streaming = json["stream"].as_bool().unwrap_or(false);
        match api {
            Api::OpenAiChat => openai_chat::request(json, &mut c),
            Api::OpenAiResponses => openai_responses::request(json, &mut c),
            Api::Anthropic => anthropic::request(json, &mut c),
            Api::Gemini => gemini::request(json, &mut c),
            Api::Ollama => ollama::request(json, &mut c),
        }
        if !json.is_object() {
            c.notes
                .push(format!("unknown {} request shape: shown raw", api.name()));
        }
    }
    if api == Api::Gemini {
        c.request_model = recognise::gemini_model(&exchange.path);
        c.streaming = exchange.path.contains(":streamGenerateContent");
    }
    c.session = session::find(exchange, json.as_ref());
    c.meta = is_meta(exchange, &c);
    if let Some(response) = &exchange.response {
        decode_response(api, response, &mut c);
    }
    if let Some((phase, message)) = &exchange.error {
        if c.error.is_none() {
            c.error = Some(LlmError {
                status: None,
                kind: Some(phase.as_str().to_owned()),
                message: message.clone(),
            });
        }
    }
    Some(c)
}

/// Every LLM call of a capture (or HAR file), decoded, in flow order; side calls
/// ([`Conversation::meta`]) only with `include_meta`. Reads the input as a stream: memory
/// grows with the conversations kept, not with the rest of the capture.
///
/// # Errors
/// [`SourceError`] when the input cannot be read or a line is not a record (with its line).
pub fn conversations(path: &Path, include_meta: bool) -> Result<Vec<Conversation>, SourceError> {
    let mut out = Vec::new();
    for event in crate::input::open(path)? {
        if let Event::Exchange(exchange) = event? {
            if let Some(c) = decode(&exchange) {
                if include_meta || !c.meta {
                    out.push(c);
                }
            }
        }
    }
    out.sort_by_key(|c| c.flow);
    Ok(out)
}

/// Conversations grouped by the agent's session id, in order of each session's first flow;
/// calls that carry no session id form one group (`None`: the capture itself).
pub fn sessions(conversations: &[Conversation]) -> Vec<(Option<&str>, Vec<&Conversation>)> {
    let mut groups: Vec<(Option<&str>, Vec<&Conversation>)> = Vec::new();
    let mut index: std::collections::HashMap<Option<&str>, usize> =
        std::collections::HashMap::new();
    for c in conversations {
        let key = c.session.as_deref();
        let i = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(c);
    }
    groups
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
    fn provider(self) -> &'static str {
        match self {
            Api::OpenAiChat | Api::OpenAiResponses => "openai",
            Api::Anthropic => "anthropic",
            Api::Gemini => "gcp.gemini",
            Api::Ollama => "ollama",
        }
    }

    /// The event that ends a complete stream, for the note when it is missing.
    fn final_event(self) -> &'static str {
        match self {
            Api::OpenAiChat => "data: [DONE]",
            Api::OpenAiResponses => "response.completed",
            Api::Anthropic => "message_stop",
            Api::Gemini => "a finishReason",
            Api::Ollama => "\"done\": true",
        }
    }
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

    fn new(x: &Exchange, api: Api) -> Self {
        let operation = match api {
            Api::Gemini => "generate_content",
            Api::Ollama if x.path.ends_with("/api/generate") => "text_completion",
            _ => "chat",
        };
        Self {
            flow: x.flow,
            ts: phonehome_record::timestamp(x.ts),
            provider: api.provider(),
            operation,
            api: api.name(),
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
            session: None,
            notes: Vec::new(),
        }
    }

    /// Adds the output messages and their finish reasons.
    fn push_output(&mut self, messages: Vec<Message>) {
        for m in messages {
            if let Some(reason) = &m.finish_reason {
                self.finish_reasons.push(reason.clone());
            }
            self.output_messages.push(m);
        }
    }
}

/// The JSON of a body: `Ok(None)` when there is none, `Err(note)` when it cannot be read.
fn body_json(body: Option<&phonehome_record::Body>, side: &str) -> Result<Option<Value>, String> {
    let Some(body) = body else {
        return Ok(None);
    };
    if body.encoding == BodyEncoding::Base64 {
        return Err(format!(
            "{side} body is binary (base64 in the capture): not decoded"
        ));
    }
    match serde_json::from_str(&body.data) {
        Ok(json) => Ok(Some(json)),
        Err(e) if body.truncated || body.dropped_bytes > 0 => Err(format!(
            "{side} body was truncated in the capture and is not whole JSON ({e})"
        )),
        Err(e) => Err(format!("{side} body is not JSON: {e}")),
    }
}

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Json,
    Sse,
    /// Gemini's `streamGenerateContent` without `alt=sse`: one JSON array of chunks.
    JsonArray,
    Ndjson,
}

fn framing(api: Api, r: &ResponsePart, text: &str) -> Framing {
    let content_type = crate::source::header(&r.headers, "content-type").unwrap_or_default();
    if content_type.contains("event-stream") || sse::looks_like_sse(text) {
        return Framing::Sse;
    }
    if api == Api::Ollama && (content_type.contains("ndjson") || ndjson_shaped(text)) {
        return Framing::Ndjson;
    }
    if api == Api::Gemini && text.trim_start().starts_with('[') {
        return Framing::JsonArray;
    }
    Framing::Json
}

/// More than one line, the first a JSON object on its own (a pretty-printed single object is
/// not).
fn ndjson_shaped(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default();
    lines.next().is_some() && serde_json::from_str::<Value>(first).is_ok_and(|v| v.is_object())
}

/// One chunk of a streamed answer: the SSE event name (`message` for NDJSON and JSON-array
/// chunks) and its JSON data.
pub(crate) struct Chunk {
    pub event: String,
    pub data: Value,
}

fn decode_response(api: Api, r: &ResponsePart, c: &mut Conversation) {
    c.duration_ms = Some(r.duration_ms);
    let Some(body) = &r.body else {
        http_error(r, c);
        return;
    };
    if body.encoding == BodyEncoding::Base64 {
        c.notes
            .push("response body is binary (base64 in the capture): not decoded".to_owned());
        http_error(r, c);
        return;
    }
    let cut = body.truncated || body.dropped_bytes > 0;
    if cut {
        let kept = body.data.len() as u64;
        c.notes.push(if body.dropped_bytes == 0 && kept == body.size {
            "response body ended early (the stream failed or was cut off): decoded what arrived"
                .to_owned()
        } else {
            format!(
                "response body is incomplete in the capture ({kept} of {} bytes kept): decoded what arrived",
                body.size
            )
        });
    }
    let text = body.data.as_str();
    match framing(api, r, text) {
        Framing::Json => decode_json(api, r.status, text, c),
        framing => decode_stream(api, framing, r, text, c),
    }
    http_error(r, c);
}

/// A response body that is one JSON document: the answer, or the API's error.
fn decode_json(api: Api, status: u16, text: &str, c: &mut Conversation) {
    match serde_json::from_str::<Value>(text) {
        Ok(json) => {
            if let Some(error) = api_error(&json, status) {
                c.error = Some(error);
            } else if status < 400 && !decode_whole(api, &json, c) {
                c.notes
                    .push(format!("unknown {} response shape: shown raw", api.name()));
            }
        }
        Err(e) => c.notes.push(format!("response body is not JSON: {e}")),
    }
}

/// A streamed answer: its chunks put back together, with the time to first token.
fn decode_stream(api: Api, framing: Framing, r: &ResponsePart, text: &str, c: &mut Conversation) {
    let status = r.status;
    c.streaming = true;
    c.ttft_ms = r.first_byte_ms.or(Some(r.ttfb_ms));
    let stream = chunks(framing, text, c);
    for chunk in &stream.chunks {
        if c.error.is_none() {
            c.error = stream_error(chunk, status);
        }
    }
    let chunks = &stream.chunks;
    let finished = match api {
        Api::OpenAiChat => openai_chat::stream(chunks, c) && stream.done,
        Api::OpenAiResponses => openai_responses::stream(chunks, c),
        Api::Anthropic => anthropic::stream(chunks, c),
        Api::Gemini => gemini::stream(chunks, c),
        Api::Ollama => ollama::stream(chunks, c),
    } && stream.ended;
    if !finished && c.error.is_none() {
        c.notes.push(format!(
            "stream ended before its final event ({}): decoded what arrived",
            api.final_event()
        ));
    }
}

/// A whole (non-streamed) response body.
fn decode_whole(api: Api, json: &Value, c: &mut Conversation) -> bool {
    match api {
        Api::OpenAiChat => openai_chat::response(json, c),
        Api::OpenAiResponses => openai_responses::response(json, c),
        Api::Anthropic => anthropic::response(json, c),
        Api::Gemini => gemini::response(json, c),
        Api::Ollama => ollama::response(json, c),
    }
}

/// The chunks of a streamed body.
struct Stream {
    chunks: Vec<Chunk>,
    /// The framing ended cleanly: no SSE event cut off, a newline after the last NDJSON line,
    /// the closing `]` of a JSON array.
    ended: bool,
    /// `data: [DONE]` arrived (OpenAI Chat Completions' end of stream).
    done: bool,
}

fn chunks(framing: Framing, text: &str, c: &mut Conversation) -> Stream {
    let mut out = Vec::new();
    let mut bad = 0usize;
    let mut first_bad = None;
    let mut push =
        |event: String, data: &str, out: &mut Vec<Chunk>| match serde_json::from_str(data) {
            Ok(data) => out.push(Chunk { event, data }),
            Err(e) => {
                bad += 1;
                first_bad.get_or_insert_with(|| e.to_string());
            }
        };
    let mut done = false;
    let ended = match framing {
        Framing::Sse => {
            let sse = sse::parse(text);
            for e in sse.events {
                if e.data.trim() == "[DONE]" {
                    done = true;
                    continue;
                }
                push(e.event, &e.data, &mut out);
            }
            if sse.torn {
                c.notes
                    .push("the last SSE event was cut off and is not decoded".to_owned());
            }
            !sse.torn
        }
        Framing::Ndjson => {
            let lines = sse::ndjson(text);
            let ended = lines.last().is_none_or(|(_, terminated)| *terminated);
            for (line, _) in lines {
                push("message".to_owned(), line, &mut out);
            }
            ended
        }
        Framing::JsonArray => json_array(text, &mut out),
        Framing::Json => true,
    };
    if let Some(e) = first_bad {
        c.notes.push(format!(
            "{bad} stream chunk{} not JSON (first: {e}): skipped",
            if bad == 1 { " is" } else { "s are" }
        ));
    }
    Stream {
        chunks: out,
        ended,
        done,
    }
}

/// The elements of a JSON array, as far as they are whole; true when the array closed.
fn json_array(text: &str, out: &mut Vec<Chunk>) -> bool {
    let Some(mut rest) = text.trim_start().strip_prefix('[') else {
        return false;
    };
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.starts_with(']') {
            return true;
        }
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match values.next() {
            Some(Ok(data)) => {
                let used = values.byte_offset();
                out.push(Chunk {
                    event: "message".to_owned(),
                    data,
                });
                rest = &rest[used..];
            }
            _ => return false,
        }
    }
}

/// The error an API answered with, in any of the known shapes: OpenAI
/// `{"error":{"type","code","message"}}`, Anthropic `{"type":"error","error":{"type",
/// "message"}}`, Gemini `{"error":{"code","status","message"}}` (also inside a one-element
/// array), Ollama `{"error":"…"}`, and the Responses stream's `{"type":"error","code",
/// "message"}`.
fn api_error(json: &Value, status: u16) -> Option<LlmError> {
    if let Some(first) = json.as_array().and_then(|a| a.first()) {
        return api_error(first, status);
    }
    let status = Some(status);
    match &json["error"] {
        Value::String(message) => {
            return Some(LlmError {
                status,
                kind: None,
                message: message.clone(),
            })
        }
        Value::Object(e) => {
            let kind = ["type", "status", "code"]
                .iter()
                .find_map(|k| scalar(e.get(*k)?));
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| Value::Object(e.clone()).to_string(), str::to_owned);
            return Some(LlmError {
                status,
                kind,
                message,
            });
        }
        _ => {}
    }
    if json["type"] == "error" {
        return Some(LlmError {
            status,
            kind: scalar(&json["code"]),
            message: json["message"]
                .as_str()
                .map_or_else(|| json.to_string(), str::to_owned),
        });
    }
    None
}

/// An error event inside a stream (SSE `event: error`, or a chunk in an error shape).
fn stream_error(chunk: &Chunk, status: u16) -> Option<LlmError> {
    api_error(&chunk.data, status).or_else(|| {
        (chunk.event == "error").then(|| LlmError {
            status: Some(status),
            kind: None,
            message: chunk.data.to_string(),
        })
    })
}

/// A status of 400 or more with no error decoded from the body.
fn http_error(r: &ResponsePart, c: &mut Conversation) {
    if r.status >= 400 && c.error.is_none() {
        c.error = Some(LlmError {
            status: Some(r.status),
            kind: None,
            message: if r.reason.is_empty() {
                format!("HTTP {}", r.status)
            } else {
                r.reason.clone()
            },
        });
    }
}

/// A string or number as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Sets a usage count from a field that holds one; leaves it alone otherwise (streams report
/// usage piece by piece, and a later event may omit what an earlier one gave).
fn set_count(slot: &mut Option<u64>, v: &Value) {
    if let Some(n) = v.as_u64() {
        *slot = Some(n);
    }
}

/// Sets an optional string from a field that holds one, keeping the first seen.
fn first_str(slot: &mut Option<String>, v: &Value) {
    if slot.is_none() {
        if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
            *slot = Some(s.to_owned());
        }
    }
}

/// Request keys other than those listed (the content), as sent; the objects named in
/// `flatten` (Gemini's `generationConfig`, Ollama's `options`) contribute their keys instead.
fn parameters(json: &Value, content: &[&str], flatten: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(object) = json.as_object() else {
        return out;
    };
    for (key, value) in object {
        if content.contains(&key.as_str()) {
            continue;
        }
        match value {
            Value::Object(inner) if flatten.contains(&key.as_str()) => {
                out.extend(inner.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// Tool call arguments: the JSON they hold, else the text as sent.
fn arguments(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Text content: a string, or an array of parts with `text`.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// A message being put together from stream deltas.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub role: String,
    pub parts: Vec<DraftPart>,
    pub finish_reason: Option<String>,
}

#[derive(Debug)]
pub(crate) enum DraftPart {
    Text(String),
    Reasoning(String),
    /// A tool call whose arguments arrive as text pieces; `input` is the value a stream gave
    /// whole (Anthropic's `content_block_start`), used when no piece arrives.
    ToolCall {
        id: Option<String>,
        name: String,
        arguments: String,
        input: Option<Value>,
    },
    Whole(Part),
}

impl Draft {
    pub(crate) fn assistant() -> Self {
        Self {
            role: "assistant".to_owned(),
            ..Self::default()
        }
    }

    pub(crate) fn text(&mut self, delta: &str) {
        if let Some(DraftPart::Text(text)) = self.parts.last_mut() {
            text.push_str(delta);
        } else {
            self.parts.push(DraftPart::Text(delta.to_owned()));
        }
    }

    pub(crate) fn reasoning(&mut self, delta: &str) {
        if let Some(DraftPart::Reasoning(text)) = self.parts.last_mut() {
            text.push_str(delta);
        } else {
            self.parts.push(DraftPart::Reasoning(delta.to_owned()));
        }
    }

    pub(crate) fn finish(self) -> Message {
        let parts = self
            .parts
            .into_iter()
            .map(|p| match p {
                DraftPart::Text(content) => Part::Text { content },
                DraftPart::Reasoning(content) => Part::Reasoning { content },
                DraftPart::ToolCall {
                    id,
                    name,
                    arguments: text,
                    input,
                } => Part::ToolCall {
                    id,
                    name,
                    arguments: match input {
                        Some(input) if text.is_empty() => input,
                        _ => arguments(&text),
                    },
                },
                DraftPart::Whole(part) => part,
            })
            .collect();
        Message {
            role: self.role,
            parts: normalise(parts),
            finish_reason: self.finish_reason,
        }
    }
}

/// Merges adjacent text parts and adjacent reasoning parts and drops empty ones, so an answer
/// reads the same whether it came in one piece or in many.
pub(crate) fn normalise(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::with_capacity(parts.len());
    for part in parts {
        match (out.last_mut(), part) {
            (_, Part::Text { content } | Part::Reasoning { content }) if content.is_empty() => {}
            (Some(Part::Text { content: last }), Part::Text { content }) => {
                last.push_str(&content);
            }
            (Some(Part::Reasoning { content: last }), Part::Reasoning { content }) => {
                last.push_str(&content);
            }
            (_, part) => out.push(part),
        }
    }
    out
}

#[cfg(test)]
mod tests;
