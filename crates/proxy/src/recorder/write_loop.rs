//! The writer thread: takes queued events in order, encodes and redacts them, writes them
//! through the [`Sink`], and ends the capture with the `end` record.

use std::io::Read as _;
use std::sync::atomic::Ordering;

use phonehome_record::{encode_body, BodyInput, End, Record, Redactor};
use tokio::sync::mpsc;

use super::memo::RedactionMemo;
use super::sink::{Sink, COMMIT_EVERY};
use super::spool::{Settled, SpoolFile};
use super::summary::{note_traffic, CaptureSummary};
use super::{CapturedBody, Message, Pending, Shared, Spool};

/// How long the writer pauses after writing what was queued, so that it wakes at most a few
/// hundred times a second under load rather than once per event.
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// Runs until `Finish` (or until every sender is gone) and returns what the capture held.
pub(super) fn write_loop(
    sink: Sink,
    mut rx: mpsc::UnboundedReceiver<Message>,
    shared: &Shared,
) -> CaptureSummary {
    let mut writer = Writer {
        sink,
        summary: CaptureSummary::default(),
        memo: RedactionMemo::new(shared.options.redactor.clone()),
        shared,
    };
    while let Some(message) = rx.blocking_recv() {
        let mut next = Some(message);
        while let Some(message) = next.take() {
            if let Message::Finish { exit_code } = message {
                return writer.finish(Some(exit_code));
            }
            writer.take(message);
            if writer.sink.staged_records >= COMMIT_EVERY {
                writer.sink.commit(false);
            }
            next = rx.try_recv().ok();
        }
        writer.sink.commit(false);
        // Under load, let events gather instead of waking for each one: recording lags by at
        // most this much, forwarding not at all.
        std::thread::sleep(BATCH_PAUSE);
    }
    writer.finish(None)
}

struct Writer<'a> {
    sink: Sink,
    summary: CaptureSummary,
    memo: RedactionMemo,
    shared: &'a Shared,
}

impl Writer<'_> {
    /// Writes one queued event, or (told to stop at once) counts it as unwritten.
    fn take(&mut self, message: Message) {
        self.shared.taken.fetch_add(1, Ordering::Release);
        if self.shared.stop_now.load(Ordering::Acquire) {
            self.shared.release(message.held());
            self.sink.lost.unwritten_at_stop += 1;
            return;
        }
        if let Some(delay) = self.shared.options.test_write_delay {
            std::thread::sleep(delay);
        }
        let held = message.held();
        let (record, spooled) = self.finalize(message);
        self.shared.release(held);
        note_traffic(&record, &mut self.summary);
        match spooled {
            Some(mut bytes) => self.sink.write_with_base64_body(&record, &mut bytes),
            None => self.sink.write(&record),
        }
        if let Some(tap) = &self.shared.options.tap {
            tap.record(record);
        }
    }

    /// Commits what is written and writes the `end` record (`exit_code` is `None` when every
    /// sender went away without `Finish`: no `end` then).
    fn finish(mut self, exit_code: Option<Option<i32>>) -> CaptureSummary {
        self.sink.commit(true);
        self.sink.lost.recorder_full = self.shared.recorder_full.load(Ordering::Relaxed);
        let mut summary = self.summary;
        summary.counts = self.sink.counts.clone();
        summary.dropped_bytes = self.sink.dropped_bytes;
        summary.lost = self.sink.lost.clone();
        let Some(exit_code) = exit_code else {
            return summary;
        };
        let mut end = End {
            ts: phonehome_record::now(),
            exit_code,
            counts: summary.counts.clone(),
            dropped_bytes: summary.dropped_bytes,
            lost: (!summary.lost.is_empty()).then(|| summary.lost.clone()),
            otlp: None,
        };
        if let Some(tap) = &self.shared.options.tap {
            end.otlp = tap.finish(&end);
        }
        summary.otlp = end.otlp;
        if let Err(e) = self.sink.write_end(&Record::End(end)) {
            summary.end_error = Some(e.to_string());
        }
        summary
    }

    /// Encodes and redacts what was captured; with the record, the spooled bytes of a binary
    /// body to write as its base64 (its `data` left empty).
    fn finalize(&mut self, message: Message) -> (Record, Option<SpoolReader>) {
        let limit = self.shared.options.max_body;
        // A tap is handed the record whole: no body is written from its spool then.
        let stream = self.shared.options.tap.is_none();
        let memo = &mut self.memo;
        let pending = match message {
            Message::Record { record, .. } => return (redact_record(*record, memo), None),
            Message::Finish { .. } => unreachable!("handled by the caller"),
            Message::Pending { pending, .. } => *pending,
        };
        match pending {
            Pending::Request {
                mut record,
                head,
                target,
                body,
            } => {
                self.summary.hosts.entry(target.host).or_default().requests += 1;
                head.append_to(&mut record.headers);
                memo.headers(&mut record.headers);
                memo.url(&mut record.url);
                redact_process(record.process.as_deref_mut(), &mut record.ancestry, memo);
                let (body, spooled) = encode(body, memo.redactor(), limit, stream);
                record.body = body;
                (Record::Request(record), spooled)
            }
            Pending::Response {
                mut record,
                head,
                body,
            } => {
                head.append_to(&mut record.headers);
                memo.headers(&mut record.headers);
                let (body, spooled) = encode(body, memo.redactor(), limit, stream);
                record.body = body;
                (Record::Response(record), spooled)
            }
        }
    }
}

