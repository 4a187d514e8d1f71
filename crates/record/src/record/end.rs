//! The `end` record: the last line of a capture that ended cleanly, with its counts and what
//! the live OTLP export delivered.

use serde::{Deserialize, Serialize};

use super::is_zero;

/// Record counts in the `end` record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub conns: u64,
    pub requests: u64,
    pub responses: u64,
    pub errors: u64,
    pub blocked: u64,
    pub ws: u64,
    /// Requests phonehome answered itself (the sinkhole), a subset of `requests`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sinkholed: u64,
}

/// The `end` record, always the last line of a capture that ended cleanly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct End {
    pub ts: String,
    /// The child's exit code (`run`); a child killed by signal N gives 128+N.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Read as all zero when missing.
    #[serde(default)]
    pub counts: Counts,
    /// Body bytes forwarded but not stored because the recorder was behind. Read as 0 when
    /// missing.
    #[serde(default)]
    pub dropped_bytes: u64,
    /// What the live OTLP export (`--otlp`) delivered; absent when it was off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<OtlpDelivery>,
}

/// What the live OTLP exporter delivered to its collector, in the `end` record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtlpDelivery {
    /// Spans and log records the collector accepted.
    pub sent: u64,
    /// Spans and log records in batches the collector did not accept (down, slow, refused).
    pub failed: u64,
    /// Capture records the exporter never saw: its bounded queue was full. The capture file
    /// has them all.
    pub queue_dropped: u64,
}

impl OtlpDelivery {
    /// Everything that did not reach the collector: failed items plus records dropped at the
    /// queue.
    pub fn dropped(&self) -> u64 {
        self.failed + self.queue_dropped
    }
}
