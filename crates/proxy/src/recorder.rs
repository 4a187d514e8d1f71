//! The recorder: one writer thread that turns captured events into `phonehome/1` lines.
//!
//! Forwarding code never waits for it. Events go through an unbounded channel, but the memory
//! behind them is bounded: body bytes are reserved from a byte budget as they are captured and
//! released once written. When the budget is exhausted, body bytes are dropped and counted
//! (`dropped_bytes` in the body and in the `end` record), and the forwarded stream goes on.
//! Decompression, redaction and serialization all happen on the writer thread, off the
//! forwarding path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use phonehome_record::{
    encode_body, BodyInput, CaptureWriter, Counts, End, Headers, Record, Redactor, Target,
};
use tokio::sync::mpsc;

/// Default cap on the bytes stored per body (`--max-body`).
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;
/// How long the writer pauses after writing what was queued, so that it wakes at most a few
/// hundred times a second under load rather than once per event.
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// Default cap on body bytes held in memory for the recorder at once.
pub const DEFAULT_BUDGET: usize = 48 * 1024 * 1024;

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
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
            budget: DEFAULT_BUDGET,
            redactor: Redactor::new(),
            tap: None,
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
    pub bytes: Vec<u8>,
    pub size: u64,
    pub truncated: bool,
    pub dropped_bytes: u64,
    pub content_encoding: Option<String>,
    /// When the first body byte went through.
    pub first_data: Option<std::time::Instant>,
}

/// A request or response waiting for its body to be encoded and redacted.
#[derive(Debug)]
pub(crate) enum Pending {
    Request {
        record: phonehome_record::Request,
        target: Target,
        body: CapturedBody,
    },
    Response {
        record: phonehome_record::Response,
        body: CapturedBody,
    },
}

/// What the writer thread is sent. Queued, so the large record is boxed.
enum Message {
    Record(Box<Record>),
    Pending(Box<Pending>),
    Finish { exit_code: Option<i32> },
}

struct Shared {
    next_conn: AtomicU64,
    next_flow: AtomicU64,
    held: AtomicUsize,
    dropped: AtomicU64,
    options: RecorderOptions,
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
    thread: std::thread::JoinHandle<std::io::Result<CaptureSummary>>,
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
        let header = redact_record(header, &options.redactor);
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
            dropped: AtomicU64::new(0),
            options,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("phonehome-recorder".into())
            .spawn(move || write_loop(writer, rx, &thread_shared))?;
        Ok((Recorder { tx, shared }, RecorderTask { thread }))
    }

    pub(crate) fn next_conn(&self) -> u64 {
        self.shared.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_flow(&self) -> u64 {
        self.shared.next_flow.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn max_body(&self) -> usize {
        self.shared.options.max_body
    }

    /// Reserves `n` bytes of the body budget; false (and `n` counted as dropped) when full.
    /// Once a body has dropped bytes, the tee counts the rest of it as dropped without asking.
    pub(crate) fn reserve(&self, n: usize) -> bool {
        let budget = self.shared.options.budget;
        let reserved = self
            .shared
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + n <= budget).then_some(held + n)
            })
            .is_ok();
        if !reserved {
            self.shared.dropped.fetch_add(n as u64, Ordering::Relaxed);
        }
        reserved
    }

    /// Queues a finished record.
    /// Queues one record for writing.
    pub fn record(&self, record: Record) {
        // After `finish` the writer is gone; late events are dropped by design.
        let _ = self.tx.send(Message::Record(Box::new(record)));
    }

    pub(crate) fn pending(&self, pending: Pending) {
        let _ = self.tx.send(Message::Pending(Box::new(pending)));
    }

    /// Asks the writer to write the `end` record and stop. Events sent afterwards are dropped.
    pub fn finish(&self, exit_code: Option<i32>) {
        let _ = self.tx.send(Message::Finish { exit_code });
    }
}

impl RecorderTask {
    /// Waits for the writer to stop (after [`Recorder::finish`], or when every handle is gone).
    ///
    /// # Errors
    /// The first I/O error the writer met; lines before it are in the file.
    pub fn wait(self) -> std::io::Result<CaptureSummary> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the recorder thread panicked")))
    }
}

