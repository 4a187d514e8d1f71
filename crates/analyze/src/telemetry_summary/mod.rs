//! Telemetry and persistent identifiers per host: what `phonehome telemetry` prints and the
//! report's Telemetry section shows. Reads what [`crate::telemetry::decode`] makes of each
//! exchange, plus identifiers ([`ids`]) in requests no decoder read, sent to hosts that got no
//! LLM call. Memory is bounded per host ([`host`]), whatever the size of the capture.
//!
//! ```text
//! exchange ─ look (any thread) ─ Seen ─ Tally (in order, per host) ─ Vec<TelemetryHost>
//! ```

mod host;
pub mod ids;
mod text;

use foldhash::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::SourceError;
use crate::event::{Event, Exchange};
use crate::input::{self, Events};
use crate::pool::InOrder;
use crate::telemetry::{Identifier, Telemetry};
use host::HostTally;
#[cfg(test)]
use host::{MAX_ATTRIBUTES, MAX_EVENT_NAMES, MAX_IDENTIFIERS};
pub use text::render_text;
/// Pieces of the text that the report's Markdown shares.
pub(crate) mod render_parts {
    pub(crate) use super::text::{protocols, sender, time_span};
}

/// One host's telemetry and identifiers, as `phonehome telemetry --json` prints it (one
/// object a line) and the JSON report's `telemetry` array holds. Times are RFC 3339 UTC.
///
/// ```json
/// {"host":"t.example","requests":3,
///  "protocols":[{"protocol":"otlp/json","signal":"logs","requests":3}],
///  "events":22,"first":"2026-01-02T03:04:05.000Z","last":"2026-01-02T03:04:09.000Z",
///  "event_names":[{"name":"session.start","count":1,"first":"…","last":"…"}],
///  "more_event_names":0,"more_events":0,
///  "attributes":[{"name":"model","sample":"gpt-4.1"}],"more_attributes":0,
///  "resource":{"service":"my-agent","version":"1.2.3","os":"linux","runtime":"node 22",
///              "attributes":[{"name":"host.arch","sample":"amd64"}]},
///  "identifiers":[{"name":"user.id","value":"u-1","found_by":"name","source":"telemetry",
///                  "requests":3}],
///  "more_identifiers":0,"notes":[],"more_notes":0}
/// ```
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TelemetryHost {
    pub host: String,
    /// Requests decoded as telemetry.
    pub requests: u64,
    pub protocols: Vec<ProtocolCount>,
    /// Events decoded (log records, spans, data points, analytics events, flags asked for).
    pub events: u64,
    /// When the first and last events happened (the payload's times, else the request's).
    pub first: Option<String>,
    pub last: Option<String>,
    /// Event names, most frequent first, at most 40.
    pub event_names: Vec<EventName>,
    /// Distinct event names left out (counted up to 4096), and their events.
    pub more_event_names: u64,
    pub more_events: u64,
    /// Event attribute names in order of first sight, with the first value seen (at most 80
    /// characters), at most 40.
    pub attributes: Vec<Sample>,
    pub more_attributes: u64,
    pub resource: ResourceOut,
    /// Persistent identifiers, at most 20.
    pub identifiers: Vec<IdentifierRow>,
    pub more_identifiers: u64,
    /// What the decoders could not read.
    pub notes: Vec<String>,
    pub more_notes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProtocolCount {
    /// `otlp/json`, `posthog`, … ([`crate::telemetry::Protocol::as_str`]).
    pub protocol: &'static str,
    /// `logs`, `events`, `feature-flags`, … ([`crate::telemetry::Signal::as_str`]).
    pub signal: &'static str,
    pub requests: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventName {
    pub name: String,
    pub count: u64,
    pub first: Option<String>,
    pub last: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sample {
    pub name: String,
    pub sample: String,
}

/// Who sent the telemetry, as its payload says (the first value seen of each).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ResourceOut {
    pub service: Option<String>,
    pub version: Option<String>,
    pub os: Option<String>,
    pub runtime: Option<String>,
    pub attributes: Vec<Sample>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IdentifierRow {
    /// The attribute name it was sent under.
    pub name: String,
    /// The value as recorded (redacted by the recorder where it was a secret).
    pub value: String,
    /// `name` (an identifier's attribute name) or `shape` (a UUID or long hex).
    pub found_by: &'static str,
    /// `telemetry` (decoded) or `request` (read from another request's query or body).
    pub source: &'static str,
    /// Requests that carried it.
    pub requests: u64,
}

/// What one exchange gives: worked out on any thread.
pub(crate) struct Seen {
    pub(crate) host: String,
    pub(crate) ts: DateTime<Utc>,
    pub(crate) telemetry: Option<Telemetry>,
    /// Identifiers of a request no decoder read (empty for telemetry and LLM calls).
    pub(crate) identifiers: Vec<Identifier>,
    pub(crate) llm_call: bool,
}

/// Looks at one exchange; `llm_call` says whether it is an LLM call.
pub(crate) fn look(x: &Exchange, llm_call: bool) -> Seen {
    let telemetry = crate::telemetry::decode(x);
    let identifiers = if telemetry.is_none() && !llm_call {
        ids::in_request(x)
    } else {
        Vec::new()
    };
    Seen {
        host: x.host.clone(),
        ts: x.ts,
        telemetry,
        identifiers,
        llm_call,
    }
}

/// The identifiers an exchange carries to its host, and whether they came with decoded
/// telemetry (else they were read from its query or body); `None` for an LLM call. Read by
/// [`look`], as the report reads them: one decode per exchange.
pub(crate) fn identifiers_of(x: &Exchange) -> Option<(Vec<Identifier>, bool)> {
    if crate::llm::recognise(x).is_some() {
        return None;
    }
    let seen = look(x, false);
    Some(match seen.telemetry {
        Some(t) => (t.identifiers, true),
        None => (seen.identifiers, false),
    })
}

/// Per-host tallies, fed in capture order.
#[derive(Default)]
pub(crate) struct Tally {
    hosts: HashMap<String, HostTally>,
}

impl Tally {
    pub(crate) fn add(&mut self, seen: Seen) {
        if seen.telemetry.is_none() && seen.identifiers.is_empty() && !seen.llm_call {
            return;
        }
        let host = match self.hosts.get_mut(&seen.host) {
            Some(host) => host,
            None => self.hosts.entry(seen.host).or_default(),
        };
        host.llm_host |= seen.llm_call;
        if let Some(t) = &seen.telemetry {
            host.telemetry(seen.ts, t);
        }
        host.identifiers(&seen.identifiers, false);
    }

    /// Marks `host` as an LLM host (the report's catalog says so): identifiers read from its
    /// other requests are left out.
    pub(crate) fn llm_host(&mut self, host: &str) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.llm_host = true;
        }
    }

    /// Hosts with telemetry or identifiers: most telemetry requests first, then by name.
    pub(crate) fn finish(self) -> Vec<TelemetryHost> {
        let mut hosts: Vec<TelemetryHost> = self
            .hosts
            .into_iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(name, h)| h.finish(name))
            .collect();
        hosts.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.host.cmp(&b.host)));
        hosts
    }

    pub(crate) fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }
}

