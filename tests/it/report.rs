//! `phonehome report`, `allowlist` and `export` on synthetic captures, through the real binary.

use serde_json::Value;

use crate::fixtures;
use crate::support::{run, Scratch};

async fn phonehome(scratch: &Scratch, args: &[&str]) -> crate::support::Ran {
    let mut cmd = scratch.phonehome();
    cmd.args(args);
    run(cmd).await
}

async fn json_report(scratch: &Scratch, capture: &std::path::Path) -> Value {
    let ran = phonehome(
        scratch,
        &[
            "report",
            "--format",
            "json",
            capture.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    serde_json::from_str(&ran.stdout).expect("JSON report")
}

#[tokio::test]
async fn investigation_report() {
    let scratch = Scratch::new();
    let capture = scratch.path("investigation.jsonl");
    fixtures::investigation(&capture);
    let ran = phonehome(&scratch, &["report", capture.to_str().expect("path")]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    insta::assert_snapshot!("investigation_report", ran.stdout);

    let report = json_report(&scratch, &capture).await;
    assert_eq!(report["summary"]["requests"], 1195);
    assert_eq!(report["summary"]["unique_domains"], 5);
    let storms = report["retry_storms"].as_array().expect("storms");
    assert_eq!(storms.len(), 1, "{storms:#?}");
    assert_eq!(storms[0]["requests"], 1142);
    assert_eq!(
        storms[0]["signature"],
        "POST api.openai.com/v1/chat/completions"
    );
    let packages: Vec<&str> = report["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["package"].as_str().expect("name"))
        .collect();
    assert_eq!(packages.len(), 16);
    assert!(
        packages.contains(&"@ai-sdk/openai-compatible@1.0.19"),
        "{packages:?}"
    );
    let downloads = report["downloads"].as_array().expect("downloads");
    assert_eq!(
        downloads[0]["file"],
        "ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz"
    );
    let llm = &report["llm"][0];
    assert_eq!(llm["calls"], 1176);
    assert_eq!(llm["error_kinds"]["429 rate_limit_exceeded"], 912);
    assert_eq!(
        llm["ttft_median_ms"], 30,
        "the ttfb of the 34 streamed answers"
    );
    assert_eq!(llm["meta"], 0);
    assert_eq!(report["setup"]["agents"][0]["name"], "opencode");
    assert_eq!(report["setup"]["agents"][0]["version"], "1.18.33");
    let advice = report["hardening"].as_array().expect("hardening");
    assert!(
        advice.iter().any(|a| a["env"]
            .as_str()
            .is_some_and(|e| e.starts_with("OPENCODE_DISABLE_MODELS_FETCH"))),
        "the model-catalog switch for OpenCode: {advice:#?}"
    );
}

#[tokio::test]
async fn leak_finder_reports_each_leak_and_nothing_on_a_clean_capture() {
    let scratch = Scratch::new();
    let leaky = scratch.path("leaky.jsonl");
    fixtures::leaks(&leaky, false);
    let report = json_report(&scratch, &leaky).await;
    assert_eq!(report["provider"], "127.0.0.1");
    let leaks = report["leaks"].as_array().expect("leaks");
    assert!(
        leaks.iter().any(|l| l["host"] == "us.i.posthog.com"
            && l["kind"] == "cwd"
            && l["place"] == "header x-project-dir"
            && l["expected"] == false),
        "{leaks:#?}"
    );
    let credentials = report["credentials"].as_array().expect("credentials");
    let reused = credentials
        .iter()
        .find(|c| c["fingerprint"] == fixtures::KEY_FP)
        .expect("the key");
    assert_eq!(reused["source"], "OPENAI_API_KEY");
    assert_eq!(
        reused["elsewhere"],
        serde_json::json!(["gateway.untrusted.test"])
    );
    assert_eq!(report["prompt_leaks"][0]["host"], "opencode.ai");
    let verdict = report["verdict"].as_array().expect("verdict");
    assert_eq!(verdict[0]["answer"], "yes", "{verdict:#?}");
    assert_eq!(verdict[2]["answer"], "yes");

    let clean = scratch.path("clean.jsonl");
    fixtures::leaks(&clean, true);
    let report = json_report(&scratch, &clean).await;
    assert_eq!(
        report["leaks"],
        serde_json::json!([]),
        "{:#?}",
        report["leaks"]
    );
    assert_eq!(report["prompt_leaks"], serde_json::json!([]));
    assert!(report["credentials"]
        .as_array()
        .expect("c")
        .iter()
        .all(|c| c["elsewhere"] == serde_json::json!([])));
    assert_eq!(report["verdict"][0]["answer"], "no");
    assert_eq!(report["verdict"][2]["answer"], "no");
}

/// Drops the lines that name the input file, which differ between a capture and its HAR.
pub(crate) fn without_input(markdown: &str) -> String {
    markdown
        .lines()
        .filter(|l| !l.starts_with("# phonehome report:") && !l.starts_with("| Input |"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn har_export_then_import_gives_the_same_report() {
    let scratch = Scratch::new();
    for (name, write) in [
        (
            "investigation",
            fixtures::investigation as fn(&std::path::Path),
        ),
        ("leaky", |p: &std::path::Path| fixtures::leaks(p, false)),
    ] {
        let capture = scratch.path(&format!("{name}.jsonl"));
        write(&capture);
        let har = scratch.path(&format!("{name}.har"));
        let ran = phonehome(
            &scratch,
            &[
                "export",
                capture.to_str().expect("p"),
                "--format",
                "har",
                "-o",
                har.to_str().expect("p"),
            ],
        )
        .await;
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&har).expect("har"))
            .expect("HAR is JSON");
        assert_eq!(doc["log"]["version"], "1.2");
        assert!(doc["log"]["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["request"]["url"].is_string()));
        let from_capture = phonehome(&scratch, &["report", capture.to_str().expect("p")]).await;
        let from_har = phonehome(&scratch, &["report", har.to_str().expect("p")]).await;
        assert_eq!(from_har.code, Some(0), "{}", from_har.stderr);
        assert_eq!(
            without_input(&from_har.stdout),
            without_input(&from_capture.stdout),
            "{name}"
        );
    }
}

#[tokio::test]
async fn foreign_har_from_another_tool_is_read() {
    let scratch = Scratch::new();
    let har = scratch.path("browser.har");
    std::fs::write(&har, r#"{"log":{"version":"1.2","creator":{"name":"WebInspector","version":"537.36"},"entries":[
      {"startedDateTime":"2026-03-02T10:00:00.000Z","time":12.5,
       "request":{"method":"GET","url":"https://api.openai.com/v1/models","httpVersion":"HTTP/2","headers":[{"name":"Authorization","value":"Bearer sk-abc"}],"queryString":[],"cookies":[],"headersSize":-1,"bodySize":0},
       "response":{"status":200,"statusText":"","httpVersion":"HTTP/2","headers":[],"cookies":[],"content":{"size":2,"mimeType":"application/json","text":"{}"},"redirectURL":"","headersSize":-1,"bodySize":2},
       "cache":{},"timings":{"send":1,"wait":10,"receive":1.5}},
      {"startedDateTime":"2026-03-02T10:00:01.000Z","time":0,
       "request":{"method":"GET","url":"https://telemetry.invalid/e","httpVersion":"","headers":[],"queryString":[],"cookies":[],"headersSize":-1,"bodySize":0},
       "response":{"status":0,"statusText":"","httpVersion":"","headers":[],"cookies":[],"content":{"size":0,"mimeType":""},"redirectURL":"","headersSize":-1,"bodySize":-1,"_error":"net::ERR_NAME_NOT_RESOLVED"},
       "cache":{},"timings":{"send":0,"wait":0,"receive":0}}]}}"#).expect("write");
    let report = json_report(&scratch, &har).await;
    assert_eq!(report["setup"]["input_format"], "har");
    assert_eq!(report["summary"]["requests"], 2);
    assert_eq!(report["summary"]["failed_connection_attempts"], 1);
    assert_eq!(report["failures"][0]["phase"], "dns");
}

#[tokio::test]
async fn html_report_is_self_contained() {
    let scratch = Scratch::new();
    let capture = scratch.path("investigation.jsonl");
    fixtures::investigation(&capture);
    let html = scratch.path("report.html");
    let ran = phonehome(
        &scratch,
        &[
            "report",
            capture.to_str().expect("p"),
            "--format",
            "html",
            "-o",
            html.to_str().expect("p"),
        ],
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let text = std::fs::read_to_string(&html).expect("html");
    assert!(text.starts_with("<!DOCTYPE html>"));
    assert!(
        text.contains("<svg") && text.contains("<rect"),
        "the inline timeline"
    );
    let title = text.find("<h1>").expect("a title");
    assert!(
        title < text.find("<svg").expect("a chart"),
        "the title first"
    );
    for reference in [
        "src=", "href=", "url(", "@import", "<script", "<link", "<iframe", "<img", "xmlns",
    ] {
        assert!(!text.contains(reference), "{reference} in the HTML report");
    }
    crate::chromium::chromium_renders(&html, "phonehome report: investigation.jsonl").await;
}

#[tokio::test]
async fn allowlist_keeps_only_what_the_llm_calls_needed() {
    let scratch = Scratch::new();
    let capture = scratch.path("investigation.jsonl");
    fixtures::investigation(&capture);
    let ran = phonehome(&scratch, &["allowlist", capture.to_str().expect("p")]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("default = \"deny\""), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("hosts = [\"api.openai.com\"]"),
        "{}",
        ran.stdout
    );
    // The registry the run fetched its packages from is needed (recognised by protocol), and
    // allowed for registry requests only.
    assert!(
        ran.stdout
            .contains("hosts = [\"npm-mirror.corp.test\"]\npurposes = [\"package-registry\"]"),
        "{}",
        ran.stdout
    );
    for denied in ["models.dev", "github.com", "objects.githubusercontent.com"] {
        assert!(
            ran.stdout.contains(&format!("#   {denied} (")),
            "{denied} listed as denied: {}",
            ran.stdout
        );
    }
    let hosts = phonehome(
        &scratch,
        &[
            "allowlist",
            capture.to_str().expect("p"),
            "--format",
            "hosts",
        ],
    )
    .await;
    assert_eq!(hosts.stdout, "api.openai.com\nnpm-mirror.corp.test\n");
}

#[tokio::test]
async fn bad_input_names_the_file_and_line() {
    let scratch = Scratch::new();
    let header = r#"{"type":"capture","ts":"2026-03-02T10:00:00.000Z","format":"phonehome/1","id":"x","tool_version":"0","mode":"run","command":[],"cwd":"/","policy":"observe","options":{}}"#;
    let cases = [
        (
            "not-json.jsonl",
            format!("{header}\nthis is not json\n"),
            "line 2",
        ),
        (
            "foreign.jsonl",
            "{\"type\":\"something\",\"ts\":\"x\"}\n".to_owned(),
            "line 1",
        ),
        (
            "future.jsonl",
            header.replace("phonehome/1", "phonehome/7") + "\n",
            "phonehome/7",
        ),
        (
            "truncated.har",
            "{\"log\": {\"entries\": [".to_owned(),
            "not a HAR file: invalid JSON: EOF while parsing",
        ),
        (
            "binary.bin",
            "\u{1}\u{2}garbage".to_owned(),
            "neither a phonehome capture",
        ),
    ];
    for (name, text, expected) in cases {
        let path = scratch.path(name);
        std::fs::write(&path, text).expect("write");
        let ran = phonehome(&scratch, &["report", path.to_str().expect("p")]).await;
        assert_ne!(ran.code, Some(0), "{name}");
        assert!(ran.stderr.contains(name), "{name}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(expected),
            "{name}: {expected} in {}",
            ran.stderr
        );
    }
    let torn = scratch.path("torn.jsonl");
    std::fs::write(&torn, format!("{header}\n{{\"type\":\"end\",\"ts\"")).expect("write");
    let ran = phonehome(&scratch, &["report", torn.to_str().expect("p")]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("warning") && ran.stderr.contains("line 2"),
        "{}",
        ran.stderr
    );
    let missing = phonehome(&scratch, &["report", "/nonexistent/capture.jsonl"]).await;
    assert!(
        missing.stderr.contains("/nonexistent/capture.jsonl"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn catalog_command_lists_switches_per_agent() {
    let scratch = Scratch::new();
    let ran = phonehome(&scratch, &["catalog", "--agent", "opencode"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("models.dev"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("OPENCODE_DISABLE_MODELS_FETCH"),
        "{}",
        ran.stdout
    );
    let unknown = phonehome(&scratch, &["catalog", "--agent", "nobody"]).await;
    assert_ne!(unknown.code, Some(0));
    assert!(
        unknown.stderr.contains("opencode"),
        "lists the known agents: {}",
        unknown.stderr
    );
    let bad = scratch.path("bad-catalog.toml");
    std::fs::write(
        &bad,
        "version = 1\n[[endpoint]]\nhosts = [\"x.test\"]\npurpose = \"spying\"\nowner = \"o\"\n",
    )
    .expect("write");
    let ran = phonehome(
        &scratch,
        &["catalog", "--catalog", bad.to_str().expect("p")],
    )
    .await;
    assert_ne!(ran.code, Some(0));
    assert!(
        ran.stderr.contains("bad-catalog.toml") && ran.stderr.contains("line 4"),
        "{}",
        ran.stderr
    );
}
