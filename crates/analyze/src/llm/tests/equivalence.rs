//! The property: an answer streamed decodes to the same conversation as the same answer sent
//! whole. Answers are generated (text in pieces, tool calls whose argument JSON is cut at
//! arbitrary points, usage), rendered in each API's streamed and non-streamed wire shapes, and
//! decoded both ways.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{answer, decoded, exchange};

/// Renders an answer as `(streamed body, whole body)`.
type Render = fn(&Answer) -> (String, String);

#[derive(Debug, Clone)]
struct Answer {
    pieces: Vec<String>,
    calls: Vec<Call>,
    input_tokens: u64,
    output_tokens: u64,
    cached: u64,
    crlf: bool,
    /// Responses API only: whether the stream repeats each item whole (`output_item.done`).
    done_events: bool,
}

#[derive(Debug, Clone)]
struct Call {
    id: String,
    name: String,
    args: Value,
    /// The argument JSON text in the pieces a stream sends.
    arg_pieces: Vec<String>,
}

impl Answer {
    fn text(&self) -> String {
        self.pieces.concat()
    }

    fn has_text(&self) -> bool {
        !self.text().is_empty()
    }

    /// SSE events, each `(event name, data)`, with the chosen line ending.
    fn sse(&self, events: &[(Option<&str>, String)]) -> String {
        let nl = if self.crlf { "\r\n" } else { "\n" };
        let mut out = String::new();
        for (event, data) in events {
            if let Some(event) = event {
                out.push_str(&format!("event: {event}{nl}"));
            }
            out.push_str(&format!("data: {data}{nl}{nl}"));
        }
        out
    }
}

fn text_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[\n\t\"\\\\ {}:,]{0,4}",
        Just("data: [DONE]\n\n".to_owned()),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    (
        "call_[a-z0-9]{1,8}",
        "[a-z_]{1,10}",
        prop::collection::btree_map("[a-z]{1,6}", "\\PC{0,10}", 0..4),
        prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    )
        .prop_map(|(id, name, args, cuts)| {
            let args = json!(args);
            let text = args.to_string();
            Call {
                id,
                name,
                arg_pieces: split(&text, &cuts),
                args,
            }
        })
}

/// `text` cut at the chosen character boundaries.
fn split(text: &str, cuts: &[prop::sample::Index]) -> Vec<String> {
    let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let mut at: Vec<usize> = cuts
        .iter()
        .filter(|_| !boundaries.is_empty())
        .map(|c| boundaries[c.index(boundaries.len())])
        .collect();
    at.push(0);
    at.push(text.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| text[w[0]..w[1]].to_owned()).collect()
}

fn any_answer() -> impl Strategy<Value = Answer> {
    (
        prop::collection::vec(text_piece(), 0..6),
        prop::collection::vec(call(), 0..3),
        0u64..200_000,
        0u64..20_000,
        0u64..100_000,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(pieces, calls, input_tokens, output_tokens, cached, crlf, done_events)| Answer {
                pieces,
                calls,
                input_tokens,
                output_tokens,
                cached,
                crlf,
                done_events,
            },
        )
}

fn openai_chat(a: &Answer) -> (String, String) {
    let finish = if a.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let usage = json!({"prompt_tokens": a.input_tokens, "completion_tokens": a.output_tokens,
        "total_tokens": a.input_tokens + a.output_tokens,
        "prompt_tokens_details": {"cached_tokens": a.cached}});
    let mut message = json!({"role": "assistant",
        "content": if a.has_text() { json!(a.text()) } else { Value::Null }, "refusal": null});
    if !a.calls.is_empty() {
        message["tool_calls"] = a
            .calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.args.to_string()}})
            })
            .collect();
    }
    let whole = json!({"id": "chatcmpl-p", "object": "chat.completion", "created": 1,
        "model": "gpt-p", "choices": [{"index": 0, "message": message, "logprobs": null,
        "finish_reason": finish}], "usage": usage});
    let chunk = |delta: Value, finish: Value| {
        (
            None,
            json!({"id": "chatcmpl-p", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-p", "choices": [{"index": 0, "delta": delta, "logprobs": null,
            "finish_reason": finish}], "usage": null})
            .to_string(),
        )
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in &a.pieces {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    for (i, c) in a.calls.iter().enumerate() {
        for (j, piece) in c.arg_pieces.iter().enumerate() {
            let call = if j == 0 {
                json!({"index": i, "id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": piece}})
            } else {
                json!({"index": i, "function": {"arguments": piece}})
            };
            events.push(chunk(json!({"tool_calls": [call]}), Value::Null));
        }
    }
    events.push(chunk(json!({}), json!(finish)));
    events.push((
        None,
        json!({"id": "chatcmpl-p", "object": "chat.completion.chunk",
        "created": 1, "model": "gpt-p", "choices": [], "usage": usage})
        .to_string(),
    ));
    events.push((None, "[DONE]".to_owned()));
    (a.sse(&events), whole.to_string())
}

