//! `phonehome web` in a real browser (headless Chromium over the DevTools Protocol): the demo's
//! capture served and exported, its overview's numbers against `report --format json`, the
//! flows table filtered, a sinkholed flow opened, a conversation's tool call, a live run, and
//! no request leaving the page's origin. Screenshots go to target/web-screenshots/.

mod cdp;
mod live;
mod views;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{read_capture, run, Scratch};
use cdp::Browser;

/// Where the screenshots go: `target/web-screenshots/`.
pub fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("web-screenshots")
}

/// Headless Chromium, or `None` after saying why the test is skipped.
pub async fn browser(test: &str) -> Option<Browser> {
    let Some(chromium) = crate::chromium::chromium() else {
        eprintln!("SKIPPED {test}: chromium is not installed (scripts/setup-tests installs it)");
        return None;
    };
    Some(Browser::launch(&chromium).await)
}

/// `phonehome demo` writing `demo.jsonl` in the scratch folder.
pub async fn demo_capture(scratch: &Scratch) -> PathBuf {
    let out = scratch.path("demo.jsonl");
    let mut cmd = scratch.phonehome();
    cmd.arg("demo").arg("--out").arg(&out);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    out
}

/// `report --format json` of `capture`.
pub async fn report_json(scratch: &Scratch, capture: &Path) -> Value {
    let mut cmd = scratch.phonehome();
    cmd.arg("report").arg(capture).args(["--format", "json"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    serde_json::from_str(&ran.stdout).expect("report JSON")
}

/// `phonehome web CAPTURE`, running, and the URL it printed.
pub async fn serve(scratch: &Scratch, capture: &Path) -> (tokio::process::Child, String) {
    views::serve_with(scratch, capture, None).await
}

/// `phonehome web CAPTURE --output FILE.html`; the file's `file://` URL.
pub async fn export(scratch: &Scratch, capture: &Path, name: &str) -> String {
    let html = scratch.path(name);
    let mut cmd = scratch.phonehome();
    cmd.arg("web").arg(capture).arg("--output").arg(&html);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    format!("file://{}", html.display())
}

/// The origin of `url` (`http://127.0.0.1:PORT`), or `file://` for a file.
fn origin(url: &str) -> String {
    if url.starts_with("file://") {
        return "file://".to_owned();
    }
    let rest = url.strip_prefix("http://").expect("http URL");
    format!("http://{}", rest.split('/').next().expect("authority"))
}

/// Every request the page made stayed on its origin (or was inline `data:`), and the page
/// threw nothing (CSP violations are logged as errors).
pub fn assert_same_origin(browser: &Browser, url: &str) {
    let origin = origin(url);
    let requests = browser.requests.lock().expect("requests").clone();
    assert!(
        !requests.is_empty(),
        "the network log saw the page's requests"
    );
    // A Blob made by the page (the file's HAR download) has the page's origin, `null` for a
    // file.
    let blob = format!(
        "blob:{}",
        if origin == "file://" { "null" } else { &origin }
    );
    for request in &requests {
        assert!(
            request.starts_with(&origin)
                || request.starts_with("data:")
                || request.starts_with(&blob),
            "{request} left the page's origin {origin}"
        );
    }
    let errors = browser.errors.lock().expect("errors").clone();
    assert!(errors.is_empty(), "page errors: {errors:#?}");
}

/// The overview's numbers, the flows filter, and the sinkholed flow of the demo's capture.
async fn explore_demo(
    browser: &mut Browser,
    url: &str,
    capture: &Path,
    report: &Value,
    shots: &str,
) {
    browser.forget();
    browser.goto(url).await;
    browser
        .wait_for(
            "document.querySelector('[data-k=requests]')",
            "the overview's numbers",
        )
        .await;
    let shown = browser
        .eval("Object.fromEntries([...document.querySelectorAll('[data-k]')].map(e => [e.dataset.k, Number(e.textContent)]))")
        .await;
    let summary = report["summary"].as_object().expect("summary");
    for (key, value) in shown.as_object().expect("numbers") {
        assert_eq!(
            Some(value),
            summary.get(key),
            "overview's {key} against report --format json"
        );
    }
    assert!(shown.as_object().expect("numbers").len() >= 10, "{shown}");
    browser
        .screenshot(&screenshots().join(format!("{shots}-overview.png")))
        .await;

    // Brushing the whole timeline opens the flows of its time span.
    browser
        .eval(
            "(() => { const t = document.querySelector('svg.timeline'); const b = t.getBoundingClientRect();
               const at = (type, x) => t.dispatchEvent(new MouseEvent(type, {clientX: x, clientY: b.top + 10, bubbles: true}));
               at('mousedown', b.left + 1); at('mousemove', b.right - 1); at('mouseup', b.right - 1); })()",
        )
        .await;
    let count = browser
        .wait_for(
            "document.getElementById('time-chip') && document.getElementById('flow-count').textContent",
            "the flows of the brushed time span",
        )
        .await;
    let rows = report["summary"]["requests"].as_u64().expect("requests");
    assert!(
        count
            .as_str()
            .is_some_and(|c| c.starts_with(&format!("{rows} of "))),
        "every request is in the timeline's span: {count}"
    );

    // Search, then a kind filter from the URL.
    browser.goto(&format!("{url}#flows")).await;
    browser
        .wait_for(
            "document.querySelectorAll('#flow-rows .row').length",
            "the flow rows",
        )
        .await;
    browser
        .screenshot(&screenshots().join(format!("{shots}-flows.png")))
        .await;
    browser
        .eval("(() => { const s = document.getElementById('flow-search'); s.value = 'embeddings'; s.dispatchEvent(new Event('input')); })()")
        .await;
    let paths = browser
        .wait_for(
            "document.getElementById('flow-count').textContent.startsWith('3 of') && [...document.querySelectorAll('#flow-rows .row .path')].map(p => p.textContent)",
            "three embeddings rows",
        )
        .await;
    let paths = paths.as_array().expect("paths");
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        paths
            .iter()
            .all(|p| p.as_str().is_some_and(|p| p.ends_with("/v1/embeddings"))),
        "{paths:?}"
    );
    assert!(
        browser
            .eval("location.hash")
            .await
            .as_str()
            .is_some_and(|h| h.contains("q=embeddings")),
        "the filter is in the URL"
    );
    browser
        .screenshot(&screenshots().join(format!("{shots}-flows-filtered.png")))
        .await;

    // The sinkholed request, opened: its body as it was sent.
    browser.goto(&format!("{url}#flows?kind=sinkholed")).await;
    browser
        .wait_for(
            "document.getElementById('flow-count').textContent.startsWith('1 of')",
            "one sinkholed row",
        )
        .await;
    browser
        .eval("document.querySelector('#flow-rows .row').click()")
        .await;
    let shown = browser
        .wait_for("document.getElementById('sinkholed') && document.querySelector('#request .body pre').textContent", "the sinkholed request's body")
        .await;
    let records = read_capture(capture);
    let sent = records
        .iter()
        .find(|r| r["type"] == "request" && r["sinkhole"].is_string())
        .expect("the demo has a sinkholed request");
    let body: Value = serde_json::from_str(sent["body"]["data"].as_str().expect("utf8 body"))
        .expect("a JSON body");
    let shown: Value = serde_json::from_str(shown.as_str().expect("text")).expect("pretty JSON");
    assert_eq!(shown, body, "the page shows the body that was sent");
    browser
        .screenshot(&screenshots().join(format!("{shots}-detail.png")))
        .await;
    assert_same_origin(browser, url);
}

