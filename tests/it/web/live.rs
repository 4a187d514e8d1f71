//! `run --web`: the page served while the capture is written; a request the command makes
//! after the page has loaded appears on it (Server-Sent Events from the growing capture).

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::{assert_same_origin, browser, screenshots};
use crate::support::{Scratch, Upstream};

#[tokio::test]
async fn a_live_run_shows_requests_made_after_the_page_loaded() {
    let Some(mut browser) = browser("a_live_run_shows_requests_made_after_the_page_loaded").await
    else {
        return;
    };
    let scratch = Scratch::new();
    let server = Upstream::start(None).await;
    let go = scratch.path("go");
    let end = scratch.path("end");
    let url = format!("http://127.0.0.1:{}/hello", server.port());
    // The second request waits for the test's signal, and the command's end for another (at
    // most 60 s each, a hang guard): the page is served while the command runs.
    let wait = |file: &std::path::Path| {
        format!(
            "i=0; while [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
            file.display()
        )
    };
    let script = format!(
        "curl -sS -o /dev/null '{url}?first'; {}; curl -sS -o /dev/null '{url}?late'; {}",
        wait(&go),
        wait(&end)
    );
    let out = scratch.path("live.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--web", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("phonehome run starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let page = loop {
        let line = lines
            .next_line()
            .await
            .expect("stderr")
            .expect("the web URL on stderr");
        if let Some(url) = line.strip_prefix("phonehome: web: ") {
            break url.to_owned();
        }
    };
    let rest = tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    browser.goto(&format!("{page}#flows")).await;
    browser
        .wait_for(
            "document.getElementById('live').hidden === false",
            "the live badge",
        )
        .await;
    browser
        .wait_for("[...document.querySelectorAll('#flow-rows .path')].some(p => p.textContent.endsWith('/hello?first'))", "the first request")
        .await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#flow-rows .row').length")
            .await,
        1
    );
    std::fs::write(&go, "").expect("signal");
    browser
        .wait_for("[...document.querySelectorAll('#flow-rows .path')].some(p => p.textContent.endsWith('/hello?late'))", "the request made after the page loaded")
        .await;
    browser
        .screenshot(&screenshots().join("live-flows.png"))
        .await;
    assert_same_origin(&browser, &page);
    std::fs::write(&end, "").expect("signal");
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("run ends within the hang guard")
        .expect("status");
    let stderr = rest.await.expect("stderr");
    assert!(status.success(), "{stderr}");
}
