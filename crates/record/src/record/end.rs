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
    /// Body bytes forwarded but not stored because the recorder was behind: the sum of the
    /// `dropped_bytes` of the bodies in the file. Read as 0 when missing.
    #[serde(default)]
    pub dropped_bytes: u64,
    /// Records that never reached the file, and why; absent when none were lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<Lost>,
    /// What the live OTLP export (`--otlp`) delivered; absent when it was off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<OtlpDelivery>,
}

/// Records the proxy produced that are not in the capture file (the `end` record's `lost`).
/// `counts` are of the records in the file; these come on top of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lost {
    /// Records dropped whole because the recorder's memory was full: the file was written
    /// slower than traffic arrived. Connection and error records are the last to go.
    #[serde(default)]
    pub recorder_full: u64,
    /// Records lost because the file could not be written (disk full, file size limit).
    #[serde(default)]
    pub write_failed: u64,
    /// Records still waiting to be written when phonehome was told to stop at once (a second
    /// Ctrl-C or SIGTERM) or its drain time ran out.
    #[serde(default)]
    pub unwritten_at_stop: u64,
    /// The first write error, as the operating system worded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_error: Option<String>,
}

impl Lost {
    /// Every record lost, whatever the cause.
    pub fn records(&self) -> u64 {
        self.recorder_full + self.write_failed + self.unwritten_at_stop
    }

    /// Why the capture is incomplete, in one line for warnings and status bars:
    /// `incomplete: 12 records are not in the file (3: the recorder was behind; 9: writing
    /// failed: No space left on device (os error 28))`.
    pub fn describe(&self) -> String {
        let mut causes = Vec::new();
        if self.recorder_full > 0 {
            causes.push(format!("{}: the recorder was behind", self.recorder_full));
        }
        if self.write_failed > 0 || self.write_error.is_some() {
            let error = self.write_error.as_deref().unwrap_or("unknown error");
            causes.push(format!("{}: writing failed: {error}", self.write_failed));
        }
        if self.unwritten_at_stop > 0 {
            causes.push(format!(
                "{}: still queued when phonehome was stopped",
                self.unwritten_at_stop
            ));
        }
        format!(
            "incomplete: {} records are not in the file ({})",
            self.records(),
            causes.join("; ")
        )
    }

    /// True when nothing was lost and no write failed.
    pub fn is_empty(&self) -> bool {
        self.records() == 0 && self.write_error.is_none()
    }
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
