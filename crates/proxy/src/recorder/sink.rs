//! The file side of the recorder: writes records, commits them in batches, and when the file
//! cannot be written (disk full, file size limit) keeps going: says so once on stderr, counts
//! what is lost, retries, and says when writing resumed.

use std::io::Read;
use std::time::{Duration, Instant};

use phonehome_record::{CaptureWriter, Counts, Lost, Record};

use super::summary::{add_counts, count_record};

/// How long after a failed write the next attempt is made. Records arriving meanwhile are
/// counted as lost; the `end` record is always attempted.
const RETRY: Duration = Duration::from_secs(1);

/// Records between two commits under load: what one failed write can take with it.
pub(super) const COMMIT_EVERY: u64 = 256;

/// The capture file and what reached it.
pub(super) struct Sink {
    writer: CaptureWriter,
    /// Counts and dropped body bytes of the records written since the last commit.
    staged: Counts,
    staged_dropped_bytes: u64,
    pub(super) staged_records: u64,
    /// Of the records committed to the file.
    pub(super) counts: Counts,
    pub(super) dropped_bytes: u64,
    pub(super) lost: Lost,
    /// While writing fails: when to try again.
    retry_at: Option<Instant>,
    /// Records lost since writing last failed (for the "resumed" message).
    lost_in_outage: u64,
}

impl Sink {
    pub(super) fn new(writer: CaptureWriter) -> Self {
        Self {
            writer,
            staged: Counts::default(),
            staged_dropped_bytes: 0,
            staged_records: 0,
            counts: Counts::default(),
            dropped_bytes: 0,
            lost: Lost::default(),
            retry_at: None,
            lost_in_outage: 0,
        }
    }

    /// Writes one record, or counts it as lost while writing fails.
    pub(super) fn write(&mut self, record: &Record) {
        self.write_line(record, None);
    }

    /// Writes a request or response whose body's base64 is written from `bytes` (see
    /// [`CaptureWriter::write_with_base64_body`]), or counts it as lost while writing fails.
    pub(super) fn write_with_base64_body(&mut self, record: &Record, bytes: &mut dyn Read) {
        self.write_line(record, Some(bytes));
    }

    fn write_line(&mut self, record: &Record, bytes: Option<&mut dyn Read>) {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            self.lose(1);
            return;
        }
        let written = match bytes {
            Some(bytes) => self.writer.write_with_base64_body(record, bytes),
            None => self.writer.write(record),
        };
        match written {
            Ok(()) => {
                count_record(record, &mut self.staged, &mut self.staged_dropped_bytes);
                self.staged_records += 1;
            }
            Err(e) => self.failed(&e),
        }
    }

    /// Commits what was written. `force` tries even while waiting to retry (at the end).
    pub(super) fn commit(&mut self, force: bool) {
        if !force && self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        if let Err(e) = self.writer.flush() {
            self.failed(&e);
            return;
        }
        add_counts(&mut self.counts, &std::mem::take(&mut self.staged));
        self.dropped_bytes += std::mem::take(&mut self.staged_dropped_bytes);
        self.staged_records = 0;
        if self.retry_at.take().is_some() {
            eprintln!(
                "phonehome: capture writing resumed; {} records were lost meanwhile (counted in the `end` record)",
                std::mem::take(&mut self.lost_in_outage)
            );
        }
    }

    /// Writes and commits the `end` record.
    ///
    /// # Errors
    /// Why it could not be written.
    pub(super) fn write_end(&mut self, end: &Record) -> std::io::Result<()> {
        let written = self.writer.write(end).and_then(|()| self.writer.flush());
        if written.is_err() {
            // Leave no torn `end` behind: readers then say the capture stopped early.
            let _ = self.writer.discard();
        }
        written
    }

    fn lose(&mut self, records: u64) {
        self.lost.write_failed += records;
        self.lost_in_outage += records;
    }

    /// After a failed write: cut the file back to its last whole line, count the records
    /// dropped with it, warn once, and wait before trying again.
    fn failed(&mut self, error: &std::io::Error) {
        let dropped = self.writer.discard().unwrap_or(self.staged_records + 1);
        self.staged = Counts::default();
        self.staged_dropped_bytes = 0;
        self.staged_records = 0;
        self.lose(dropped);
        if self.lost.write_error.is_none() {
            eprintln!(
                "phonehome: warning: cannot write the capture file: {error}; forwarding goes on, lost records are counted and writing is retried"
            );
            self.lost.write_error = Some(error.to_string());
        }
        self.retry_at = Some(Instant::now() + RETRY);
    }
}
