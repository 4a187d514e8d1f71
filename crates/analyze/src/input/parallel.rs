//! A capture's records, parsed on worker threads and handed back in order: the same items,
//! line numbers and errors as [`phonehome_record::CaptureReader`], at the speed of every core.
//!
//! The file is read in chunks of whole lines; each chunk is parsed by a worker; the reader
//! keeps a few chunks in flight, so memory stays bounded whatever the capture's size.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use phonehome_record::{Capture, ReadError, ReadErrorKind, Record};

use crate::pool::InOrder;

/// Bytes of whole lines handed to a worker at once.
const CHUNK: usize = 1 << 19;
/// Chunks read ahead of the one being consumed.
const AHEAD: usize = 4;

/// What a worker makes of a record before handing it back: work that needs only the record
/// is done there, on every core.
pub(crate) trait Prepare: Send + 'static {
    fn prepare(record: Record) -> Self;
    /// The record when it is a capture header.
    fn header(&self) -> Option<&Capture>;
}

impl Prepare for Record {
    fn prepare(record: Record) -> Self {
        record
    }

    fn header(&self) -> Option<&Capture> {
        match self {
            Record::Capture(capture) => Some(capture),
            _ => None,
        }
    }
}

/// What a worker made of one line: the record, and the fields it lacks
/// ([`Record::missing_fields`]).
type Parsed<T> = (usize, Result<(T, Vec<&'static str>), ReadErrorKind>);

/// Records that lacked fields the analysis can do without: the first one's line and fields,
/// and how many records lacked some.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MissingFields {
    pub(crate) first_line: usize,
    pub(crate) fields: Vec<&'static str>,
    pub(crate) records: u64,
}

/// The records of a capture, parsed in parallel, in order, each prepared as a `T`.
pub(crate) struct Records<R, T = Record> {
    chunks: Chunks<R>,
    /// Lines in the chunks read so far.
    lines: usize,
    pool: InOrder<Vec<Parsed<T>>>,
    parsed: VecDeque<Parsed<T>>,
    seen_header: bool,
    done: bool,
    missing: Option<MissingFields>,
}

impl<R: Read, T: Prepare> Records<R, T> {
    /// Records read so far that lacked fields the analysis can do without.
    pub(crate) fn missing(&self) -> Option<&MissingFields> {
        self.missing.as_ref()
    }

    pub(crate) fn new(input: R, read: Progress) -> Self {
        Self {
            chunks: Chunks::new(input, read),
            lines: 0,
            pool: InOrder::new(),
            parsed: VecDeque::new(),
            seen_header: false,
            done: false,
            missing: None,
        }
    }

    /// Reads chunks until [`AHEAD`] are in flight or the input ends.
    fn read_ahead(&mut self) -> io::Result<()> {
        while !self.chunks.ended() && self.pool.pending() < AHEAD {
            let Some(chunk) = self.chunks.next_chunk()? else {
                continue;
            };
            let first_line = self.lines + 1;
            self.lines += line_count(&chunk);
            self.pool.submit(move || parse_chunk(&chunk, first_line));
        }
        Ok(())
    }

    fn next_item(&mut self) -> Option<Result<(usize, T), ReadError>> {
        loop {
            if let Some((line, parsed)) = self.parsed.pop_front() {
                return Some(self.checked(line, parsed));
            }
            if let Err(e) = self.read_ahead() {
                return Some(Err(ReadError {
                    line: self.lines.max(1),
                    kind: ReadErrorKind::Io(e),
                }));
            }
            self.parsed.extend(self.pool.next()?);
        }
    }

    /// The first record must be a capture header of the format this crate reads.
    fn checked(
        &mut self,
        line: usize,
        parsed: Result<(T, Vec<&'static str>), ReadErrorKind>,
    ) -> Result<(usize, T), ReadError> {
        let (item, missing) = parsed.map_err(|kind| ReadError { line, kind })?;
        if !missing.is_empty() {
            let first = self.missing.get_or_insert(MissingFields {
                first_line: line,
                fields: missing,
                records: 0,
            });
            first.records += 1;
        }
        if !self.seen_header {
            check_header(item.header()).map_err(|kind| ReadError { line, kind })?;
            self.seen_header = true;
        }
        Ok((line, item))
    }
}

impl<R: Read, T: Prepare> Iterator for Records<R, T> {
    type Item = Result<(usize, T), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_item()?;
        self.done = item.is_err();
        Some(item)
    }
}

/// Bytes of an input read so far, for a progress display. Clones share one counter, so a
/// display thread can watch what the reading threads do.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// Bytes read so far (reading runs ahead of the analysis by a few MiB at most).
    pub fn bytes_read(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: usize) {
        self.0.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// An input read in chunks of whole lines.
pub(crate) struct Chunks<R> {
    input: R,
    /// The start of a line whose end has not been read yet.
    carry: Vec<u8>,
    eof: bool,
    read: Progress,
}

impl<R: Read> Chunks<R> {
    pub(crate) fn new(input: R, read: Progress) -> Self {
        Self {
            input,
            carry: Vec::new(),
            eof: false,
            read,
        }
    }

    /// Whether the input has ended.
    pub(crate) fn ended(&self) -> bool {
        self.eof
    }

    /// The next chunk of whole lines (the last one may lack its newline); `None` when this
    /// read ended the input with nothing left.
    pub(crate) fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = Vec::with_capacity(self.carry.len() + CHUNK + 1);
        buf.append(&mut self.carry);
        loop {
            let before = buf.len();
            buf.reserve(CHUNK + 1);
            let n = (&mut self.input).take(CHUNK as u64).read_to_end(&mut buf)?;
            self.read.add(n);
            if n < CHUNK {
                // `take` reads until its limit or the end of the input.
                self.eof = true;
                return Ok((!buf.is_empty()).then_some(buf));
            }
            // The carried part has no newline: look in what was just read.
            if let Some(end) = last_newline(&buf[before..]).map(|i| before + i + 1) {
                self.carry = buf[end..].to_vec();
                buf.truncate(end);
                return Ok(Some(buf));
            }
        }
    }
}

fn check_header(header: Option<&Capture>) -> Result<(), ReadErrorKind> {
    let Some(capture) = header else {
        return Err(ReadErrorKind::NotACapture);
    };
    if capture.format != phonehome_record::FORMAT {
        return Err(ReadErrorKind::UnsupportedFormat {
            found: capture.format.clone(),
            expected: phonehome_record::FORMAT,
        });
    }
    Ok(())
}

fn last_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memrchr(b'\n', bytes)
}