fn anthropic(a: &Answer) -> (String, String) {
    let stop = if a.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    let mut content = Vec::new();
    if a.has_text() {
        content.push(json!({"type": "text", "text": a.text()}));
    }
    for c in &a.calls {
        content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.args}));
    }
    let whole = json!({"id": "msg_p", "type": "message", "role": "assistant", "model": "claude-p",
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": a.input_tokens, "output_tokens": a.output_tokens,
            "cache_read_input_tokens": a.cached, "cache_creation_input_tokens": 0}});
    let mut events = vec![(
        Some("message_start"),
        json!({"type": "message_start", "message": {"id": "msg_p", "type": "message",
            "role": "assistant", "content": [], "model": "claude-p", "stop_reason": null,
            "usage": {"input_tokens": a.input_tokens, "output_tokens": 1,
                "cache_read_input_tokens": a.cached, "cache_creation_input_tokens": 0}}})
        .to_string(),
    )];
    let mut index = 0;
    let mut block = |events: &mut Vec<(Option<&str>, String)>, start: Value, deltas: Vec<Value>| {
        events.push((
            Some("content_block_start"),
            json!({"type": "content_block_start",
            "index": index, "content_block": start})
            .to_string(),
        ));
        events.push((Some("ping"), json!({"type": "ping"}).to_string()));
        for delta in deltas {
            events.push((
                Some("content_block_delta"),
                json!({"type": "content_block_delta",
                "index": index, "delta": delta})
                .to_string(),
            ));
        }
        events.push((
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": index}).to_string(),
        ));
        index += 1;
    };
    if a.has_text() {
        let deltas = a
            .pieces
            .iter()
            .map(|p| json!({"type": "text_delta", "text": p}))
            .collect();
        block(&mut events, json!({"type": "text", "text": ""}), deltas);
    }
    for c in &a.calls {
        let deltas = c
            .arg_pieces
            .iter()
            .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
            .collect();
        block(
            &mut events,
            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": {}}),
            deltas,
        );
    }
    events.push((
        Some("message_delta"),
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": a.output_tokens}})
        .to_string(),
    ));
    events.push((
        Some("message_stop"),
        json!({"type": "message_stop"}).to_string(),
    ));
    (a.sse(&events), whole.to_string())
}

fn gemini(a: &Answer) -> (String, String) {
    let usage = json!({"promptTokenCount": a.input_tokens, "candidatesTokenCount": a.output_tokens,
        "cachedContentTokenCount": a.cached, "totalTokenCount": a.input_tokens + a.output_tokens});
    let mut parts = Vec::new();
    if a.has_text() {
        parts.push(json!({"text": a.text()}));
    }
    for c in &a.calls {
        parts.push(json!({"functionCall": {"name": c.name, "args": c.args}}));
    }
    let candidate = |parts: Vec<Value>, finish: Option<&str>| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        candidate
    };
    let whole = json!({"candidates": [candidate(parts, Some("STOP"))], "usageMetadata": usage,
        "modelVersion": "gemini-p", "responseId": "resp-p"});
    let chunk = |parts: Vec<Value>, finish: Option<&str>, usage: Value| {
        (
            None,
            json!({"candidates": [candidate(parts, finish)], "usageMetadata": usage,
            "modelVersion": "gemini-p", "responseId": "resp-p"})
            .to_string(),
        )
    };
    let partial = json!({"promptTokenCount": a.input_tokens, "totalTokenCount": a.input_tokens});
    let mut events: Vec<(Option<&str>, String)> = a
        .pieces
        .iter()
        .map(|p| chunk(vec![json!({"text": p})], None, partial.clone()))
        .collect();
    for c in &a.calls {
        events.push(chunk(
            vec![json!({"functionCall": {"name": c.name, "args": c.args}})],
            None,
            partial.clone(),
        ));
    }
    events.push(chunk(Vec::new(), Some("STOP"), usage));
    (a.sse(&events), whole.to_string())
}

