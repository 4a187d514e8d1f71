//! `phonehome export --format otlp`: a capture (or HAR) file sent as OTLP, streamed: events
//! are mapped as they are read and sent in batches, so memory holds one batch and the flows
//! still waiting for their response or connection, whatever the file's size.

use std::sync::Arc;

use phonehome_analyze::Event;
use phonehome_catalog::Catalog;

use crate::config::Settings;
use crate::mapper::{Mapper, Prelude};
use crate::sink::{Patience, Sink};
use crate::ExportError;

/// Spans per export request.
pub(crate) const BATCH: usize = 2048;

/// What was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub spans: u64,
    pub logs: u64,
}

/// Sends `events` (from `phonehome_analyze::open`) to the collector `settings` names, with
/// the capture's own timestamps and ids derived from the capture id (so sending the same
/// capture twice gives the same ids). Runs on the current tokio runtime; batches are sent
/// from spawned tasks, so a multi-threaded runtime maps the next batch while one is sent.
///
/// # Errors
/// [`ExportError::Source`] when the input cannot be read, [`ExportError::Build`] /
/// [`ExportError::Send`] when the collector cannot be reached or refuses a batch (after a
/// few retries), [`ExportError::NoCapture`] when the input has no capture header.
pub async fn export_events(
    events: impl Iterator<Item = Result<Event, phonehome_analyze::SourceError>>,
    settings: &Settings,
    catalog: Catalog,
) -> Result<ExportStats, ExportError> {
    let mut sink = Sink::new(settings, Patience::Retry)?;
    let mut events = events.peekable();
    let mut prelude = Prelude::new(&catalog);
    while !prelude.ready() {
        match events.next() {
            Some(event) => prelude.push(event?),
            None => break,
        }
    }
    let mut mapper = prelude
        .into_mapper(settings, catalog)
        .ok_or(ExportError::NoCapture)?;
    sink.set_resource(&mapper.resource);
    let sink = Arc::new(sink);
    let mut stats = ExportStats::default();
    let mut in_flight = None;
    for event in events {
        mapper.event(event?);
        if mapper.pending_spans() >= BATCH {
            in_flight = Some(send(&sink, &mut mapper, &mut stats, in_flight).await?);
        }
    }
    mapper.finish();
    let last = send(&sink, &mut mapper, &mut stats, in_flight).await?;
    wait(last).await?;
    if let Some(metrics) = mapper.metrics.collect() {
        sink.metrics(&metrics).await?;
    }
    sink.shutdown();
    Ok(stats)
}

type Sending = tokio::task::JoinHandle<Result<(), ExportError>>;

/// Starts sending what is mapped, once the batch before it has been sent: one batch travels
/// (converted, encoded, posted on a runtime worker) while the next is mapped.
async fn send(
    sink: &Arc<Sink>,
    mapper: &mut Mapper,
    stats: &mut ExportStats,
    previous: Option<Sending>,
) -> Result<Sending, ExportError> {
    if let Some(previous) = previous {
        wait(previous).await?;
    }
    let spans = std::mem::take(&mut mapper.out.spans);
    let logs = std::mem::take(&mut mapper.out.logs);
    stats.spans += spans.len() as u64;
    stats.logs += logs.len() as u64;
    let sink = sink.clone();
    let trace = mapper.trace_id();
    Ok(tokio::spawn(async move {
        sink.spans(spans).await?;
        sink.logs(logs, trace).await
    }))
}

async fn wait(sending: Sending) -> Result<(), ExportError> {
    sending.await.map_err(ExportError::Task)?
}
