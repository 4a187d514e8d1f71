//! `phonehome demo` runs offline on loopback and shows what it captured.

use crate::support::{of_type, read_capture, response_of, run, Scratch};

#[tokio::test]
async fn demo_captures_a_scripted_agent() {
    let scratch = Scratch::new();
    let out = scratch.path("demo.jsonl");
    let mut cmd = scratch.phonehome();
    cmd.arg("demo").arg("--out").arg(&out);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains("assistant: phonehome recorded this answer"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("# phonehome report: demo.jsonl"),
        "ends with the report: {}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("| 127.0.0.1 | openai.chat | demo-llm-1 | 1 | 0 | 1 | 0 | 0 | 21 | 12 |"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("capture: "),
        "the run summary: {}",
        ran.stderr
    );
    // It prints the command it runs, with the options it runs it with.
    assert!(
        ran.stdout
            .contains("run as `phonehome run --sinkhole all --extra-ca ")
            && ran.stdout.contains(&format!("--out {} -- ", out.display())),
        "{}",
        ran.stdout
    );

    let records = read_capture(&out);
    let requests = of_type(&records, "request");
    let paths: Vec<_> = requests
        .iter()
        .map(|r| {
            r["url"]
                .as_str()
                .expect("url")
                .rsplit_once('/')
                .expect("path")
                .1
                .to_owned()
        })
        .collect();
    assert_eq!(
        paths,
        [
            "models",
            "completions",
            "embeddings",
            "embeddings",
            "embeddings",
            "events"
        ]
    );
    assert_eq!(
        requests[5]["sinkhole"], "unreachable",
        "the demo runs with --sinkhole all: the telemetry that cannot be sent is still seen"
    );
    let statuses: Vec<_> = requests[..5]
        .iter()
        .map(|r| response_of(&records, &r["flow"])["status"].clone())
        .collect();
    assert_eq!(statuses, [200, 200, 503, 503, 200]);
    let stream = response_of(&records, &requests[1]["flow"]);
    let body = stream["body"]["data"].as_str().expect("sse body");
    assert!(
        body.starts_with("data: {") && body.ends_with("data: [DONE]\n\n"),
        "{body}"
    );
    let text = std::fs::read_to_string(&out).expect("capture");
    assert!(!text.contains("sk-demo-0000"), "the demo key is redacted");
    let mut cmd = scratch.phonehome();
    cmd.arg("telemetry").arg("--json").arg(&out);
    let telemetry = run(cmd).await;
    assert_eq!(telemetry.code, Some(0), "{}", telemetry.stderr);
    assert!(
        telemetry.stdout.contains(r#""session_start""#)
            && telemetry.stdout.contains("events-array")
            && telemetry
                .stdout
                .contains("6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"),
        "the sinkholed telemetry is decoded with its identifier: {}",
        telemetry.stdout
    );
    let errors = of_type(&records, "error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["phase"], "dns");
    assert_eq!(errors[0]["flow"], requests[5]["flow"]);
    assert_eq!(
        errors[0]["target"]["host"],
        "telemetry.phonehome-demo.invalid"
    );
}
