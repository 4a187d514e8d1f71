//! The recorder: one writer thread that turns captured events into `phonehome/1` lines.
//!
//! Forwarding code never waits for it, and the memory behind it is bounded. Everything queued
//! for the writer (body bytes and records alike) is reserved from one byte count, released
//! once written. The overload rule, when the file is written slower than traffic arrives:
//!
//! 1. body bytes go first: past `budget` bytes held, a body keeps what it has and the rest is
//!    dropped (`truncated`, `dropped_bytes` in the body; their sum is the `end` record's
//!    `dropped_bytes`);
//! 2. then whole `request`, `response` and `ws` records: past `budget` + ¼ they are dropped
//!    (a response whose request was dropped goes with it), counted in `end.lost.recorder_full`
//!    and said once on stderr;
//! 3. `conn`, `error`, `blocked` and `dns` records last, past `budget` + ½.
//!
//! Decompression, redaction and serialization all happen on the writer thread, off the
//! forwarding path; a file that cannot be written is handled by the [`sink`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use phonehome_record::{CaptureWriter, ConnId, End, FlowId, Record, Redactor, Target};
use tokio::sync::mpsc;

mod head_text;
mod memo;
mod sink;
mod spool;
mod summary;
mod write_loop;

pub(crate) use head_text::{header_pairs, HeadText};
use memo::RedactionMemo;
pub(crate) use spool::Spool;
use spool::SpoolDir;
pub use summary::{BlockedSummary, CaptureSummary, Failure, HostSummary};
use write_loop::redact_record;

/// Default cap on the bytes stored per body (`--max-body`).
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

/// Default cap on body bytes held in memory for the recorder at once; records may hold up to
/// half as much again (see the module's overload rule).
pub const DEFAULT_BUDGET: usize = 48 * 1024 * 1024;

/// What a queued record is reckoned to hold besides its strings (the boxed record, the
/// channel slot, allocator rounding).
const RECORD_OVERHEAD: usize = 512;

/// What the recorder needs to know besides the file.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    /// Bytes stored per body before it is marked `truncated`.
    pub max_body: usize,
    /// Body bytes held for the recorder at once before bytes are dropped.
    pub budget: usize,
    pub redactor: Redactor,
    /// A consumer of the records as they are written (the live OTLP exporter).
    pub tap: Option<Arc<dyn RecordTap>>,
    /// Where a body's bytes past its first MiB are kept until written (see [`spool`]); `None`:
    /// in memory. Check it with [`check_spool_dir`] first.
    pub spool_dir: Option<std::path::PathBuf>,
    /// For tests only: a pause before each record is written, standing in for a slow disk.
    pub test_write_delay: Option<std::time::Duration>,
    /// For tests only: no spooled bytes are written while this file does not exist, standing
    /// in for a disk that does not take writes.
    pub test_spool_gate: Option<std::path::PathBuf>,
}

/// Makes and drops one spool file in `dir`, to learn before traffic comes whether large
/// bodies can be spooled there.
///
/// # Errors
/// Why a spool file cannot be made in `dir` (no such directory, not writable).
pub fn check_spool_dir(dir: &std::path::Path) -> std::io::Result<()> {
    spool::check(dir)
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
            budget: DEFAULT_BUDGET,
            redactor: Redactor::new(),
            tap: None,
            spool_dir: None,
            test_write_delay: None,
            test_spool_gate: None,
        }
    }
}

/// Something fed every record as the writer thread writes it, redacted, in file order.
pub trait RecordTap: Send + Sync + std::fmt::Debug {
    /// One record, just written (handed over: the writer is done with it). Called on the
    /// writer thread: it must not wait (queue and return; drop and count when the queue is
    /// full).
    fn record(&self, record: Record);

    /// The capture is ending with `end` (written after this returns): deliver what is queued,
    /// waiting a bounded time, and say what was delivered (the `end` record's `otlp`).
    fn finish(&self, end: &End) -> Option<phonehome_record::OtlpDelivery>;
}

/// Body bytes as the tee captured them, before decoding.
#[derive(Debug, Default)]
pub(crate) struct CapturedBody {
    /// The stored bytes, when they are not in `spool`.
    pub bytes: Vec<u8>,
    /// The stored bytes of a large body (see [`spool`]).
    pub spool: Option<Spool>,
    pub size: u64,
    pub truncated: bool,
    pub dropped_bytes: u64,
    pub content_encoding: Option<String>,
    /// When the first body byte went through.
    pub first_data: Option<std::time::Instant>,
}

impl CapturedBody {
    /// Stored bytes, in memory or spooled: what the body holds of the recorder's budget.
    pub(crate) fn stored(&self) -> usize {
        self.bytes.len() + self.spool.as_ref().map_or(0, Spool::len)
    }
}

