//! Google's Gemini API `models.generateContent` and `models.streamGenerateContent`
//! (<https://ai.google.dev/api/generate-content>): the request's `contents` (roles `user` and
//! `model`, `parts` with `text`, `thought`, `functionCall`, `functionResponse`, inline data),
//! `systemInstruction`, `tools[].functionDeclarations`, `generationConfig`; the response's
//! `candidates[].content.parts`, `finishReason`, `usageMetadata`. Streamed, each chunk is a
//! whole `GenerateContentResponse` holding the next piece of each candidate, as SSE
//! (`alt=sse`) or as one JSON array; the last carries `finishReason`. The model is in the path.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::api::{is_post, Api};
use super::conversation::{Conversation, Message, Part, ToolDefinition};
use super::draft::{normalise, Draft, DraftPart};
use super::fields::{first_str, first_text, parameters, set_u64, tool_definition};
use super::framing::{Chunk, Framing, Stream};
use super::lenient::{event, List, Obj, Str, U64};

pub(crate) struct Gemini;

impl Api for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn provider(&self) -> &'static str {
        "gcp.gemini"
    }

    fn final_event(&self) -> &'static str {
        "a finishReason"
    }

    fn recognises(&self, method: &str, path: &str) -> bool {
        is_post(method)
            && (path.contains(":generateContent") || path.contains(":streamGenerateContent"))
    }

    fn operation(&self, _path: &str) -> &'static str {
        "generate_content"
    }

    /// `…/models/{model}:generateContent`.
    fn model_in_path(&self, path: &str) -> Option<String> {
        let last = path.rsplit('/').next()?;
        let model = last.split(':').next()?;
        (!model.is_empty()).then(|| model.to_owned())
    }

    fn streams_by_path(&self, path: &str) -> bool {
        path.contains(":streamGenerateContent")
    }

    /// `streamGenerateContent` without `alt=sse`: one JSON array of chunks.
    fn stream_framing(&self, _content_type: &str, text: &str) -> Option<Framing> {
        text.trim_start().starts_with('[').then_some(Framing::JsonArray)
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
    let system = if json["systemInstruction"].is_null() {
        &json["system_instruction"]
    } else {
        &json["systemInstruction"]
    };
    c.system_instructions = match system {
        Value::String(text) => vec![Part::Text {
            content: text.clone(),
        }],
        other => parts(&other["parts"]),
    };
    for content in json["contents"].as_array().into_iter().flatten() {
        c.input_messages.push(Message {
            role: role(&content["role"]).to_owned(),
            parts: parts(&content["parts"]),
            finish_reason: None,
        });
    }
    for tool in json["tools"].as_array().into_iter().flatten() {
        let declarations = if tool["functionDeclarations"].is_null() {
            &tool["function_declarations"]
        } else {
            &tool["functionDeclarations"]
        };
        match declarations.as_array() {
            Some(declarations) => {
                c.tool_definitions.extend(
                    declarations
                        .iter()
                        .map(|f| tool_definition(f, &["parameters", "parametersJsonSchema"])),
                );
            }
            // A built-in tool: `{"googleSearch": {}}`, `{"codeExecution": {}}`.
            None => c
                .tool_definitions
                .extend(tool.as_object().into_iter().flat_map(|o| {
                    o.keys().map(|name| ToolDefinition {
                        name: name.clone(),
                        description: None,
                        parameters: Value::Null,
                    })
                })),
        }
    }
    c.parameters = parameters(
        json,
        &[
            "contents",
            "systemInstruction",
            "system_instruction",
            "tools",
        ],
        &["generationConfig", "generation_config"],
    );
}

/// `user` stays, `model` is the assistant.
fn role(role: &Value) -> &str {
    match role.as_str() {
        Some("model") => "assistant",
        Some(other) => other,
        None => "user",
    }
}

fn parts(parts: &Value) -> Vec<Part> {
    parts.as_array().into_iter().flatten().map(part).collect()
}

fn part(p: &Value) -> Part {
    if let Some(text) = p["text"].as_str() {
        return if p["thought"].as_bool() == Some(true) {
            Part::Reasoning {
                content: text.to_owned(),
            }
        } else {
            Part::Text {
                content: text.to_owned(),
            }
        };
    }
    let call = if p["functionCall"].is_null() {
        &p["function_call"]
    } else {
        &p["functionCall"]
    };
    if call.is_object() {
        return Part::ToolCall {
            id: call["id"].as_str().map(str::to_owned),
            name: call["name"].as_str().unwrap_or_default().to_owned(),
            arguments: call["args"].clone(),
        };
    }
    let response = if p["functionResponse"].is_null() {
        &p["function_response"]
    } else {
        &p["functionResponse"]
    };
    if response.is_object() {
        return Part::ToolCallResponse {
            id: response["id"].as_str().map(str::to_owned),
            response: response.clone(),
        };
    }
    Part::Other {
        kind: p
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "thoughtSignature"))
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned()),
        value: p.clone(),
    }
}