/// What a capture held, for the summary printed after a run.
#[derive(Debug, Clone, Default)]
pub struct CaptureSummary {
    pub counts: Counts,
    /// Requests and failures per host, sorted by host.
    pub hosts: BTreeMap<String, HostSummary>,
    /// Distinct failures: (target, phase, message) with how often each happened.
    pub failures: Vec<Failure>,
    /// Distinct denials: (target, rule, enforced) with how often each happened.
    pub blocked: Vec<BlockedSummary>,
    pub dropped_bytes: u64,
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

fn write_loop(
    mut writer: CaptureWriter,
    mut rx: mpsc::UnboundedReceiver<Message>,
    shared: &Shared,
) -> std::io::Result<CaptureSummary> {
    let mut summary = CaptureSummary::default();
    let mut redactor = shared.options.redactor.clone();
    while let Some(message) = rx.blocking_recv() {
        let mut next = Some(message);
        while let Some(message) = next.take() {
            if let Message::Finish { exit_code } = message {
                summary.dropped_bytes = shared.dropped.load(Ordering::Relaxed);
                let mut end = End {
                    ts: phonehome_record::now(),
                    exit_code,
                    counts: summary.counts.clone(),
                    dropped_bytes: summary.dropped_bytes,
                    otlp: None,
                };
                writer.flush()?;
                if let Some(tap) = &shared.options.tap {
                    end.otlp = tap.finish(&end);
                }
                summary.otlp = end.otlp;
                writer.write(&Record::End(end))?;
                writer.flush()?;
                return Ok(summary);
            }
            let record = finalize(message, shared, &mut redactor, &mut summary);
            count(&record, &mut summary);
            writer.write(&record)?;
            if let Some(tap) = &shared.options.tap {
                tap.record(record);
            }
            next = rx.try_recv().ok();
        }
        writer.flush()?;
        // Under load, let events gather instead of waking for each one: recording lags by at
        // most this much, forwarding not at all.
        std::thread::sleep(BATCH_PAUSE);
    }
    writer.flush()?;
    summary.dropped_bytes = shared.dropped.load(Ordering::Relaxed);
    Ok(summary)
}

/// Encodes and redacts what was captured; releases the body bytes from the budget.
fn finalize(
    message: Message,
    shared: &Shared,
    redactor: &mut Redactor,
    summary: &mut CaptureSummary,
) -> Record {
    let limit = shared.options.max_body;
    let pending = match message {
        Message::Record(record) => return redact_record(*record, redactor),
        Message::Finish { .. } => unreachable!("handled by the caller"),
        Message::Pending(pending) => *pending,
    };
    match pending {
        Pending::Request {
            mut record,
            target,
            body,
        } => {
            summary.hosts.entry(target.host).or_default().requests += 1;
            redact_headers(&mut record.headers, redactor);
            record.url = redactor.url(&record.url);
            redact_process(
                record.process.as_deref_mut(),
                &mut record.ancestry,
                redactor,
            );
            let held = body.bytes.len();
            record.body = encode(body, redactor, limit);
            release(shared, held);
            Record::Request(record)
        }
        Pending::Response { mut record, body } => {
            redact_headers(&mut record.headers, redactor);
            let held = body.bytes.len();
            record.body = encode(body, redactor, limit);
            release(shared, held);
            Record::Response(record)
        }
    }
}

/// Returns a written body's bytes to the budget.
fn release(shared: &Shared, held: usize) {
    shared.held.fetch_sub(held, Ordering::AcqRel);
}

fn encode(body: CapturedBody, redactor: &Redactor, limit: usize) -> Option<phonehome_record::Body> {
    encode_body(
        BodyInput {
            bytes: body.bytes,
            size: body.size,
            truncated: body.truncated,
            content_encoding: body.content_encoding.as_deref(),
            dropped_bytes: body.dropped_bytes,
            limit,
        },
        redactor,
    )
}

/// Redacts headers, first learning the credentials they carry so that the same values are
/// redacted wherever they appear later (a server echoing them, a body repeating them).
fn redact_headers(headers: &mut Headers, redactor: &mut Redactor) {
    for (name, value) in headers.iter() {
        if let Some(credential) = Redactor::credential(name, value) {
            redactor.learn(credential);
        }
    }
    for (name, value) in headers.iter_mut() {
        *value = redactor.header(name, value);
    }
}

fn redact_record(mut record: Record, redactor: &Redactor) -> Record {
    match &mut record {
        Record::Ws(ws) => phonehome_record::redact_ws(ws, redactor),
        Record::Error(e) => e.message = redactor.text(&e.message).into_owned(),
        Record::Blocked(b) => b.url = b.url.as_deref().map(|u| redactor.url(u)),
        Record::Capture(c) => {
            c.command = redactor.argv(&c.command);
            // A git remote can carry a token in its userinfo.
            for marker in &mut c.markers.values {
                marker.value = redactor.url(&marker.value);
            }
        }
        Record::Conn(c) => redact_process(c.process.as_deref_mut(), &mut c.ancestry, redactor),
        Record::Request(r) => redact_process(r.process.as_deref_mut(), &mut r.ancestry, redactor),
        _ => {}
    }
    record
}

/// Redacts the command lines of a connection's process and its ancestors.
fn redact_process(
    process: Option<&mut phonehome_record::ConnProcess>,
    ancestry: &mut [phonehome_record::Ancestor],
    redactor: &Redactor,
) {
    if let Some(phonehome_record::ConnProcess::Known(process)) = process {
        process.argv = redactor.argv(&process.argv);
    }
    for ancestor in ancestry {
        ancestor.argv = redactor.argv(&ancestor.argv);
    }
}

fn count(record: &Record, summary: &mut CaptureSummary) {
    let counts = &mut summary.counts;
    match record {
        Record::Conn(_) => counts.conns += 1,
        Record::Request(r) => {
            counts.requests += 1;
            if r.sinkhole.is_some() {
                counts.sinkholed += 1;
            }
        }
        Record::Response(_) => counts.responses += 1,
        Record::Blocked(b) => {
            counts.blocked += 1;
            match summary
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
            }
        }
        Record::Ws(_) => counts.ws += 1,
        Record::Error(e) => {
            counts.errors += 1;
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

#[cfg(test)]
mod planted_tests;
#[cfg(test)]
mod tests;