/// A spooled body's bytes, read back.
type SpoolReader = std::io::Take<SpoolFile>;

/// A spooled body as the writer takes it.
enum Spooled {
    /// Binary, stored as its base64 unchanged: written from the file into the line.
    Base64(SpoolReader),
    /// Anything else: its bytes, to be stored as a body in memory is.
    Bytes(Vec<u8>),
}

/// The stored form of `body`; with it, for a binary body in a spool file (`stream`: when it
/// may be written from there), the reader of the bytes whose base64 its `data` is.
fn encode(
    mut body: CapturedBody,
    redactor: &Redactor,
    limit: usize,
    stream: bool,
) -> (Option<phonehome_record::Body>, Option<SpoolReader>) {
    if let Some(spool) = body.spool.take() {
        match read_spool(spool, &mut body, redactor, stream) {
            Ok(Spooled::Base64(reader)) => {
                let stored = phonehome_record::plain_base64_body(
                    body.size,
                    body.truncated,
                    body.dropped_bytes,
                );
                return (Some(stored), Some(reader));
            }
            Ok(Spooled::Bytes(bytes)) => body.bytes = bytes,
            Err(e) => {
                // Our own unlinked file could not be read back: the body is stored empty.
                eprintln!("phonehome: warning: cannot read a spooled body back: {e}");
                body.truncated = true;
            }
        }
    }
    (encode_in_memory(body, redactor, limit), None)
}

/// Reads a spool back once the spooler is done with it: as a reader when its bytes are
/// stored as their plain base64 (and `stream`), else whole. Bytes the spooler could not
/// store are counted in `body` as dropped.
fn read_spool(
    spool: Spool,
    body: &mut CapturedBody,
    redactor: &Redactor,
    stream: bool,
) -> std::io::Result<Spooled> {
    let (settled, lost) = spool.settle()?;
    if lost > 0 {
        body.dropped_bytes += lost as u64;
        body.truncated = true;
    }
    let (mut file, len) = match settled {
        Settled::File(file, len) => (file, len),
        Settled::Memory(bytes) => return Ok(Spooled::Bytes(bytes)),
    };
    let coding = body.content_encoding.as_deref();
    if stream && phonehome_record::stored_as_plain_base64(&mut file, len, coding, redactor)? {
        return Ok(Spooled::Base64(file.take(len)));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len).read_to_end(&mut bytes)?;
    Ok(Spooled::Bytes(bytes))
}

fn encode_in_memory(
    body: CapturedBody,
    redactor: &Redactor,
    limit: usize,
) -> Option<phonehome_record::Body> {
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

/// `record` redacted, command lines through the memo (a `conn` record carries its client's
/// whole ancestry, the same on every connection of that client).
pub(super) fn redact_record(mut record: Record, memo: &mut RedactionMemo) -> Record {
    let redactor = memo.redactor();
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
        Record::Conn(c) => redact_process(c.process.as_deref_mut(), &mut c.ancestry, memo),
        Record::Request(r) => redact_process(r.process.as_deref_mut(), &mut r.ancestry, memo),
        _ => {}
    }
    record
}

/// Redacts the command lines of a connection's process and its ancestors.
fn redact_process(
    process: Option<&mut phonehome_record::ConnProcess>,
    ancestry: &mut [phonehome_record::Ancestor],
    memo: &mut RedactionMemo,
) {
    if let Some(phonehome_record::ConnProcess::Known(process)) = process {
        memo.argv(&mut process.argv);
    }
    for ancestor in ancestry {
        memo.argv(&mut ancestor.argv);
    }
}
