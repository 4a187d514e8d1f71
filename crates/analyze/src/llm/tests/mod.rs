//! Decoder tests on recorded-shape fixtures (`crates/analyze/tests/llm/`: synthetic bodies in
//! exactly the wire shapes of each provider's API reference), bad input, and the property that
//! a streamed answer decodes to the same conversation as its non-streamed equivalent.

mod equivalence;
mod typed_events;

use phonehome_record::{Body, BodyEncoding, FlowId, Phase};

use super::*;
use crate::event::{Exchange, ResponsePart};

fn text_body(data: &str) -> Body {
    Body {
        size: data.len() as u64,
        encoding: BodyEncoding::Utf8,
        data: data.to_owned(),
        truncated: false,
        decoded_from: None,
        dropped_bytes: 0,
        redaction: None,
    }
}

/// A POST of `body` to `url`, without a response.
pub(crate) fn post(url: &str, body: &str) -> Exchange {
    crate::event::exchange(
        FlowId(7),
        chrono::DateTime::default(),
        "POST".into(),
        url.into(),
        "HTTP/1.1".into(),
        Vec::new(),
        Some(text_body(body)),
    )
}

/// `post` with a response: `status`, `content_type`, `body`.
pub(crate) fn exchange(
    url: &str,
    request: &str,
    status: u16,
    content_type: &str,
    response: &str,
) -> Exchange {
    let mut x = post(url, request);
    x.response = Some(ResponsePart {
        status,
        reason: String::new(),
        version: "HTTP/1.1".into(),
        headers: vec![("content-type".into(), content_type.into())],
        body: (!response.is_empty()).then(|| text_body(response)),
        ttfb_ms: 120,
        first_byte_ms: Some(340),
        duration_ms: 2_000,
    });
    x
}

fn decoded(x: &Exchange) -> Conversation {
    decode(x).expect("an LLM call")
}

fn text(content: &str) -> Part {
    Part::Text {
        content: content.to_owned(),
    }
}

fn tool_call(id: Option<&str>, name: &str, arguments: serde_json::Value) -> Part {
    Part::ToolCall {
        id: id.map(str::to_owned),
        name: name.to_owned(),
        arguments,
    }
}

fn reasoning(content: &str) -> Part {
    Part::Reasoning {
        content: content.to_owned(),
    }
}

/// The fields a streamed answer and its non-streamed equivalent must agree on.
fn answer(c: &Conversation) -> (&[Message], &[String], &Usage, Option<&str>, Option<&str>) {
    (
        &c.output_messages,
        &c.finish_reasons,
        &c.usage,
        c.response_id.as_deref(),
        c.response_model.as_deref(),
    )
}

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/llm/", $name))
    };
}

const CHAT_URL: &str = "https://api.openai.com/v1/chat/completions";
const MESSAGES_URL: &str = "https://api.anthropic.com/v1/messages";
const RESPONSES_URL: &str = "https://api.openai.com/v1/responses";
const GEMINI_STREAM_URL: &str =
    "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent";
const GEMINI_URL: &str =
    "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent";
const OLLAMA_URL: &str = "http://127.0.0.1:11434/api/chat";

