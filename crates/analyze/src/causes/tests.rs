//! The join on synthetic events: an agent (pid 100) whose LLM call asks for tool calls, the
//! processes they run, and connections of the agent's own.

use chrono::{DateTime, Duration, Utc};
use phonehome_record::{
    Ancestor, Conn, ConnId, ConnProcess, FlowId, ProcessInfo, Target, Transport,
};
use serde_json::json;

use super::join::{join, Connections, ToolLog};
use super::{Causes, Method};
use crate::event::{Event, Exchange};
use crate::llm::tests::exchange;

const AGENT: u32 = 100;
const URL: &str = "https://llm.test/v1/messages";

fn t0() -> DateTime<Utc> {
    phonehome_record::parse_timestamp("2026-12-01T10:00:00Z").expect("time")
}

fn at(ms: i64) -> String {
    phonehome_record::timestamp(t0() + Duration::milliseconds(ms))
}

fn words(s: &str) -> Vec<String> {
    shlex::split(s).expect("words")
}

/// Feeds events and LLM calls to the join, as `phonehome llm` does.
#[derive(Default)]
struct Feed {
    connections: Connections,
    tools: ToolLog,
}

impl Feed {
    /// An LLM call on the agent's connection 1 at `ms` (its answer ends 2 s later).
    fn llm(&mut self, flow: u64, ms: i64, request: serde_json::Value, answer: serde_json::Value) {
        self.llm_at(URL, flow, ms, request, answer);
    }

    fn llm_at(
        &mut self,
        url: &str,
        flow: u64,
        ms: i64,
        request: serde_json::Value,
        answer: serde_json::Value,
    ) {
        let mut x: Exchange = exchange(
            url,
            &request.to_string(),
            200,
            "application/json",
            &answer.to_string(),
        );
        x.flow = FlowId(flow);
        x.conn = Some(ConnId(1));
        x.ts = t0() + Duration::milliseconds(ms);
        self.tools
            .call(&crate::llm::decode(&x).expect("an LLM call"));
        self.connections.event(&Event::Exchange(x));
    }

    /// A plain request (flow) on connection `conn`.
    fn request(&mut self, flow: u64, conn: u64) {
        let mut x = crate::llm::tests::post("http://tool.test/x", "");
        x.method = "GET".into();
        x.path = "/x".into();
        x.flow = FlowId(flow);
        x.conn = Some(ConnId(conn));
        self.connections.event(&Event::Exchange(x));
    }

    /// Connection `conn` closes: process `pid` started at `ms` running `argv`, its parents
    /// (pid, start, argv), nearest first.
    fn conn(&mut self, conn: u64, pid: u32, ms: i64, argv: &str, parents: &[(u32, i64, &str)]) {
        let record = Conn {
            ts: at(9_000),
            conn: ConnId(conn),
            client: "127.0.0.1:40000".into(),
            target: Target {
                host: format!("host{conn}.test"),
                port: 443,
            },
            transport: Transport::TlsIntercept,
            tls: None,
            upstream: None,
            bytes_up: 0,
            bytes_down: 0,
            opened: at(ms),
            duration_ms: 1,
            sinkhole: None,
            first_bytes: None,
            process: Some(Box::new(ConnProcess::Known(ProcessInfo {
                pid,
                ppid: parents.first().map_or(1, |p| p.0),
                exe: format!("/usr/bin/{}", words(argv)[0]),
                argv: words(argv),
                start: at(ms),
            }))),
            ancestry: parents
                .iter()
                .map(|&(pid, ms, argv)| Ancestor {
                    pid,
                    exe: Some("/usr/bin/x".into()),
                    comm: None,
                    argv: words(argv),
                    start: Some(at(ms)),
                })
                .collect(),
        };
        self.connections.event(&Event::Conn(record));
    }

    fn finish(self) -> Causes {
        join(self.connections, self.tools)
    }
}

fn bash(id: &str, command: &str) -> serde_json::Value {
    json!({"type": "tool_use", "id": id, "name": "Bash", "input": {"command": command}})
}

/// The agent asks for `calls` at 0 (answer ends at 2 s); their results go back at 5 s.
fn ask(feed: &mut Feed, calls: &[(&str, &str)]) {
    let uses: Vec<_> = calls.iter().map(|(id, c)| bash(id, c)).collect();
    let answer = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": uses, "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1}});
    feed.llm(
        1,
        0,
        json!({"model": "m", "messages": [{"role": "user", "content": "go"}]}),
        answer,
    );
}

