//! The Anthropic Messages API (`POST /v1/messages`), as Anthropic's API reference describes it
//! (<https://docs.anthropic.com/en/api/messages>, streaming:
//! <https://docs.anthropic.com/en/docs/build-with-claude/streaming>): the request's `system`
//! (a string or text blocks), `messages` of content blocks (`text`, `thinking`, `tool_use`,
//! `tool_result`, images), `tools` with `input_schema`; the response's `content` blocks,
//! `stop_reason` and `usage`; or the SSE stream `message_start`, `content_block_start` /
//! `content_block_delta` (`text_delta`, `thinking_delta`, `input_json_delta` pieces of a tool's
//! input) / `content_block_stop`, `message_delta` (stop reason, final usage), `message_stop`,
//! with `ping` and `error` events.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::api::{is_post, Api};
use super::conversation::{Conversation, Message, Part};
use super::draft::{normalise, Draft, DraftPart};
use super::fields::{first_str, first_text, parameters, set_u64, text_of, tool_definition};
use super::framing::{Chunk, Stream};
use super::lenient::{event, Obj, Str, U64};

pub(crate) struct Anthropic;

impl Api for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic.messages"
    }

    fn provider(&self) -> &'static str {
        "anthropic"
    }

    fn final_event(&self) -> &'static str {
        "message_stop"
    }

    fn recognises(&self, method: &str, path: &str) -> bool {
        is_post(method) && path.ends_with("/messages") && !path.contains("/sessions/")
    }

    fn request(&self, json: &Value, c: &mut Conversation) {
        request(json, c);
    }

    fn response(&self, json: &Value, c: &mut Conversation) -> bool {
        response(json, c)
    }

    fn stream(&self, stream: &Stream, c: &mut Conversation) -> bool {
        chunks(&stream.chunks, c)
    }
}

fn request(json: &Value, c: &mut Conversation) {
    c.request_model = json["model"].as_str().map(str::to_owned);
    c.system_instructions = match &json["system"] {
        Value::String(text) => vec![Part::Text {
            content: text.clone(),
        }],
        Value::Array(blocks) => blocks.iter().map(block).collect(),
        _ => Vec::new(),
    };
    for m in json["messages"].as_array().into_iter().flatten() {
        let parts = match &m["content"] {
            Value::String(text) => vec![Part::Text {
                content: text.clone(),
            }],
            Value::Array(blocks) => blocks.iter().map(block).collect(),
            _ => Vec::new(),
        };
        c.input_messages.push(Message {
            role: m["role"].as_str().unwrap_or("user").to_owned(),
            parts,
            finish_reason: None,
        });
    }
    c.tool_definitions = json["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| tool_definition(t, &["input_schema"]))
        .collect();
    c.parameters = parameters(
        json,
        &["model", "messages", "system", "tools", "stream"],
        &[],
    );
}

/// One content block.
fn block(b: &Value) -> Part {
    let kind = b["type"].as_str().unwrap_or_default();
    match kind {
        "text" => Part::Text {
            content: b["text"].as_str().unwrap_or_default().to_owned(),
        },
        "thinking" => Part::Reasoning {
            content: b["thinking"].as_str().unwrap_or_default().to_owned(),
        },
        "tool_use" | "server_tool_use" => Part::ToolCall {
            id: b["id"].as_str().map(str::to_owned),
            name: b["name"].as_str().unwrap_or_default().to_owned(),
            arguments: b["input"].clone(),
        },
        "tool_result" => Part::ToolCallResponse {
            id: b["tool_use_id"].as_str().map(str::to_owned),
            response: text_of(&b["content"]).map_or_else(|| b["content"].clone(), Value::String),
        },
        _ => Part::Other {
            kind: if kind.is_empty() { "unknown" } else { kind }.to_owned(),
            value: b.clone(),
        },
    }
}

/// A whole `message`.
fn response(json: &Value, c: &mut Conversation) -> bool {
    let Some(blocks) = json["content"].as_array() else {
        return false;
    };
    first_str(&mut c.response_id, &json["id"]);
    first_str(&mut c.response_model, &json["model"]);
    c.push_output(vec![Message {
        role: json["role"].as_str().unwrap_or("assistant").to_owned(),
        parts: normalise(blocks.iter().map(block).collect()),
        finish_reason: json["stop_reason"].as_str().map(str::to_owned),
    }]);
    usage_of(&json["usage"], c);
    true
}

/// One SSE event: the fields the decoder reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Event<'a> {
    #[serde(borrow, rename = "type")]
    kind: Str<'a>,
    index: U64,
    #[serde(borrow)]
    message: Obj<MessageStart<'a>>,
    content_block: Value,
    #[serde(borrow)]
    delta: Obj<Delta<'a>>,
    usage: Obj<Usage>,
}