#[test]
fn openai_chat_streamed_with_tool_calls() {
    let c = decoded(&exchange(
        CHAT_URL,
        fixture!("openai_chat.request.json"),
        200,
        "text/event-stream; charset=utf-8",
        fixture!("openai_chat.stream.sse"),
    ));
    assert_eq!(
        (c.api, c.provider, c.operation, c.host.as_str()),
        ("openai.chat", "openai", "chat", "api.openai.com")
    );
    assert_eq!(c.request_model.as_deref(), Some("gpt-4.1"));
    assert_eq!(c.response_model.as_deref(), Some("gpt-4.1-2025-04-14"));
    assert!(c.streaming);
    assert_eq!(
        c.system_instructions,
        vec![text(
            "You are a coding agent. Working directory: /home/dev/acme-app"
        )]
    );
    let roles: Vec<&str> = c.input_messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    assert_eq!(
        c.input_messages[1].parts,
        vec![tool_call(
            Some("call_read1"),
            "read",
            serde_json::json!({"path": "src/scheduler.rs"})
        )]
    );
    assert_eq!(
        c.input_messages[2].parts,
        vec![Part::ToolCallResponse {
            id: Some("call_read1".into()),
            response: "fn next() -> u32 { 0 }".into()
        }]
    );
    let tools: Vec<&str> = c.tool_definitions.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tools, ["read", "bash"]);
    assert_eq!(c.parameters["temperature"], 0.2);
    assert_eq!(c.parameters["max_tokens"], 4096);
    assert!(!c.parameters.contains_key("messages") && !c.parameters.contains_key("stream"));
    assert_eq!(
        c.output_messages,
        vec![Message {
            role: "assistant".into(),
            parts: vec![
                text("The test expects `next()` to return 1.\nLet me check."),
                tool_call(
                    Some("call_bash1"),
                    "bash",
                    serde_json::json!({"command": "cargo test scheduler"})
                ),
                tool_call(
                    Some("call_read2"),
                    "read",
                    serde_json::json!({"path": "tests/scheduler.rs"})
                ),
            ],
            finish_reason: Some("tool_calls".into()),
        }]
    );
    assert_eq!(c.finish_reasons, ["tool_calls"]);
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: Some(1830),
            output_tokens: Some(61),
            cache_read_input_tokens: Some(1536),
            cache_creation_input_tokens: None,
            reasoning_tokens: Some(0),
        }
    );
    assert_eq!((c.ttft_ms, c.duration_ms), (Some(340), Some(2_000)));
    assert_eq!(
        (c.error, c.notes, c.meta),
        (None, Vec::<String>::new(), false)
    );
}

#[test]
fn openai_chat_whole_equals_streamed() {
    let streamed = decoded(&exchange(
        CHAT_URL,
        fixture!("openai_chat.request.json"),
        200,
        "text/event-stream",
        fixture!("openai_chat.stream.sse"),
    ));
    let whole = decoded(&exchange(
        CHAT_URL,
        &fixture!("openai_chat.request.json").replace("\"stream\":true,", ""),
        200,
        "application/json",
        fixture!("openai_chat.response.json"),
    ));
    assert_eq!(answer(&whole), answer(&streamed));
    assert!(!whole.streaming);
    assert_eq!(
        whole.ttft_ms, None,
        "no time to first token without a stream"
    );
    assert!(whole.notes.is_empty(), "{:?}", whole.notes);
}

#[test]
fn anthropic_streamed_thinking_text_and_tool_use() {
    let c = decoded(&exchange(
        MESSAGES_URL,
        fixture!("anthropic.request.json"),
        200,
        "text/event-stream",
        fixture!("anthropic.stream.sse"),
    ));
    assert_eq!((c.api, c.provider), ("anthropic.messages", "anthropic"));
    assert_eq!(c.system_instructions.len(), 2);
    assert_eq!(
        c.session.as_deref(),
        Some("0b4e9a1c-7d2f-4c55-9a61-1f0c2d3e4f50")
    );
    assert_eq!(
        c.input_messages[2].parts,
        vec![Part::ToolCallResponse {
            id: Some("toolu_01A".into()),
            response: "test scheduler::next ... FAILED".into()
        }]
    );
    assert_eq!(c.tool_definitions[0].name, "Bash");
    assert_eq!(c.parameters["thinking"]["budget_tokens"], 4000);
    assert!(c.parameters.contains_key("metadata"));
    assert_eq!(
        c.output_messages[0].parts,
        vec![
            reasoning("One test failed: scheduler::next."),
            text("One test fails: `scheduler::next`. I'll read it."),
            tool_call(
                Some("toolu_01B"),
                "Read",
                serde_json::json!({"file_path": "src/scheduler.rs"})
            ),
        ]
    );
    assert_eq!(c.finish_reasons, ["tool_use"]);
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: Some(472),
            output_tokens: Some(89),
            cache_read_input_tokens: Some(2048),
            cache_creation_input_tokens: Some(120),
            reasoning_tokens: None,
        }
    );
    assert!(c.notes.is_empty(), "{:?}", c.notes);

    let whole = decoded(&exchange(
        MESSAGES_URL,
        fixture!("anthropic.request.json"),
        200,
        "application/json",
        fixture!("anthropic.response.json"),
    ));
    assert_eq!(answer(&whole), answer(&c));
}

