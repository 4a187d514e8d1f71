//! The OpenAI Responses API (`POST …/responses`), as the OpenAI API reference describes it
//! (<https://platform.openai.com/docs/api-reference/responses>, streaming events:
//! <https://platform.openai.com/docs/api-reference/responses-streaming>): the request's
//! `instructions` and `input` (a string, or items: messages with `input_text` parts,
//! `function_call`, `function_call_output`, `reasoning`, and Codex's `custom_tool_call` and
//! `local_shell_call`), `tools`; the response's `output` items, `status` and `usage`; or the SSE
//! events `response.created`, `response.output_item.added` / `.done`,
//! `response.output_text.delta`, `response.function_call_arguments.delta`,
//! `response.reasoning_summary_text.delta`, and `response.completed` (or `.incomplete`,
//! `.failed`) carrying the whole response.
//!
//! The API has no finish reason: [`Message::finish_reason`] is `incomplete_details.reason` when
//! there is one, else the response's `status` (`completed`, `failed`, …).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::api::{is_post, Api};
use super::conversation::{Conversation, LlmError, Message, Part};
use super::draft::normalise;
use super::fields::{
    arguments_of, content_parts, first_str, parameters, scalar, set_count, text_of,
    tool_definition,
};
use super::framing::{Chunk, Stream};

pub(crate) struct OpenAiResponses;

impl Api for OpenAiResponses {
    fn name(&self) -> &'static str {
        "openai.responses"
    }

    fn provider(&self) -> &'static str {
        "openai"
    }

    fn final_event(&self) -> &'static str {
        "response.completed"
    }

    fn recognises(&self, method: &str, path: &str) -> bool {
        is_post(method) && path.ends_with("/responses")
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
    if let Some(instructions) = json["instructions"].as_str() {
        c.system_instructions.push(Part::Text {
            content: instructions.to_owned(),
        });
    }
    match &json["input"] {
        Value::String(text) => c.input_messages.push(Message {
            role: "user".to_owned(),
            parts: vec![Part::Text {
                content: text.clone(),
            }],
            finish_reason: None,
        }),
        Value::Array(items) => {
            for item in items {
                input_item(item, c);
            }
        }
        _ => {}
    }
    c.tool_definitions = json["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| tool_definition(t, &["parameters", "format"]))
        .collect();
    c.parameters = parameters(
        json,
        &["model", "instructions", "input", "tools", "stream"],
        &[],
    );
}

fn input_item(item: &Value, c: &mut Conversation) {
    let kind = item["type"].as_str().unwrap_or("message");
    if kind == "message" {
        let role = item["role"].as_str().unwrap_or("user");
        let parts = content_parts(&item["content"]);
        if matches!(role, "system" | "developer") {
            c.system_instructions.extend(parts);
        } else {
            c.input_messages.push(Message {
                role: role.to_owned(),
                parts,
                finish_reason: None,
            });
        }
        return;
    }
    let role = if kind.ends_with("_output") {
        "tool"
    } else {
        "assistant"
    };
    c.input_messages.push(Message {
        role: role.to_owned(),
        parts: vec![item_part(item)],
        finish_reason: None,
    });
}

/// One item other than a message.
fn item_part(item: &Value) -> Part {
    let kind = item["type"].as_str().unwrap_or_default();
    let id = item["call_id"].as_str().map(str::to_owned);
    match kind {
        "function_call" => Part::ToolCall {
            id,
            name: item["name"].as_str().unwrap_or_default().to_owned(),
            arguments: arguments_of(&item["arguments"]),
        },
        "custom_tool_call" => Part::ToolCall {
            id,
            name: item["name"].as_str().unwrap_or_default().to_owned(),
            arguments: item["input"].clone(),
        },
        "local_shell_call" => Part::ToolCall {
            id,
            name: "local_shell".to_owned(),
            arguments: item["action"].clone(),
        },
        "function_call_output" | "custom_tool_call_output" | "local_shell_call_output" => {
            Part::ToolCallResponse {
                id,
                response: item["output"].clone(),
            }
        }
        "reasoning" => match text_of(&item["summary"]) {
            Some(summary) => Part::Reasoning { content: summary },
            None => Part::Other {
                kind: kind.to_owned(),
                value: item.clone(),
            },
        },
        _ => Part::Other {
            kind: if kind.is_empty() { "unknown" } else { kind }.to_owned(),
            value: item.clone(),
        },
    }
}

/// The parts of one output item.
fn output_parts(item: &Value) -> Vec<Part> {
    if item["type"] != "message" {
        return vec![item_part(item)];
    }
    item["content"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match p["type"].as_str() {
            Some("output_text") => Part::Text {
                content: p["text"].as_str().unwrap_or_default().to_owned(),
            },
            Some("refusal") => Part::Other {
                kind: "refusal".to_owned(),
                value: p["refusal"].clone(),
            },
            kind => Part::Other {
                kind: kind.unwrap_or("unknown").to_owned(),
                value: p.clone(),
            },
        })
        .collect()
}

/// The output message of a response's items and its status.
fn output(items: &[Value], response: &Value) -> Message {
    let reason = response["incomplete_details"]["reason"]
        .as_str()
        .or_else(|| response["status"].as_str())
        .map(str::to_owned);
    Message {
        role: "assistant".to_owned(),
        parts: normalise(items.iter().flat_map(output_parts).collect()),
        finish_reason: reason,
    }
}

/// A whole `response` object.
fn response(json: &Value, c: &mut Conversation) -> bool {
    let Some(items) = json["output"].as_array() else {
        return false;
    };
    ids(json, c);
    c.push_output(vec![output(items, json)]);
    usage(&json["usage"], c);
    true
}

/// The streaming events; true when the response completed (or ended incomplete or failed).
fn chunks(chunks: &[Chunk], c: &mut Conversation) -> bool {
    let mut items: BTreeMap<u64, Value> = BTreeMap::new();
    let mut last: Option<&Value> = None;
    let values: Vec<Value> = chunks.iter().map(Chunk::value).collect();
    for (chunk, d) in chunks.iter().zip(&values) {
        let index = d["output_index"].as_u64().unwrap_or(0);
        match d["type"].as_str().unwrap_or(chunk.event) {
            "response.created" | "response.in_progress" => ids(&d["response"], c),
            "response.output_item.added" | "response.output_item.done" => {
                items.insert(index, d["item"].clone());
            }
            "response.output_text.delta" => {
                let part = content_slot(&mut items, index, d, "content", "output_text");
                append(part, "text", &d["delta"]);
            }
            "response.reasoning_summary_text.delta" => {
                let part = content_slot(&mut items, index, d, "summary", "summary_text");
                append(part, "text", &d["delta"]);
            }
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                let key = if d["type"] == "response.function_call_arguments.delta" {
                    "arguments"
                } else {
                    "input"
                };
                append(items.get_mut(&index), key, &d["delta"]);
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                last = Some(&d["response"]);
            }
            _ => {}
        }
    }
    let Some(last) = last else {
        let items: Vec<Value> = items.into_values().collect();
        c.push_output(vec![output(&items, &Value::Null)]);
        return false;
    };
    ids(last, c);
    usage(&last["usage"], c);
    if let Some(error) = last["error"].as_object() {
        c.error.get_or_insert_with(|| LlmError {
            status: None,
            kind: error.get("code").and_then(scalar),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        });
    }
    let items: Vec<Value> = match last["output"].as_array() {
        Some(whole) if items.is_empty() => whole.clone(),
        _ => items.into_values().collect(),
    };
    c.push_output(vec![output(&items, last)]);
    true
}

