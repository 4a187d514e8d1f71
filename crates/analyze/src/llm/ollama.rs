//! Ollama's `POST /api/chat` and `POST /api/generate`, as its API reference describes them
//! (<https://github.com/ollama/ollama/blob/main/docs/api.md>): the request's `messages` (with
//! `tool_calls`, `thinking`, `images`) or `prompt` and `system`, `tools`, `options`; streamed by
//! default as newline-delimited JSON objects each holding the next piece of `message.content`
//! (or `response`) and `thinking`, tool calls whole, ending with one whose `done` is true and
//! that carries `done_reason`, `prompt_eval_count` and `eval_count`; with `"stream": false`, that
//! one object whole.

use serde_json::Value;

use super::api::{is_post, Api};
use super::conversation::{Conversation, Message, Part};
use super::draft::{normalise, Draft, DraftPart};
use super::fields::{first_str, function_tools, parameters, set_count, text_of, tool_calls};
use super::framing::{ndjson_shaped, Chunk, Framing, Stream};

pub(crate) struct Ollama;

impl Api for Ollama {
    fn name(&self) -> &'static str {
        "ollama.chat"
    }

    fn provider(&self) -> &'static str {
        "ollama"
    }

    fn final_event(&self) -> &'static str {
        "\"done\": true"
    }

    fn recognises(&self, method: &str, path: &str) -> bool {
        is_post(method) && (path.ends_with("/api/chat") || path.ends_with("/api/generate"))
    }

    fn operation(&self, path: &str) -> &'static str {
        if path.ends_with("/api/generate") {
            "text_completion"
        } else {
            "chat"
        }
    }

    fn streams_by_default(&self) -> bool {
        true
    }

    /// Newline-delimited JSON objects.
    fn stream_framing(&self, content_type: &str, text: &str) -> Option<Framing> {
        (content_type.contains("ndjson") || ndjson_shaped(text)).then_some(Framing::Ndjson)
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
    c.streaming = json["stream"].as_bool() != Some(false);
    if let Some(system) = json["system"].as_str() {
        c.system_instructions.push(Part::Text {
            content: system.to_owned(),
        });
    }
    if let Some(prompt) = json["prompt"].as_str() {
        c.input_messages.push(Message {
            role: "user".to_owned(),
            parts: vec![Part::Text {
                content: prompt.to_owned(),
            }],
            finish_reason: None,
        });
    }
    for m in json["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("user");
        let text = text_of(&m["content"]).unwrap_or_default();
        if role == "system" {
            c.system_instructions.push(Part::Text { content: text });
            continue;
        }
        let parts = if role == "tool" {
            vec![Part::ToolCallResponse {
                id: m["tool_call_id"]
                    .as_str()
                    .or_else(|| m["tool_name"].as_str())
                    .map(str::to_owned),
                response: Value::String(text),
            }]
        } else {
            message_parts(m)
        };
        c.input_messages.push(Message {
            role: role.to_owned(),
            parts,
            finish_reason: None,
        });
    }
    c.tool_definitions = function_tools(json);
    c.parameters = parameters(
        json,
        &[
            "model", "messages", "prompt", "system", "tools", "stream", "images",
        ],
        &["options"],
    );
}

/// A message's thinking, content, images and tool calls, in that order.
fn message_parts(m: &Value) -> Vec<Part> {
    let mut parts = Vec::new();
    if let Some(thinking) = m["thinking"].as_str() {
        parts.push(Part::Reasoning {
            content: thinking.to_owned(),
        });
    }
    if let Some(text) = m["content"].as_str() {
        parts.push(Part::Text {
            content: text.to_owned(),
        });
    }
    if let Some(images) = m["images"].as_array() {
        parts.extend(images.iter().map(|image| Part::Other {
            kind: "image".to_owned(),
            value: image.clone(),
        }));
    }
    parts.extend(tool_calls(&m["tool_calls"]));
    parts
}

/// The parts of one object of the answer: `/api/chat`'s `message`, `/api/generate`'s
/// `response` and `thinking`.
fn answer_parts(json: &Value) -> Option<Vec<Part>> {
    if json["message"].is_object() {
        return Some(message_parts(&json["message"]));
    }
    if json["response"].is_string() || json["done"].is_boolean() {
        let mut parts = Vec::new();
        if let Some(thinking) = json["thinking"].as_str() {
            parts.push(Part::Reasoning {
                content: thinking.to_owned(),
            });
        }
        if let Some(text) = json["response"].as_str() {
            parts.push(Part::Text {
                content: text.to_owned(),
            });
        }
        return Some(parts);
    }
    None
}

/// The answer in one object (`"stream": false`).
fn response(json: &Value, c: &mut Conversation) -> bool {
    let Some(parts) = answer_parts(json) else {
        return false;
    };
    first_str(&mut c.response_model, &json["model"]);
    c.push_output(vec![Message {
        role: "assistant".to_owned(),
        parts: normalise(parts),
        finish_reason: json["done_reason"].as_str().map(str::to_owned),
    }]);
    usage(json, c);
    true
}

/// The NDJSON objects; true when one had `"done": true`.
fn chunks(chunks: &[Chunk], c: &mut Conversation) -> bool {
    let mut draft = Draft::assistant();
    let mut done = false;
    for chunk in chunks {
        let data = chunk.value();
        let d = &data;
        first_str(&mut c.response_model, &d["model"]);
        for part in answer_parts(d).unwrap_or_default() {
            match part {
                Part::Text { content } => draft.text(&content),
                Part::Reasoning { content } => draft.reasoning(&content),
                other => draft.parts.push(DraftPart::Whole(other)),
            }
        }
        if d["done"].as_bool() == Some(true) {
            done = true;
            if let Some(reason) = d["done_reason"].as_str() {
                draft.finish_reason = Some(reason.to_owned());
            }
            usage(d, c);
        }
    }
    c.push_output(vec![draft.finish()]);
    done
}

/// `prompt_eval_count` and `eval_count`.
fn usage(json: &Value, c: &mut Conversation) {
    set_count(&mut c.usage.input_tokens, &json["prompt_eval_count"]);
    set_count(&mut c.usage.output_tokens, &json["eval_count"]);
}