#[test]
fn openai_responses_streamed_and_whole() {
    let c = decoded(&exchange(
        RESPONSES_URL,
        fixture!("openai_responses.request.json"),
        200,
        "text/event-stream",
        fixture!("openai_responses.stream.sse"),
    ));
    assert_eq!(c.api, "openai.responses");
    assert_eq!(
        c.system_instructions,
        vec![
            text("You are Codex, a coding agent."),
            text("Sandbox: workspace-write.")
        ]
    );
    let roles: Vec<&str> = c.input_messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    let tools: Vec<&str> = c.tool_definitions.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tools, ["shell", "web_search"]);
    assert_eq!(
        c.output_messages[0].parts,
        vec![
            reasoning("**Running tests**\n\nI'll run cargo test."),
            text("Running the scheduler tests now."),
            tool_call(
                Some("call_B"),
                "shell",
                serde_json::json!({"command": ["cargo", "test", "scheduler"]})
            ),
        ]
    );
    assert_eq!(c.finish_reasons, ["completed"]);
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: Some(3120),
            output_tokens: Some(204),
            cache_read_input_tokens: Some(2944),
            cache_creation_input_tokens: None,
            reasoning_tokens: Some(128),
        }
    );
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    let whole = decoded(&exchange(
        RESPONSES_URL,
        fixture!("openai_responses.request.json"),
        200,
        "application/json",
        fixture!("openai_responses.response.json"),
    ));
    assert_eq!(answer(&whole), answer(&c));
}

#[test]
fn gemini_sse_json_array_and_whole_agree() {
    let sse = decoded(&exchange(
        &format!("{GEMINI_STREAM_URL}?alt=sse"),
        fixture!("gemini.request.json"),
        200,
        "text/event-stream",
        fixture!("gemini.stream.sse"),
    ));
    assert_eq!(
        (sse.provider, sse.operation),
        ("gcp.gemini", "generate_content")
    );
    assert_eq!(sse.request_model.as_deref(), Some("gemini-2.5-pro"));
    assert_eq!(
        sse.system_instructions,
        vec![text("You are an interactive CLI agent.")]
    );
    let roles: Vec<&str> = sse.input_messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert!(matches!(
        sse.input_messages[2].parts[0],
        Part::ToolCallResponse { .. }
    ));
    assert_eq!(sse.tool_definitions.len(), 2);
    assert_eq!(sse.parameters["temperature"], 0);
    assert_eq!(
        sse.output_messages[0].parts,
        vec![
            reasoning("**Reading the file**\n\nIt exports one function."),
            text("It exports `next()`, which returns 0. Running the tests:"),
            tool_call(
                None,
                "run_shell_command",
                serde_json::json!({"command": "cargo test scheduler"})
            ),
        ]
    );
    assert_eq!(sse.finish_reasons, ["STOP"]);
    assert_eq!(
        sse.usage,
        Usage {
            input_tokens: Some(812),
            output_tokens: Some(31),
            cache_read_input_tokens: Some(512),
            cache_creation_input_tokens: None,
            reasoning_tokens: Some(58),
        }
    );
    assert!(sse.notes.is_empty(), "{:?}", sse.notes);
    let array = decoded(&exchange(
        GEMINI_STREAM_URL,
        fixture!("gemini.request.json"),
        200,
        "application/json; charset=UTF-8",
        fixture!("gemini.stream.json"),
    ));
    assert!(
        array.streaming && array.notes.is_empty(),
        "{:?}",
        array.notes
    );
    assert_eq!(answer(&array), answer(&sse));
    let whole = decoded(&exchange(
        GEMINI_URL,
        fixture!("gemini.request.json"),
        200,
        "application/json",
        fixture!("gemini.response.json"),
    ));
    assert!(!whole.streaming);
    assert_eq!(answer(&whole), answer(&sse));
}

#[test]
fn ollama_ndjson_and_whole_agree() {
    let c = decoded(&exchange(
        OLLAMA_URL,
        fixture!("ollama.request.json"),
        200,
        "application/x-ndjson",
        fixture!("ollama.stream.ndjson"),
    ));
    assert_eq!((c.api, c.provider), ("ollama.chat", "ollama"));
    assert!(c.streaming, "Ollama streams unless told not to");
    assert_eq!(c.system_instructions, vec![text("You are a coding agent.")]);
    assert_eq!(c.parameters["num_ctx"], 32768);
    assert_eq!(c.parameters["think"], true);
    assert_eq!(
        c.output_messages[0].parts,
        vec![
            reasoning("The user wants a summary."),
            text("A Rust crate: `Cargo.toml` and `src/`. Reading src:"),
            tool_call(None, "list", serde_json::json!({"path": "src"})),
        ]
    );
    assert_eq!(c.finish_reasons, ["stop"]);
    assert_eq!(
        (c.usage.input_tokens, c.usage.output_tokens),
        (Some(212), Some(57))
    );
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    let whole = decoded(&exchange(
        OLLAMA_URL,
        &fixture!("ollama.request.json").replace("\"think\":true", "\"stream\":false"),
        200,
        "application/json; charset=utf-8",
        fixture!("ollama.response.json"),
    ));
    assert!(!whole.streaming);
    assert_eq!(answer(&whole), answer(&c));
}

