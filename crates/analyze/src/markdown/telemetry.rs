//! The report's Telemetry section (per host: protocol, sender, events, what they carry) and
//! its Persistent identifiers table. Both are left out when there is nothing to show.

use std::fmt::Write as _;

use super::cell;
use crate::report::Report;
use crate::telemetry_summary::{render_parts, TelemetryHost};

/// Event names and attribute names listed per host; `phonehome telemetry` lists them all.
const LISTED: usize = 12;

/// Telemetry received, per host.
pub(super) fn telemetry(w: &mut String, report: &Report) {
    let hosts: Vec<&TelemetryHost> = report.telemetry.iter().filter(|h| h.requests > 0).collect();
    if hosts.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "\n## Telemetry\n\nWhat the agent reported about itself, decoded by protocol \
         (`phonehome telemetry` lists every event and attribute).\n"
    );
    for h in hosts {
        let _ = writeln!(w, "### {}\n", h.host);
        let _ = writeln!(
            w,
            "- Protocol: {} ({} request{})",
            render_parts::protocols(h),
            h.requests,
            if h.requests == 1 { "" } else { "s" }
        );
        let sender = render_parts::sender(h);
        if !sender.is_empty() {
            let _ = writeln!(w, "- Sent by: {sender}");
        }
        events(w, h);
        let carries: Vec<&str> = h.attributes.iter().map(|a| a.name.as_str()).collect();
        let more = h.more_attributes + carries.len().saturating_sub(LISTED) as u64;
        if !carries.is_empty() {
            let _ = writeln!(w, "- Carries: {}", names(&carries, more));
        }
        let resource: Vec<&str> = h
            .resource
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        if !resource.is_empty() {
            let more = resource.len().saturating_sub(LISTED) as u64;
            let _ = writeln!(w, "- Resource: {}", names(&resource, more));
        }
        if !h.identifiers.is_empty() {
            let ids: Vec<String> = h.identifiers.iter().map(|i| code(&i.name)).collect();
            let _ = writeln!(w, "- Identifiers: {}", ids.join(", "));
        }
        let _ = writeln!(w);
    }
}

fn events(w: &mut String, h: &TelemetryHost) {
    if h.events == 0 {
        return;
    }
    let span = render_parts::time_span(h.first.as_deref(), h.last.as_deref());
    let span = if span.is_empty() {
        span
    } else {
        format!(", {span}")
    };
    let mut top: Vec<String> = h
        .event_names
        .iter()
        .take(LISTED)
        .map(|e| format!("{} ×{}", code(&e.name), e.count))
        .collect();
    let more = h.more_event_names + h.event_names.len().saturating_sub(LISTED) as u64;
    if more > 0 {
        top.push(format!("… and {more} more"));
    }
    let _ = writeln!(w, "- Events: {}{span}: {}", h.events, top.join(", "));
}

/// Persistent identifiers, per host.
pub(super) fn identifiers(w: &mut String, report: &Report) {
    if report.telemetry.iter().all(|h| h.identifiers.is_empty()) {
        return;
    }
    let _ = writeln!(
        w,
        "\n## Persistent identifiers\n\nIdentifiers sent to hosts other than LLM APIs: the same \
         value in every run follows you across runs (`phonehome diff` says when two captures \
         share one).\n"
    );
    let _ = writeln!(
        w,
        "| Host | Name | Value | Found by | Source | Requests |\n|---|---|---|---|---|---:|"
    );
    for h in &report.telemetry {
        for id in &h.identifiers {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&h.host),
                cell(&code(&id.name)),
                cell(&code(&id.value)),
                id.found_by,
                id.source,
                id.requests
            );
        }
        if h.more_identifiers > 0 {
            let _ = writeln!(
                w,
                "| {} | … and {} more | | | | |",
                cell(&h.host),
                h.more_identifiers
            );
        }
    }
}

/// `` `a`, `b`, … and 3 more `` (at most [`LISTED`] names).
fn names(all: &[&str], more: u64) -> String {
    let mut out: Vec<String> = all.iter().take(LISTED).map(|n| code(n)).collect();
    if more > 0 {
        out.push(format!("… and {more} more"));
    }
    out.join(", ")
}

/// Text as inline code (backticks in it dropped).
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', ""))
}
