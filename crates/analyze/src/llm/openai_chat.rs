//! OpenAI Chat Completions (`POST …/chat/completions`), as the OpenAI API reference describes
//! it (<https://platform.openai.com/docs/api-reference/chat>): the request's `messages`
//! (system / developer / user / assistant with `tool_calls` / tool), `tools`; the response's
//! `choices[].message`, or streamed `chat.completion.chunk`s whose `choices[].delta` carry
//! content, `tool_calls[]` pieces by `index` (id and name first, then `function.arguments`
//! text), `finish_reason`, and a last chunk with `usage` and no choices, ended by
//! `data: [DONE]`. Also read: `reasoning_content` / `reasoning`, which OpenAI-compatible servers
//! (DeepSeek, OpenRouter, Ollama, vLLM) send.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::api::{is_post, Api};
use super::conversation::{Conversation, Message, Part};
use super::draft::{normalise, Draft, DraftPart};
use super::fields::{
    content_parts, first_str, first_text, function_tools, parameters, set_u64, tool_calls,
};
use super::framing::{Chunk, Stream};
use super::lenient::{event, List, Obj, Str, U64};

pub(crate) struct OpenAiChat;

impl Api for OpenAiChat {
    fn name(&self) -> &'static str {
        "openai.chat"
    }

    fn provider(&self) -> &'static str {
        "openai"
    }

    fn final_event(&self) -> &'static str {
        "data: [DONE]"
    }

    fn recognises(&self, method: &str, path: &str) -> bool {
        is_post(method) && path.ends_with("/chat/completions")
    }

    fn request(&self, json: &Value, c: &mut Conversation) {
        request(json, c);
    }

    fn response(&self, json: &Value, c: &mut Conversation) -> bool {
        response(json, c)
    }

    /// The chunks, and `data: [DONE]` at the end.
    fn stream(&self, stream: &Stream, c: &mut Conversation) -> bool {
        chunks(&stream.chunks, c) && stream.done
    }
}

fn request(json: &Value, c: &mut Conversation) {
    c.request_model = json["model"].as_str().map(str::to_owned);
    for m in json["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("user");
        match role {
            "system" | "developer" => c.system_instructions.extend(content_parts(&m["content"])),
            "tool" | "function" => c.input_messages.push(Message {
                role: "tool".to_owned(),
                parts: vec![Part::ToolCallResponse {
                    id: m["tool_call_id"].as_str().map(str::to_owned),
                    response: m["content"].clone(),
                }],
                finish_reason: None,
            }),
            _ => {
                let mut parts = content_parts(&m["content"]);
                parts.extend(tool_calls(&m["tool_calls"]));
                c.input_messages.push(Message {
                    role: role.to_owned(),
                    parts,
                    finish_reason: None,
                });
            }
        }
    }
    c.tool_definitions = function_tools(json);
    c.parameters = parameters(
        json,
        &["model", "messages", "tools", "functions", "stream"],
        &[],
    );
}

/// A whole `chat.completion`.
fn response(json: &Value, c: &mut Conversation) -> bool {
    let Some(choices) = json["choices"].as_array() else {
        return false;
    };
    first_str(&mut c.response_id, &json["id"]);
    first_str(&mut c.response_model, &json["model"]);
    let mut messages = Vec::new();
    for choice in choices {
        let m = &choice["message"];
        let mut parts = Vec::new();
        for key in ["reasoning_content", "reasoning"] {
            if let Some(text) = m[key].as_str() {
                parts.push(Part::Reasoning {
                    content: text.to_owned(),
                });
            }
        }
        parts.extend(content_parts(&m["content"]));
        if let Some(refusal) = m["refusal"].as_str() {
            parts.push(Part::Other {
                kind: "refusal".to_owned(),
                value: Value::String(refusal.to_owned()),
            });
        }
        parts.extend(tool_calls(&m["tool_calls"]));
        messages.push(Message {
            role: m["role"].as_str().unwrap_or("assistant").to_owned(),
            parts: normalise(parts),
            finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
        });
    }
    c.push_output(messages);
    usage_of(&json["usage"], c);
    true
}