/// The synthetic OpenCode session: the conversation opened shows its tool call.
async fn explore_conversation(browser: &mut Browser, url: &str, shots: &str) {
    browser.forget();
    browser.goto(&format!("{url}#conversations")).await;
    browser
        .wait_for(
            "document.querySelectorAll('a.session').length",
            "the sessions",
        )
        .await;
    browser
        .eval("[...document.querySelectorAll('a.session')].find(a => a.textContent === 'ses_A').click()")
        .await;
    let call = browser
        .wait_for(
            "[...document.querySelectorAll('.toolcall')].map(t => t.textContent).join('\\n')",
            "the tool call",
        )
        .await;
    let call = call.as_str().expect("text");
    assert!(
        call.contains("tool call bash") && call.contains("cargo test"),
        "{call}"
    );
    browser
        .screenshot(&screenshots().join(format!("{shots}-conversation.png")))
        .await;
    assert_same_origin(browser, url);
}

#[tokio::test]
async fn served_capture_in_a_browser() {
    let Some(mut browser) = browser("served_capture_in_a_browser").await else {
        return;
    };
    let scratch = Scratch::new();
    let capture = demo_capture(&scratch).await;
    let report = report_json(&scratch, &capture).await;
    let (_server, url) = serve(&scratch, &capture).await;
    explore_demo(&mut browser, &url, &capture, &report, "served").await;

    let synthetic = scratch.path("llm.jsonl");
    crate::llm::capture(&synthetic);
    let (_server, url) = serve(&scratch, &synthetic).await;
    explore_conversation(&mut browser, &url, "served").await;
}