/// The content part (`content[content_index]` of a message, `summary[summary_index]` of a
/// reasoning item) a delta goes to, created when the stream did not announce it.
fn content_slot<'a>(
    items: &'a mut BTreeMap<u64, Value>,
    index: u64,
    event: &Value,
    list: &str,
    part_type: &str,
) -> Option<&'a mut Value> {
    let (slot_key, kind) = if list == "content" {
        ("content_index", "message")
    } else {
        ("summary_index", "reasoning")
    };
    let slot = usize::try_from(event[slot_key].as_u64().unwrap_or(0)).ok()?;
    let item = items
        .entry(index)
        .or_insert_with(|| serde_json::json!({ "type": kind, "role": "assistant" }));
    let list = item
        .as_object_mut()?
        .entry(list)
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(parts) = list else {
        return None;
    };
    // A delta far past the parts announced is not believed (no huge allocation on bad input).
    if slot > parts.len() + 16 {
        return None;
    }
    while parts.len() <= slot {
        let mut part = Map::new();
        part.insert("type".to_owned(), Value::String(part_type.to_owned()));
        part.insert("text".to_owned(), Value::String(String::new()));
        parts.push(Value::Object(part));
    }
    parts.get_mut(slot)
}

/// Appends a text delta to the string field `key` of `target`.
fn append(target: Option<&mut Value>, key: &str, delta: &Value) {
    let Some(object) = target.and_then(Value::as_object_mut) else {
        return;
    };
    let Some(delta) = delta.as_str() else {
        return;
    };
    match object.get_mut(key) {
        Some(Value::String(text)) => text.push_str(delta),
        _ => {
            object.insert(key.to_owned(), Value::String(delta.to_owned()));
        }
    }
}

fn ids(response: &Value, c: &mut Conversation) {
    first_str(&mut c.response_id, &response["id"]);
    first_str(&mut c.response_model, &response["model"]);
}

/// `usage`: `input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`,
/// `output_tokens_details.reasoning_tokens`.
fn usage(u: &Value, c: &mut Conversation) {
    set_count(&mut c.usage.input_tokens, &u["input_tokens"]);
    set_count(&mut c.usage.output_tokens, &u["output_tokens"]);
    set_count(
        &mut c.usage.cache_read_input_tokens,
        &u["input_tokens_details"]["cached_tokens"],
    );
    set_count(
        &mut c.usage.reasoning_tokens,
        &u["output_tokens_details"]["reasoning_tokens"],
    );
}