/// Exchanges looked at on a worker at once.
const BATCH: usize = 256;
/// Body bytes looked at on a worker at once, so that batches of big bodies stay small.
const BATCH_BYTES: usize = 4 << 20;
/// Batches looked at ahead of the one being counted.
const AHEAD: usize = 4;

/// The telemetry of a capture or HAR file, per host, and the input's warnings (a torn last
/// line). One streaming pass; exchanges are decoded on worker threads.
///
/// # Errors
/// [`SourceError`] when the input cannot be read or is malformed (with its line number).
pub fn summarise(path: &Path) -> Result<(Vec<TelemetryHost>, Vec<String>), SourceError> {
    let mut events = input::open(path)?;
    let mut tally = Tally::default();
    let mut pool: InOrder<Vec<Seen>> = InOrder::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut bytes = 0;
    for event in &mut events {
        if let Event::Exchange(x) = event? {
            bytes += x.body_bytes();
            batch.push(x);
        }
        if batch.len() < BATCH && bytes < BATCH_BYTES {
            continue;
        }
        bytes = 0;
        submit(
            &mut pool,
            std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
        );
        while pool.pending() >= AHEAD {
            pool.next().into_iter().flatten().for_each(|s| tally.add(s));
        }
    }
    submit(&mut pool, batch);
    while pool.pending() > 0 {
        pool.next().into_iter().flatten().for_each(|s| tally.add(s));
    }
    let warnings = match &events {
        Events::Capture(capture) => capture.warnings(),
        Events::Har(_) => Vec::new(),
    };
    Ok((tally.finish(), warnings))
}

fn submit(pool: &mut InOrder<Vec<Seen>>, batch: Vec<Exchange>) {
    pool.submit(move || {
        batch
            .iter()
            .map(|x| look(x, crate::llm::recognise(x).is_some()))
            .collect()
    });
}

#[cfg(test)]
mod tests;