/// Lines in a chunk: its newlines, and a last line without one.
fn line_count(chunk: &[u8]) -> usize {
    let newlines = memchr::memchr_iter(b'\n', chunk).count();
    newlines + usize::from(!chunk.ends_with(b"\n"))
}

/// Parses the lines of a chunk, numbered from `first_line`; blank lines are skipped, and
/// parsing stops at the first error.
fn parse_chunk<T: Prepare>(chunk: &[u8], first_line: usize) -> Vec<Parsed<T>> {
    let mut out = Vec::with_capacity(line_count(chunk));
    for (i, raw) in chunk.split_inclusive(|b| *b == b'\n').enumerate() {
        let line = first_line + i;
        let torn = !raw.ends_with(b"\n");
        let parsed = match std::str::from_utf8(raw) {
            Ok(text) => parse_line(text.trim_end_matches(['\n', '\r']), torn),
            Err(_) if torn => Some(Err(ReadErrorKind::TornTail)),
            Err(e) => Some(Err(ReadErrorKind::Utf8(e))),
        };
        let Some(parsed) = parsed else {
            continue;
        };
        let failed = parsed.is_err();
        out.push((line, parsed));
        if failed {
            break;
        }
    }
    out
}

/// One line's record; `None` for a blank line.
fn parse_line<T: Prepare>(
    text: &str,
    torn: bool,
) -> Option<Result<(T, Vec<&'static str>), ReadErrorKind>> {
    if text.trim().is_empty() {
        return None;
    }
    let record = |record: Record| {
        let missing = record.missing_fields(text);
        (T::prepare(record), missing)
    };
    Some(Record::from_line(text).map(record).map_err(|e| {
        if torn {
            ReadErrorKind::TornTail
        } else {
            ReadErrorKind::Json(e)
        }
    }))
}

#[cfg(test)]
#[path = "parallel_tests.rs"]
mod tests;
