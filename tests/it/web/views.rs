//! The Telemetry, Processes and Diff views, the Flows table's "caused by" column with the
//! Conversations view's caused connections, and the HAR download, served and exported, in
//! headless Chromium; each against what the text commands say (`telemetry --json`,
//! `diff --format json`, `report --format json`). Screenshots go beside the others.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::cdp::Browser;
use super::{assert_same_origin, browser, demo_capture, export, report_json, screenshots};
use crate::support::{run, Scratch};

const START: &str = "2026-12-01T10:00:00.000Z";

fn at(ms: i64) -> String {
    let start: chrono::DateTime<chrono::Utc> = START.parse().expect("start");
    (start + chrono::Duration::milliseconds(ms))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn request(flow: u64, conn: u64, ms: i64, method: &str, url: &str, body: Option<Value>) -> Value {
    let mut r = json!({"type": "request", "ts": at(ms), "flow": flow, "conn": conn,
        "method": method, "url": url, "version": "HTTP/1.1",
        "headers": [["content-type", "application/json"]]});
    if let Some(body) = body {
        let data = body.to_string();
        r["body"] =
            json!({"size": data.len(), "encoding": "utf8", "data": data, "truncated": false});
    }
    r
}

fn response(flow: u64, ms: i64, body: &Value) -> Value {
    let data = body.to_string();
    json!({"type": "response", "ts": at(ms), "flow": flow, "status": 200, "reason": "OK",
        "version": "HTTP/1.1", "headers": [["content-type", "application/json"]],
        "body": {"size": data.len(), "encoding": "utf8", "data": data, "truncated": false},
        "ttfb_ms": 90, "duration_ms": 100})
}

fn conn(id: u64, ms: i64, host: &str, port: u16, process: Value, ancestry: Value) -> Value {
    json!({"type": "conn", "ts": at(ms), "conn": id, "client": format!("127.0.0.1:{}", 40000 + id),
        "target": {"host": host, "port": port}, "transport": "http", "bytes_up": 10,
        "bytes_down": 10, "opened": at(ms - 100), "duration_ms": 100,
        "process": process, "ancestry": ancestry})
}

/// A run whose agent (node, pid 100) makes two LLM calls on connection 1: the first asks for
/// a Bash tool call `curl -s http://tool.test/x`, which runs as bash (pid 200) → curl (pid 201)
/// and fetches `/x` on connection 2; the second sends the call's result back. The agent's own
/// ping on connection 3 is caused by nothing.
pub fn tool_call_capture(path: &Path) {
    let command = "curl -s http://tool.test/x";
    let agent = json!({"pid": 100, "ppid": 1, "exe": "/usr/bin/node",
        "argv": ["node", "/opt/agent/cli.js"], "start": at(-60_000)});
    let ancestry = json!([
        {"pid": 200, "exe": "/bin/bash", "argv": ["/bin/bash", "-c", command], "start": at(2_050)},
        {"pid": 100, "exe": "/usr/bin/node", "argv": ["node", "/opt/agent/cli.js"], "start": at(-60_000)},
    ]);
    let curl = json!({"pid": 201, "ppid": 200, "exe": "/usr/bin/curl",
        "argv": ["curl", "-s", "http://tool.test/x"], "start": at(2_100)});
    let ask = json!({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "fetch x"}]});
    let tool_use = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "tool_use", "id": "toolu_A", "name": "Bash", "input": {"command": command}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 5, "output_tokens": 5}});
    let results = json!({"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "fetch x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_A", "name": "Bash", "input": {"command": command}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_A", "content": "x"}]}]});
    let done = json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "done"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 9, "output_tokens": 1}});
    let llm = "https://llm.test/v1/messages";
    let records = [
        json!({"type": "capture", "ts": START, "format": "phonehome/1", "id": "tool-call",
            "tool_version": "0.1.0", "mode": "run", "command": ["node", "/opt/agent/cli.js"],
            "cwd": "/home/dev/acme", "policy": "observe", "options": {}}),
        request(1, 1, 1_900, "POST", llm, Some(ask)),
        response(1, 2_000, &tool_use),
        request(2, 2, 2_200, "GET", "http://tool.test/x", None),
        response(2, 2_250, &json!({"x": 1})),
        conn(2, 2_300, "tool.test", 80, curl, ancestry),
        request(3, 3, 3_000, "GET", "http://ping.test/ping", None),
        response(3, 3_050, &json!({"ok": true})),
        conn(3, 3_100, "ping.test", 80, agent.clone(), json!([])),
        request(4, 1, 5_000, "POST", llm, Some(results)),
        response(4, 5_100, &done),
        conn(1, 6_000, "llm.test", 443, agent, json!([])),
        json!({"type": "end", "ts": at(7_000), "exit_code": 0, "counts": {"conns": 3,
            "requests": 4, "responses": 4, "errors": 0, "blocked": 0, "ws": 0}, "dropped_bytes": 0}),
    ];
    let text: String = records.iter().map(|r| r.to_string() + "\n").collect();
    std::fs::write(path, text).expect("capture written");
}

