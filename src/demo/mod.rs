//! `phonehome demo`: the embedded default for a fresh machine with no network. A local
//! OpenAI-compatible HTTPS server and a scripted agent, captured through `phonehome run`.

pub mod client;
mod server;

use anyhow::{Context as _, Result};

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
    let out = match args.out {
        Some(out) => out,
        None => crate::paths::default_capture("demo")?,
    };
    // The command as it runs: the demo's options are those of `run` below.
    println!("phonehome demo: a local LLM server at https://{addr} and a scripted agent,");
    println!(
        "run as `phonehome run --sinkhole all --extra-ca {} --out {} -- phonehome demo-client --base https://{addr}`.\n",
        upstream_ca.display(),
        out.display()
    );
    let run = RunArgs {
        capture: CaptureArgs {
            out: Some(out.clone()),
            force: false,
            ca: args.ca,
            extra_ca: vec![upstream_ca],
            client_cert: Vec::new(),
            upstream_proxy: None,
            max_body: phonehome_proxy::DEFAULT_MAX_BODY,
            spool_dir: None,
            no_redact: false,
            sensitive: Vec::new(),
            policy: "observe".to_owned(),
            dry_run: false,
            fail_on_blocked: false,
            sinkhole: phonehome_record::SinkholeMode {
                denied: true,
                unreachable: true,
            },
            no_attribution: false,
            sinkhole_wait: phonehome_proxy::DEFAULT_SINKHOLE_WAIT.as_secs(),
            connect_timeout: 10,
            idle_timeout: None,
            otlp: Default::default(),
            web: Default::default(),
        },
        bypass: Vec::new(),
        drain: 3,
        quiet: false,
        isolate: Default::default(),
        command: vec![
            exe.display().to_string(),
            "demo-client".to_owned(),
            "--base".to_owned(),
            format!("https://{addr}"),
        ],
    };
    let code = crate::run::run_with(run, false).await?;
    let report = crate::analysis_cmd::build_report(&out, &phonehome_catalog::Catalog::builtin())?;
    println!("\n{}", phonehome_analyze::render_markdown(&report));
    println!(
        "(`phonehome report {}` prints this again; `--format html` for a page.)",
        out.display()
    );
    Ok(code)
}
