//! `run --otlp` and `proxy --otlp` when the collector is down or never answers, and the proxy's
//! live export: the run ends with its child's code, the capture is complete, what was not
//! delivered is counted, and phonehome's own export connection is never agent traffic.

use crate::otlp::{closed_port, phonehome};
use crate::otlp_receiver::{attr, Receiver};
use crate::support::{of_type, read_capture, Scratch, StandaloneProxy, Upstream};

#[tokio::test]
async fn run_with_the_collector_down_completes_and_counts_what_it_dropped() {
    let upstream = Upstream::start(None).await;
    let scratch = Scratch::new();
    let out = scratch.path("down.jsonl");
    let script = format!(
        "curl -s -o /dev/null http://127.0.0.1:{}/hello; exit 7",
        upstream.port()
    );
    let otlp = format!("--otlp=http://127.0.0.1:{}", closed_port());
    let args = [
        "run",
        "--out",
        out.to_str().expect("utf-8"),
        &otlp,
        "--",
        "sh",
        "-c",
        &script,
    ];
    let ran = phonehome(&scratch, &args, &[]).await;
    assert_eq!(ran.code, Some(7), "the child's exit code: {}", ran.stderr);
    let records = read_capture(&out);
    assert_eq!(of_type(&records, "request").len(), 1);
    assert_eq!(of_type(&records, "response").len(), 1);
    let end = records.last().expect("records");
    assert_eq!(end["type"], "end", "the capture is complete");
    assert_eq!(end["exit_code"], 7);
    let dropped = end["otlp"]["failed"].as_u64().unwrap_or(0)
        + end["otlp"]["queue_dropped"].as_u64().unwrap_or(0);
    assert!(dropped > 0, "{end}");
    assert_eq!(end["otlp"]["sent"], 0, "{end}");
    assert!(
        ran.stderr.contains(&format!(
            "OTLP: 0 spans and log records sent, {dropped} dropped"
        )),
        "{}",
        ran.stderr
    );
    assert_eq!(
        ran.stderr.matches("OTLP export is dropping").count(),
        1,
        "a single warning: {}",
        ran.stderr
    );
}

#[tokio::test]
async fn run_with_a_collector_that_never_answers_still_ends_and_counts() {
    // Accepts connections and never answers: the export times out, the run does not hang.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = hole.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hole.accept().await {
            held.push(stream);
        }
    });
    let upstream = Upstream::start(None).await;
    let scratch = Scratch::new();
    let out = scratch.path("hole.jsonl");
    let script = format!(
        "curl -s -o /dev/null http://127.0.0.1:{}/hello; sleep 2; exit 3",
        upstream.port()
    );
    let otlp = format!("--otlp=http://{addr}");
    let args = [
        "run",
        "--out",
        out.to_str().expect("utf-8"),
        &otlp,
        "--",
        "sh",
        "-c",
        &script,
    ];
    let ran = phonehome(&scratch, &args, &[]).await;
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    let records = read_capture(&out);
    let end = records.last().expect("records");
    assert_eq!(end["type"], "end", "the capture is complete");
    assert_eq!(end["otlp"]["sent"], 0, "{end}");
    assert!(
        end["otlp"]["failed"].as_u64().is_some_and(|n| n > 0),
        "{end}"
    );
    assert_eq!(
        ran.stderr.matches("OTLP export is dropping").count(),
        1,
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn proxy_exports_live_and_its_own_export_is_not_agent_traffic() {
    let receiver = Receiver::http().await;
    let upstream = Upstream::start(None).await;
    let scratch = Scratch::new();
    let out = scratch.path("proxy.jsonl");
    let otlp = format!("--otlp={}", receiver.url());
    let proxy = StandaloneProxy::start(&scratch, &out, &[&otlp]).await;
    let url = format!("http://127.0.0.1:{}/hello", upstream.port());
    let curl = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-x", &proxy.proxy_url, &url])
        .status()
        .await
        .expect("curl runs");
    assert!(curl.success());
    let stderr = proxy.stop().await;
    assert!(stderr.contains("OTLP: "), "{stderr}");
    let records = read_capture(&out);
    assert_eq!(
        of_type(&records, "request").len(),
        1,
        "only the client's request"
    );
    let receiver_port = i64::from(receiver.addr.port());
    assert!(
        of_type(&records, "conn")
            .iter()
            .all(|c| c["target"]["port"].as_i64() != Some(receiver_port)),
        "the export connection is not in the capture"
    );
    let end = records.last().expect("records");
    assert!(end["otlp"]["sent"].as_u64().is_some_and(|n| n > 0), "{end}");
    let spans = receiver.spans();
    assert!(
        spans
            .iter()
            .any(|s| attr(&s.attributes, "url.full").as_deref() == Some(url.as_str())),
        "the flow's span arrived"
    );
    assert_eq!(
        attr(&receiver.resource(), "phonehome.mode").as_deref(),
        Some("proxy")
    );
}