/// `phonehome web CAPTURE [--diff OTHER]`, running, and the URL it printed.
pub async fn serve_with(
    scratch: &Scratch,
    capture: &Path,
    diff: Option<&Path>,
) -> (tokio::process::Child, String) {
    let mut cmd = scratch.phonehome();
    cmd.arg("web").arg(capture);
    if let Some(other) = diff {
        cmd.arg("--diff").arg(other);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("phonehome web starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("stdout")
        .expect("a line");
    let url = line
        .strip_prefix("phonehome web: ")
        .unwrap_or_else(|| panic!("the URL: {line}"))
        .to_owned();
    (child, url)
}

/// `phonehome web CAPTURE --diff OTHER --output FILE.html`; the file's URL.
async fn export_diff(scratch: &Scratch, capture: &Path, other: &Path, name: &str) -> String {
    let html = scratch.path(name);
    let mut cmd = scratch.phonehome();
    cmd.arg("web").arg(capture).arg("--diff").arg(other);
    cmd.arg("--output").arg(&html);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    format!("file://{}", html.display())
}

async fn json_lines(scratch: &Scratch, args: &[&str], path: &Path) -> Vec<Value> {
    let mut cmd = scratch.phonehome();
    cmd.args(args).arg(path).arg("--json");
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    ran.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The Telemetry view shows every host, event name and identifier `telemetry --json` does.
async fn telemetry_view(browser: &mut Browser, url: &str, scratch: &Scratch, capture: &Path) {
    let hosts = json_lines(scratch, &["telemetry"], capture).await;
    assert!(!hosts.is_empty(), "the demo sends telemetry");
    browser.goto(&format!("{url}#telemetry")).await;
    let shown = browser
        .wait_for(
            "document.querySelector('.telemetry-host') && {
               events: [...document.querySelectorAll('.event-name')].map(e => e.textContent),
               ids: [...document.querySelectorAll('.identifier')].map(e => e.textContent),
               hosts: [...document.querySelectorAll('a.telemetry-link')].map(e => e.textContent) }",
            "the telemetry hosts",
        )
        .await;
    let texts = |key: &str| -> Vec<String> {
        shown[key]
            .as_array()
            .expect("texts")
            .iter()
            .map(|v| v.as_str().expect("text").to_owned())
            .collect()
    };
    let names = |key: &str, field: &str| -> Vec<String> {
        hosts
            .iter()
            .flat_map(|h| h[key].as_array().cloned().unwrap_or_default())
            .map(|e| e[field].as_str().expect("name").to_owned())
            .collect()
    };
    let host_names: Vec<String> = hosts
        .iter()
        .map(|h| h["host"].as_str().expect("host").to_owned())
        .collect();
    assert_eq!(texts("hosts"), host_names);
    assert_eq!(texts("events"), names("event_names", "name"));
    assert_eq!(texts("ids"), names("identifiers", "name"));
    assert!(
        texts("ids").iter().any(|i| i.contains("installation_id")),
        "{shown}"
    );
}

/// The Diff view lists the hosts only in A and only in B as `diff --format json` does.
async fn diff_view(browser: &mut Browser, url: &str, scratch: &Scratch, a: &Path, b: &Path) {
    let mut cmd = scratch.phonehome();
    cmd.arg("diff").arg(a).arg(b).args(["--format", "json"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let diff: Value = serde_json::from_str(&ran.stdout).expect("diff JSON");
    browser.goto(&format!("{url}#diff")).await;
    let shown = browser
        .wait_for(
            "document.getElementById('diff-hosts') && {
               a: [...document.querySelectorAll('#diff-hosts td.a li')].map(e => e.textContent),
               b: [...document.querySelectorAll('#diff-hosts td.b li')].map(e => e.textContent),
               title: document.getElementById('diff-title').textContent }",
            "the diff",
        )
        .await;
    assert_eq!(shown["a"], diff["hosts_only_in_a"], "{shown}");
    assert_eq!(shown["b"], diff["hosts_only_in_b"], "{shown}");
    assert!(
        !diff["hosts_only_in_b"]
            .as_array()
            .expect("hosts")
            .is_empty(),
        "the inputs differ"
    );
}

/// The HAR of `#flows?q=embeddings`, downloaded into `dir`: its entries.
async fn har_download(browser: &mut Browser, url: &str, dir: &Path) -> Value {
    browser.allow_downloads(dir).await;
    browser.goto(&format!("{url}#flows?q=embeddings")).await;
    browser
        .wait_for(
            "document.getElementById('flow-count').textContent.startsWith('3 of')",
            "three embeddings rows",
        )
        .await;
    browser
        .eval("document.getElementById('flow-har').click()")
        .await;
    let file = dir.join("phonehome-flows.har");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if let Ok(har) = serde_json::from_str::<Value>(&text) {
            let entries = &har["log"]["entries"];
            assert_eq!(entries.as_array().map(Vec::len), Some(3), "{har:#}");
            for entry in entries.as_array().expect("entries") {
                let url = entry["request"]["url"].as_str().expect("url");
                assert!(url.ends_with("/v1/embeddings"), "{url}");
            }
            return har;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the HAR was downloaded into {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// On the tool-call capture: the Flows table says which tool call caused each flow, the
/// call's conversation lists the connection it caused, that links to its flow, and the
/// Processes view nests curl under bash under the agent.
async fn caused_and_processes(browser: &mut Browser, url: &str, shots: &str) {
    browser.goto(&format!("{url}#flows")).await;
    let cells = browser
        .wait_for(
            "[...document.querySelectorAll('#flow-rows .row')].length === 4
             && document.querySelector('#flow-rows .caused a')
             && Object.fromEntries([...document.querySelectorAll('#flow-rows .row')].map(r =>
                  [r.querySelector('.path').textContent, r.querySelector('.caused').textContent]))",
            "the caused-by column",
        )
        .await;
    assert_eq!(cells["tool.test/x"], "Bash", "{cells}");
    assert_eq!(cells["ping.test/ping"], "agent\u{2019}s own", "{cells}");
    assert_eq!(
        cells["llm.test/v1/messages"], "agent\u{2019}s own",
        "{cells}"
    );
    browser
        .screenshot(&screenshots().join(format!("{shots}-caused-by.png")))
        .await;
    browser
        .eval("document.querySelector('#flow-rows .caused a').click()")
        .await;
    let caused = browser
        .wait_for(
            "document.querySelector('.caused-list') && document.querySelector('.caused-list').textContent",
            "the connections the tool call caused",
        )
        .await;
    let caused = caused.as_str().expect("text");
    assert!(
        caused.contains("curl (pid 201)") && caused.contains("tool.test:80"),
        "{caused}"
    );
    browser
        .eval("document.querySelector('a.caused-conn').click()")
        .await;
    let paths = browser
        .wait_for(
            "location.hash === '#flows?conn=2' && document.getElementById('flow-count').textContent.startsWith('1 of')
             && [...document.querySelectorAll('#flow-rows .row .path')].map(p => p.textContent)",
            "the caused connection's flows",
        )
        .await;
    assert_eq!(paths, json!(["tool.test/x"]));

    browser.goto(&format!("{url}#processes")).await;
    let curl = browser
        .wait_for(
            "document.querySelector('#pid-100 #pid-200 #pid-201 summary') && document.querySelector('#pid-201').textContent",
            "curl under bash under the agent",
        )
        .await;
    let curl = curl.as_str().expect("text");
    assert!(
        curl.contains("1 connections, 1 requests") && curl.contains("tool.test:80"),
        "{curl}"
    );
    assert!(curl.contains("caused by Bash"), "{curl}");
    browser
        .screenshot(&screenshots().join(format!("{shots}-processes.png")))
        .await;
    assert_same_origin(browser, url);
}

/// A HAR file given as the input: its overview's numbers are `report --format json`'s.
async fn har_input(browser: &mut Browser, url: &str, report: &Value) {
    browser.goto(url).await;
    let requests = browser
        .wait_for(
            "document.querySelector('[data-k=requests]') && Number(document.querySelector('[data-k=requests]').textContent)",
            "the HAR's overview",
        )
        .await;
    assert_eq!(requests, report["summary"]["requests"]);
    assert_eq!(requests, json!(3));
}

#[tokio::test]
async fn views_served() {
    let Some(mut browser) = browser("views_served").await else {
        return;
    };
    let scratch = Scratch::new();
    let demo = demo_capture(&scratch).await;
    let tool = scratch.path("tool.jsonl");
    tool_call_capture(&tool);

    let (_server, url) = serve_with(&scratch, &demo, Some(&tool)).await;
    browser.forget();
    telemetry_view(&mut browser, &url, &scratch, &demo).await;
    browser
        .screenshot(&screenshots().join("served-telemetry.png"))
        .await;
    diff_view(&mut browser, &url, &scratch, &demo, &tool).await;
    browser
        .screenshot(&screenshots().join("served-diff.png"))
        .await;
    let downloads = scratch.path("served-downloads");
    std::fs::create_dir_all(&downloads).expect("downloads folder");
    har_download(&mut browser, &url, &downloads).await;
    assert_same_origin(&browser, &url);

    let har: PathBuf = downloads.join("phonehome-flows.har");
    let report = report_json(&scratch, &har).await;
    let (_server, har_url) = serve_with(&scratch, &har, None).await;
    har_input(&mut browser, &har_url, &report).await;

    let (_server, url) = serve_with(&scratch, &tool, None).await;
    browser.forget();
    caused_and_processes(&mut browser, &url, "served").await;
}

#[tokio::test]
async fn views_in_the_file() {
    let Some(mut browser) = browser("views_in_the_file").await else {
        return;
    };
    let scratch = Scratch::new();
    let demo = demo_capture(&scratch).await;
    let tool = scratch.path("tool.jsonl");
    tool_call_capture(&tool);

    let url = export_diff(&scratch, &demo, &tool, "demo.html").await;
    browser.forget();
    telemetry_view(&mut browser, &url, &scratch, &demo).await;
    diff_view(&mut browser, &url, &scratch, &demo, &tool).await;
    let downloads = scratch.path("file-downloads");
    std::fs::create_dir_all(&downloads).expect("downloads folder");
    har_download(&mut browser, &url, &downloads).await;
    assert_same_origin(&browser, &url);

    let har = downloads.join("phonehome-flows.har");
    let report = report_json(&scratch, &har).await;
    let har_url = export(&scratch, &har, "har.html").await;
    har_input(&mut browser, &har_url, &report).await;

    let url = export(&scratch, &tool, "tool.html").await;
    browser.forget();
    caused_and_processes(&mut browser, &url, "file").await;
}