#[test]
fn a_request_alone_decodes_its_side() {
    let c = decoded(&post(CHAT_URL, fixture!("openai_chat.request.json")));
    assert_eq!(c.input_messages.len(), 3);
    assert!(c.output_messages.is_empty() && c.error.is_none() && c.notes.is_empty());
    assert_eq!(c.duration_ms, None);
}

#[test]
fn not_an_llm_call() {
    let mut x = post("https://api.openai.com/v1/models", "{}");
    assert_eq!(decode(&x), None);
    x = post(CHAT_URL, "{}");
    x.method = "GET".into();
    assert_eq!(decode(&x), None);
}

#[test]
fn a_body_that_claims_json_and_is_not() {
    let c = decoded(&exchange(
        CHAT_URL,
        "{\"model\": \"gpt-4.1\", \"messages\": [",
        200,
        "application/json",
        "<html>502 Bad Gateway</html>",
    ));
    assert_eq!(c.notes.len(), 2, "{:?}", c.notes);
    assert!(
        c.notes[0]
            .starts_with("request body is not JSON: EOF while parsing a list at line 1 column"),
        "{:?}",
        c.notes
    );
    assert!(
        c.notes[1].starts_with("response body is not JSON: expected value at line 1 column 1"),
        "{:?}",
        c.notes
    );
    assert!(c.output_messages.is_empty() && c.error.is_none());
}

#[test]
fn an_unknown_shape_is_noted() {
    let c = decoded(&exchange(
        CHAT_URL,
        "[1, 2]",
        200,
        "application/json",
        r#"{"result": "ok"}"#,
    ));
    assert_eq!(
        c.notes,
        [
            "unknown openai.chat request shape: shown raw",
            "unknown openai.chat response shape: shown raw"
        ]
    );
}

#[test]
fn an_sse_stream_cut_in_the_middle() {
    let stream = fixture!("anthropic.stream.sse");
    let cut = stream
        .find("scheduler::next`. I'll")
        .expect("fixture has the text");
    let mut x = exchange(
        MESSAGES_URL,
        fixture!("anthropic.request.json"),
        200,
        "text/event-stream",
        &stream[..cut],
    );
    if let Some(body) = x.response.as_mut().and_then(|r| r.body.as_mut()) {
        body.truncated = true;
        body.size = stream.len() as u64;
    }
    let c = decoded(&x);
    assert_eq!(
        c.output_messages[0].parts,
        vec![
            reasoning("One test failed: scheduler::next."),
            text("One test fails: "),
        ]
    );
    assert_eq!(c.finish_reasons, Vec::<String>::new());
    assert_eq!(c.usage.input_tokens, Some(472));
    let notes = c.notes.join("\n");
    assert!(
        notes.contains("response body is incomplete in the capture"),
        "{notes}"
    );
    assert!(notes.contains("the last SSE event was cut off"), "{notes}");
    assert!(
        notes.contains("stream ended before its final event (message_stop)"),
        "{notes}"
    );
}

#[test]
fn every_prefix_of_every_stream_decodes_without_panicking() {
    const SSE: &str = "text/event-stream";
    let cases = [
        (CHAT_URL, SSE, fixture!("openai_chat.stream.sse"), "[DONE]"),
        (
            MESSAGES_URL,
            SSE,
            fixture!("anthropic.stream.sse"),
            "message_stop",
        ),
        (
            RESPONSES_URL,
            SSE,
            fixture!("openai_responses.stream.sse"),
            "response.completed",
        ),
        (
            GEMINI_STREAM_URL,
            "application/json",
            fixture!("gemini.stream.json"),
            "finishReason",
        ),
        (
            OLLAMA_URL,
            "application/x-ndjson",
            fixture!("ollama.stream.ndjson"),
            "\"done\":true",
        ),
    ];
    for (url, content_type, stream, final_event) in cases {
        let whole = decoded(&exchange(url, "{}", 200, content_type, stream));
        assert!(whole.notes.is_empty(), "{url}: {:?}", whole.notes);
        let final_at = stream.rfind(final_event).expect("the final event");
        for end in (1..stream.len()).filter(|i| stream.is_char_boundary(*i)) {
            let c = decoded(&exchange(url, "{}", 200, content_type, &stream[..end]));
            if end <= final_at {
                assert!(
                    c.notes
                        .iter()
                        .any(|n| n.contains("stream ended before its final event")),
                    "{url} cut at {end} of {}: {:?}",
                    stream.len(),
                    c.notes
                );
            }
        }
    }
}