/// A request or response waiting for its body to be encoded and redacted. `head` holds its
/// headers, appended to the record's (empty, as the engine queues it) on the writer thread.
#[derive(Debug)]
pub(crate) enum Pending {
    Request {
        record: phonehome_record::Request,
        head: HeadText,
        target: Target,
        body: CapturedBody,
    },
    Response {
        record: phonehome_record::Response,
        head: HeadText,
        body: CapturedBody,
    },
}

/// What the writer thread is sent. Queued, so the large record is boxed; `held` is what it
/// reserved of the budget, released once it is written.
enum Message {
    Record { record: Box<Record>, held: usize },
    Pending { pending: Box<Pending>, held: usize },
    Finish { exit_code: Option<i32> },
}

impl Message {
    fn held(&self) -> usize {
        match self {
            Message::Record { held, .. } | Message::Pending { held, .. } => *held,
            Message::Finish { .. } => 0,
        }
    }
}

/// Which level of the overload rule a reservation belongs to.
#[derive(Debug, Clone, Copy)]
enum Class {
    Body,
    Flow,
    Metadata,
}

struct Shared {
    next_conn: AtomicU64,
    next_flow: AtomicU64,
    /// Bytes queued for the writer (body bytes and records).
    held: AtomicUsize,
    /// Whole records dropped because `held` was at its limit.
    recorder_full: AtomicU64,
    warned_full: AtomicBool,
    /// Set by [`Recorder::stop_now`]: the writer skips what is queued and writes `end`.
    stop_now: AtomicBool,
    /// Events the writer has taken off its queue (written, or counted as lost).
    taken: AtomicU64,
    spool_dir: Option<SpoolDir>,
    options: RecorderOptions,
}

impl Shared {
    fn limit(&self, class: Class) -> usize {
        let budget = self.options.budget;
        match class {
            Class::Body => budget,
            Class::Flow => budget + budget / 4,
            Class::Metadata => budget + budget / 2,
        }
    }

    /// Reserves `n` bytes at `class`'s level; false when that level is reached.
    fn reserve(&self, n: usize, class: Class) -> bool {
        let limit = self.limit(class);
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + n <= limit).then_some(held + n)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::AcqRel);
    }

    /// Counts a whole record dropped, saying so on stderr the first time.
    fn dropped_record(&self) {
        self.recorder_full.fetch_add(1, Ordering::Relaxed);
        if !self.warned_full.swap(true, Ordering::Relaxed) {
            eprintln!(
                "phonehome: warning: the capture file is written slower than traffic arrives: \
                 whole records are being dropped (counted in the `end` record); forwarding goes on"
            );
        }
    }
}

/// A cheap, cloneable handle for sending events to the recorder.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

/// The writer side, to wait on once the capture is finished.
#[derive(Debug)]
pub struct RecorderTask {
    thread: std::thread::JoinHandle<CaptureSummary>,
}

