//! Policy enforcement: presets, files, denial before TLS, per-request rules, dry run, CI gate.

use crate::support::{of_type, read_capture, response_of, run, Cert, Scratch, TestPki, Upstream};

const EXTERNAL: [&str; 3] = [
    "https://api.phonehome-test.invalid/v1/models",
    "https://telemetry.phonehome-test.invalid/batch",
    "http://updates.phonehome-test.invalid/latest",
];

#[tokio::test]
async fn offline_with_sinkhole_off_blocks_external_hosts_before_tls_and_keeps_loopback() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let llm = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"http/1.1"]))).await;
    let out = scratch.path("offline.jsonl");
    let mut script: Vec<String> = EXTERNAL
        .iter()
        .map(|u| format!("curl -sS -D- {u}; echo"))
        .collect();
    script.push(format!("curl -sS https://localhost:{}/hello", llm.port()));
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args(["--policy", "offline", "--sinkhole", "off", "--", "sh", "-c"])
        .arg(script.join("; "));
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.ends_with(r#"{"hello":"world"}"#),
        "the loopback LLM server works: {}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("x-phonehome-blocked: default deny (offline)"),
        "{}",
        ran.stdout
    );

    let records = read_capture(&out);
    assert_eq!(records[0]["policy"], "offline");
    let blocked = of_type(&records, "blocked");
    let hosts: Vec<&str> = blocked
        .iter()
        .map(|b| b["target"]["host"].as_str().expect("host"))
        .collect();
    assert_eq!(
        hosts,
        [
            "api.phonehome-test.invalid",
            "telemetry.phonehome-test.invalid",
            "updates.phonehome-test.invalid"
        ]
    );
    assert!(blocked
        .iter()
        .all(|b| b["enforced"] == true && b["rule"] == "default deny (offline)"));
    assert!(
        of_type(&records, "error").is_empty(),
        "not even a DNS lookup was attempted"
    );
    for conn in of_type(&records, "conn") {
        if conn["target"]["host"] != "localhost" {
            assert!(
                conn.get("tls").is_none(),
                "no ClientHello reached a leaf certificate: {conn}"
            );
            assert!(
                conn.get("upstream").is_none(),
                "nothing was dialled: {conn}"
            );
        }
    }
    assert!(ran.stderr.contains("3 blocked"), "{}", ran.stderr);

    let mut cmd = scratch.phonehome();
    cmd.args(["report", "--format", "json"]).arg(&out);
    let report: serde_json::Value = serde_json::from_str(&run(cmd).await.stdout).expect("report");
    assert_eq!(report["setup"]["policy"], "offline");
    assert_eq!(report["blocked"].as_array().expect("blocked").len(), 3);
    assert_eq!(
        report["verdict"][3]["answer"], "yes",
        "{}",
        report["verdict"][3]
    );
    assert!(
        report["fingerprints"]
            .as_array()
            .expect("fingerprints")
            .iter()
            .any(|f| f["host"] == "localhost"),
        "the report shows the client's fingerprint per host"
    );

    // The HAR export keeps connections and denials: its report is the capture's.
    let har = scratch.path("offline.har");
    let mut cmd = scratch.phonehome();
    cmd.arg("export").arg(&out).arg("-o").arg(&har);
    assert_eq!(run(cmd).await.code, Some(0));
    let mut reports = Vec::new();
    for input in [&out, &har] {
        let mut cmd = scratch.phonehome();
        cmd.arg("report").arg(input);
        reports.push(crate::report::without_input(&run(cmd).await.stdout));
    }
    assert_eq!(reports[0], reports[1]);
    assert!(reports[0].contains("## TLS client fingerprints") && reports[0].contains("## Blocked"));
}

#[tokio::test]
async fn allowlist_round_trip() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let llm = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"http/1.1"]))).await;
    let telemetry = Upstream::start(None).await;
    let chat = format!(
        "curl -sS https://localhost:{}/v1/chat/completions -H 'content-type: application/json' \
         -d '{{\"model\":\"m\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello there, model\"}}]}}' -o /dev/null -w '%{{http_code}} '",
        llm.port()
    );
    let script = format!(
        "{chat}; curl -sS http://127.0.0.1:{}/hello -o /dev/null -w '%{{http_code}} '; {chat}",
        telemetry.port()
    );

    let observed = scratch.path("observe.jsonl");
    let mut cmd = scratch.run_prefix(&observed, Some(&pki.ca_pem));
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.stdout, "200 200 200 ");

    let policy = scratch.path("policy.toml");
    let mut cmd = scratch.phonehome();
    cmd.arg("allowlist").arg(&observed).arg("-o").arg(&policy);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let enforced = scratch.path("enforced.jsonl");
    let mut cmd = scratch.run_prefix(&enforced, Some(&pki.ca_pem));
    cmd.arg("--policy")
        .arg(&policy)
        .args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(
        ran.stdout, "200 403 200 ",
        "every LLM call still gets through, the rest is blocked"
    );
    let records = read_capture(&enforced);
    let blocked = of_type(&records, "blocked");
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["target"]["host"], "127.0.0.1");
    assert_eq!(
        blocked[0]["rule"],
        format!("default deny ({})", policy.display())
    );
}