fn answer_results(feed: &mut Feed, ids: &[&str]) {
    let results: Vec<_> = ids
        .iter()
        .map(|id| json!({"type": "tool_result", "tool_use_id": id, "content": "done"}))
        .collect();
    let request = json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "user", "content": results}]});
    let answer = json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}});
    feed.llm(9, 5_000, request, answer);
    feed.conn(1, AGENT, -60_000, "node /opt/agent/cli.js", &[]);
}

/// Flow 2 on connection 3, opened by pid 201 running `toolu_A`'s curl under the agent's bash.
fn curl_a(feed: &mut Feed) {
    feed.request(2, 3);
    feed.conn(
        3,
        201,
        2_110,
        "curl -s http://127.0.0.1:9/a",
        &[
            (200, 2_100, "/bin/bash -c 'curl -s http://127.0.0.1:9/a'"),
            (AGENT, -60_000, "node cli.js"),
        ],
    );
}

#[test]
fn two_concurrent_tool_calls_are_told_apart_by_argv() {
    let mut feed = Feed::default();
    ask(
        &mut feed,
        &[
            ("toolu_A", "curl -s http://127.0.0.1:9/a"),
            ("toolu_B", "cd /w && git clone https://h.test/b"),
        ],
    );
    curl_a(&mut feed);
    feed.request(3, 4);
    feed.request(4, 4);
    feed.conn(
        4,
        301,
        2_130,
        "git-remote-https origin https://h.test/b",
        &[
            (300, 2_120, "git clone https://h.test/b"),
            (299, 2_101, "bash -c 'cd /w && git clone https://h.test/b'"),
            (AGENT, -60_000, "node cli.js"),
        ],
    );
    answer_results(&mut feed, &["toolu_A", "toolu_B"]);
    let causes = feed.finish();
    let [a, b] = &causes.tool_calls[..] else {
        panic!("two calls: {causes:#?}");
    };
    assert_eq!((a.label(), b.label()), ("toolu_A", "toolu_B"));
    assert_eq!(a.result.as_deref(), Some(at(5_000).as_str()));
    assert_eq!(a.caused.len(), 1, "{a:#?}");
    assert_eq!((a.caused[0].conn, a.caused[0].pid), (ConnId(3), 201));
    assert_eq!(a.caused[0].method, Method::Argv);
    assert_eq!(a.caused[0].parents, [200]);
    assert_eq!(a.caused[0].flows, [FlowId(2)]);
    assert_eq!(b.caused.len(), 1, "{b:#?}");
    assert_eq!(
        (b.caused[0].conn, b.caused[0].method),
        (ConnId(4), Method::Argv)
    );
    assert_eq!(b.caused[0].flows, [FlowId(3), FlowId(4)]);
    assert_eq!(
        b.command.as_deref(),
        Some("cd /w && git clone https://h.test/b")
    );
    let text = super::under_call(&causes, FlowId(1));
    assert!(
        text.contains(
            "  tool call toolu_A · Bash: curl -s http://127.0.0.1:9/a · result in flow 9\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("    ran curl (pid 201, under 200) · conn 3 to host3.test:443 · flows 2 · matched by argv\n"),
        "{text}"
    );
    assert!(text.contains("flows 3, 4"), "{text}");
    assert_eq!(
        super::under_call(&causes, FlowId(9)),
        "",
        "no tool call in flow 9's answer"
    );
}

#[test]
fn a_tool_call_that_makes_no_connection_causes_nothing() {
    let mut feed = Feed::default();
    ask(&mut feed, &[("toolu_L", "ls -la")]);
    answer_results(&mut feed, &["toolu_L"]);
    let causes = feed.finish();
    assert_eq!(causes.tool_calls.len(), 1);
    assert!(causes.tool_calls[0].caused.is_empty());
    assert_eq!(causes.tool_calls[0].result_flow, Some(FlowId(9)));
    assert!(!causes.any());
}

#[test]
fn the_agents_own_connections_inside_a_window_stay_its_own() {
    let mut feed = Feed::default();
    ask(&mut feed, &[("toolu_C", "curl -s http://127.0.0.1:9/c")]);
    // The agent's own process, during the call.
    feed.conn(5, AGENT, -60_000, "node /opt/agent/cli.js", &[]);
    // A helper the agent started before the call: outside the window.
    feed.conn(
        6,
        400,
        -30_000,
        "node /opt/agent/lsp.js",
        &[(AGENT, -60_000, "node cli.js")],
    );
    // A helper started during the call that does not match its command: window only.
    feed.conn(
        7,
        401,
        2_500,
        "node /opt/agent/update.js",
        &[(AGENT, -60_000, "node cli.js")],
    );
    // A process that does not descend from the agent.
    feed.conn(
        8,
        402,
        2_600,
        "curl -s http://127.0.0.1:9/c",
        &[(1, -99_000, "init")],
    );
    answer_results(&mut feed, &["toolu_C"]);
    let causes = feed.finish();
    let caused = &causes.tool_calls[0].caused;
    assert_eq!(caused.len(), 1, "{caused:#?}");
    assert_eq!(
        (caused[0].conn, caused[0].method),
        (ConnId(7), Method::Window)
    );
    assert_eq!(causes.conns(), [ConnId(7)]);
    assert!(causes.of_conn(ConnId(5)).is_none() && causes.of_conn(ConnId(6)).is_none());
}

#[test]
fn indistinguishable_calls_are_ambiguous_with_both() {
    let mut feed = Feed::default();
    let same = "curl -s http://127.0.0.1:9/same";
    ask(&mut feed, &[("toolu_1", same), ("toolu_2", same)]);
    feed.conn(3, 201, 2_200, same, &[(AGENT, -60_000, "node cli.js")]);
    answer_results(&mut feed, &["toolu_1", "toolu_2"]);
    let causes = feed.finish();
    for (call, other) in causes.tool_calls.iter().zip(["toolu_2", "toolu_1"]) {
        assert_eq!(call.caused.len(), 1, "{call:#?}");
        assert_eq!(call.caused[0].method, Method::Ambiguous);
        assert_eq!(call.caused[0].also, [other]);
    }
}

#[test]
fn a_process_after_the_result_went_back_is_not_caused() {
    let mut feed = Feed::default();
    ask(&mut feed, &[("toolu_D", "curl -s http://127.0.0.1:9/d")]);
    answer_results(&mut feed, &["toolu_D"]);
    feed.conn(
        3,
        201,
        7_000,
        "curl -s http://127.0.0.1:9/d",
        &[(AGENT, -60_000, "node")],
    );
    let causes = feed.finish();
    assert!(causes.tool_calls[0].caused.is_empty(), "{causes:#?}");
}

#[test]
fn a_gemini_call_without_id_meets_its_result_by_name() {
    let mut feed = Feed::default();
    let url = "https://llm.test/v1beta/models/g:generateContent";
    let call = json!({"functionCall": {"name": "run_shell_command",
        "args": {"command": "curl -s http://127.0.0.1:9/g"}}});
    let answer = json!({"candidates": [{"content": {"role": "model", "parts": [call]},
        "finishReason": "STOP"}]});
    let ask = json!({"contents": [{"role": "user", "parts": [{"text": "go"}]}]});
    feed.llm_at(url, 1, 0, ask, answer.clone());
    feed.conn(
        3,
        201,
        2_200,
        "curl -s http://127.0.0.1:9/g",
        &[(AGENT, -60_000, "node")],
    );
    // Gemini CLI gives the result an id of its own.
    let result = json!({"functionResponse": {"id": "run_shell_command-1",
        "name": "run_shell_command", "response": {"output": "ok"}}});
    let back = json!({"contents": [{"role": "user", "parts": [{"text": "go"}]},
        {"role": "user", "parts": [result]}]});
    feed.llm_at(url, 9, 5_000, back, answer);
    feed.conn(1, AGENT, -60_000, "node /opt/agent/cli.js", &[]);
    let causes = feed.finish();
    let first = &causes.tool_calls[0];
    assert_eq!(
        (first.id.as_deref(), first.result_flow),
        (None, Some(FlowId(9)))
    );
    assert_eq!(first.caused[0].method, Method::Argv);
}

#[test]
fn without_the_llm_connections_record_the_command_phonehome_started_is_the_agent() {
    let mut feed = Feed::default();
    ask(&mut feed, &[("toolu_A", "curl -s http://127.0.0.1:9/a")]);
    curl_a(&mut feed);
    // The results go back, but the agent's LLM connection never gets its `conn` record (the
    // capture was cut short): no process is known to have carried LLM calls.
    let results = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_A", "content": "done"}]}]});
    let answer = json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}});
    feed.llm(9, 5_000, results, answer);
    let causes = feed.finish();
    let [a] = &causes.tool_calls[..] else {
        panic!("one call: {causes:#?}");
    };
    assert_eq!(a.caused.len(), 1, "{a:#?}");
    assert_eq!((a.caused[0].conn, a.caused[0].pid), (ConnId(3), 201));
    assert_eq!(a.caused[0].method, Method::Argv);
    assert_eq!(a.caused[0].parents, [200]);
}
