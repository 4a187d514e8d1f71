//! OTLP export through the real binary to a real OTLP receiver (tests/it/otlp_receiver.rs):
//! `run --otlp` while OpenCode runs, `export --format otlp` of the same capture over gRPC,
//! the collector down, the standard environment variables, bad endpoints.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

use crate::fixtures::{investigation, leaks};
use crate::opencode::{run_opencode_wrapped, API_KEY};
use crate::otlp_receiver::{attr, Receiver};
use crate::support::{of_type, run, Ran, Scratch};

/// `phonehome ARGS` with no OTEL_* variable from the test's own environment, plus `env`.
pub(crate) async fn phonehome(scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut cmd = scratch.phonehome();
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OTEL_")) {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied()).args(args);
    run(cmd).await
}

pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn has(span: &Span, key: &str) -> bool {
    attr(&span.attributes, key).is_some()
}

fn ids(spans: &[Span]) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    spans
        .iter()
        .map(|s| (s.trace_id.clone(), s.span_id.clone()))
        .collect()
}

/// The decoded LLM calls of a capture, as `phonehome llm --json --include-meta` gives them.
async fn llm_calls(scratch: &Scratch, capture: &Path) -> Vec<Value> {
    let path = capture.to_str().expect("utf-8 path");
    let ran = phonehome(scratch, &["llm", "--json", "--include-meta", path], &[]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    ran.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Waits (a hang guard, not a timing) until the receiver holds a GenAI span, then creates
/// `flag`: the wrapped command waits for it before it exits.
fn signal_first_genai_span(receiver: &Receiver, flag: std::path::PathBuf) {
    let got = receiver.got.clone();
    tokio::spawn(async move {
        for _ in 0..2400 {
            let arrived = got
                .lock()
                .expect("lock")
                .traces
                .iter()
                .flat_map(|t| &t.resource_spans)
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .any(|s| attr(&s.attributes, "gen_ai.operation.name").is_some());
            if arrived {
                std::fs::write(&flag, "").expect("flag");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

#[tokio::test]
async fn opencode_run_streams_spans_live_and_the_file_exports_the_same_ids() {
    let live = Receiver::http().await;
    let scratch = Scratch::new();
    let flag = scratch.path("genai-span-arrived");
    signal_first_genai_span(&live, flag.clone());
    let policy = scratch.path("policy.toml");
    std::fs::write(
        &policy,
        "default = \"allow\"\n[[rule]]\naction = \"deny\"\nhosts = [\"blocked.phonehome.test\"]\n",
    )
    .expect("policy");
    // Before OpenCode: one blocked attempt and one that fails to connect. After it, the
    // command waits until the receiver has a GenAI span: if spans only left at the end, it
    // would exit 99 instead of OpenCode's 0.
    let script = format!(
        "curl -s -o /dev/null https://blocked.phonehome.test/; \
         curl -s -o /dev/null https://127.0.0.1:{closed}/; \
         \"$@\"; code=$?; i=0; \
         while [ ! -e '{flag}' ]; do i=$((i+1)); [ $i -gt 600 ] && exit 99; sleep 0.1; done; \
         exit $code",
        closed = closed_port(),
        flag = flag.display()
    );
    let otlp = format!("--otlp={}", live.url());
    let run = run_opencode_wrapped(
        policy.to_str().expect("utf-8"),
        &[&otlp, "--otlp-content"],
        &["sh", "-c", &script, "sh"],
    )
    .await;
    run.assert_answered();

    let end = run.records.last().expect("records");
    assert_eq!(end["type"], "end");
    assert!(end["otlp"]["sent"].as_u64().is_some_and(|n| n > 0), "{end}");
    assert_eq!(end["otlp"]["failed"], 0, "{end}");
    assert_eq!(end["otlp"]["queue_dropped"], 0, "{end}");
    assert!(run.ran.stderr.contains("OTLP: "), "{}", run.ran.stderr);
    let receiver_port = i64::from(live.addr.port());
    assert!(
        of_type(&run.records, "conn")
            .iter()
            .all(|c| c["target"]["port"].as_i64() != Some(receiver_port)),
        "phonehome's own export connection is not agent traffic"
    );

    let capture = scratch.path("opencode.jsonl");
    std::fs::write(&capture, &run.capture).expect("capture");
    let path = capture.to_str().expect("utf-8");
    let grpc = Receiver::grpc().await;
    let again = Receiver::grpc().await;
    for receiver in [&grpc, &again] {
        let url = receiver.url();
        let args = [
            "export",
            path,
            "--format",
            "otlp",
            "--endpoint",
            &url,
            "--protocol",
            "grpc",
        ];
        let ran = phonehome(&scratch, &args, &[]).await;
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    }
    let spans = grpc.spans();
    assert_eq!(
        ids(&spans),
        ids(&again.spans()),
        "the same ids from two exports"
    );
    assert_eq!(
        ids(&spans),
        ids(&live.spans()),
        "live and file exports agree"
    );

    assert_genai_spans_match_llm_json(&spans, &llm_calls(&scratch, &capture).await);
    assert_attempts(&spans, &run.records);
    let requests = of_type(&run.records, "request").len();
    let http = spans
        .iter()
        .filter(|s| {
            has(s, "url.full") && has(s, "http.request.method") && !has(s, "phonehome.rule")
        })
        .count();
    assert_eq!(http, requests, "one HTTP span per request");

    let resource = grpc.resource();
    assert_eq!(
        attr(&resource, "service.name").as_deref(),
        Some("phonehome")
    );
    assert_eq!(
        attr(&resource, "phonehome.agent.name").as_deref(),
        Some("opencode")
    );
    assert_eq!(
        attr(&resource, "phonehome.capture.id"),
        run.records[0]["id"].as_str().map(str::to_owned)
    );
    let metrics = grpc.metric_names();
    for name in [
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "phonehome.requests",
        "phonehome.blocked",
    ] {
        assert!(metrics.iter().any(|m| m == name), "{name} in {metrics:?}");
    }
    let warn = grpc.log_records();
    assert!(
        warn.iter().any(|l| l.severity_text == "WARN"
            && attr(&l.attributes, "server.address").as_deref() == Some("blocked.phonehome.test")),
        "the denial is a WARN log record"
    );

    // Content went out live (with --otlp-content), never the key OpenCode sent.
    assert!(live.spans().iter().any(|s| has(s, "gen_ai.input.messages")));
    assert!(!spans.iter().any(|s| has(s, "gen_ai.input.messages")));
    assert!(!live.payloads_contain(API_KEY), "no key in the live export");
    assert!(!grpc.payloads_contain(API_KEY), "no key in the file export");
}

fn assert_genai_spans_match_llm_json(spans: &[Span], calls: &[Value]) {
    assert!(!calls.is_empty(), "OpenCode made LLM calls");
    let genai: Vec<&Span> = spans
        .iter()
        .filter(|s| has(s, "gen_ai.operation.name"))
        .collect();
    assert_eq!(genai.len(), calls.len(), "one GenAI span per decoded call");
    for call in calls {
        let flow = call["flow"].to_string();
        let span = genai
            .iter()
            .find(|s| attr(&s.attributes, "phonehome.flow") == Some(flow.clone()))
            .unwrap_or_else(|| panic!("no GenAI span for flow {flow}"));
        let a = |k: &str| attr(&span.attributes, k);
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let number = |v: &Value| v.as_u64().map(|n| n.to_string());
        assert_eq!(a("gen_ai.request.model"), text(&call["request_model"]));
        assert_eq!(a("gen_ai.response.model"), text(&call["response_model"]));
        assert_eq!(
            a("gen_ai.usage.input_tokens"),
            number(&call["usage"]["input_tokens"])
        );
        assert_eq!(
            a("gen_ai.usage.output_tokens"),
            number(&call["usage"]["output_tokens"])
        );
        let reasons: Vec<String> = call["finish_reasons"]
            .as_array()
            .expect("finish_reasons")
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        let expected = (!reasons.is_empty()).then(|| reasons.join(","));
        assert_eq!(a("gen_ai.response.finish_reasons"), expected);
        let name = match &call["request_model"] {
            Value::String(m) => format!("{} {m}", call["operation"].as_str().expect("operation")),
            _ => call["operation"].as_str().expect("operation").to_owned(),
        };
        assert_eq!(span.name, name);
    }
}

/// Every blocked and failed attempt of the capture is a span naming its host and its rule
/// or phase.
fn assert_attempts(spans: &[Span], records: &[Value]) {
    let blocked = of_type(records, "blocked");
    assert!(
        blocked
            .iter()
            .any(|b| b["target"]["host"] == "blocked.phonehome.test"),
        "{blocked:?}"
    );
    for b in &blocked {
        let host = b["target"]["host"].as_str().map(str::to_owned);
        assert!(
            spans
                .iter()
                .any(|s| attr(&s.attributes, "server.address") == host
                    && attr(&s.attributes, "phonehome.rule")
                        == b["rule"].as_str().map(str::to_owned)),
            "a span for {b}"
        );
    }
    let errors = of_type(records, "error");
    assert!(
        errors
            .iter()
            .any(|e| e["target"]["host"] == "127.0.0.1" && e["phase"] == "connect"),
        "{errors:?}"
    );
    for e in &errors {
        let host = e["target"]["host"].as_str().map(str::to_owned);
        assert!(
            spans
                .iter()
                .any(|s| attr(&s.attributes, "server.address") == host
                    && attr(&s.attributes, "phonehome.phase")
                        == e["phase"].as_str().map(str::to_owned)),
            "a span for {e}"
        );
    }
}

#[tokio::test]
async fn export_takes_endpoint_protocol_and_headers_from_the_environment() {
    let scratch = Scratch::new();
    let capture = scratch.path("investigation.jsonl");
    investigation(&capture);
    let path = capture.to_str().expect("utf-8");
    let http = Receiver::http().await;
    let grpc = Receiver::grpc().await;
    let json = Receiver::http().await;
    for (receiver, protocol) in [
        (&http, "http/protobuf"),
        (&grpc, "grpc"),
        (&json, "http/json"),
    ] {
        let url = receiver.url();
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-fleet=lab%201"),
            ("OTEL_SERVICE_NAME", "fleet-laptops"),
        ];
        let ran = phonehome(&scratch, &["export", path, "--format", "otlp"], &env).await;
        assert_eq!(ran.code, Some(0), "{protocol}: {}", ran.stderr);
        let got = receiver.got.lock().expect("lock");
        assert!(!got.headers.is_empty(), "{protocol}: nothing arrived");
        for headers in &got.headers {
            assert!(
                headers.iter().any(|(n, v)| n == "x-fleet" && v == "lab 1"),
                "{protocol}: {headers:?}"
            );
        }
        drop(got);
        let spans = receiver.spans();
        let flows = spans.iter().filter(|s| has(s, "url.full")).count();
        assert_eq!(flows, 1_195, "{protocol}: one span per request");
        let resource = receiver.resource();
        assert_eq!(
            attr(&resource, "service.name").as_deref(),
            Some("fleet-laptops")
        );
        assert_eq!(
            attr(&resource, "phonehome.agent.version").as_deref(),
            Some("1.18.33")
        );
    }
    assert_eq!(ids(&http.spans()), ids(&grpc.spans()));
    assert_eq!(ids(&http.spans()), ids(&json.spans()));
}

#[tokio::test]
async fn export_to_a_collector_that_is_not_there_fails_clearly() {
    let scratch = Scratch::new();
    let capture = scratch.path("investigation.jsonl");
    investigation(&capture);
    let path = capture.to_str().expect("utf-8");
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let ran = phonehome(
        &scratch,
        &["export", path, "--format", "otlp", "--endpoint", &url],
        &[],
    )
    .await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!("127.0.0.1:{port}")) && ran.stderr.contains("OTLP"),
        "{}",
        ran.stderr
    );
    // The collector's error follows, as the cause.
    assert!(
        ran.stderr.contains("did not take the data: "),
        "{}",
        ran.stderr
    );
    let ran = phonehome(
        &scratch,
        &[
            "export",
            path,
            "--format",
            "otlp",
            "--endpoint",
            "collector:4318",
        ],
        &[],
    )
    .await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("collector:4318"), "{}", ran.stderr);
}

#[tokio::test]
async fn leaks_are_error_log_records_and_mark_their_flow_and_run() {
    let scratch = Scratch::new();
    for (clean, expected) in [(false, true), (true, false)] {
        let capture = scratch.path(if clean { "clean.jsonl" } else { "leaky.jsonl" });
        leaks(&capture, clean);
        let receiver = Receiver::http().await;
        let url = receiver.url();
        let path = capture.to_str().expect("utf-8");
        let ran = phonehome(
            &scratch,
            &["export", path, "--format", "otlp", "--endpoint", &url],
            &[],
        )
        .await;
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let errors: Vec<_> = receiver
            .log_records()
            .into_iter()
            .filter(|l| l.event_name == "phonehome.leak" && l.severity_text == "ERROR")
            .collect();
        let posthog = errors.iter().any(|l| {
            attr(&l.attributes, "server.address").as_deref() == Some("us.i.posthog.com")
                && attr(&l.attributes, "phonehome.leak.kind").as_deref() == Some("cwd")
        });
        assert_eq!(posthog, expected, "clean={clean}: {errors:?}");
        let spans = receiver.spans();
        let root = spans
            .iter()
            .find(|s| s.parent_span_id.is_empty())
            .expect("the run's root span");
        let count = attr(&root.attributes, "phonehome.leaks.unexpected").expect("count");
        assert_eq!(count != "0", expected, "clean={clean}: {count}");
        let flagged = spans.iter().any(|s| {
            attr(&s.attributes, "server.address").as_deref() == Some("us.i.posthog.com")
                && has(s, "phonehome.leak.unexpected")
        });
        assert_eq!(flagged, expected, "clean={clean}");
        if expected {
            let trace = &errors[0].trace_id;
            assert_eq!(
                trace, &root.trace_id,
                "the log record names the run's trace"
            );
        }
    }
}

#[tokio::test]
async fn flags_override_the_environment() {
    let scratch = Scratch::new();
    let capture = scratch.path("leaks.jsonl");
    leaks(&capture, true);
    let path = capture.to_str().expect("utf-8");
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    for protocol in ["http/protobuf", "grpc"] {
        let receiver = if protocol == "grpc" {
            Receiver::grpc().await
        } else {
            Receiver::http().await
        };
        let url = receiver.url();
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", nowhere.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-fleet=env,x-team=sec"),
        ];
        let args = [
            "export",
            path,
            "--format",
            "otlp",
            "--endpoint",
            &url,
            "--protocol",
            protocol,
            "--header",
            "x-fleet=flag",
        ];
        let ran = phonehome(&scratch, &args, &env).await;
        assert_eq!(ran.code, Some(0), "{protocol}: {}", ran.stderr);
        let got = receiver.got.lock().expect("lock");
        assert!(!got.headers.is_empty(), "{protocol}: nothing arrived");
        for headers in &got.headers {
            let fleet: Vec<&str> = headers
                .iter()
                .filter(|(n, _)| n == "x-fleet")
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(fleet, ["flag"], "{protocol}: {headers:?}");
            assert!(
                headers.iter().any(|(n, v)| n == "x-team" && v == "sec"),
                "{protocol}: the environment's other headers stay: {headers:?}"
            );
        }
    }
}
