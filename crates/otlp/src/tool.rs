//! A tool call the model asked for as an `execute_tool` span (OpenTelemetry semantic
//! conventions for generative AI, v1.38.0, "Execute tool span":
//! <https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-agent-spans/#execute-tool-span>):
//! named `execute_tool {gen_ai.tool.name}`, kind INTERNAL, with `gen_ai.operation.name`
//! `execute_tool`, `gen_ai.tool.name` and `gen_ai.tool.call.id`; from the answer that asked for
//! it to the request that sent its result back.
//!
//! It is the parent of the connection spans the join (`phonehome_analyze::causes`) says it
//! caused, and so of their requests' spans; see [`crate::mapper`] for when each is sent.

use std::time::SystemTime;

use opentelemetry::trace::{Link, SpanContext, SpanId, SpanKind, TraceFlags, TraceState};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;
use phonehome_analyze::causes::{Caused, Method, ToolCall};

use crate::flow::flow_id;
use crate::ids::{Ids, SpanKey};
use crate::span::{parse_time, SpanParts};

/// The span key of the `place`-th tool call of LLM call `flow`'s answer.
pub(crate) fn key(call: &ToolCall, place: usize) -> SpanKey {
    SpanKey::Tool(call.flow, place as u64)
}

/// The `execute_tool` span of `call` under `parent`, ending at its result (or at `last`, the
/// capture's last moment, when no result went back), with `links` (live export: the
/// connections it caused, known when its result went back).
pub(crate) fn span(
    ids: &Ids,
    call: &ToolCall,
    place: usize,
    parent: SpanId,
    last: SystemTime,
    content: bool,
    links: Vec<Link>,
) -> SpanData {
    let start = parse_time(&call.issued);
    let end = call.result.as_deref().map_or(last, parse_time);
    let mut s = SpanParts::new(
        key(call, place),
        parent,
        SpanKind::Internal,
        format!("execute_tool {}", call.name),
    )
    .times(start, end);
    s.attr(KeyValue::new("gen_ai.operation.name", "execute_tool"));
    s.attr(KeyValue::new("gen_ai.tool.name", call.name.clone()));
    s.opt("gen_ai.tool.call.id", call.id.clone());
    s.attr(KeyValue::new("phonehome.tool.llm_flow", flow_id(call.flow)));
    s.opt("phonehome.tool.result_flow", call.result_flow.map(flow_id));
    if content {
        s.opt("phonehome.tool.command", call.command.clone());
    }
    if call.result.is_none() {
        s.attr(KeyValue::new("phonehome.tool.result", "none"));
    }
    let mut span = s.build(ids);
    // The chat span whose answer asked for the call.
    span.links
        .links
        .push(link(ids, SpanKey::Llm(call.flow), Vec::new()));
    span.links.links.extend(links);
    span
}

/// A link to the span of `key` in this capture's trace.
pub(crate) fn link(ids: &Ids, key: SpanKey, attributes: Vec<KeyValue>) -> Link {
    let context = SpanContext::new(
        ids.trace(),
        ids.span(key),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    Link::new(context, attributes, 0)
}

/// A link from a tool call's span to a connection it caused.
pub(crate) fn caused_link(ids: &Ids, caused: &Caused) -> Link {
    link(
        ids,
        SpanKey::Conn(caused.conn),
        vec![KeyValue::new(
            "phonehome.cause.method",
            method(caused.method),
        )],
    )
}

/// The attributes a caused connection's span gains: the call and how it was joined.
pub(crate) fn cause_attributes(call: &ToolCall, caused: &Caused) -> Vec<KeyValue> {
    let mut out = vec![
        KeyValue::new("phonehome.cause.method", method(caused.method)),
        KeyValue::new("gen_ai.tool.name", call.name.clone()),
    ];
    if let Some(id) = &call.id {
        out.push(KeyValue::new("gen_ai.tool.call.id", id.clone()));
    }
    out
}

/// `argv`, `window`, `ambiguous`.
fn method(method: Method) -> &'static str {
    match method {
        Method::Argv => "argv",
        Method::Window => "window",
        Method::Ambiguous => "ambiguous",
    }
}