fn openai_responses(a: &Answer) -> (String, String) {
    let mut output = Vec::new();
    if a.has_text() {
        output.push(
            json!({"id": "msg_p", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "text": a.text()}]}),
        );
    }
    for c in &a.calls {
        output.push(
            json!({"id": format!("fc_{}", c.id), "type": "function_call", "status": "completed",
            "arguments": c.args.to_string(), "call_id": c.id, "name": c.name}),
        );
    }
    let usage = json!({"input_tokens": a.input_tokens, "input_tokens_details": {"cached_tokens": a.cached},
        "output_tokens": a.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": a.input_tokens + a.output_tokens});
    let whole = json!({"id": "resp_p", "object": "response", "model": "gpt-p", "status": "completed",
        "output": output, "usage": usage});
    let event = |kind: &'static str, body: Value| {
        let mut body = body;
        body["type"] = json!(kind);
        (Some(kind), body.to_string())
    };
    let mut events = vec![event(
        "response.created",
        json!({"response": {"id": "resp_p",
        "object": "response", "model": "gpt-p", "status": "in_progress", "output": []}}),
    )];
    let mut index = 0;
    if a.has_text() {
        events.push(event("response.output_item.added", json!({"output_index": index,
            "item": {"id": "msg_p", "type": "message", "status": "in_progress", "role": "assistant", "content": []}})));
        for piece in &a.pieces {
            events.push(event(
                "response.output_text.delta",
                json!({"item_id": "msg_p",
                "output_index": index, "content_index": 0, "delta": piece}),
            ));
        }
        if a.done_events {
            events.push(event(
                "response.output_item.done",
                json!({"output_index": index, "item": output[0]}),
            ));
        }
        index += 1;
    }
    for c in &a.calls {
        events.push(event(
            "response.output_item.added",
            json!({"output_index": index,
            "item": {"id": format!("fc_{}", c.id), "type": "function_call", "status": "in_progress",
                "arguments": "", "call_id": c.id, "name": c.name}}),
        ));
        for piece in &c.arg_pieces {
            events.push(event(
                "response.function_call_arguments.delta",
                json!({"output_index": index, "delta": piece}),
            ));
        }
        if a.done_events {
            events.push(event(
                "response.output_item.done",
                json!({"output_index": index, "item": output[index]}),
            ));
        }
        index += 1;
    }
    events.push(event("response.completed", json!({"response": whole})));
    (a.sse(&events), whole.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn streamed_and_whole_answers_decode_the_same(a in any_answer()) {
        let apis: [(&str, Render); 4] = [
            ("https://api.test/v1/chat/completions", openai_chat),
            ("https://api.test/v1/messages", anthropic),
            ("https://api.test/v1beta/models/gemini-p:streamGenerateContent?alt=sse", gemini),
            ("https://api.test/v1/responses", openai_responses),
        ];
        for (url, render) in apis {
            let (stream, whole) = render(&a);
            let streamed = decoded(&exchange(url, "{}", 200, "text/event-stream", &stream));
            let whole_url = url.replace(":streamGenerateContent?alt=sse", ":generateContent");
            let whole = decoded(&exchange(&whole_url, "{}", 200, "application/json", &whole));
            prop_assert!(streamed.notes.is_empty(), "{url}: {:?}", streamed.notes);
            prop_assert!(whole.notes.is_empty(), "{url}: {:?}", whole.notes);
            prop_assert!(streamed.streaming && !whole.streaming);
            prop_assert_eq!(answer(&streamed), answer(&whole), "{}", url);
            // And the answer is the one generated.
            let parts = &streamed.output_messages[0].parts;
            let texts: String = parts.iter().filter_map(|p| match p {
                super::Part::Text { content } => Some(content.as_str()),
                _ => None,
            }).collect();
            prop_assert_eq!(texts, a.text());
            let calls: Vec<(&str, &Value)> = parts.iter().filter_map(|p| match p {
                super::Part::ToolCall { name, arguments, .. } => Some((name.as_str(), arguments)),
                _ => None,
            }).collect();
            let expected: Vec<(&str, &Value)> =
                a.calls.iter().map(|c| (c.name.as_str(), &c.args)).collect();
            prop_assert_eq!(calls, expected);
            prop_assert_eq!(streamed.usage.output_tokens, Some(a.output_tokens));
        }
    }
}
