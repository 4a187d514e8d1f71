//! OTLP export wiring: `export --format otlp` (a file to a collector) and `--otlp` on `run`
//! and `proxy` (the live exporter fed by the recorder through [`RecordTap`]).

use std::sync::Arc;

use anyhow::{Context as _, Result};
use phonehome_otlp::{Live, Overrides, Protocol, Settings};
use phonehome_proxy::RecordTap;
use phonehome_record::{End, OtlpDelivery, Record};

use crate::cli::{ExportArgs, LiveOtlpArgs};

fn settings(
    endpoint: Option<&str>,
    protocol: Option<&str>,
    headers: &[String],
    content: bool,
    host_name: bool,
) -> Result<Settings> {
    let headers = headers
        .iter()
        .map(|h| {
            h.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .with_context(|| format!("header {h:?}: expected K=V"))
        })
        .collect::<Result<Vec<_>>>()?;
    let flags = Overrides {
        endpoint: endpoint.filter(|e| !e.is_empty()).map(str::to_owned),
        protocol: protocol.and_then(Protocol::parse),
        headers,
        content,
        host_name,
    };
    Ok(Settings::resolve(|name| std::env::var(name).ok(), flags)?)
}

/// `phonehome export CAPTURE --format otlp`.
pub fn export(args: &ExportArgs) -> Result<u8> {
    let o = &args.otlp;
    let settings = settings(
        o.endpoint.as_deref(),
        o.protocol.as_deref(),
        &o.headers,
        o.otlp_content,
        o.otlp_host_name,
    )?;
    let events = phonehome_analyze::open(&args.capture)?;
    // One worker sends a batch while this thread reads and maps the next.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let catalog = phonehome_catalog::Catalog::builtin();
    let stats = runtime
        .block_on(phonehome_otlp::export_events(events, &settings, catalog))
        .with_context(|| format!("cannot export {} as OTLP", args.capture.display()))?;
    eprintln!(
        "phonehome: exported {} span{} and {} log record{} to {} ({})",
        stats.spans,
        if stats.spans == 1 { "" } else { "s" },
        stats.logs,
        if stats.logs == 1 { "" } else { "s" },
        settings.traces_endpoint,
        settings.protocol.as_str()
    );
    Ok(0)
}

/// The recorder's tap for `--otlp`, when asked; `None` otherwise.
pub fn live(args: &LiveOtlpArgs) -> Result<Option<Arc<dyn RecordTap>>> {
    let Some(endpoint) = &args.otlp else {
        return Ok(None);
    };
    let settings = settings(
        Some(endpoint),
        args.otlp_protocol.as_deref(),
        &args.otlp_headers,
        args.otlp_content,
        args.otlp_host_name,
    )
    .context("--otlp")?;
    let live = Live::start(
        settings,
        phonehome_catalog::Catalog::builtin(),
        &tokio::runtime::Handle::current(),
    )
    .context("--otlp")?;
    Ok(Some(Arc::new(OtlpTap(live))))
}

/// The live exporter as the recorder sees it.
#[derive(Debug)]
struct OtlpTap(Live);

impl RecordTap for OtlpTap {
    fn record(&self, record: Record) {
        self.0.record(record);
    }

    fn finish(&self, end: &End) -> Option<OtlpDelivery> {
        Some(self.0.finish(end))
    }
}
