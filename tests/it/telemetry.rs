//! `phonehome telemetry`, the report's Telemetry and Persistent identifiers sections, purposes
//! decided by what was sent (`purpose_source`) and `phonehome diff`'s identifiers in both
//! captures, through the real binary on synthetic captures.

use std::path::Path;

use serde_json::Value;

use crate::fixtures::{h, text, Synth};
use crate::support::{run, Ran, Scratch};

async fn phonehome(scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = scratch.phonehome();
    cmd.args(args);
    run(cmd).await
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

const UUID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

/// A price list in LiteLLM's shape: model ids to prices and context windows.
const PRICES: &str = r#"{"sample_spec":{"max_input_tokens":"max input","input_cost_per_token":0},"gpt-4.1":{"max_input_tokens":1047576,"input_cost_per_token":2e-6,"output_cost_per_token":8e-6},"claude-x":{"max_input_tokens":200000,"input_cost_per_token":3e-6}}"#;

/// An agent's run: a model price list from a code host's raw files and from an unknown host,
/// a settings call carrying a device id (`device`) and a project id, an LLM call with a
/// user id (left out: the LLM host), and a request to an unknown host with nothing in it.
fn capture(path: &Path, device: &str) {
    let mut s = Synth::create(path, &["agent", "run"], Default::default());
    let json = || h(&[("content-type", "application/json")]);
    s.exchange(
        100,
        "GET",
        "https://raw.githubusercontent.com/acme/prices/main/model_prices.json",
        Vec::new(),
        None,
        200,
        h(&[("content-type", "text/plain; charset=utf-8")]),
        text(PRICES),
    );
    s.exchange(
        150,
        "GET",
        "https://models.example.test/api/catalog.json",
        Vec::new(),
        None,
        200,
        json(),
        text(r#"{"data":[{"id":"a/b","pricing":{"prompt":"0.000001"},"context_length":8192}]}"#),
    );
    s.exchange(
        200,
        "POST",
        "https://settings.example.test/v1/config",
        json(),
        text(&format!(
            r#"{{"client":{{"device_id":"{device}","project_id":"{UUID}","os":"linux"}},"want":["theme"]}}"#
        )),
        200,
        json(),
        text(r#"{"theme":"dark"}"#),
    );
    s.exchange(
        300,
        "POST",
        "https://api.openai.com/v1/chat/completions",
        json(),
        text(r#"{"model":"gpt-4.1","user":"u-1","messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u-77777"}}"#),
        200,
        json(),
        text(r#"{"id":"c","object":"chat.completion","model":"gpt-4.1","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#),
    );
    s.exchange(
        400,
        "GET",
        "https://unknown.example.test/ping?x=1",
        Vec::new(),
        None,
        204,
        Vec::new(),
        None,
    );
    s.finish(500);
}

#[tokio::test]
async fn telemetry_names_identifiers_per_host_as_text_and_json() {
    let scratch = Scratch::new();
    let path = scratch.path("run.jsonl");
    capture(&path, "dev-5e1f2a");

    let ran = phonehome(&scratch, &["telemetry", arg(&path)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let out = &ran.stdout;
    assert!(
        out.contains(
            "=== settings.example.test: no telemetry decoded; identifiers in its requests"
        ),
        "{out}"
    );
    assert!(
        out.contains("device_id = dev-5e1f2a  (by name, request, 1 request)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("project_id = {UUID}  (by shape")),
        "{out}"
    );
    // The LLM call's user id goes to the LLM provider: not listed.
    assert!(
        !out.contains("api.openai.com") && !out.contains("u-77777"),
        "{out}"
    );

    let ran = phonehome(&scratch, &["telemetry", "--json", arg(&path)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let hosts: Vec<Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(hosts.len(), 1, "{hosts:#?}");
    let host = &hosts[0];
    assert_eq!(host["host"], "settings.example.test");
    assert_eq!(host["requests"], 0);
    let ids = host["identifiers"].as_array().expect("identifiers");
    assert_eq!(ids[0]["name"], "device_id");
    assert_eq!(ids[0]["value"], "dev-5e1f2a");
    assert_eq!(ids[0]["found_by"], "name");
    assert_eq!(ids[0]["source"], "request");
    assert_eq!(ids[1]["found_by"], "shape");

    // A HAR file of the same capture reads the same.
    let har = scratch.path("run.har");
    let ran = phonehome(
        &scratch,
        &["export", "--format", "har", arg(&path), "-o", arg(&har)],
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = phonehome(&scratch, &["telemetry", "--json", arg(&har)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let from_har: Vec<Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(from_har[0]["identifiers"], host["identifiers"]);
}

/// A capture of one request that carries nothing: no telemetry, no identifier.
fn quiet_capture(path: &Path) {
    let mut s = Synth::create(path, &["agent"], Default::default());
    s.exchange(
        10,
        "GET",
        "https://example.test/",
        Vec::new(),
        None,
        200,
        Vec::new(),
        None,
    );
    s.finish(20);
}

#[tokio::test]
async fn telemetry_of_nothing_and_of_bad_input() {
    let scratch = Scratch::new();
    let path = scratch.path("quiet.jsonl");
    quiet_capture(&path);
    let ran = phonehome(&scratch, &["telemetry", arg(&path)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "No telemetry or persistent identifier found.\n");
    let ran = phonehome(&scratch, &["telemetry", "--json", arg(&path)]).await;
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), ""));

    let bad = scratch.path("notes.txt");
    std::fs::write(&bad, "hello\n").expect("write");
    let ran = phonehome(&scratch, &["telemetry", arg(&bad)]).await;
    assert_eq!(ran.code, Some(1));
    assert_eq!(
        ran.stderr.matches("phonehome: error:").count(),
        1,
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("notes.txt") && ran.stderr.contains("neither a phonehome capture"),
        "{}",
        ran.stderr
    );
    let missing = scratch.path("missing.jsonl");
    let ran = phonehome(&scratch, &["telemetry", arg(&missing)]).await;
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("missing.jsonl"), "{}", ran.stderr);
}

fn domain<'a>(report: &'a Value, host: &str) -> &'a Value {
    report["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|d| d["domain"] == host)
        .unwrap_or_else(|| panic!("{host} in {report:#}"))
}

#[tokio::test]
async fn report_says_how_each_purpose_was_decided_and_names_identifiers() {
    let scratch = Scratch::new();
    let path = scratch.path("run.jsonl");
    capture(&path, "dev-5e1f2a");
    let ran = phonehome(&scratch, &["report", "--format", "json", arg(&path)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).expect("JSON report");

    let raw = domain(&report, "raw.githubusercontent.com");
    assert_eq!(raw["purpose"], "model-catalog", "{raw:#}");
    assert_eq!(raw["purpose_source"], "by response shape: model catalog");
    let models = domain(&report, "models.example.test");
    assert_eq!(models["purpose"], "model-catalog");
    assert_eq!(models["purpose_source"], "by response shape: model catalog");
    let openai = domain(&report, "api.openai.com");
    assert_eq!(openai["purpose_source"], "by catalog");
    let unknown = domain(&report, "unknown.example.test");
    assert_eq!(unknown["purpose"], Value::Null);
    assert_eq!(
        unknown["purpose_source"],
        "unknown: no catalog entry; request not a known protocol"
    );
    // The price list is a model-catalog fetch, not a binary download.
    assert_eq!(report["downloads"].as_array().map(Vec::len), Some(0));
    let fetched: Vec<&str> = report["model_catalog"]
        .as_array()
        .expect("model_catalog")
        .iter()
        .map(|f| f["host"].as_str().expect("host"))
        .collect();
    assert_eq!(
        fetched,
        ["raw.githubusercontent.com", "models.example.test"]
    );
    let telemetry = report["telemetry"].as_array().expect("telemetry");
    assert_eq!(telemetry.len(), 1);
    assert_eq!(telemetry[0]["identifiers"][0]["value"], "dev-5e1f2a");

    let ran = phonehome(&scratch, &["report", arg(&path)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let md = &ran.stdout;
    assert!(
        md.contains("| model-catalog (by response shape: model catalog) |"),
        "{md}"
    );
    assert!(
        md.contains("| unknown (no catalog entry; request not a known protocol) |"),
        "{md}"
    );
    assert!(md.contains("## Persistent identifiers"), "{md}");
    assert!(
        md.contains("| settings.example.test | `device_id` | `dev-5e1f2a` | name | request | 1 |"),
        "{md}"
    );
    assert!(!md.contains("u-77777"), "{md}");
    // Nothing was decoded as telemetry: no Telemetry section.
    assert!(!md.contains("## Telemetry"), "{md}");
    let ran = phonehome(&scratch, &["report", "--format", "html", arg(&path)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.contains("<h2>Persistent identifiers</h2>"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("by response shape: model catalog"));
}

#[tokio::test]
async fn report_without_identifiers_or_telemetry_leaves_the_sections_out() {
    let scratch = Scratch::new();
    let path = scratch.path("quiet.jsonl");
    quiet_capture(&path);
    let ran = phonehome(&scratch, &["report", "--format", "json", arg(&path)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).expect("JSON report");
    assert!(report.get("telemetry").is_none(), "{report:#}");
    let ran = phonehome(&scratch, &["report", arg(&path)]).await;
    assert!(
        !ran.stdout.contains("## Telemetry") && !ran.stdout.contains("## Persistent identifiers")
    );
}

#[tokio::test]
async fn diff_says_an_identifier_follows_you_across_runs() {
    let scratch = Scratch::new();
    let (a, b, c) = (
        scratch.path("a.jsonl"),
        scratch.path("b.jsonl"),
        scratch.path("c.jsonl"),
    );
    capture(&a, "dev-5e1f2a");
    capture(&b, "dev-5e1f2a");
    capture(&c, "dev-999999");

    let ran = phonehome(&scratch, &["diff", arg(&a), arg(&b)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("No differences."), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("## Identifiers in both captures"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("it follows you across runs"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(
            "| `device_id` | `dev-5e1f2a` | settings.example.test | settings.example.test |"
        ),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("u-77777"), "{}", ran.stdout);

    let ran = phonehome(&scratch, &["diff", "--format", "json", arg(&a), arg(&c)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let diff: Value = serde_json::from_str(&ran.stdout).expect("JSON diff");
    let shared = diff["identifiers_in_both"]
        .as_array()
        .expect("identifiers_in_both");
    // The project id (a UUID) is the same in both; the device id is not.
    let names: Vec<&str> = shared
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["project_id"], "{shared:#?}");
    assert_eq!(shared[0]["value"], UUID);
    assert_eq!(shared[0]["hosts_a"][0], "settings.example.test");
}

/// OTLP/JSON logs as an agent sends them: who it is, two events, a user id.
fn otlp_logs(user: &str) -> String {
    let attr = |k: &str, v: &str| format!(r#"{{"key":"{k}","value":{{"stringValue":"{v}"}}}}"#);
    let record = |nanos: &str, name: &str, extra: &str| {
        format!(
            r#"{{"timeUnixNano":"{nanos}","attributes":[{},{extra}]}}"#,
            attr("event.name", name)
        )
    };
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{},{},{},{}]}},"scopeLogs":[{{"logRecords":[{},{}]}}]}}]}}"#,
        attr("service.name", "demo-agent"),
        attr("service.version", "1.2.3"),
        attr("os.type", "linux"),
        attr("user.id", user),
        record(
            "1772445600000000000",
            "session.start",
            &attr("model", "demo-model")
        ),
        record(
            "1772445601000000000",
            "turn",
            &attr("llm.base_url", "http://10.0.0.5:8000/v1")
        ),
    )
}

/// Telemetry by protocol on hosts the catalog does not know: OTLP logs and PostHog flags.
fn telemetry_capture(path: &Path, user: &str) {
    let mut s = Synth::create(path, &["agent", "run"], Default::default());
    let json = || h(&[("content-type", "application/json")]);
    for at in [100, 200] {
        s.exchange(
            at,
            "POST",
            "https://otel.example.test/v1/logs",
            json(),
            text(&otlp_logs(user)),
            200,
            json(),
            text("{}"),
        );
    }
    s.exchange(
        300,
        "POST",
        "https://flags.example.test/flags/?v=2",
        json(),
        text(&format!(
            r#"{{"token":"phc_test","distinct_id":"{user}","groups":{{}}}}"#
        )),
        200,
        json(),
        text(r#"{"featureFlags":{"new-ui":true}}"#),
    );
    s.finish(400);
}

#[tokio::test]
async fn decoded_telemetry_in_the_command_the_report_and_diff() {
    let scratch = Scratch::new();
    let (a, b) = (scratch.path("a.jsonl"), scratch.path("b.jsonl"));
    telemetry_capture(&a, "user-7f3a");
    telemetry_capture(&b, "user-7f3a");

    let ran = phonehome(&scratch, &["telemetry", arg(&a)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let out = &ran.stdout;
    assert!(
        out.contains("=== otel.example.test: 2 telemetry requests (otlp/json logs ×2)"),
        "{out}"
    );
    assert!(
        out.contains("sent by: demo-agent 1.2.3 · os linux"),
        "{out}"
    );
    assert!(
        out.contains("events: 4, 2026-03-02T10:00:00.000Z … 2026-03-02T10:00:01.000Z"),
        "{out}"
    );
    assert!(out.contains("  session.start  ×2"), "{out}");
    assert!(
        out.contains("  llm.base_url = http://10.0.0.5:8000/v1"),
        "{out}"
    );
    assert!(
        out.contains("user.id = user-7f3a  (by name, telemetry, 2 requests)"),
        "{out}"
    );
    assert!(
        out.contains("=== flags.example.test: 1 telemetry request (posthog feature-flags ×1)"),
        "{out}"
    );

    let ran = phonehome(&scratch, &["report", "--format", "json", arg(&a)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).expect("JSON report");
    let otel = domain(&report, "otel.example.test");
    assert_eq!(otel["purpose"], "telemetry");
    assert_eq!(otel["purpose_source"], "by protocol: OTLP logs");
    assert_eq!(otel["reported_by"], "demo-agent");
    assert_eq!(otel["owner"], Value::Null);
    let flags = domain(&report, "flags.example.test");
    assert_eq!(flags["purpose"], "feature-flags");
    assert_eq!(
        flags["purpose_source"],
        "by protocol: PostHog feature flags"
    );
    let hosts: Vec<&str> = report["telemetry"]
        .as_array()
        .expect("telemetry")
        .iter()
        .map(|t| t["host"].as_str().expect("host"))
        .collect();
    assert_eq!(hosts, ["otel.example.test", "flags.example.test"]);

    let ran = phonehome(&scratch, &["report", arg(&a)]).await;
    let md = &ran.stdout;
    assert!(md.contains("## Telemetry"), "{md}");
    assert!(md.contains("### otel.example.test"), "{md}");
    assert!(
        md.contains("- Protocol: otlp/json logs ×2 (2 requests)"),
        "{md}"
    );
    assert!(md.contains("- Events: 4, "), "{md}");
    assert!(md.contains("`session.start` ×2, `turn` ×2"), "{md}");
    assert!(
        md.contains("- Carries: `event.name`, `model`, `llm.base_url`"),
        "{md}"
    );
    assert!(
        md.contains("- Sent by: demo-agent 1.2.3 · os linux\n"),
        "{md}"
    );
    assert!(md.contains("| telemetry (by protocol: OTLP logs) | not in the catalog; telemetry reported by demo-agent |"), "{md}");
    assert!(
        md.contains("| otel.example.test | `user.id` | `user-7f3a` | name | telemetry | 2 |"),
        "{md}"
    );

    let ran = phonehome(&scratch, &["diff", "--format", "json", arg(&a), arg(&b)]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let diff: Value = serde_json::from_str(&ran.stdout).expect("JSON diff");
    let shared = diff["identifiers_in_both"]
        .as_array()
        .expect("identifiers_in_both");
    let user = shared
        .iter()
        .find(|s| s["name"] == "user.id")
        .unwrap_or_else(|| panic!("user.id in {shared:#?}"));
    assert_eq!(user["value"], "user-7f3a");
    assert_eq!(user["hosts_a"][0], "otel.example.test");
}
