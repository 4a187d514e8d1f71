//! A decoded LLM call as a GenAI CLIENT span (OpenTelemetry semantic conventions for
//! generative AI, v1.38.0): `{gen_ai.operation.name} {gen_ai.request.model}`, provider,
//! models, response id, finish reasons, usage (cache counts included), the session as
//! `gen_ai.conversation.id`, the request parameters, the time to first chunk; the messages,
//! system instructions and tool definitions only when content capture is on, redacted again.

use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;
use phonehome_analyze::llm::Conversation;
use phonehome_analyze::Exchange;
use phonehome_record::Redactor;
use serde::Serialize;

use crate::ids::{Ids, SpanKey};
use crate::span::{after, time, SpanParts};

/// Request parameters as named in the capture (OpenAI, Anthropic, Gemini, Ollama) →
/// `gen_ai.request.*`.
const PARAMETERS: &[(&str, &str)] = &[
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("topP", "gen_ai.request.top_p"),
    ("top_k", "gen_ai.request.top_k"),
    ("topK", "gen_ai.request.top_k"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("max_output_tokens", "gen_ai.request.max_tokens"),
    ("maxOutputTokens", "gen_ai.request.max_tokens"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
    ("stop", "gen_ai.request.stop_sequences"),
    ("stop_sequences", "gen_ai.request.stop_sequences"),
    ("n", "gen_ai.request.choice.count"),
];

/// The span name the conventions give: `chat gpt-4.1`, or the operation alone.
pub(crate) fn span_name(c: &Conversation) -> String {
    match &c.request_model {
        Some(model) => format!("{} {model}", c.operation),
        None => c.operation.to_owned(),
    }
}

/// The GenAI span of one call; the flow's HTTP span is its child.
pub(crate) fn span(
    ids: &Ids,
    c: &Conversation,
    x: &Exchange,
    content: bool,
    parent: SpanId,
) -> SpanData {
    let start = time(x.ts);
    let end = after(start, c.duration_ms.unwrap_or(0));
    let mut s = SpanParts::new(SpanKey::Llm(x.flow), parent, SpanKind::Client, span_name(c))
        .times(start, end);
    s.attr(KeyValue::new("gen_ai.operation.name", c.operation));
    s.attr(KeyValue::new("gen_ai.provider.name", c.provider));
    s.opt("gen_ai.request.model", c.request_model.clone());
    s.opt("gen_ai.response.model", c.response_model.clone());
    s.opt("gen_ai.response.id", c.response_id.clone());
    if !c.finish_reasons.is_empty() {
        s.attr(KeyValue::new(
            "gen_ai.response.finish_reasons",
            strings(&c.finish_reasons),
        ));
    }
    usage(&mut s, c);
    s.opt("gen_ai.conversation.id", c.session.clone());
    s.attr(KeyValue::new("server.address", x.host.clone()));
    s.attr(KeyValue::new("server.port", i64::from(x.port)));
    s.attr(KeyValue::new(
        "phonehome.flow",
        crate::flow::flow_id(x.flow),
    ));
    s.attr(KeyValue::new("phonehome.gen_ai.api", c.api));
    s.attr(KeyValue::new("phonehome.gen_ai.streaming", c.streaming));
    s.attr(KeyValue::new("phonehome.gen_ai.side_call", c.meta));
    s.opt(
        "phonehome.gen_ai.time_to_first_chunk_ms",
        c.ttft_ms.map(|t| t as i64),
    );
    parameters(&mut s, c);
    if let Some(error) = &c.error {
        let kind = error
            .kind
            .clone()
            .or(error.status.map(|s| s.to_string()))
            .unwrap_or_else(|| "_OTHER".to_owned());
        s.attr(KeyValue::new("error.type", kind));
        s.error(Redactor::new().text(&error.message).into_owned());
    }
    if content {
        add_content(&mut s, c);
    }
    s.build(ids)
}

fn usage(s: &mut SpanParts, c: &Conversation) {
    let n = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    s.opt("gen_ai.usage.input_tokens", n(c.usage.input_tokens));
    s.opt("gen_ai.usage.output_tokens", n(c.usage.output_tokens));
    s.opt(
        "gen_ai.usage.cache_read.input_tokens",
        n(c.usage.cache_read_input_tokens),
    );
    s.opt(
        "gen_ai.usage.cache_creation.input_tokens",
        n(c.usage.cache_creation_input_tokens),
    );
    s.opt(
        "phonehome.gen_ai.usage.reasoning_tokens",
        n(c.usage.reasoning_tokens),
    );
}

fn parameters(s: &mut SpanParts, c: &Conversation) {
    for (name, key) in PARAMETERS {
        let Some(value) = c.parameters.get(*name) else {
            continue;
        };
        let value = match value {
            serde_json::Value::Number(n) if n.is_i64() => n.as_i64().map(Value::I64),
            serde_json::Value::Number(n) => n.as_f64().map(Value::F64),
            serde_json::Value::String(text) => Some(strings(std::slice::from_ref(text))),
            serde_json::Value::Array(items) => Some(strings(
                &items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
            )),
            _ => None,
        };
        if let Some(value) = value {
            s.attr(KeyValue::new(*key, value));
        }
    }
}

/// `gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages`,
/// `gen_ai.tool.definitions` as JSON strings in the conventions' shapes, redacted.
fn add_content(s: &mut SpanParts, c: &Conversation) {
    let redactor = Redactor::new();
    let lists = [
        ("gen_ai.system_instructions", json(&c.system_instructions)),
        ("gen_ai.input.messages", json(&c.input_messages)),
        ("gen_ai.output.messages", json(&c.output_messages)),
        ("gen_ai.tool.definitions", json(&c.tool_definitions)),
    ];
    for (key, text) in lists {
        if let Some(text) = text {
            s.attr(KeyValue::new(key, redactor.text(&text).into_owned()));
        }
    }
}

/// A list as JSON text; `None` when it is empty (or cannot be written).
fn json<T: Serialize>(list: &[T]) -> Option<String> {
    if list.is_empty() {
        return None;
    }
    serde_json::to_string(list).ok()
}

fn strings(items: &[String]) -> Value {
    Value::Array(Array::String(
        items.iter().map(|s| StringValue::from(s.clone())).collect(),
    ))
}