#[test]
fn the_responses_stream_cut_before_completion_keeps_the_deltas() {
    let stream = fixture!("openai_responses.stream.sse");
    let cut = stream
        .find("event: response.function_call_arguments.done")
        .expect("fixture");
    let c = decoded(&exchange(
        RESPONSES_URL,
        "{}",
        200,
        "text/event-stream",
        &stream[..cut],
    ));
    assert_eq!(
        c.output_messages[0].parts[2],
        tool_call(
            Some("call_B"),
            "shell",
            serde_json::json!({"command": ["cargo", "test", "scheduler"]})
        )
    );
    assert_eq!(c.output_messages[0].finish_reason, None);
    assert_eq!(c.usage, Usage::default());
}

#[test]
fn api_error_bodies() {
    let cases = [
        (
            CHAT_URL,
            429,
            r#"{"error":{"message":"Rate limit reached for gpt-4.1","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            "requests",
            "Rate limit reached for gpt-4.1",
        ),
        (
            MESSAGES_URL,
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}"#,
            "overloaded_error",
            "Overloaded",
        ),
        (
            GEMINI_URL,
            429,
            r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        ),
        (
            GEMINI_STREAM_URL,
            503,
            r#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#,
            "UNAVAILABLE",
            "The model is overloaded.",
        ),
    ];
    for (url, status, body, kind, message) in cases {
        let c = decoded(&exchange(url, "{}", status, "application/json", body));
        assert_eq!(
            c.error,
            Some(LlmError {
                status: Some(status),
                kind: Some(kind.to_owned()),
                message: message.to_owned()
            }),
            "{url}"
        );
    }
    let ollama = decoded(&exchange(
        OLLAMA_URL,
        "{}",
        404,
        "application/json",
        r#"{"error":"model \"qwen9\" not found, try pulling it first"}"#,
    ));
    assert_eq!(
        ollama.error.map(|e| (e.status, e.kind, e.message)),
        Some((
            Some(404),
            None,
            "model \"qwen9\" not found, try pulling it first".to_owned()
        ))
    );
    let bare = decoded(&exchange(CHAT_URL, "{}", 502, "text/html", ""));
    assert_eq!(bare.error.map(|e| e.message), Some("HTTP 502".to_owned()));
}

#[test]
fn error_events_inside_streams() {
    let anthropic = decoded(&exchange(
        MESSAGES_URL,
        "{}",
        200,
        "text/event-stream",
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    ));
    let error = anthropic.error.expect("the error event");
    assert_eq!(
        (error.kind.as_deref(), error.message.as_str()),
        (Some("overloaded_error"), "Overloaded")
    );
    assert!(
        anthropic.notes.is_empty(),
        "an error ends the stream; no note about a missing end: {:?}",
        anthropic.notes
    );
    let responses = decoded(&exchange(
        RESPONSES_URL,
        "{}",
        200,
        "text/event-stream",
        "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_1\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"The model failed.\"},\"output\":[]}}\n\n",
    ));
    assert_eq!(
        responses.error.map(|e| (e.kind, e.message)),
        Some((
            Some("server_error".to_owned()),
            "The model failed.".to_owned()
        ))
    );
}

#[test]
fn transport_failures_and_binary_bodies() {
    let mut x = post(CHAT_URL, "{}");
    x.error = Some((Phase::UpstreamHttp, "connection reset by peer".into()));
    let c = decoded(&x);
    assert_eq!(
        c.error,
        Some(LlmError {
            status: None,
            kind: Some("upstream_http".into()),
            message: "connection reset by peer".into()
        })
    );
    let mut x = exchange(CHAT_URL, "{}", 200, "application/json", "x");
    if let Some(body) = x.response.as_mut().and_then(|r| r.body.as_mut()) {
        body.encoding = BodyEncoding::Base64;
    }
    assert_eq!(
        decoded(&x).notes,
        ["response body is binary (base64 in the capture): not decoded"]
    );
}

