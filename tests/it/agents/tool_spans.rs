//! A tool call as OTLP: OpenCode, asked by the stand-in to run `curl` with its `bash` tool
//! under `run --otlp`, and its capture exported with `export --format otlp`: each receiver
//! (tests/it/otlp_receiver.rs) gets an `execute_tool` span for the call (the GenAI semantic
//! conventions' attributes) whose child is the curl's connection span, itself the parent of
//! the curl's request span.

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

use super::opencode::run_opencode_tool;
use super::tool_calls::Target;
use super::AgentRun;
use crate::otlp_receiver::{attr, Receiver};

#[tokio::test]
async fn opencodes_tool_call_is_an_execute_tool_span_parent_of_what_it_caused() {
    let live = Receiver::http().await;
    let mut target = Target::start().await;
    target.run_args = vec![format!("--otlp={}", live.url())];
    let run = run_opencode_tool(None, Some(&target)).await;
    run.assert_tool_call_joined(&target);
    let (call, caused) = run.curl_call(&target);

    let exported = Receiver::grpc().await;
    let url = exported.url();
    let out = run.out.to_str().expect("utf-8 path").to_owned();
    let ran = crate::otlp::phonehome(
        &run.place.scratch,
        &[
            "export",
            &out,
            "--format",
            "otlp",
            "--endpoint",
            &url,
            "--protocol",
            "grpc",
        ],
        &[],
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    for (name, spans) in [("live", live.spans()), ("export", exported.spans())] {
        assert_tool_span(name, &spans, &call, &caused, &run);
    }
}

/// The call's `execute_tool` span under the run span; the curl's connection span its child,
/// marked with the call and the method; the request's span under the connection's.
fn assert_tool_span(name: &str, spans: &[Span], call: &Value, caused: &Value, run: &AgentRun) {
    let tool = spans
        .iter()
        .find(|s| {
            attr(&s.attributes, "gen_ai.operation.name").as_deref() == Some("execute_tool")
                && attr(&s.attributes, "gen_ai.tool.call.id").as_deref() == call["id"].as_str()
        })
        .unwrap_or_else(|| panic!("{name}: an execute_tool span for {call:#}"));
    let tool_name = call["name"].as_str().expect("name");
    assert_eq!(tool.name, format!("execute_tool {tool_name}"), "{name}");
    assert_eq!(
        attr(&tool.attributes, "gen_ai.tool.name").as_deref(),
        Some(tool_name),
        "{name}"
    );
    let root = spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .unwrap_or_else(|| panic!("{name}: the run span"));
    assert_eq!(
        tool.parent_span_id, root.span_id,
        "{name}: under the run span"
    );
    let conn = caused["conn"].to_string();
    let conn_span = spans
        .iter()
        .find(|s| {
            attr(&s.attributes, "phonehome.conn").as_deref() == Some(conn.as_str())
                && attr(&s.attributes, "phonehome.transport").is_some()
        })
        .unwrap_or_else(|| panic!("{name}: the span of connection {conn}\n{}", run.capture));
    assert_eq!(
        conn_span.parent_span_id, tool.span_id,
        "{name}: the curl's connection is the tool call's child"
    );
    assert_eq!(
        attr(&conn_span.attributes, "phonehome.cause.method").as_deref(),
        Some("argv"),
        "{name}"
    );
    assert_eq!(
        attr(&conn_span.attributes, "gen_ai.tool.call.id").as_deref(),
        call["id"].as_str(),
        "{name}"
    );
    for flow in caused["flows"].as_array().expect("flows") {
        let flow = flow.to_string();
        let request = spans
            .iter()
            .find(|s| {
                attr(&s.attributes, "phonehome.flow").as_deref() == Some(flow.as_str())
                    && attr(&s.attributes, "url.full").is_some()
            })
            .unwrap_or_else(|| panic!("{name}: the span of flow {flow}"));
        assert_eq!(
            request.parent_span_id, conn_span.span_id,
            "{name}: the request is the connection's child"
        );
    }
}
