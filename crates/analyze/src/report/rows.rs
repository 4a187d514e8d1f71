//! The report's simple tables from the builder's counts: package, failure, blocked-connection
//! and TLS-fingerprint rows, in the order the report lists them.

use std::collections::BTreeMap;

use phonehome_catalog::{Ecosystem, PackageKind};
use phonehome_record::Phase;

use super::model::{BlockedRow, FailureRow, FingerprintRow, PackageRow};

pub(super) fn package_rows(
    packages: BTreeMap<(Ecosystem, PackageKind, String, String), u64>,
) -> Vec<PackageRow> {
    packages
        .into_iter()
        .map(|((ecosystem, kind, package, host), requests)| PackageRow {
            ecosystem,
            kind,
            package,
            host,
            requests,
        })
        .collect()
}

pub(super) fn failure_rows(failures: BTreeMap<(String, Phase, String), u64>) -> Vec<FailureRow> {
    failures
        .into_iter()
        .map(|((target, phase, message), count)| FailureRow {
            target,
            phase,
            message,
            count,
        })
        .collect()
}

pub(super) fn blocked_rows(blocked: BTreeMap<(String, String, bool), u64>) -> Vec<BlockedRow> {
    blocked
        .into_iter()
        .map(|((target, rule, enforced), count)| BlockedRow {
            target,
            rule,
            enforced,
            count,
        })
        .collect()
}

pub(super) fn fingerprint_rows(
    fingerprints: BTreeMap<(String, String, String), u64>,
) -> Vec<FingerprintRow> {
    fingerprints
        .into_iter()
        .map(|((host, ja4, ja3), connections)| FingerprintRow {
            host,
            ja4,
            ja3,
            connections,
        })
        .collect()
}
