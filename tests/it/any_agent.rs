//! An agent the catalog has never seen is named: a synthetic Node "agent" by its package.json,
//! a Python one by its entry point's dist-info, and one with neither by the User-Agent of its
//! LLM calls; each marked "not in the catalog".

use std::path::Path;

use serde_json::Value;

use crate::support::{run, Scratch, Upstream};

/// A Node CLI that POSTs one OpenAI-shaped chat completion to `argv[2]` through the proxy in
/// `HTTP_PROXY` (Node 20's `http` does not read it), as `acme-agent/3.1.4`.
const CLI_JS: &str = r#"
const http = require('http');
const proxy = new URL(process.env.HTTP_PROXY);
const target = process.argv[2];
const body = JSON.stringify({model: 'acme-model', messages: [{role: 'user', content: 'hello from acme'}]});
const req = http.request({
  host: proxy.hostname, port: proxy.port, method: 'POST', path: target,
  headers: {host: new URL(target).host, 'user-agent': 'acme-agent/3.1.4',
            'content-type': 'application/json', 'content-length': Buffer.byteLength(body)},
}, (res) => { res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1)); });
req.on('error', (e) => { console.error(e.message); process.exit(2); });
req.end(body);
"#;

/// The same in Python (urllib reads `HTTP_PROXY` itself); the User-Agent is its first argument.
const CLI_PY: &str = r#"#!/usr/bin/env python3
import json, sys, urllib.request
body = json.dumps({"model": "acme-model", "messages": [{"role": "user", "content": "hello from acme"}]}).encode()
req = urllib.request.Request(sys.argv[2], data=body, headers={"user-agent": sys.argv[1], "content-type": "application/json"})
urllib.request.urlopen(req).read()
"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn found(program: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: {program} is not installed");
    }
    found
}

/// `phonehome run -- ARGV`, then its report as Markdown and as JSON.
async fn report(scratch: &Scratch, name: &str, argv: &[&str]) -> (String, Value) {
    let out = scratch.path(name);
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.current_dir(scratch.dir.path()).arg("--").args(argv);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let mut markdown = scratch.phonehome();
    markdown.arg("report").arg(&out);
    let markdown = run(markdown).await.stdout;
    let mut json = scratch.phonehome();
    json.args(["report", "--format", "json"]).arg(&out);
    let json = serde_json::from_str(&run(json).await.stdout).expect("json report");
    (markdown, json)
}

#[tokio::test]
async fn a_node_agent_is_named_by_its_package_json() {
    if !found("node") {
        return;
    }
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let root = scratch.path("acme");
    write(
        &root.join("package.json"),
        r#"{"name": "acme-agent", "version": "3.1.4", "bin": {"acme": "lib/cli.js"}}"#,
    );
    write(&root.join("lib/cli.js"), CLI_JS);
    let script = root.join("lib/cli.js").display().to_string();
    let url = format!("http://127.0.0.1:{}/v1/chat/completions", upstream.port());
    let (markdown, json) = report(&scratch, "node.jsonl", &["node", &script, &url]).await;
    assert!(
        markdown.contains("| Agent | acme-agent 3.1.4 (by package.json, not in the catalog) |"),
        "{markdown}"
    );
    let agent = &json["setup"]["agents"][0];
    assert_eq!(agent["evidence"], "package.json", "{agent}");
    assert_eq!(agent["in_catalog"], false, "{agent}");
    assert_eq!(agent["requests"], 1, "its LLM call named it too: {agent}");
    assert_eq!(json["summary"]["llm_calls"], 1);

    let capture = std::fs::read_to_string(scratch.path("node.jsonl")).expect("capture");
    let header: Value =
        serde_json::from_str(capture.lines().next().expect("header")).expect("json");
    assert_eq!(
        header["agent"],
        serde_json::json!({"name": "acme-agent", "version": "3.1.4", "source": "package.json"})
    );
}

#[tokio::test]
async fn a_python_entry_point_is_named_by_its_dist_info_and_else_by_user_agent() {
    if !found("python3") {
        return;
    }
    let scratch = Scratch::new();
    let upstream = Upstream::start(None).await;
    let url = format!("http://127.0.0.1:{}/v1/chat/completions", upstream.port());
    let prefix = scratch.path("venv");
    let program = prefix.join("bin/acme-py");
    write(&program, CLI_PY);
    let info = prefix.join("lib/python3.12/site-packages/acme_py-0.9.2.dist-info");
    write(
        &info.join("METADATA"),
        "Metadata-Version: 2.1\nName: acme-py\nVersion: 0.9.2\n",
    );
    write(
        &info.join("entry_points.txt"),
        "[console_scripts]\nacme-py = acme_py.cli:main\n",
    );
    let program = program.display().to_string();
    let (markdown, _) = report(
        &scratch,
        "dist.jsonl",
        &["python3", &program, "acme-py/0.9.2", &url],
    )
    .await;
    assert!(
        markdown.contains("| Agent | acme-py 0.9.2 (by dist-info, not in the catalog) |"),
        "{markdown}"
    );

    // No package at all: the User-Agent of its LLM call names it.
    let loose = scratch.path("loose/run.py");
    write(&loose, CLI_PY);
    let loose = loose.display().to_string();
    let (markdown, json) = report(
        &scratch,
        "ua.jsonl",
        &["python3", &loose, "Loose-Bot/1.2.0 python-urllib/3", &url],
    )
    .await;
    assert!(
        markdown.contains("| Agent | Loose-Bot 1.2.0 (by user-agent, not in the catalog) |"),
        "{markdown}"
    );
    assert_eq!(json["setup"]["agents"][0]["in_catalog"], false);
}
