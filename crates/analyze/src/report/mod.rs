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
mod digest;
mod model;
mod timeline;

use std::path::Path;

use phonehome_catalog::Catalog;

pub use model::*;

use crate::agent::Patterns;
use crate::input::{self, Events};
use crate::leaks::Needles;
use crate::source::{self, Event, SourceError};
use builder::Builder;
use digest::{digest, Scanners};

/// Builds a report from a capture or HAR file. `catalog` classifies hosts.
///
/// # Errors
/// [`SourceError`] when the input cannot be read or is malformed (with its line number).
pub fn build(path: &Path, catalog: &Catalog) -> Result<Report, SourceError> {
    let mut builder = Builder::new(catalog);
    builder.input = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut events = input::open(path)?;
    builder.input_format = if matches!(events, Events::Har(_)) {
        "har"
    } else {
        "capture"
    };
    let patterns = Patterns::new(catalog);
    // The markers to look for come with the header, always the first event.
    let first = events.next().transpose()?;
    let needles = match &first {
        Some(Event::Header(capture)) => Needles::new(&capture.markers),
        _ => Needles::default(),
    };
    let scanners = Scanners {
        agents: &patterns,
        needles: &needles,
    };
    for event in first.into_iter().map(Ok).chain(&mut events) {
        match event? {
            Event::Exchange(x) => builder.exchange(&patterns, digest(x, scanners)),
            other => builder.event(&patterns, other),
        }
    }
    if let Events::Capture(capture) = &events {
        if let Some(line) = capture.torn_tail() {
            builder.warnings.push(format!(
                "line {line}: the last line is incomplete (the capture was cut off) and was skipped"
            ));
        }
    }
    let provider = builder.provider();
    search_prompts(path, &mut builder, provider.as_deref())?;
    Ok(builder.finish(scanners, provider))
}

/// Second pass: was the prompt sent to the provider also sent anywhere else?
fn search_prompts(
    path: &Path,
    builder: &mut Builder<'_>,
    provider: Option<&str>,
) -> Result<(), SourceError> {
    let Some(search) = builder.prompts.search(provider) else {
        return Ok(());
    };
    if builder.input_format == "capture" {
        source::scan_requests(path, |line| search.line_may_match(line), |x| search.feed(x))?;
    } else {
        for event in input::open(path)? {
            if let Event::Exchange(exchange) = event? {
                search.feed(&exchange);
            }
        }
    }
    builder.prompt_leaks = search.finish();
    Ok(())
}