#[test]
fn ttft_falls_back_to_ttfb_for_older_captures() {
    let mut x = exchange(
        CHAT_URL,
        "{}",
        200,
        "text/event-stream",
        fixture!("openai_chat.stream.sse"),
    );
    if let Some(r) = x.response.as_mut() {
        r.first_byte_ms = None;
    }
    assert_eq!(decoded(&x).ttft_ms, Some(120));
}

#[test]
fn sessions_group_by_id_then_capture() {
    let mut a = decoded(&post(CHAT_URL, "{}"));
    a.session = Some("s1".into());
    let mut b = a.clone();
    b.flow = FlowId(8);
    b.session = None;
    let mut c = a.clone();
    c.flow = FlowId(9);
    let mut listing = Listing::new().expect("temporary file");
    for c in [a, b, c] {
        listing.push(&c).expect("push");
    }
    let mut out = Vec::new();
    listing.write_to(&mut out).expect("write");
    let text = String::from_utf8(out).expect("utf-8");
    let flows: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("--- flow "))
        .map(|l| l.split(' ').next().unwrap_or(l))
        .collect();
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("===")).collect();
    assert_eq!(
        headings,
        ["=== session s1: 2 calls", "=== no session id: 1 call"]
    );
    assert_eq!(flows, ["7", "9", "8"]);
}

#[test]
fn ollama_without_content_type_pretty_json_is_one_object() {
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(fixture!("ollama.response.json"))
            .expect("fixture"),
    )
    .expect("json");
    let whole = decoded(&exchange(
        OLLAMA_URL,
        "{\"stream\":false}",
        200,
        "",
        &pretty,
    ));
    assert!(whole.notes.is_empty(), "{:?}", whole.notes);
    assert!(!whole.streaming);
    let streamed = decoded(&exchange(
        OLLAMA_URL,
        "{}",
        200,
        "",
        fixture!("ollama.stream.ndjson"),
    ));
    assert!(
        streamed.streaming && streamed.notes.is_empty(),
        "{:?}",
        streamed.notes
    );
    assert_eq!(answer(&whole), answer(&streamed));
}

mod arbitrary_input {
    use proptest::prelude::*;

    use super::*;

    /// Text that is sometimes SSE-, JSON- or NDJSON-shaped, often broken.
    fn body() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("data: ".to_owned()),
            Just("event: error\n".to_owned()),
            Just("\n\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("{\"type\":\"content_block_delta\",\"index\":".to_owned()),
            Just("{\"choices\":[{\"index\":1,\"delta\":{\"tool_calls\":[{\"index\":".to_owned()),
            Just("{\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":99999999999,\"delta\":\"x\"}".to_owned()),
            Just("{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{}}]}}]}".to_owned()),
            Just("{\"message\":{\"content\":7},\"done\":true}".to_owned()),
            Just("{\"error\":".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just("[DONE]".to_owned()),
            "\\PC{0,8}",
            "[0-9\"{}:,\\[\\]]{0,6}",
        ];
        prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn decode_never_panics(
            request in body(),
            response in body(),
            status in prop_oneof![Just(200u16), Just(429u16), Just(500u16)],
            content_type in prop_oneof![
                Just("text/event-stream"), Just("application/json"), Just("application/x-ndjson"), Just("")
            ],
        ) {
            for url in [CHAT_URL, MESSAGES_URL, RESPONSES_URL, GEMINI_STREAM_URL, GEMINI_URL, OLLAMA_URL] {
                let c = decoded(&exchange(url, &request, status, content_type, &response));
                prop_assert_eq!(c.error.is_some() || status < 400, true);
            }
        }
    }
}

#[test]
fn a_request_body_cut_by_max_body_says_so() {
    let request = fixture!("openai_chat.request.json");
    let mut x = post(CHAT_URL, &request[..100]);
    if let Some(body) = x.request_body.as_mut() {
        body.truncated = true;
        body.size = request.len() as u64;
    }
    let c = decoded(&x);
    assert_eq!(c.notes.len(), 1);
    assert!(
        c.notes[0].starts_with(
            "request body was truncated in the capture and is not whole JSON (EOF while parsing"
        ),
        "{:?}",
        c.notes
    );
    assert_eq!(c.request_model, None);
}

mod client_closed;