#[tokio::test]
async fn exported_file_in_a_browser() {
    let Some(mut browser) = browser("exported_file_in_a_browser").await else {
        return;
    };
    let scratch = Scratch::new();
    let capture = demo_capture(&scratch).await;
    let report = report_json(&scratch, &capture).await;
    let url = export(&scratch, &capture, "demo.html").await;
    explore_demo(&mut browser, &url, &capture, &report, "file").await;

    let synthetic = scratch.path("llm.jsonl");
    crate::llm::capture(&synthetic);
    let url = export(&scratch, &synthetic, "llm.html").await;
    explore_conversation(&mut browser, &url, "file").await;
}

/// Without the token: 403, whatever the path; with it, the page and its policy.
#[tokio::test]
async fn the_token_is_required() {
    let scratch = Scratch::new();
    let capture = scratch.path("llm.jsonl");
    crate::llm::capture(&capture);
    let (_server, url) = serve(&scratch, &capture).await;
    let base = origin(&url);
    let token = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned();
    let status = |url: String| async move {
        let out = tokio::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-D", "-", &url])
            .output()
            .await
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for path in [
        "/",
        "/app.js",
        "/api/summary",
        "/api/flows",
        &format!("/{}/api/summary", &token[1..]),
    ] {
        let head = status(format!("{base}{path}")).await;
        assert!(head.starts_with("HTTP/1.1 403"), "{path}: {head}");
    }
    let head = status(url.clone()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("connect-src 'self'"), "{head}");
}

#[tokio::test]
async fn listening_beyond_loopback_needs_a_token() {
    let scratch = Scratch::new();
    let capture = scratch.path("llm.jsonl");
    crate::llm::capture(&capture);
    let mut cmd = scratch.phonehome();
    cmd.arg("web").arg(&capture).args(["--listen", "0.0.0.0:0"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("0.0.0.0:0 is not a loopback address")
            && ran.stderr.contains("--web-token"),
        "{}",
        ran.stderr
    );
}

/// Not a capture: the file export fails with `report`'s message; served, the page shows it.
#[tokio::test]
async fn bad_input_is_said_on_the_page_and_by_the_export() {
    let scratch = Scratch::new();
    let bad = scratch.path("notes.txt");
    std::fs::write(&bad, "hello\n").expect("write");
    let mut cmd = scratch.phonehome();
    cmd.arg("report").arg(&bad);
    let report = run(cmd).await;
    assert_eq!(report.code, Some(1));
    let message = report
        .stderr
        .trim()
        .strip_prefix("phonehome: error: ")
        .expect("report's error")
        .to_owned();
    let mut cmd = scratch.phonehome();
    cmd.arg("web")
        .arg(&bad)
        .arg("--output")
        .arg(scratch.path("x.html"));
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(
        ran.stderr.trim(),
        report.stderr.trim(),
        "the same message as report"
    );
    assert!(!scratch.path("x.html").exists());

    let Some(mut browser) = browser("bad_input_is_said_on_the_page_and_by_the_export").await else {
        return;
    };
    let (_server, url) = serve(&scratch, &bad).await;
    browser.goto(&url).await;
    let expression = format!(
        "[...document.querySelectorAll('.problem')].some(p => p.textContent === {})",
        serde_json::to_string(&message).expect("JSON string")
    );
    browser
        .wait_for(&expression, "report's message on the page")
        .await;
    browser
        .screenshot(&screenshots().join("served-bad-input.png"))
        .await;
}

/// `--max-bodies`: every row listed, the records of the first N embedded, the rest counted.
#[tokio::test]
async fn the_export_says_what_it_left_out() {
    let scratch = Scratch::new();
    let capture = scratch.path("llm.jsonl");
    crate::llm::capture(&capture);
    let html = scratch.path("two.html");
    let mut cmd = scratch.phonehome();
    cmd.arg("web")
        .arg(&capture)
        .arg("--output")
        .arg(&html)
        .args(["--max-bodies", "2"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let page = std::fs::read_to_string(&html).expect("page");
    let start = page
        .find(r#"<script type="application/json" id="data">"#)
        .expect("the data script")
        + r#"<script type="application/json" id="data">"#.len();
    let end = start + page[start..].find("</script>").expect("its end");
    let data: Value = serde_json::from_str(&page[start..end]).expect("the embedded JSON");
    let rows = data["rows"].as_array().expect("rows").len();
    assert_eq!(rows, 5, "every row is listed");
    assert_eq!(data["details"].as_array().expect("details").len(), 2);
    assert_eq!(data["left_out"]["rows"], 3);
    assert_eq!(data["left_out"]["max_bodies"], 2);
    assert!(data["left_out"]["bytes"].as_u64().is_some_and(|b| b > 0));
    assert!(
        page.contains("Content-Security-Policy"),
        "the file carries its policy"
    );
}
