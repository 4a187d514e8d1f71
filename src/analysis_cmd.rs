//! `report`, `catalog`, `allowlist` and `export`: the analysis commands, over a capture file.

use std::io::{IsTerminal as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};
use phonehome_analyze::Progress;
use phonehome_catalog::Catalog;

use crate::cli::{
    AllowlistArgs, CatalogArgs, CatalogFileArg, ExportArgs, ReportArgs, ReportFormat,
};

/// The built-in catalog, with `--catalog FILE` entries in front.
pub fn load_catalog(arg: &CatalogFileArg) -> Result<Catalog> {
    let builtin = Catalog::builtin();
    let Some(path) = &arg.catalog else {
        return Ok(builtin);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the catalog file {}", path.display()))?;
    Ok(builtin.with_overrides(&text, &path.display().to_string())?)
}

/// Writes `text` to `output`, or to standard output.
pub fn emit(output: Option<&Path>, text: &str) -> Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .context("cannot write to standard output")?;
            out.flush().context("cannot write to standard output")
        }
    }
}

/// Captures smaller than this are read too fast for a progress bar to help.
const PROGRESS_FROM_BYTES: u64 = 32 << 20;

/// Runs `work` on `path` with a progress bar on stderr, when stderr is a terminal and the
/// file is big enough for the wait to show.
fn with_progress<T>(path: &Path, work: impl FnOnce(&Progress) -> Result<T>) -> Result<T> {
    let progress = Progress::default();
    let total = std::fs::metadata(path).map_or(0, |m| m.len());
    if !std::io::stderr().is_terminal() || total < PROGRESS_FROM_BYTES {
        return work(&progress);
    }
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{spinner} reading {bytes}/{total_bytes} {wide_bar} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_position(progress.bytes_read());
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let result = work(&progress);
        done.store(true, Ordering::Relaxed);
        result
    });
    bar.finish_and_clear();
    result
}

/// Builds the report of `path`, printing input warnings (a torn last line) to stderr.
pub fn build_report(path: &Path, catalog: &Catalog) -> Result<phonehome_analyze::Report> {
    let report = with_progress(path, |progress| {
        Ok(phonehome_analyze::build_report_with_progress(
            path, catalog, progress,
        )?)
    })?;
    warn(path, &report.warnings);
    Ok(report)
}

/// Prints what reading `path` had to pass over or guess, one line each, on stderr.
pub fn warn(path: &Path, warnings: &[String]) {
    for warning in warnings {
        eprintln!("phonehome: warning: {}: {warning}", path.display());
    }
}

pub fn report(args: &ReportArgs) -> Result<u8> {
    let catalog = load_catalog(&args.catalog)?;
    let report = build_report(&args.capture, &catalog)?;
    let text = match args.format {
        ReportFormat::Md => phonehome_analyze::render_markdown(&report),
        ReportFormat::Html => phonehome_analyze::render_html(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    emit(args.output.as_deref(), &text)?;
    Ok(0)
}

pub fn allowlist(args: &AllowlistArgs) -> Result<u8> {
    let catalog = load_catalog(&args.catalog)?;
    let report = build_report(&args.capture, &catalog)?;
    let allowlist = phonehome_analyze::allowlist(&report, &catalog);
    if !allowlist.allow.iter().any(|a| a.purpose == "llm-api") {
        eprintln!(
            "phonehome: warning: {} has no successful LLM call: the allowlist allows no LLM API",
            args.capture.display()
        );
    }
    let text = allowlist.render(args.format.analyze());
    emit(args.output.as_deref(), &text)?;
    Ok(0)
}

/// Writes the HAR as it is made: to standard output, or to a temporary file beside `--output`
/// that takes its name once complete (a failed export leaves no partial file behind).
pub fn export(args: &ExportArgs) -> Result<u8> {
    if args.format == crate::cli::ExportFormat::Otlp {
        return crate::otlp_cmd::export(args);
    }
    with_progress(&args.capture, |progress| {
        let mut events = phonehome_analyze::open_with_progress(&args.capture, progress)?;
        let Some(path) = &args.output else {
            // Written to an unnamed temporary file first: standard output gets the whole HAR
            // or nothing, never the first half of one before an error.
            let file = tempfile::tempfile().context("cannot create a temporary file")?;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            phonehome_analyze::export_har(&mut events, &mut out)?;
            warn_input(&args.capture, &events);
            let mut file = out.into_inner().map_err(|e| e.into_error())?;
            std::io::Seek::rewind(&mut file)?;
            let mut stdout = std::io::stdout().lock();
            std::io::copy(&mut file, &mut stdout).context("cannot write to standard output")?;
            return stdout.flush().context("cannot write to standard output");
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".phonehome-export")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        phonehome_analyze::export_har(&mut events, &mut out)?;
        warn_input(&args.capture, &events);
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.persist(path).map_err(|e| e.error))
            .map(drop)
            .with_context(|| format!("cannot write {}", path.display()))
    })?;
    Ok(0)
}

/// [`warn`] of a capture's reading, once its events are all read.
fn warn_input(path: &Path, events: &phonehome_analyze::Events) {
    if let phonehome_analyze::Events::Capture(capture) = events {
        warn(path, &capture.warnings());
    }
}

pub fn catalog(args: &CatalogArgs) -> Result<u8> {
    let catalog = load_catalog(&args.catalog)?;
    if let Some(agent) = &args.agent {
        if catalog.agent(agent).is_none() {
            let known: Vec<&str> = catalog.agents().iter().map(|a| a.name.as_str()).collect();
            anyhow::bail!(
                "unknown agent {agent:?}; the catalog knows: {}",
                known.join(", ")
            );
        }
    }
    let endpoints: Vec<_> = catalog
        .endpoints()
        .iter()
        .filter(|e| {
            args.agent
                .as_ref()
                .is_none_or(|a| e.agents.contains(a) || e.disable.iter().any(|d| &d.agent == a))
        })
        .collect();
    if args.json {
        emit(None, &(serde_json::to_string_pretty(&endpoints)? + "\n"))?;
        return Ok(0);
    }
    let out = phonehome_analyze::render_catalog_markdown(&endpoints, args.agent.as_deref());
    emit(None, &out)?;
    Ok(0)
}

pub fn diff(args: &crate::cli::DiffArgs) -> Result<u8> {
    let diff = phonehome_analyze::diff(&args.a, &args.b)?;
    let text = match args.format {
        crate::cli::DiffFormat::Md => phonehome_analyze::render_diff_markdown(&diff),
        crate::cli::DiffFormat::Json => serde_json::to_string_pretty(&diff)? + "\n",
    };
    emit(None, &text)?;
    Ok(0)
}
