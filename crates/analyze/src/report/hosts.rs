//! Which hosts of a report count as the agent's own contacts beyond the provider, and what
//! each was contacted for: the facts the hardening advice and the verdict share.

use std::collections::BTreeSet;

use phonehome_catalog::Purpose;
use phonehome_record::is_loopback;

use super::model::{DomainRow, Report};

/// The hosts of a report that are neither the configured provider nor loopback.
pub(super) fn other_hosts(report: &Report) -> impl Iterator<Item = &DomainRow> {
    report.domains.iter().filter(move |d| {
        Some(d.domain.as_str()) != report.provider.as_deref()
            && !is_loopback(&d.domain)
            && !by_tools_only(d)
    })
}

/// Whether every request to a host was made by commands the model ran (a registry reached by
/// `npm install`): not the agent phoning home.
pub(super) fn by_tools_only(d: &DomainRow) -> bool {
    d.tool_requests > 0 && d.tool_requests >= d.requests
}

/// What a host was contacted for: what was sent there when the catalog knows it (telemetry
/// on an LLM vendor's host), else the host's purpose.
pub(super) fn purposes_of(d: &DomainRow) -> Vec<Purpose> {
    if d.sent.is_empty() {
        d.purpose.into_iter().collect()
    } else {
        d.sent.clone()
    }
}

/// Distinct purposes of the hosts contacted besides the provider and loopback.
pub(super) fn purposes_contacted(report: &Report) -> BTreeSet<Purpose> {
    other_hosts(report).flat_map(purposes_of).collect()
}
