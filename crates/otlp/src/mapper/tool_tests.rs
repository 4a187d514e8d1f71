//! `execute_tool` spans on synthetic events: an agent (pid 100) whose LLM call asks for a
//! `bash` tool call, the `curl` it runs (through `sh -c`) and that curl's request, then the
//! call's result going back.

use chrono::{DateTime, Utc};
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use phonehome_analyze::{Event, Exchange, ResponsePart};
use phonehome_record::{
    Ancestor, Body, BodyEncoding, Capture, Conn, ConnId, ConnProcess, End, FlowId, Markers, Mode,
    ProcessInfo, Target, Transport,
};
use serde_json::json;

use super::*;
use crate::config::Overrides;

const T0: &str = "2026-03-02T10:00:00.000Z";
const LLM: &str = "https://llm.test/v1/chat/completions";
const COMMAND: &str = "curl -s https://tool.test/a";

fn at(ms: i64) -> DateTime<Utc> {
    T0.parse::<DateTime<Utc>>().expect("ts") + chrono::Duration::milliseconds(ms)
}

fn ts(ms: i64) -> String {
    phonehome_record::timestamp(at(ms))
}

fn body(data: &serde_json::Value) -> Body {
    let data = data.to_string();
    Body {
        size: data.len() as u64,
        encoding: BodyEncoding::Utf8,
        data,
        truncated: false,
        decoded_from: None,
        dropped_bytes: 0,
        redaction: None,
    }
}

fn exchange(
    flow: u64,
    conn: u64,
    ms: i64,
    url: &str,
    request: Option<serde_json::Value>,
    answer: Option<serde_json::Value>,
) -> Exchange {
    let (host, path) = url
        .trim_start_matches("https://")
        .split_once('/')
        .expect("a path");
    Exchange {
        flow: FlowId(flow),
        conn: Some(ConnId(conn)),
        ts: at(ms),
        method: if request.is_some() { "POST" } else { "GET" }.into(),
        url: url.into(),
        host: host.into(),
        port: 443,
        path: format!("/{path}"),
        query: None,
        version: "HTTP/1.1".into(),
        request_headers: vec![("content-type".into(), "application/json".into())],
        raw_header_names: Vec::new(),
        request_body: request.as_ref().map(body),
        response: Some(ResponsePart {
            status: 200,
            reason: String::new(),
            version: "HTTP/1.1".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: answer.as_ref().map(body),
            ttfb_ms: 50,
            first_byte_ms: None,
            duration_ms: 100,
        }),
        error: None,
        sinkhole: None,
    }
}

fn conn(id: u64, host: &str, process: ProcessInfo, ancestry: Vec<Ancestor>) -> Conn {
    Conn {
        ts: ts(2_000),
        conn: ConnId(id),
        client: "127.0.0.1:1".into(),
        target: Target {
            host: host.into(),
            port: 443,
        },
        transport: Transport::TlsIntercept,
        tls: None,
        upstream: None,
        bytes_up: 1,
        bytes_down: 2,
        opened: ts(0),
        duration_ms: 10,
        sinkhole: None,
        first_bytes: None,
        process: Some(Box::new(ConnProcess::Known(process))),
        ancestry,
    }
}

fn process(pid: u32, ppid: u32, argv: &[&str], ms: i64) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid,
        exe: format!("/usr/bin/{}", argv[0]),
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        start: ts(ms),
    }
}

fn ancestor(pid: u32, argv: &[&str], ms: i64) -> Ancestor {
    Ancestor {
        pid,
        exe: Some(format!("/usr/bin/{}", argv[0])),
        comm: None,
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        start: Some(ts(ms)),
    }
}

/// The events, in the order the recorder writes them; the index of the one carrying the
/// result back.
fn events() -> (Vec<Event>, usize) {
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": "fetch"}],
        "tools": [{"type": "function", "function": {"name": "bash", "parameters": {}}}]});
    let tool_call = json!({"id": "call_1", "type": "function", "function":
        {"name": "bash", "arguments": json!({"command": COMMAND}).to_string()}});
    let answer = json!({"id": "r1", "model": "m", "choices": [{"index": 0, "finish_reason":
        "tool_calls", "message": {"role": "assistant", "content": null, "tool_calls": [tool_call]}}]});
    let result = json!({"model": "m", "messages": [{"role": "user", "content": "fetch"},
        {"role": "assistant", "content": null, "tool_calls": [tool_call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]});
    let done = json!({"id": "r2", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "done"}}]});
    let curl = conn(
        2,
        "tool.test",
        process(200, 150, &["curl", "-s", "https://tool.test/a"], 300),
        vec![
            ancestor(150, &["sh", "-c", COMMAND], 290),
            ancestor(100, &["agent"], -60_000),
        ],
    );
    let agent = conn(
        1,
        "llm.test",
        process(100, 1, &["agent"], -60_000),
        Vec::new(),
    );
    let events = vec![
        Event::Header(Capture {
            ts: T0.into(),
            format: phonehome_record::FORMAT.into(),
            id: "cap-tool".into(),
            tool_version: "0.1.0".into(),
            mode: Mode::Run,
            command: vec!["agent".into()],
            cwd: "/w".into(),
            policy: "observe".into(),
            options: phonehome_record::CaptureOptions::default(),
            markers: Markers::default(),
            agent: None,
        }),
        Event::Exchange(exchange(1, 1, 0, LLM, Some(ask), Some(answer))),
        Event::Exchange(exchange(2, 2, 400, "https://tool.test/a", None, None)),
        Event::Conn(curl),
        Event::Exchange(exchange(3, 1, 1_000, LLM, Some(result), Some(done))),
        Event::Conn(agent),
        Event::End(End {
            ts: ts(3_000),
            exit_code: Some(0),
            counts: Default::default(),
            dropped_bytes: 0,
            lost: None,
            otlp: None,
        }),
    ];
    (events, 4)
}

