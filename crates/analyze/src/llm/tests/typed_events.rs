//! Stream events in odd shapes (fields of another type, keys given twice, escapes, non-object
//! entries): the typed reads take them as indexing a `serde_json::Value` did before.

use serde_json::json;

use super::{decoded, exchange, text, tool_call, CHAT_URL, GEMINI_STREAM_URL, MESSAGES_URL};
use crate::llm::{Message, Usage};

fn assistant(parts: Vec<crate::llm::Part>, finish_reason: Option<&str>) -> Message {
    Message {
        role: "assistant".to_owned(),
        parts,
        finish_reason: finish_reason.map(str::to_owned),
    }
}

#[test]
fn openai_chat_chunks_in_odd_shapes() {
    let body = concat!(
        "data: {\"id\":\"c1\",\"id\":\"c2\",\"model\":5,\"usage\":[1],\"choices\":[",
        "{\"index\":\"1\",\"delta\":{\"content\":\"a\\\"b\",\"reasoning\":7}},3,",
        "{\"index\":1,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"function\":",
        "{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}},\"x\"]},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":1,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":",
        "{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":{",
        "\"prompt_tokens\":3,\"completion_tokens\":-1,\"prompt_tokens_details\":",
        "{\"cached_tokens\":2.0}}}\n\n",
        "data: [DONE]\n\n",
    );
    let c = decoded(&exchange(CHAT_URL, "{}", 200, "text/event-stream", body));
    assert_eq!(
        c.response_id.as_deref(),
        Some("c2"),
        "the last of a repeated key"
    );
    assert_eq!(c.response_model, None, "a number is no model");
    assert_eq!(
        c.output_messages,
        vec![
            assistant(vec![text("a\"b")], None),
            assistant(
                vec![tool_call(Some("t"), "f", json!({"x": 1}))],
                Some("tool_calls")
            ),
        ]
    );
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: Some(3),
            ..Usage::default()
        }
    );
    assert!(c.error.is_none() && c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn anthropic_events_in_odd_shapes() {
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":",
        "{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":\"5\",",
        "\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,",
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"index\":0,\"delta\":{\"type\":\"text_delta\",",
        "\"text\":\"caf\\u00e9 \\\"ok\\\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,",
        "\"delta\":{\"type\":\"text_delta\",\"text\":[\"no\"]}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":",
        "{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let c = decoded(&exchange(
        MESSAGES_URL,
        "{}",
        200,
        "text/event-stream",
        body,
    ));
    assert_eq!(c.response_id.as_deref(), Some("msg_1"));
    assert_eq!(
        c.output_messages,
        vec![assistant(vec![text("café \"ok\"")], Some("end_turn"))],
        "the type from the SSE event name when the data has none; text of another type skipped"
    );
    assert_eq!(
        (c.usage.input_tokens, c.usage.output_tokens),
        (None, Some(9))
    );
    assert!(c.error.is_none() && c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn an_error_event_with_a_repeated_key_is_still_an_error() {
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n",
        "event: error\ndata: {\"type\":\"x\",\"type\":\"error\",\"error\":{\"type\":",
        "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let c = decoded(&exchange(
        MESSAGES_URL,
        "{}",
        200,
        "text/event-stream",
        body,
    ));
    let error = c.error.expect("the error event");
    assert_eq!(
        (error.kind.as_deref(), error.message.as_str()),
        (Some("overloaded_error"), "Overloaded")
    );
}

#[test]
fn gemini_chunks_in_odd_shapes() {
    let body = concat!(
        "data: {\"responseId\":\"r1\",\"responseId\":\"r2\",\"modelVersion\":[],",
        "\"candidates\":[{\"index\":\"3\",\"content\":{\"parts\":[{\"text\":\"a\\nb\"},",
        "{\"text\":\"t\",\"thought\":true}]}},7,{\"content\":{\"parts\":\"x\"}}],",
        "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":\"2\"}}\n\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"c\"}]},",
        "\"finishReason\":\"STOP\"}],\"promptFeedback\":{\"blockReason\":1}}\n\n",
    );
    let c = decoded(&exchange(
        GEMINI_STREAM_URL,
        "{}",
        200,
        "text/event-stream",
        body,
    ));
    assert_eq!(
        c.response_id.as_deref(),
        Some("r2"),
        "the last of a repeated key"
    );
    assert_eq!(c.response_model, None);
    assert_eq!(
        c.output_messages,
        vec![
            assistant(
                vec![text("a\nb"), super::reasoning("t"), text("c")],
                Some("STOP")
            ),
            assistant(Vec::new(), None),
            assistant(Vec::new(), None),
        ],
        "an index that is not a number is the candidate's position"
    );
    assert_eq!(
        (c.usage.input_tokens, c.usage.output_tokens),
        (Some(4), None)
    );
    assert!(c.error.is_none() && c.notes.is_empty(), "{:?}", c.notes);
}
