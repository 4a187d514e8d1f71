//! `phonehome demo`: the embedded default for a fresh machine with no network. A local
//! OpenAI-compatible HTTPS server and a scripted agent, captured through `phonehome run`.

pub mod client;
mod server;

use anyhow::{Context as _, Result};
use phonehome_record::{CaptureReader, Record};

use crate::cli::{CaptureArgs, DemoArgs, RunArgs};

pub async fn demo(args: DemoArgs) -> Result<u8> {
    let scratch = tempfile::Builder::new()
        .prefix("phonehome-demo")
        .tempdir()
        .context("cannot create a scratch folder for the demo")?;
    let (tls, ca_pem) = server::tls_config()?;
    let upstream_ca = scratch.path().join("demo-upstream-ca.pem");
    std::fs::write(&upstream_ca, ca_pem)
        .with_context(|| format!("cannot write {}", upstream_ca.display()))?;
    let addr = server::start(tls).await?;
    let exe = std::env::current_exe().context("cannot find the phonehome executable")?;
    println!("phonehome demo: a local LLM server at https://{addr} and a scripted agent,");
    println!("run as `phonehome run -- phonehome demo-client --base https://{addr}`.\n");

    let out = match args.out {
        Some(out) => out,
        None => crate::paths::default_capture("demo")?,
    };
    let run = RunArgs {
        capture: CaptureArgs {
            out: Some(out.clone()),
            ca: args.ca,
            extra_ca: vec![upstream_ca],
            upstream_proxy: None,
            max_body: phonehome_proxy::DEFAULT_MAX_BODY,
            no_redact: false,
            connect_timeout: 10,
        },
        bypass: Vec::new(),
        drain: 3,
        quiet: false,
        command: vec![
            exe.display().to_string(),
            "demo-client".to_owned(),
            "--base".to_owned(),
            format!("https://{addr}"),
        ],
    };
    let code = crate::run::run_with(run, false).await?;
    println!();
    print_flows(&out)?;
    Ok(code)
}

/// What the capture holds, one line per flow or failure, read back from the file.
fn print_flows(path: &std::path::Path) -> Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    println!("phonehome saw (from {}):", path.display());
    let mut statuses = std::collections::HashMap::new();
    let mut lines = Vec::new();
    for item in CaptureReader::new(std::io::BufReader::new(file)) {
        let item = item.with_context(|| format!("reading {}", path.display()))?;
        match item.record {
            Record::Request(r) => lines.push((r.flow, format!("{} {}", r.method, r.url))),
            Record::Response(r) => {
                let stream = r
                    .headers
                    .iter()
                    .any(|(n, v)| n == "content-type" && v.contains("event-stream"));
                let kind = if stream { ", streamed" } else { "" };
                statuses.insert(r.flow, format!("{} ({} ms{kind})", r.status, r.duration_ms));
            }
            Record::Error(e) => println!("  failed  {} {}: {}", e.target, e.phase, e.message),
            _ => {}
        }
    }
    for (flow, line) in lines {
        let status = statuses
            .remove(&flow)
            .unwrap_or_else(|| "no response".to_owned());
        println!("  {line} → {status}");
    }
    Ok(())
}