#[tokio::test]
async fn method_and_path_rules_decide_inside_tls_with_an_sdk_shaped_error() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let upstream =
        Upstream::start(Some(pki.server_config(Cert::Valid, &[b"h2", b"http/1.1"]))).await;
    let policy = scratch.path("p.toml");
    std::fs::write(&policy, "[[rule]]\naction = \"deny\"\nhosts = [\"localhost\"]\nmethods = [\"POST\"]\npaths = [\"/echo\"]\n").expect("write");
    let out = scratch.path("rules.jsonl");
    let base = format!("https://localhost:{}", upstream.port());
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.arg("--policy").arg(&policy);
    cmd.args([
        "--",
        "sh",
        "-c",
        &format!("curl -sS {base}/hello; echo; curl -sS -d x {base}/echo"),
    ]);
    let ran = run(cmd).await;
    let mut lines = ran.stdout.lines();
    assert_eq!(lines.next(), Some(r#"{"hello":"world"}"#));
    let second = lines
        .next()
        .unwrap_or_else(|| panic!("no second line: {}\n{}", ran.stdout, ran.stderr));
    let error: serde_json::Value = serde_json::from_str(second).expect("JSON error");
    assert_eq!(error["error"]["type"], "policy_blocked");
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("m")
            .contains("rule 1"),
        "{error}"
    );
    let records = read_capture(&out);
    let blocked = of_type(&records, "blocked")[0];
    assert_eq!(blocked["method"], "POST");
    assert_eq!(blocked["url"], format!("{base}/echo"));
    assert!(blocked["flow"].is_u64());
    let allowed = of_type(&records, "request")[0];
    assert_eq!(response_of(&records, &allowed["flow"])["status"], 200);
}

#[tokio::test]
async fn dry_run_records_without_denying_and_fail_on_blocked_gates() {
    let scratch = Scratch::new();
    let out = scratch.path("dry.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args([
        "--policy",
        "offline",
        "--dry-run",
        "--",
        "curl",
        "-sS",
        EXTERNAL[0],
    ]);
    let ran = run(cmd).await;
    let records = read_capture(&out);
    let blocked = of_type(&records, "blocked");
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["enforced"], false);
    assert_eq!(
        of_type(&records, "error")[0]["phase"],
        "dns",
        "the attempt went ahead"
    );
    assert!(ran.stderr.contains("dry run"), "{}", ran.stderr);
    let mut cmd = scratch.phonehome();
    cmd.args(["report"]).arg(&out);
    let report = run(cmd).await.stdout;
    assert!(report.contains("| Policy honoured? | **no** |"), "{report}");
    assert!(report.contains("| no (dry run) |"), "{report}");

    let mut cmd = scratch.run_prefix(&scratch.path("gate.jsonl"), None);
    cmd.args([
        "--policy",
        "offline",
        "--fail-on-blocked",
        "--",
        "curl",
        "-sS",
        EXTERNAL[1],
    ]);
    assert_eq!(run(cmd).await.code, Some(3));
    let mut cmd = scratch.run_prefix(&scratch.path("pass.jsonl"), None);
    cmd.args(["--policy", "offline", "--fail-on-blocked", "--", "true"]);
    assert_eq!(run(cmd).await.code, Some(0));
}

#[tokio::test]
async fn bad_policies_get_clear_errors() {
    let scratch = Scratch::new();
    let cases = [
        ("nonsense", None, "observe, llm-only, offline"),
        (
            "purpose.toml",
            Some("[[rule]]\naction = \"deny\"\npurposes = [\"spying\"]\n"),
            "valid purposes: llm-api",
        ),
        (
            "glob.toml",
            Some("[[rule]]\naction = \"deny\"\nhosts = [\"[oops\"]\n"),
            "invalid pattern \"[oops\"",
        ),
        ("toml.toml", Some("default = deny\n"), "line 1"),
        (
            "field.toml",
            Some("[[rule]]\naction = \"deny\"\nhost = [\"x\"]\n"),
            "hosts",
        ),
    ];
    for (name, text, expected) in cases {
        let arg = match text {
            Some(text) => {
                let path = scratch.path(name);
                std::fs::write(&path, text).expect("write");
                path.display().to_string()
            }
            None => name.to_owned(),
        };
        let mut cmd = scratch.phonehome();
        cmd.args(["policy", "check", &arg]);
        let ran = run(cmd).await;
        assert_eq!(ran.code, Some(1), "{name}");
        assert!(
            ran.stderr.contains(expected),
            "{name}: {expected} in {}",
            ran.stderr
        );
        let mut cmd = scratch.run_prefix(&scratch.path("x.jsonl"), None);
        cmd.args(["--policy", &arg, "--", "true"]);
        let ran = run(cmd).await;
        assert_eq!(ran.code, Some(125), "{name}");
        assert!(ran.stderr.contains(expected), "{name}: {}", ran.stderr);
    }
    let mut cmd = scratch.phonehome();
    cmd.args(["policy", "check", "llm-only"]);
    let ran = run(cmd).await;
    assert_eq!(ran.stdout.trim(), "llm-only: ok: 2 rules, default deny");
    let mut cmd = scratch.phonehome();
    cmd.args([
        "policy",
        "test",
        "llm-only",
        "https://us.i.posthog.com/batch",
        "--method",
        "POST",
    ]);
    let ran = run(cmd).await;
    assert!(
        ran.stdout.contains("telemetry (PostHog)")
            && ran.stdout.contains("deny by default deny (llm-only)"),
        "{}",
        ran.stdout
    );
}
