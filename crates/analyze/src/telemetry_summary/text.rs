//! `phonehome telemetry` as text: one block per host.
//!
//! ```text
//! === t.example: 3 telemetry requests (otlp/json logs ×3)
//! sent by: my-agent 1.2.3 · os linux · runtime node 22
//! resource: host.arch = amd64
//! events: 22, 2026-01-02T03:04:05.000Z … 2026-01-02T03:04:09.000Z
//!   session.start  ×1  2026-01-02T03:04:05.000Z
//!   turn           ×21 2026-01-02T03:04:05.100Z … 2026-01-02T03:04:09.000Z
//! attributes:
//!   model = gpt-4.1
//! identifiers (persistent: they follow you across runs):
//!   user.id = u-1  (by name, telemetry, 3 requests)
//! ```

use std::fmt::Write as _;

use super::{IdentifierRow, Sample, TelemetryHost};

/// The hosts as text; `No telemetry or persistent identifier found.` when there are none.
pub fn render_text(hosts: &[TelemetryHost]) -> String {
    if hosts.is_empty() {
        return "No telemetry or persistent identifier found.\n".to_owned();
    }
    let mut w = String::new();
    for (i, host) in hosts.iter().enumerate() {
        if i > 0 {
            w.push('\n');
        }
        block(&mut w, host);
    }
    w
}

/// `otlp/json logs ×3, posthog events ×1`.
pub(crate) fn protocols(host: &TelemetryHost) -> String {
    host.protocols
        .iter()
        .map(|p| format!("{} {} ×{}", p.protocol, p.signal, p.requests))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `my-agent 1.2.3 · os linux · runtime node 22`, empty when the payload named nobody.
pub(crate) fn sender(host: &TelemetryHost) -> String {
    let r = &host.resource;
    crate::telemetry::sender(
        r.service.as_deref(),
        r.version.as_deref(),
        r.os.as_deref(),
        r.runtime.as_deref(),
    )
}

/// `first … last`; `first` alone when there is no other last; empty without a first.
pub(crate) fn time_span(first: Option<&str>, last: Option<&str>) -> String {
    match (first, last) {
        (Some(f), Some(l)) if f != l => format!("{f} … {l}"),
        (Some(f), _) => f.to_owned(),
        _ => String::new(),
    }
}

/// `user.id = u-1 (by name, telemetry, 3 requests)`.
pub(crate) fn identifier(id: &IdentifierRow) -> String {
    format!(
        "{} = {}  (by {}, {}, {} request{})",
        id.name,
        id.value,
        id.found_by,
        id.source,
        id.requests,
        if id.requests == 1 { "" } else { "s" }
    )
}

fn block(w: &mut String, h: &TelemetryHost) {
    if h.requests == 0 {
        let _ = writeln!(
            w,
            "=== {}: no telemetry decoded; identifiers in its requests",
            h.host
        );
    } else {
        let plural = if h.requests == 1 { "" } else { "s" };
        let _ = writeln!(
            w,
            "=== {}: {} telemetry request{plural} ({})",
            h.host,
            h.requests,
            protocols(h)
        );
    }
    let sender = sender(h);
    if !sender.is_empty() {
        let _ = writeln!(w, "sent by: {sender}");
    }
    if !h.resource.attributes.is_empty() {
        let _ = writeln!(w, "resource: {}", inline(&h.resource.attributes));
    }
    events(w, h);
    if !h.attributes.is_empty() {
        let _ = writeln!(w, "attributes:");
        for a in &h.attributes {
            let _ = writeln!(w, "  {} = {}", a.name, a.sample);
        }
        more(w, h.more_attributes, "attribute name", "");
    }
    if !h.identifiers.is_empty() {
        let _ = writeln!(w, "identifiers (persistent: they follow you across runs):");
        for id in &h.identifiers {
            let _ = writeln!(w, "  {}", identifier(id));
        }
        more(w, h.more_identifiers, "identifier", "");
    }
    for note in &h.notes {
        let _ = writeln!(w, "note: {note}");
    }
    more(w, h.more_notes, "note", "");
}

fn events(w: &mut String, h: &TelemetryHost) {
    if h.events == 0 {
        return;
    }
    let span = time_span(h.first.as_deref(), h.last.as_deref());
    let span = if span.is_empty() {
        span
    } else {
        format!(", {span}")
    };
    let _ = writeln!(w, "events: {}{span}", h.events);
    let width = h.event_names.iter().map(|e| e.name.chars().count()).max();
    let width = width.unwrap_or(0).min(40);
    let count_width = h
        .event_names
        .iter()
        .map(|e| e.count.to_string().len())
        .max();
    let count_width = count_width.unwrap_or(1);
    for e in &h.event_names {
        let span = time_span(e.first.as_deref(), e.last.as_deref());
        let count = format!("×{}", e.count);
        let line = format!(
            "  {:width$}  {count:<cw$}  {span}",
            e.name,
            cw = count_width + 1
        );
        let _ = writeln!(w, "{}", line.trim_end());
    }
    let events = format!(" ({} events)", h.more_events);
    more(w, h.more_event_names, "event name", &events);
}

/// `  … and 3 more event names (12 events)`.
fn more(w: &mut String, n: u64, what: &str, tail: &str) {
    if n > 0 {
        let plural = if n == 1 { "" } else { "s" };
        let _ = writeln!(w, "  … and {n} more {what}{plural}{tail}");
    }
}

fn inline(samples: &[Sample]) -> String {
    samples
        .iter()
        .map(|s| format!("{} = {}", s.name, s.sample))
        .collect::<Vec<_>>()
        .join(", ")
}