/// A `chat.completion.chunk`: the fields the decoder reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ChunkEvent<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    model: Str<'a>,
    usage: Obj<Usage>,
    #[serde(borrow)]
    choices: List<Obj<ChoiceDelta<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChoiceDelta<'a> {
    index: U64,
    #[serde(borrow)]
    delta: Obj<Delta<'a>>,
    #[serde(borrow)]
    finish_reason: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Delta<'a> {
    #[serde(borrow)]
    reasoning_content: Str<'a>,
    #[serde(borrow)]
    reasoning: Str<'a>,
    #[serde(borrow)]
    content: Str<'a>,
    #[serde(borrow)]
    refusal: Str<'a>,
    #[serde(borrow)]
    tool_calls: List<Obj<ToolCallDelta<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ToolCallDelta<'a> {
    index: U64,
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    function: Obj<FunctionDelta<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FunctionDelta<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    arguments: Str<'a>,
}

/// `usage`: `prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`,
/// `completion_tokens_details.reasoning_tokens`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Usage {
    prompt_tokens: U64,
    completion_tokens: U64,
    prompt_tokens_details: Obj<CachedTokens>,
    completion_tokens_details: Obj<ReasoningTokens>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CachedTokens {
    cached_tokens: U64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReasoningTokens {
    reasoning_tokens: U64,
}

/// `chat.completion.chunk`s. The end (`[DONE]`) is checked by the caller.
fn chunks(chunks: &[Chunk], c: &mut Conversation) -> bool {
    let mut drafts: BTreeMap<u64, Draft> = BTreeMap::new();
    let mut tools: HashMap<(u64, u64), usize> = HashMap::new();
    for chunk in chunks {
        let Some(d) = event::<ChunkEvent>(&chunk.data) else {
            continue;
        };
        first_text(&mut c.response_id, d.id.as_str());
        first_text(&mut c.response_model, d.model.as_str());
        usage(&d.usage.0, c);
        for Obj(choice) in &d.choices.0 {
            let index = choice.index.0.unwrap_or(0);
            let draft = drafts.entry(index).or_insert_with(Draft::assistant);
            let delta = &choice.delta.0;
            for text in [&delta.reasoning_content, &delta.reasoning] {
                if let Some(text) = text.as_str() {
                    draft.reasoning(text);
                }
            }
            if let Some(text) = delta.content.as_str() {
                draft.text(text);
            }
            if let Some(refusal) = delta.refusal.as_str() {
                draft.parts.push(DraftPart::Whole(Part::Other {
                    kind: "refusal".to_owned(),
                    value: Value::String(refusal.to_owned()),
                }));
            }
            for Obj(call) in &delta.tool_calls.0 {
                tool_call_delta(draft, &mut tools, index, call);
            }
            if let Some(reason) = choice.finish_reason.as_str() {
                draft.finish_reason = Some(reason.to_owned());
            }
        }
    }
    c.push_output(drafts.into_values().map(Draft::finish).collect());
    true
}

fn tool_call_delta(
    draft: &mut Draft,
    tools: &mut HashMap<(u64, u64), usize>,
    choice: u64,
    call: &ToolCallDelta,
) {
    let key = (choice, call.index.0.unwrap_or(0));
    let position = *tools.entry(key).or_insert_with(|| {
        draft.parts.push(DraftPart::ToolCall {
            id: None,
            name: String::new(),
            arguments: String::new(),
            input: None,
        });
        draft.parts.len() - 1
    });
    let Some(DraftPart::ToolCall {
        id,
        name,
        arguments,
        ..
    }) = draft.parts.get_mut(position)
    else {
        return;
    };
    first_text(id, call.id.as_str());
    let function = &call.function.0;
    if let Some(n) = function.name.as_str().filter(|_| name.is_empty()) {
        n.clone_into(name);
    }
    if let Some(piece) = function.arguments.as_str() {
        arguments.push_str(piece);
    }
}

/// A whole response's `usage`, read as a stream chunk's is.
fn usage_of(u: &Value, c: &mut Conversation) {
    if let Ok(Obj(u)) = Obj::<Usage>::deserialize(u) {
        usage(&u, c);
    }
}

fn usage(u: &Usage, c: &mut Conversation) {
    set_u64(&mut c.usage.input_tokens, u.prompt_tokens);
    set_u64(&mut c.usage.output_tokens, u.completion_tokens);
    set_u64(
        &mut c.usage.cache_read_input_tokens,
        u.prompt_tokens_details.0.cached_tokens,
    );
    set_u64(
        &mut c.usage.reasoning_tokens,
        u.completion_tokens_details.0.reasoning_tokens,
    );
}