/// A whole `GenerateContentResponse`.
fn response(json: &Value, c: &mut Conversation) -> bool {
    let Some(candidates) = json["candidates"].as_array() else {
        block_reason(json, c);
        return json["usageMetadata"].is_object() || json["promptFeedback"].is_object();
    };
    ids(json, c);
    let messages = candidates
        .iter()
        .map(|candidate| Message {
            role: match candidate["content"]["role"].as_str() {
                Some("model") | None => "assistant",
                Some(other) => other,
            }
            .to_owned(),
            parts: normalise(parts(&candidate["content"]["parts"])),
            finish_reason: candidate["finishReason"].as_str().map(str::to_owned),
        })
        .collect();
    c.push_output(messages);
    usage_of(&json["usageMetadata"], c);
    true
}

/// A chunk of `streamGenerateContent`: the fields the decoder reads.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GenerateChunk<'a> {
    #[serde(borrow)]
    response_id: Str<'a>,
    #[serde(borrow)]
    model_version: Str<'a>,
    usage_metadata: Obj<Usage>,
    #[serde(borrow)]
    prompt_feedback: Obj<Feedback<'a>>,
    #[serde(borrow)]
    candidates: List<Obj<Candidate<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Feedback<'a> {
    #[serde(borrow)]
    block_reason: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Candidate<'a> {
    index: U64,
    content: Obj<Content>,
    #[serde(borrow)]
    finish_reason: Str<'a>,
}

/// A candidate's `content`: its parts, read as values (a part's shape decides its kind).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Content {
    parts: List<Value>,
}

/// `usageMetadata`: `promptTokenCount`, `candidatesTokenCount`, `cachedContentTokenCount`,
/// `thoughtsTokenCount`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Usage {
    prompt_token_count: U64,
    candidates_token_count: U64,
    cached_content_token_count: U64,
    thoughts_token_count: U64,
}

/// The chunks of `streamGenerateContent`; true when a candidate finished.
fn chunks(chunks: &[Chunk], c: &mut Conversation) -> bool {
    let mut drafts: BTreeMap<u64, Draft> = BTreeMap::new();
    let mut finished = false;
    for chunk in chunks {
        let Some(d) = event::<GenerateChunk>(&chunk.data) else {
            continue;
        };
        first_text(&mut c.response_id, d.response_id.as_str());
        first_text(&mut c.response_model, d.model_version.as_str());
        usage(&d.usage_metadata.0, c);
        note_block_reason(d.prompt_feedback.0.block_reason.as_str(), c);
        for (i, Obj(candidate)) in d.candidates.0.iter().enumerate() {
            let index = candidate.index.0.unwrap_or(i as u64);
            let draft = drafts.entry(index).or_insert_with(Draft::assistant);
            for p in &candidate.content.0.parts.0 {
                match part(p) {
                    Part::Text { content } => draft.text(&content),
                    Part::Reasoning { content } => draft.reasoning(&content),
                    other => draft.parts.push(DraftPart::Whole(other)),
                }
            }
            if let Some(reason) = candidate.finish_reason.as_str() {
                draft.finish_reason = Some(reason.to_owned());
                finished = true;
            }
        }
    }
    c.push_output(drafts.into_values().map(Draft::finish).collect());
    finished || c.error.is_some()
}

fn ids(json: &Value, c: &mut Conversation) {
    first_str(&mut c.response_id, &json["responseId"]);
    first_str(&mut c.response_model, &json["modelVersion"]);
}

/// A prompt the API refused (`promptFeedback.blockReason`): a note.
fn block_reason(json: &Value, c: &mut Conversation) {
    note_block_reason(json["promptFeedback"]["blockReason"].as_str(), c);
}

fn note_block_reason(reason: Option<&str>, c: &mut Conversation) {
    if let Some(reason) = reason {
        let note = format!("prompt blocked: {reason}");
        if !c.notes.contains(&note) {
            c.notes.push(note);
        }
    }
}

/// A whole response's `usageMetadata`, read as a chunk's is.
fn usage_of(u: &Value, c: &mut Conversation) {
    if let Ok(Obj(u)) = Obj::<Usage>::deserialize(u) {
        usage(&u, c);
    }
}

fn usage(u: &Usage, c: &mut Conversation) {
    set_u64(&mut c.usage.input_tokens, u.prompt_token_count);
    set_u64(&mut c.usage.output_tokens, u.candidates_token_count);
    set_u64(
        &mut c.usage.cache_read_input_tokens,
        u.cached_content_token_count,
    );
    set_u64(&mut c.usage.reasoning_tokens, u.thoughts_token_count);
}
