//! The value rule of redaction measured on telemetry: fixtures written from each format's
//! public docs (OTLP/JSON logs and traces, PostHog capture and batch, Segment batch, Amplitude
//! HTTP V2, Mixpanel track, a Sentry envelope, Statsig, Datadog logs, Clearcut JSON, a
//! generic events array), with secrets planted in every position (header values, query
//! parameters, JSON members under credential names, OTLP attribute values under credential
//! keys, name/value lists, header arrays, inside strings, known token formats under innocent
//! names) among realistic values that are no secret. They are POSTed by python3 through
//! `phonehome run` to a local server, and the capture is compared with what was sent: no
//! planted secret may be stored, and at most 1% of the other string values may be redacted.
//! Every planted secret has `PLNT` in it; nothing else does.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

use crate::support::{of_type, read_capture, run, Scratch, Upstream};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/redaction/telemetry");
const SENDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/redaction/send.py");

/// One fixture: its file, the path and query it is sent to, the headers it is sent with.
struct Fixture {
    file: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

const FIXTURES: &[Fixture] = &[
    Fixture {
        file: "otlp_logs.json",
        path: "/v1/logs",
        headers: &[JSON, ("api-key", "PLNTotlpLogsK3y8x7c6v5b4")],
    },
    Fixture {
        file: "otlp_traces.json",
        path: "/v1/traces",
        headers: &[JSON, ("Authorization", "Bearer PLNTotlpTr4c3s9x8z7")],
    },
    Fixture {
        file: "posthog_capture.json",
        path: "/i/v0/e/",
        headers: &[JSON, ("User-Agent", "posthog-node/4.2.1")],
    },
    Fixture {
        file: "posthog_batch.json",
        path: "/batch/",
        headers: &[JSON],
    },
    Fixture {
        file: "segment_batch.json",
        path: "/v1/batch",
        headers: &[JSON, ("User-Agent", "analytics-node-next/latest")],
    },
    Fixture {
        file: "amplitude.json",
        path: "/2/httpapi",
        headers: &[JSON, ("Accept", "*/*")],
    },
    Fixture {
        file: "mixpanel.json",
        path: "/track?ip=0&verbose=1&api_secret=PLNTmpxS3cr3tQ9w8e",
        headers: &[JSON],
    },
    Fixture {
        file: "sentry_envelope.txt",
        path: "/api/42/envelope/?sentry_key=PLNTsntryQk3y7x6c5v&sentry_version=7",
        headers: &[
            ("Content-Type", "application/x-sentry-envelope"),
            (
                "X-Sentry-Auth",
                "Sentry sentry_version=7, sentry_client=sentry.javascript.node/8.40.0, sentry_key=PLNTsntryHdrK3y1q2w",
            ),
        ],
    },
    Fixture {
        file: "statsig.json",
        path: "/v1/rgstr",
        headers: &[
            JSON,
            ("STATSIG-API-KEY", "client-PLNTstsgHdr7x6c5v4b3n2"),
            ("STATSIG-SDK-TYPE", "js-client"),
            ("STATSIG-SDK-VERSION", "4.45.1"),
            ("STATSIG-CLIENT-TIME", "1733454000000"),
        ],
    },
    Fixture {
        file: "datadog_logs.json",
        path: "/api/v2/logs?ddsource=nodejs&service=agent-cli",
        headers: &[
            JSON,
            ("DD-API-KEY", "PLNTdd0a1b2c3d4e5f6a7b8c9d0e1f2a3"),
            ("DD-EVP-ORIGIN", "browser"),
        ],
    },
    Fixture {
        file: "clearcut.json",
        path: "/log?format=json_proto3",
        headers: &[JSON],
    },
    Fixture {
        file: "generic_events.json",
        path: "/events",
        headers: &[
            JSON,
            ("x-api-key", "PLNTgenHdr5t6y7u8i9o"),
            ("Cookie", "session=PLNTgenCookie2w3e4r; theme=dark"),
            ("X-Auth-Token", "secret123PLNT"),
            ("X-Client-Name", "agent-cli"),
        ],
    },
];

/// Every planted secret in `text`: each run of token characters with `PLNT` in it.
fn planted_in(text: &str, into: &mut BTreeSet<String>) {
    let token = |c: char| c.is_ascii_alphanumeric() || "_-+/.".contains(c);
    for (at, _) in text.match_indices("PLNT") {
        let start = text[..at].rfind(|c| !token(c)).map_or(0, |i| i + 1);
        let end = text[at..]
            .find(|c| !token(c))
            .map_or(text.len(), |i| at + i);
        into.insert(text[start..end].to_owned());
    }
}

/// The JSON documents of a body: one document, or JSON lines (a Sentry envelope).
fn documents(body: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(body)
        .into_iter::<Value>()
        .map(|d| d.expect("fixture and stored body are JSON"))
        .collect()
}

/// Counts the string values of `sent` without `PLNT` (`total`) and those stored changed
/// (`redacted`), walking `sent` and `stored` side by side; `samples` gets what changed.
fn compare(sent: &Value, stored: &Value, counts: &mut (usize, usize), samples: &mut Vec<String>) {
    match (sent, stored) {
        (Value::String(a), b) if !a.contains("PLNT") => {
            counts.0 += 1;
            if b.as_str() != Some(a) {
                counts.1 += 1;
                samples.push(format!("{a:?} → {b}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (a, b) in a.iter().zip(b) {
                compare(a, b, counts, samples);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (name, a) in a {
                compare(a, b.get(name).unwrap_or(&Value::Null), counts, samples);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn planted_secrets_are_redacted_and_telemetry_stays_readable() {
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let plan: Vec<Value> = FIXTURES
        .iter()
        .map(|f| json!({"file": Path::new(DIR).join(f.file), "path": f.path, "headers": f.headers}))
        .collect();
    let plan_path = scratch.path("plan.json");
    std::fs::write(&plan_path, serde_json::to_vec(&plan).expect("json")).expect("plan");
    let out = scratch.path("cap.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    let port = upstream.port().to_string();
    cmd.args(["--", "python3", SENDER])
        .arg(&plan_path)
        .arg(&port);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let stored_text = std::fs::read_to_string(&out).expect("capture");
    let records = read_capture(&out);
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), FIXTURES.len(), "one request per fixture");

    let mut planted = BTreeSet::new();
    let (mut counts, mut samples) = ((0, 0), Vec::new());
    for fixture in FIXTURES {
        let path = fixture.path.split('?').next().expect("a path");
        let request = requests
            .iter()
            .find(|r| {
                r["url"].as_str().is_some_and(|u| {
                    u.contains(&format!("to={path}&")) || u.ends_with(&format!("to={path}"))
                })
            })
            .unwrap_or_else(|| panic!("no request to {path}: {requests:#?}"));
        let sent = std::fs::read_to_string(Path::new(DIR).join(fixture.file)).expect("fixture");
        planted_in(&sent, &mut planted);
        planted_in(fixture.path, &mut planted);
        for (name, value) in fixture.headers {
            planted_in(value, &mut planted);
            let stored = request["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .map_or(Value::Null, |h| h[1].clone());
            compare(&json!(value), &stored, &mut counts, &mut samples);
        }
        let body = request["body"]["data"]
            .as_str()
            .unwrap_or_else(|| panic!("a text body: {request}"));
        for (sent, stored) in documents(&sent).iter().zip(documents(body).iter()) {
            compare(sent, stored, &mut counts, &mut samples);
        }
    }
    let stored: Vec<_> = planted
        .iter()
        .filter(|p| stored_text.contains(p.as_str()))
        .collect();
    let (total, redacted) = counts;
    let share = 100.0 * redacted as f64 / total as f64;
    println!(
        "planted secrets stored: {} of {}",
        stored.len(),
        planted.len()
    );
    println!("non-secret string values redacted: {redacted} of {total} ({share:.1}%)");
    for sample in &samples {
        println!("  redacted: {sample}");
    }
    assert!(
        planted.len() >= 40,
        "the fixtures plant secrets: {planted:?}"
    );
    assert!(stored.is_empty(), "planted secrets stored: {stored:?}");
    assert!(
        !stored_text.contains("PLNT"),
        "no part of a planted secret is stored"
    );
    assert!(
        total >= 300,
        "the fixtures hold many values that are no secret: {total}"
    );
    assert!(
        share <= 1.0,
        "{redacted} of {total} values redacted: {samples:#?}"
    );
}
