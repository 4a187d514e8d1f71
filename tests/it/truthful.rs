//! The report tells what happened once and in agreement: a failed attempt counted once, in the
//! summary and in its host's row; no verdict about a provider that was never seen; no bare
//! table headers; nouns that agree with their counts.

use serde_json::Value;

use crate::support::{run, Scratch};

async fn report(scratch: &Scratch, capture: &std::path::Path, json: bool) -> String {
    let mut cmd = scratch.phonehome();
    cmd.arg("report");
    if json {
        cmd.args(["--format", "json"]);
    }
    cmd.arg(capture);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    ran.stdout
}

/// curl to a name that never resolves, with the sinkhole off for failures (`denied`, the
/// default) and on (`unreachable`).
async fn curl_unreachable(scratch: &Scratch, name: &str, sinkhole: &str) -> std::path::PathBuf {
    let out = scratch.path(name);
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--sinkhole", sinkhole, "--", "curl", "-sS", "-k"])
        .arg("https://nothing.invalid/t");
    run(cmd).await;
    out
}

#[tokio::test]
async fn an_unreachable_host_is_one_failed_attempt_and_no_provider_verdict() {
    let scratch = Scratch::new();
    let out = curl_unreachable(&scratch, "unseen.jsonl", "denied").await;
    let json: Value = serde_json::from_str(&report(&scratch, &out, true).await).expect("json");
    let unseen = json["unseen"].as_array().expect("unseen");
    assert_eq!(unseen.len(), 1, "counted once: {unseen:#?}");
    assert_eq!(unseen[0]["why"], "upstream unreachable");
    assert_eq!(unseen[0]["attempts"], 1);
    assert_eq!(json["summary"]["failed_connection_attempts"], 1);
    let beyond = &json["verdict"][1];
    assert_eq!(beyond["answer"], "n/a", "{beyond}");
    assert!(
        beyond["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("no LLM provider seen") && e.contains("nothing.invalid")),
        "{beyond}"
    );
    let content = json["verdict"][0]["evidence"].as_str().unwrap_or_default();
    assert!(
        content.contains("1 attempt to nothing.invalid ended before its request was seen")
            && content.ends_with("to read it"),
        "{content}"
    );

    let markdown = report(&scratch, &out, false).await;
    println!("{markdown}");
    for empty in ["## Request signatures", "## Timeline", "## LLM calls"] {
        assert!(!markdown.contains(empty), "no empty {empty}");
    }
    // Every table header is followed by a row.
    let lines: Vec<&str> = markdown.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("|---") || line.starts_with("|--:") {
            let next = lines.get(i + 1).copied().unwrap_or_default();
            assert!(next.starts_with('|'), "bare table at line {i}: {line}");
        }
    }
}

#[tokio::test]
async fn a_sinkholed_unreachable_request_is_a_failure_of_its_host() {
    let scratch = Scratch::new();
    let out = curl_unreachable(&scratch, "sinkholed.jsonl", "unreachable").await;
    let json: Value = serde_json::from_str(&report(&scratch, &out, true).await).expect("json");
    assert_eq!(json["summary"]["sinkholed"], 1, "{:#}", json["summary"]);
    assert_eq!(json["summary"]["failed_connection_attempts"], 1);
    let row = json["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|d| d["domain"] == "nothing.invalid")
        .cloned()
        .expect("its row");
    assert_eq!(row["requests"], 1, "{row}");
    assert_eq!(
        row["failures"], 1,
        "the summary's failure is its host's: {row}"
    );
    assert_eq!(
        json["unseen"].as_array().map(Vec::len),
        Some(0),
        "the sinkhole read it: {:#}",
        json["unseen"]
    );
}

#[tokio::test]
async fn the_demo_agrees_with_itself() {
    let scratch = Scratch::new();
    let out = scratch.path("demo.jsonl");
    let mut cmd = scratch.phonehome();
    cmd.arg("demo").arg("--out").arg(&out);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let json: Value = serde_json::from_str(&report(&scratch, &out, true).await).expect("json");
    let failed_rows: u64 = json["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .filter(|d| d["requests"].as_u64() > Some(0))
        .filter(|d| d["domain"] != "127.0.0.1")
        .map(|d| d["failures"].as_u64().unwrap_or_default())
        .sum();
    assert_eq!(
        failed_rows, json["summary"]["failed_connection_attempts"],
        "the telemetry host's failed attempt is in its row"
    );
    let mut cmd = scratch.phonehome();
    cmd.arg("allowlist").arg(&out);
    let ran = run(cmd).await;
    assert!(
        ran.stdout.contains("1 successful LLM call\n"),
        "{}",
        ran.stdout
    );
}
