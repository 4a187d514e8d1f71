//! `phonehome llm` on a synthetic capture, through the real binary: text for people, JSON Lines
//! for scripts, side calls hidden unless asked for, sessions, bad input.

use serde_json::Value;

use crate::fixtures::{h, text, Synth};
use crate::support::{run, Ran, Scratch};

async fn phonehome(scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = scratch.phonehome();
    cmd.args(args);
    run(cmd).await
}

const STREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The scheduler \"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"test fails.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"bash\",\"arguments\":\"{\\\"command\\\":\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"cargo test\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[],\"usage\":{\"prompt_tokens\":1830,\"completion_tokens\":61,\"prompt_tokens_details\":{\"cached_tokens\":1536}}}\n\n",
    "data: [DONE]\n\n",
);

/// Four LLM calls and one other request: an OpenCode turn (streamed, a tool call) and its title
/// side call in session `ses_A`; a Claude Code call whose session is in `metadata.user_id`; a
/// rate-limited call without a session.
pub fn capture(path: &std::path::Path) {
    let mut s = Synth::create(path, &["opencode", "run", "fix"], Default::default());
    let json = || h(&[("content-type", "application/json")]);
    let opencode = || {
        h(&[
            ("content-type", "application/json"),
            ("x-opencode-session", "ses_A"),
        ])
    };
    s.exchange(
        100,
        "GET",
        "https://models.dev/api.json",
        Vec::new(),
        None,
        200,
        json(),
        text("{}"),
    );
    s.exchange(
        200,
        "POST",
        "https://opencode.ai/zen/v1/chat/completions",
        opencode(),
        text(r#"{"model":"gpt-4.1","stream":true,"temperature":0,"messages":[{"role":"system","content":"You are opencode, an interactive CLI agent."},{"role":"user","content":"why does the scheduler test fail?"}],"tools":[{"type":"function","function":{"name":"bash","description":"Run a command","parameters":{"type":"object"}}}]}"#),
        200,
        h(&[("content-type", "text/event-stream")]),
        text(STREAM),
    );
    s.exchange(
        300,
        "POST",
        "https://opencode.ai/zen/v1/chat/completions",
        opencode(),
        text(r#"{"model":"gpt-4.1-nano","max_tokens":64,"messages":[{"role":"system","content":"You are a title generator. You output ONLY a thread title. Nothing else."},{"role":"user","content":"why does the scheduler test fail?"}]}"#),
        200,
        json(),
        text(r#"{"id":"chatcmpl-2","object":"chat.completion","model":"gpt-4.1-nano","choices":[{"index":0,"message":{"role":"assistant","content":"Scheduler test failure"},"finish_reason":"stop"}],"usage":{"prompt_tokens":40,"completion_tokens":4}}"#),
    );
    s.exchange(
        400,
        "POST",
        "https://api.anthropic.com/v1/messages",
        json(),
        text(r#"{"model":"claude-sonnet-4-5","max_tokens":32000,"system":"You are Claude Code.","messages":[{"role":"user","content":"list the tests"}],"metadata":{"user_id":"user_ab_account__session_5e1f"}}"#),
        200,
        json(),
        text(r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"There are 3 tests."}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":6}}"#),
    );
    s.exchange(
        500,
        "POST",
        "https://api.openai.com/v1/chat/completions",
        json(),
        text(r#"{"model":"gpt-4.1","messages":[{"role":"user","content":"again"}]}"#),
        429,
        json(),
        text(r#"{"error":{"message":"Rate limit reached for gpt-4.1","type":"requests","code":"rate_limit_exceeded"}}"#),
    );
    s.finish(1_000);
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[tokio::test]
async fn text_json_and_side_calls() {
    let scratch = Scratch::new();
    let path = scratch.path("llm.jsonl");
    capture(&path);
    let file = path.to_str().expect("path");

    let ran = phonehome(&scratch, &["llm", file]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    insta::assert_snapshot!("llm_text", ran.stdout);
    assert!(
        ran.stderr
            .contains("1 side call (title generation, summaries) hidden; --include-meta shows it"),
        "{}",
        ran.stderr
    );

    let ran = phonehome(&scratch, &["llm", "--json", file]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let calls = lines(&ran.stdout);
    let flows: Vec<&Value> = calls.iter().map(|c| &c["flow"]).collect();
    assert_eq!(flows, [2, 4, 5], "flow order, the side call left out");
    let turn = &calls[0];
    assert_eq!(turn["provider"], "openai");
    assert_eq!(turn["api"], "openai.chat");
    assert_eq!(turn["request_model"], "gpt-4.1");
    assert_eq!(turn["response_model"], "gpt-4.1-2025-04-14");
    assert_eq!(turn["session"], "ses_A");
    assert_eq!(turn["streaming"], true);
    assert_eq!(
        turn["ttft_ms"], 30,
        "ttfb for a capture without first_byte_ms"
    );
    assert_eq!(
        turn["output_messages"][0]["parts"],
        serde_json::json!([
            {"type": "text", "content": "The scheduler test fails."},
            {"type": "tool_call", "id": "call_1", "name": "bash", "arguments": {"command": "cargo test"}}
        ])
    );
    assert_eq!(turn["finish_reasons"], serde_json::json!(["tool_calls"]));
    assert_eq!(turn["usage"]["input_tokens"], 1830);
    assert_eq!(turn["usage"]["cache_read_input_tokens"], 1536);
    assert_eq!(turn["tool_definitions"][0]["name"], "bash");
    assert_eq!(calls[1]["session"], "5e1f");
    assert_eq!(calls[2]["error"]["status"], 429);
    assert_eq!(calls[2]["error"]["kind"], "requests");
    assert_eq!(calls[2]["session"], Value::Null);

    let ran = phonehome(&scratch, &["llm", "--json", "--include-meta", file]).await;
    let calls = lines(&ran.stdout);
    assert_eq!(calls.len(), 4, "{}", ran.stdout);
    assert_eq!(calls[1]["meta"], true);
    assert_eq!(
        calls[1]["output_messages"][0]["parts"][0]["content"],
        "Scheduler test failure"
    );
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);

    let ran = phonehome(
        &scratch,
        &[
            "llm",
            "--json",
            "--include-meta",
            "--session",
            "ses_A",
            file,
        ],
    )
    .await;
    let flows: Vec<Value> = lines(&ran.stdout)
        .iter()
        .map(|c| c["flow"].clone())
        .collect();
    assert_eq!(flows, [2, 3]);

    let ran = phonehome(&scratch, &["llm", "--session", "nope", file]).await;
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .contains("no LLM call of session \"nope\"; sessions in the capture: ses_A, 5e1f"),
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn bad_input_names_the_file_and_line() {
    let scratch = Scratch::new();
    let path = scratch.path("bad.jsonl");
    capture(&path);
    let good = std::fs::read_to_string(&path).expect("capture");
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, r#"{"type":"request","flow":"#);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let ran = phonehome(&scratch, &["llm", path.to_str().expect("path")]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    assert!(
        ran.stderr.starts_with("phonehome: error: ")
            && ran.stderr.contains("bad.jsonl")
            && ran.stderr.contains("line 3"),
        "{}",
        ran.stderr
    );

    let missing = scratch.path("missing.jsonl");
    let ran = phonehome(&scratch, &["llm", missing.to_str().expect("path")]).await;
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("missing.jsonl"), "{}", ran.stderr);
}