/// `message_start`'s `message`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct MessageStart<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    model: Str<'a>,
    usage: Obj<Usage>,
}

/// `content_block_delta`'s and `message_delta`'s `delta`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Delta<'a> {
    #[serde(borrow, rename = "type")]
    kind: Str<'a>,
    #[serde(borrow)]
    text: Str<'a>,
    #[serde(borrow)]
    thinking: Str<'a>,
    #[serde(borrow)]
    partial_json: Str<'a>,
    #[serde(borrow)]
    stop_reason: Str<'a>,
}

/// `usage`: `input_tokens`, `output_tokens`, `cache_read_input_tokens`,
/// `cache_creation_input_tokens`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Usage {
    input_tokens: U64,
    output_tokens: U64,
    cache_read_input_tokens: U64,
    cache_creation_input_tokens: U64,
}

/// The SSE events; true when `message_stop` arrived.
fn chunks(chunks: &[Chunk], c: &mut Conversation) -> bool {
    let mut blocks: BTreeMap<u64, DraftPart> = BTreeMap::new();
    let mut stop_reason = None;
    let mut stopped = false;
    for chunk in chunks {
        let Some(d) = event::<Event>(&chunk.data) else {
            continue;
        };
        let index = d.index.0.unwrap_or(0);
        match d.kind.as_str().unwrap_or(chunk.event) {
            "message_start" => {
                let message = &d.message.0;
                first_text(&mut c.response_id, message.id.as_str());
                first_text(&mut c.response_model, message.model.as_str());
                usage(&message.usage.0, c);
            }
            "content_block_start" => {
                blocks.insert(index, start_block(&d.content_block));
            }
            "content_block_delta" => delta(blocks.get_mut(&index), &d.delta.0),
            "message_delta" => {
                if let Some(reason) = d.delta.0.stop_reason.as_str() {
                    stop_reason = Some(reason.to_owned());
                }
                usage(&d.usage.0, c);
            }
            "message_stop" => stopped = true,
            _ => {}
        }
    }
    let mut draft = Draft::assistant();
    draft.parts = blocks.into_values().collect();
    draft.finish_reason = stop_reason;
    c.push_output(vec![draft.finish()]);
    stopped
}

/// The part a `content_block_start` opens.
fn start_block(b: &Value) -> DraftPart {
    match block(b) {
        Part::Text { content } => DraftPart::Text(content),
        Part::Reasoning { content } => DraftPart::Reasoning(content),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => DraftPart::ToolCall {
            id,
            name,
            arguments: String::new(),
            input: Some(arguments),
        },
        other => DraftPart::Whole(other),
    }
}

fn delta(block: Option<&mut DraftPart>, delta: &Delta) {
    let Some(block) = block else {
        return;
    };
    match (block, delta.kind.as_str().unwrap_or_default()) {
        (DraftPart::Text(text), "text_delta") => {
            text.push_str(delta.text.as_str().unwrap_or_default());
        }
        (DraftPart::Reasoning(text), "thinking_delta") => {
            text.push_str(delta.thinking.as_str().unwrap_or_default());
        }
        (DraftPart::ToolCall { arguments, .. }, "input_json_delta") => {
            arguments.push_str(delta.partial_json.as_str().unwrap_or_default());
        }
        _ => {}
    }
}

/// A whole message's `usage`, read as a stream event's is.
fn usage_of(u: &Value, c: &mut Conversation) {
    if let Ok(Obj(u)) = Obj::<Usage>::deserialize(u) {
        usage(&u, c);
    }
}

fn usage(u: &Usage, c: &mut Conversation) {
    set_u64(&mut c.usage.input_tokens, u.input_tokens);
    set_u64(&mut c.usage.output_tokens, u.output_tokens);
    set_u64(&mut c.usage.cache_read_input_tokens, u.cache_read_input_tokens);
    set_u64(
        &mut c.usage.cache_creation_input_tokens,
        u.cache_creation_input_tokens,
    );
}
