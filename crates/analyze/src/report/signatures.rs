//! Request signatures as the report counts them: requests, failures and statuses per
//! signature (method, host and path pattern), retries of a failed body, and the table of the
//! most frequent.

use std::collections::BTreeMap;

use foldhash::HashMap;

use super::model::SignatureRow;
use super::timeline::Burst;

/// Rows of the signature table kept in the report (the count of all is in the summary).
const TOP_SIGNATURES: usize = 30;

#[derive(Default)]
pub(super) struct SignatureAcc {
    pub(super) requests: u64,
    pub(super) failures: u64,
    pub(super) statuses: BTreeMap<u16, u64>,
    pub(super) burst: Option<Burst>,
    /// Hash of the request body of the last failed request, to count retries.
    last_failed_body: Option<u64>,
}

impl SignatureAcc {
    /// Counts a request; whether it repeated the body of the last failed one (a retry).
    pub(super) fn add(
        &mut self,
        failed: bool,
        status: Option<u16>,
        body_hash: Option<u64>,
    ) -> bool {
        self.requests += 1;
        self.failures += u64::from(failed);
        *self.statuses.entry(status.unwrap_or(0)).or_default() += 1;
        let body = body_hash.or(Some(0));
        let retry = self.last_failed_body.is_some() && self.last_failed_body == body;
        self.last_failed_body = if failed { body } else { None };
        retry
    }
}

pub(super) fn signature_rows(signatures: HashMap<String, SignatureAcc>) -> Vec<SignatureRow> {
    let mut rows: Vec<SignatureRow> = signatures
        .into_iter()
        .map(|(signature, acc)| SignatureRow {
            signature,
            requests: acc.requests,
            failures: acc.failures,
            statuses: acc.statuses,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then(a.signature.cmp(&b.signature))
    });
    rows.truncate(TOP_SIGNATURES);
    rows
}
