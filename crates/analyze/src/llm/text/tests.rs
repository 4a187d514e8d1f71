//! The two layouts on hand-made conversations: what each shows of errors, long parts, tool
//! calls and results.

use serde_json::json;

use phonehome_record::FlowId;

use super::*;
use crate::llm::tests::post;
use crate::llm::{decode, Usage};

fn conversation() -> Conversation {
    let mut c = decode(&post("https://api.test/v1/chat/completions", "{}")).expect("llm");
    c.request_model = Some("m".into());
    c.usage = Usage {
        input_tokens: Some(3),
        output_tokens: Some(1),
        ..Usage::default()
    };
    c.input_messages = vec![Message {
        role: "user".into(),
        parts: vec![
            Part::Text {
                content: "line one\nline two".into(),
            },
            Part::ToolCallResponse {
                id: Some("c1".into()),
                response: json!({"ok": true}),
            },
        ],
        finish_reason: None,
    }];
    c.output_messages = vec![Message {
        role: "assistant".into(),
        parts: vec![
            Part::Reasoning {
                content: "think".into(),
            },
            Part::ToolCall {
                id: Some("c2".into()),
                name: "read".into(),
                arguments: json!({"path": "a"}),
            },
        ],
        finish_reason: Some("tool_calls".into()),
    }];
    c
}

fn plain(lines: &[Line<'_>]) -> Vec<String> {
    lines.iter().map(Line::plain).collect()
}

#[test]
fn listing_puts_each_part_on_a_labelled_line() {
    let c = conversation();
    assert_eq!(
        listing_text(&c),
        "--- flow 7 · 1970-01-01T00:00:00.000Z · api.test · openai.chat · m\n\
         \x20 tokens: 3 in, 1 out\n\
         \x20 user: line one\n\
         \x20   line two\n\
         \x20 user: ← [c1] {\"ok\":true}\n\
         \x20 === answer\n\
         \x20 assistant (reasoning): think\n\
         \x20 assistant: → read({\"path\":\"a\"}) [c2]\n"
    );
}

#[test]
fn detail_shows_messages_as_blocks_with_json_spans() {
    let c = conversation();
    let lines = lines(&c, Layout::Detail);
    assert_eq!(
        plain(&lines),
        [
            "openai.chat · m",
            "tokens: 3 in, 1 out",
            "",
            "── user ──",
            "line one",
            "line two",
            "← result [c1]",
            "{\"ok\":true}",
            "",
            "── answer ──",
            "",
            "── assistant (finish: tool_calls) ──",
            "[reasoning]",
            "think",
            "→ call read [c2] {\"path\":\"a\"}",
        ]
    );
    let call = lines.last().expect("lines");
    assert_eq!(call.spans.last(), Some(&Span::Json(&json!({"path": "a"}))));
}

#[test]
fn errors_read_the_same_in_both_layouts() {
    let mut c = conversation();
    for (status, kind, phrase) in [
        (Some(500), None, "error: 500 Internal Server Error"),
        (
            None,
            Some("timeout"),
            "error: timeout: Internal Server Error",
        ),
        (None, None, "error: Internal Server Error"),
    ] {
        c.error = Some(LlmError {
            status,
            kind: kind.map(str::to_owned),
            message: "Internal Server Error".into(),
        });
        let listing = plain(&lines(&c, Layout::Listing));
        let detail = plain(&lines(&c, Layout::Detail));
        assert_eq!(listing[2], format!("  {phrase}"));
        assert_eq!(detail[2], format!("note: {phrase}"));
    }
}

#[test]
fn listing_abbreviates_long_parts_and_keeps_the_last_inputs() {
    let mut c = conversation();
    let message = |text: &str| Message {
        role: "user".into(),
        parts: vec![Part::Text {
            content: text.into(),
        }],
        finish_reason: None,
    };
    c.input_messages = (0..5).map(|i| message(&i.to_string())).collect();
    c.input_messages.push(message(&"x".repeat(INPUT_CHARS + 2)));
    c.output_messages.clear();
    let text = listing_text(&c);
    assert!(
        text.contains("  … 3 earlier messages\n  user: 3\n  user: 4\n"),
        "{text}"
    );
    assert!(text.ends_with("x… (+2 chars)\n"), "{text}");
}

#[test]
fn sessions_group_the_listing() {
    let listed = |calls: &[Conversation]| {
        let mut listing = crate::llm::Listing::new().expect("temporary file");
        for c in calls {
            listing.push(c).expect("push");
        }
        let mut out = Vec::new();
        listing.write_to(&mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    };
    let mut a = conversation();
    a.session = Some("s1".into());
    let mut b = a.clone();
    b.flow = FlowId(8);
    b.session = None;
    let text = listed(&[a.clone(), b.clone()]);
    let expected = format!(
        "=== session s1: 1 call\n\n{}\n=== no session id: 1 call\n\n{}\n",
        listing_text(&a),
        listing_text(&b)
    );
    assert_eq!(text, expected);
    assert_eq!(listed(&[]), "No LLM call.\n");
}