/// The spans, and those sent before the end of the input, of a live or file export.
fn map(live: bool) -> (Vec<SpanData>, Vec<SpanData>) {
    let settings = Settings::resolve(|_| None, Overrides::default()).expect("settings");
    let catalog = phonehome_catalog::Catalog::builtin();
    let (events, result) = events();
    let mut prelude = Prelude::new(&catalog);
    let mut events = events.into_iter();
    prelude.push(events.next().expect("header"));
    let mut mapper = prelude.into_mapper(&settings, catalog).expect("mapper");
    if live {
        mapper.set_live();
    }
    for event in events.by_ref().take(result) {
        mapper.event(event);
    }
    let before_end = mapper.out.spans.clone();
    for event in events {
        mapper.event(event);
    }
    mapper.finish();
    (std::mem::take(&mut mapper.out.spans), before_end)
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn tool_span(spans: &[SpanData]) -> Option<&SpanData> {
    spans
        .iter()
        .find(|s| text(s, "gen_ai.operation.name").as_deref() == Some("execute_tool"))
}

#[test]
fn the_tool_call_is_the_parent_of_the_connection_it_caused_and_so_of_its_request() {
    for live in [false, true] {
        let (spans, _) = map(live);
        let ids = Ids::new("cap-tool");
        let tool = tool_span(&spans).expect("an execute_tool span");
        assert_eq!(tool.name, "execute_tool bash");
        assert_eq!(tool.span_kind, SpanKind::Internal);
        assert_eq!(text(tool, "gen_ai.tool.name").as_deref(), Some("bash"));
        assert_eq!(text(tool, "gen_ai.tool.call.id").as_deref(), Some("call_1"));
        assert_eq!(tool.parent_span_id, ids.span(SpanKey::Run));
        assert_eq!(
            tool.span_context.span_id(),
            ids.span(SpanKey::Tool(FlowId(1), 0))
        );
        assert_eq!(
            tool.start_time,
            SystemTime::from(at(100)),
            "when the answer ended"
        );
        assert_eq!(
            tool.end_time,
            SystemTime::from(at(1_000)),
            "when the result went back"
        );
        assert!(
            tool.links
                .iter()
                .any(|l| l.span_context.span_id() == ids.span(SpanKey::Llm(FlowId(1)))),
            "linked to the chat span that asked for it"
        );
        let curl = spans
            .iter()
            .find(|s| s.span_context.span_id() == ids.span(SpanKey::Conn(ConnId(2))))
            .expect("the curl's connection span");
        assert_eq!(
            curl.parent_span_id,
            tool.span_context.span_id(),
            "live {live}"
        );
        assert_eq!(
            text(curl, "phonehome.cause.method").as_deref(),
            Some("argv")
        );
        assert_eq!(text(curl, "gen_ai.tool.call.id").as_deref(), Some("call_1"));
        let request = spans
            .iter()
            .find(|s| s.span_context.span_id() == ids.span(SpanKey::Flow(FlowId(2))))
            .expect("the curl's request span");
        assert_eq!(request.parent_span_id, ids.span(SpanKey::Conn(ConnId(2))));
        let agent = spans
            .iter()
            .find(|s| s.span_context.span_id() == ids.span(SpanKey::Conn(ConnId(1))))
            .expect("the agent's connection span");
        assert_eq!(
            agent.parent_span_id,
            ids.span(SpanKey::Run),
            "the agent's own"
        );
        assert!(text(agent, "phonehome.cause.method").is_none());
        assert_eq!(
            spans
                .iter()
                .filter(|s| tool_span(std::slice::from_ref(s)).is_some())
                .count(),
            1
        );
    }
}

#[test]
fn live_sends_the_tool_span_when_its_result_goes_back_linked_to_what_it_caused() {
    let ids = Ids::new("cap-tool");
    let (_, before) = map(true);
    let tool = tool_span(&before).expect("sent with the result, before the end");
    let link = tool
        .links
        .iter()
        .find(|l| l.span_context.span_id() == ids.span(SpanKey::Conn(ConnId(2))))
        .expect("a link to the curl's connection");
    assert_eq!(
        link.attributes.first().map(|kv| kv.value.clone()),
        Some(Value::from("argv"))
    );
    assert!(
        !before
            .iter()
            .any(|s| s.span_context.span_id() == ids.span(SpanKey::Conn(ConnId(2)))),
        "the caused connection's span waits for the join"
    );
    let (_, file_before) = map(false);
    assert!(
        tool_span(&file_before).is_none(),
        "export sends it at the end"
    );
}
