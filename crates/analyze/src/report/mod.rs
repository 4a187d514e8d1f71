//! The report: what a person investigating an agent's traffic writes by hand, built from a
//! capture in one streaming pass (plus a scan of request lines when the prompt has to be
//! looked for elsewhere). Memory grows with the number of hosts and request signatures, not
//! with the size of the capture.
//!
//! ```text
//! events ─ digest (per exchange) ─ builder (counts, in order) ─ advice (judges) ─ Report
//! ```

mod advice;
mod builder;
mod calls;
mod caused;
mod concern;
mod digest;
mod hosts;
mod model;
mod observed;
mod prompts;
mod purpose;
mod rows;
mod sight;
mod signatures;
mod timeline;
mod verdict;

use std::path::Path;
use std::sync::Arc;

use phonehome_catalog::Catalog;

pub use model::*;

use crate::agent::Patterns;
use crate::event::Event;
use crate::event::SourceError;
use crate::input::Progress;
use crate::input::{self, Events};
use crate::leaks::{Needles, PromptFinder};
use crate::pool::InOrder;
use builder::Builder;
use digest::{digest, Scanners};

/// Events digested on a worker at once.
const BATCH_EVENTS: usize = 256;
/// Body bytes digested on a worker at once, so that batches of big bodies stay small.
const BATCH_BYTES: usize = 4 << 20;
/// Batches digested ahead of the one being counted.
const AHEAD: usize = 4;

/// An event as the builder counts it: exchanges digested, the rest as they are. Boxed, so
/// that a batch of them is a vector of pointers (a digest is most of a KiB) moved from the
/// worker to the builder, not of digests copied along the way.
enum Fed {
    Digest(Box<digest::Digest>),
    Event(Box<Event>),
}

/// Builds a report from a capture or HAR file. `catalog` classifies hosts.
///
/// # Errors
/// [`SourceError`] when the input cannot be read or is malformed (with its line number).
pub fn build(path: &Path, catalog: &Catalog) -> Result<Report, SourceError> {
    build_with_progress(path, catalog, &Progress::default())
}

/// [`build`], counting the bytes of a capture read into `read` as it goes.
///
/// # Errors
/// As [`build`].
pub fn build_with_progress(
    path: &Path,
    catalog: &Catalog,
    read: &Progress,
) -> Result<Report, SourceError> {
    let mut builder = Builder::new(catalog);
    builder.input = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut events = input::open_with_progress(path, read)?;
    builder.input_format = if matches!(events, Events::Har(_)) {
        "har"
    } else {
        "capture"
    };
    // The markers to look for come with the header, always the first event.
    let first = events.next().transpose()?;
    let needles = match &first {
        Some(Event::Header(capture)) => {
            Needles::new(&crate::leaks::private_markers(&capture.markers, catalog))
        }
        _ => Needles::default(),
    };
    let scanners = Scanners {
        agents: Arc::new(Patterns::new(catalog)),
        needles: Arc::new(needles),
    };
    let rest = first.into_iter().map(Ok).chain(&mut events);
    count(rest, &scanners, &mut builder)?;
    if let Events::Capture(capture) = &events {
        builder.warnings.extend(capture.warnings());
    }
    let provider = builder.provider();
    search_prompts(path, &mut builder, provider.as_deref())?;
    search_provider_host(path, &mut builder, provider.as_deref())?;
    Ok(builder.finish(&scanners, provider))
}

/// Counts `events` in order, digesting their exchanges in batches on worker threads.
fn count(
    events: impl Iterator<Item = Result<Event, SourceError>>,
    scanners: &Scanners,
    builder: &mut Builder<'_>,
) -> Result<(), SourceError> {
    let mut pool = InOrder::new();
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
    let mut bytes = 0;
    for event in events {
        let event = event?;
        bytes += body_bytes(&event);
        batch.push(event);
        if batch.len() < BATCH_EVENTS && bytes < BATCH_BYTES {
            continue;
        }
        bytes = 0;
        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_EVENTS));
        submit(&mut pool, full, scanners);
        while pool.pending() >= AHEAD {
            feed(builder, &scanners.agents, pool.next());
        }
    }
    submit(&mut pool, batch, scanners);
    while pool.pending() > 0 {
        feed(builder, &scanners.agents, pool.next());
    }
    Ok(())
}

fn submit(pool: &mut InOrder<Vec<Fed>>, batch: Vec<Event>, scanners: &Scanners) {
    let scanners = scanners.clone();
    pool.submit(move || {
        batch
            .into_iter()
            .map(|event| match event {
                Event::Exchange(x) => Fed::Digest(Box::new(digest(x, &scanners))),
                other => Fed::Event(Box::new(other)),
            })
            .collect()
    });
}

fn feed(builder: &mut Builder<'_>, patterns: &Patterns, batch: Option<Vec<Fed>>) {
    for fed in batch.into_iter().flatten() {
        match fed {
            Fed::Digest(x) => builder.exchange(patterns, x),
            Fed::Event(event) => builder.event(patterns, *event),
        }
    }
}

/// The body bytes an event holds.
fn body_bytes(event: &Event) -> usize {
    match event {
        Event::Exchange(x) => x.body_bytes(),
        _ => 0,
    }
}

/// Another pass, for an LLM host that is not a public provider's (loopback, a private or
/// self-hosted endpoint): was its `host[:port]` sent to another host?
fn search_provider_host(
    path: &Path,
    builder: &mut Builder<'_>,
    provider: Option<&str>,
) -> Result<(), SourceError> {
    let Some(provider) = provider else {
        return Ok(());
    };
    let (authority, public) = builder.authority(provider);
    if public {
        return Ok(());
    }
    if let Some(finder) = PromptFinder::of(provider, std::iter::once(authority.as_str())) {
        let found = prompts::search(path, builder.input_format, finder)?;
        builder.provider_leaks = crate::leaks::provider_host_leaks(&authority, found);
    }
    Ok(())
}

/// Second pass: was the prompt sent to the provider also sent anywhere else?
fn search_prompts(
    path: &Path,
    builder: &mut Builder<'_>,
    provider: Option<&str>,
) -> Result<(), SourceError> {
    if let Some(finder) = builder.prompts.search(provider) {
        builder.prompt_leaks = prompts::search(path, builder.input_format, finder)?;
    }
    Ok(())
}