impl Recorder {
    /// Starts the writer thread on `writer` and writes `header` as the first line.
    ///
    /// # Errors
    /// An I/O error writing the header or starting the thread.
    pub fn start(
        mut writer: CaptureWriter,
        header: Record,
        options: RecorderOptions,
    ) -> std::io::Result<(Recorder, RecorderTask)> {
        let header = redact_record(header, &mut RedactionMemo::new(options.redactor.clone()));
        writer.write(&header)?;
        writer.flush()?;
        if let Some(tap) = &options.tap {
            tap.record(header);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            next_conn: AtomicU64::new(1),
            next_flow: AtomicU64::new(1),
            held: AtomicUsize::new(0),
            recorder_full: AtomicU64::new(0),
            warned_full: AtomicBool::new(false),
            stop_now: AtomicBool::new(false),
            taken: AtomicU64::new(0),
            spool_dir: match &options.spool_dir {
                Some(dir) => Some(SpoolDir::start(
                    dir.clone(),
                    options.test_spool_gate.clone(),
                )?),
                None => None,
            },
            options,
        });
        let thread_shared = shared.clone();
        let sink = sink::Sink::new(writer);
        let thread = std::thread::Builder::new()
            .name("phonehome-recorder".into())
            .spawn(move || write_loop::write_loop(sink, rx, &thread_shared))?;
        Ok((Recorder { tx, shared }, RecorderTask { thread }))
    }

    pub(crate) fn next_conn(&self) -> ConnId {
        ConnId(self.shared.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn next_flow(&self) -> FlowId {
        FlowId(self.shared.next_flow.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn max_body(&self) -> usize {
        self.shared.options.max_body
    }

    /// Reserves `n` body bytes; false when bodies are at their limit (the caller counts the
    /// bytes in the body's `dropped_bytes`). Once a body has dropped bytes, the tee counts the
    /// rest of it as dropped without asking.
    pub(crate) fn reserve(&self, n: usize) -> bool {
        self.shared.reserve(n, Class::Body)
    }

    /// Stores `data` after `body`'s bytes through the spool, without waiting on the disk;
    /// false when the recorder does not spool (the caller keeps them in memory).
    pub(crate) fn spool(&self, body: &mut CapturedBody, data: &Bytes) -> bool {
        let Some(spools) = &self.shared.spool_dir else {
            return false;
        };
        spools.store(body, data);
        true
    }

    /// Queues one record for writing; dropped and counted when the recorder is full.
    pub fn record(&self, record: Record) {
        let class = match record {
            Record::Request(_) | Record::Response(_) | Record::Ws(_) => Class::Flow,
            _ => Class::Metadata,
        };
        let held = estimate(&record);
        if !self.shared.reserve(held, class) {
            self.shared.dropped_record();
            return;
        }
        let message = Message::Record {
            record: Box::new(record),
            held,
        };
        if let Err(unsent) = self.tx.send(message) {
            // After `finish` the writer is gone; late events are dropped by design.
            self.shared.release(unsent.0.held());
        }
    }

    /// Queues a request or response with its body; false (the record dropped, counted, its
    /// body's bytes released) when the recorder is full.
    pub(crate) fn pending(&self, pending: Pending) -> bool {
        let (record, body) = match &pending {
            Pending::Request {
                record, head, body, ..
            } => (
                RECORD_OVERHEAD + estimate_head(&record.url, &record.headers) + head.estimate(),
                body,
            ),
            Pending::Response { record, head, body } => (
                RECORD_OVERHEAD + estimate_head(&record.reason, &record.headers) + head.estimate(),
                body,
            ),
        };
        let body = body.stored();
        if !self.shared.reserve(record, Class::Flow) {
            self.shared.release(body);
            self.shared.dropped_record();
            return false;
        }
        let message = Message::Pending {
            pending: Box::new(pending),
            held: record + body,
        };
        if let Err(unsent) = self.tx.send(message) {
            self.shared.release(unsent.0.held());
        }
        true
    }

    /// Counts a record dropped because the record it belongs to was (a response whose
    /// request was dropped), releasing its body's bytes.
    pub(crate) fn drop_pending(&self, pending: &Pending) {
        let body = match pending {
            Pending::Request { body, .. } | Pending::Response { body, .. } => body,
        };
        self.shared.release(body.stored());
        self.shared.dropped_record();
    }

    /// Asks the writer to write the `end` record and stop. Events sent afterwards are dropped.
    pub fn finish(&self, exit_code: Option<i32>) {
        let _ = self.tx.send(Message::Finish { exit_code });
    }

    /// Tells the writer to stop writing what is queued: it counts it
    /// (`end.lost.unwritten_at_stop`) and, after [`Recorder::finish`], writes `end` at once.
    pub fn stop_now(&self) {
        self.shared.stop_now.store(true, Ordering::Release);
    }

    /// How many queued events the writer has taken so far (written, or counted as lost): a
    /// writer that is behind but moving makes this grow; a stuck one does not.
    pub fn progress(&self) -> u64 {
        self.shared.taken.load(Ordering::Acquire)
    }

    /// Whether anything is still queued for the writer.
    pub fn behind(&self) -> bool {
        self.shared.held.load(Ordering::Acquire) > 0
    }
}

impl RecorderTask {
    /// Waits for the writer to stop (after [`Recorder::finish`], or when every handle is gone).
    ///
    /// # Errors
    /// Only when the writer thread panicked. A file that could not be written is in the
    /// summary (`lost`, `end_error`).
    pub fn wait(self) -> std::io::Result<CaptureSummary> {
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("the recorder thread panicked"))
    }
}

/// The bytes a queued record is reckoned to hold: its strings plus [`RECORD_OVERHEAD`].
fn estimate(record: &Record) -> usize {
    let strings = match record {
        Record::Request(r) => {
            estimate_head(&r.url, &r.headers)
                + r.raw_header_names.iter().map(String::len).sum::<usize>()
                + r.body.as_ref().map_or(0, |b| b.data.len())
        }
        Record::Response(r) => {
            estimate_head(&r.reason, &r.headers) + r.body.as_ref().map_or(0, |b| b.data.len())
        }
        Record::Ws(w) => w.data.len(),
        Record::Error(e) => e.message.len(),
        Record::Blocked(b) => b.url.as_ref().map_or(0, String::len) + b.rule.len(),
        Record::Conn(c) => {
            let process = match c.process.as_deref() {
                Some(phonehome_record::ConnProcess::Known(p)) => {
                    p.exe.len() + p.argv.iter().map(String::len).sum::<usize>()
                }
                _ => 0,
            };
            process + c.ancestry.len() * 64
        }
        _ => 0,
    };
    RECORD_OVERHEAD + strings
}

/// The bytes of a request or response head: its first line's text and its headers.
fn estimate_head(line: &str, headers: &phonehome_record::Headers) -> usize {
    line.len()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 48)
            .sum::<usize>()
}

#[cfg(test)]
mod planted_tests;
#[cfg(test)]
mod tests;
