//! The report's Domains table: every host with its purpose and how that was decided, its
//! owner (or who its telemetry said sent it), traffic and concern.

use std::fmt::Write as _;

use super::{bytes, cell};
use crate::report::{DomainRow, Report};

/// Every host contacted, with purpose, owner, traffic and concern.
pub(super) fn domains(w: &mut String, report: &Report) {
    if report.domains.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Domains\n");
    let _ = writeln!(
        w,
        "| Domain | Purpose | Owner | Requests | Failed | Sent | Received | First seen | Concern |"
    );
    let _ = writeln!(w, "|---|---|---|---:|---:|---:|---:|---|---|");
    for d in &report.domains {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&d.domain),
            cell(&purpose(d)),
            cell(&owner(d)),
            super::caused::requests(d),
            d.failures,
            bytes(d.bytes_up),
            bytes(d.bytes_down),
            d.first_seen,
            cell(&d.concern)
        );
    }
}

/// `telemetry (by protocol: OTLP logs)`; `unknown (no catalog entry; …)`.
fn purpose(d: &DomainRow) -> String {
    let how = d
        .purpose_source
        .strip_prefix("unknown: ")
        .unwrap_or(&d.purpose_source);
    format!("{} ({how})", d.purpose.map_or("unknown", |p| p.as_str()))
}

/// The catalog's owner, else who the host's telemetry said sent it.
fn owner(d: &DomainRow) -> String {
    match (&d.owner, &d.reported_by) {
        (Some(owner), _) => owner.clone(),
        (None, Some(service)) => format!("not in the catalog; telemetry reported by {service}"),
        (None, None) => String::new(),
    }
}
