//! What a capture held, gathered as the writer writes: the figures of the after-run summary.

use std::collections::BTreeMap;

use phonehome_record::{Counts, Lost, Record, Target};

/// What a capture held, for the summary printed after a run.
#[derive(Debug, Clone, Default)]
pub struct CaptureSummary {
    /// Records in the file, by type (the `end` record's `counts`).
    pub counts: Counts,
    /// Requests and failures per host, sorted by host.
    pub hosts: BTreeMap<String, HostSummary>,
    /// Distinct failures: (target, phase, message) with how often each happened.
    pub failures: Vec<Failure>,
    /// Distinct denials: (target, rule, enforced) with how often each happened.
    pub blocked: Vec<BlockedSummary>,
    /// Body bytes forwarded but not stored (the sum of the file's `body.dropped_bytes`).
    pub dropped_bytes: u64,
    /// Records not in the file, and why (the `end` record's `lost`).
    pub lost: Lost,
    /// Why the `end` record could not be written, when it could not.
    pub end_error: Option<String>,
    /// What the live OTLP export delivered, when it was on.
    pub otlp: Option<phonehome_record::OtlpDelivery>,
}

/// Per-host figures of a [`CaptureSummary`].
#[derive(Debug, Clone, Default)]
pub struct HostSummary {
    pub requests: u64,
    pub errors: u64,
}

/// One distinct denial of a [`CaptureSummary`].
#[derive(Debug, Clone)]
pub struct BlockedSummary {
    pub target: Target,
    pub rule: String,
    pub enforced: bool,
    pub count: u64,
}

/// One distinct failure of a [`CaptureSummary`].
#[derive(Debug, Clone)]
pub struct Failure {
    pub target: Target,
    pub phase: phonehome_record::Phase,
    pub message: String,
    pub count: u64,
}

/// Adds one record to the per-type counts; `dropped_bytes` gains its bodies' dropped bytes.
pub(super) fn count_record(record: &Record, counts: &mut Counts, dropped_bytes: &mut u64) {
    match record {
        Record::Conn(_) => counts.conns += 1,
        Record::Request(r) => {
            counts.requests += 1;
            if r.sinkhole.is_some() {
                counts.sinkholed += 1;
            }
            *dropped_bytes += r.body.as_ref().map_or(0, |b| b.dropped_bytes);
        }
        Record::Response(r) => {
            counts.responses += 1;
            *dropped_bytes += r.body.as_ref().map_or(0, |b| b.dropped_bytes);
        }
        Record::Blocked(_) => counts.blocked += 1,
        Record::Ws(_) => counts.ws += 1,
        Record::Error(_) => counts.errors += 1,
        _ => {}
    }
}

/// Adds the counts of one batch to the totals.
pub(super) fn add_counts(total: &mut Counts, batch: &Counts) {
    total.conns += batch.conns;
    total.requests += batch.requests;
    total.responses += batch.responses;
    total.errors += batch.errors;
    total.blocked += batch.blocked;
    total.ws += batch.ws;
    total.sinkholed += batch.sinkholed;
}

/// Notes the hosts, failures and denials of one record (whether or not it reached the file:
/// they describe the traffic).
pub(super) fn note_traffic(record: &Record, summary: &mut CaptureSummary) {
    match record {
        Record::Blocked(b) => match summary
            .blocked
            .iter_mut()
            .find(|s| s.target == b.target && s.rule == b.rule)
        {
            Some(s) => s.count += 1,
            None => summary.blocked.push(BlockedSummary {
                target: b.target.clone(),
                rule: b.rule.clone(),
                enforced: b.enforced,
                count: 1,
            }),
        },
        Record::Error(e) => {
            summary
                .hosts
                .entry(e.target.host.clone())
                .or_default()
                .errors += 1;
            match summary
                .failures
                .iter_mut()
                .find(|f| f.target == e.target && f.phase == e.phase && f.message == e.message)
            {
                Some(f) => f.count += 1,
                None => summary.failures.push(Failure {
                    target: e.target.clone(),
                    phase: e.phase,
                    message: e.message.clone(),
                    count: 1,
                }),
            }
        }
        _ => {}
    }
}
