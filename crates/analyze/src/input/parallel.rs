//! A capture's records, parsed on worker threads and handed back in order: the same items,
//! line numbers and errors as [`phonehome_record::CaptureReader`], at the speed of every core.
//!
//! The file is read in chunks of whole lines; each chunk is parsed by a worker; the reader
//! keeps a few chunks in flight, so memory stays bounded whatever the capture's size.

use std::collections::VecDeque;
use std::io::{self, Read, Seek};
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

    #[cfg(test)]
    pub(crate) fn new(input: R, read: Progress) -> Self {
        Self::over(Chunks::new(input, read))
    }

    fn over(chunks: Chunks<R>) -> Self {
        Self {
            chunks,
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
            self.pool.submit(move || parse_chunk(chunk, first_line));
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

impl<R: Read + Seek, T: Prepare> Records<R, T> {
    /// Records of a seekable input (a file): a line longer than a chunk is read once, into a
    /// buffer of its size, and parsed in it ([`Chunks::seekable`]).
    pub(crate) fn seekable(input: R, read: Progress) -> Self {
        Self::over(Chunks::seekable(input, read))
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
    /// Moves the input back by so many bytes, when it can (a file).
    rewind: Option<fn(&mut R, u64) -> io::Result<()>>,
}

impl<R: Read + Seek> Chunks<R> {
    /// Chunks of a seekable input: a line longer than a chunk is measured first, then read
    /// into a buffer of exactly its size and handed on alone, so that it can be parsed in
    /// place ([`phonehome_record::Record::from_owned_line`]). Growing a buffer as the line
    /// comes in would hold up to twice its size while the buffer is copied.
    pub(crate) fn seekable(input: R, read: Progress) -> Self {
        let mut chunks = Self::new(input, read);
        chunks.rewind = Some(rewind::<R>);
        chunks
    }
}

/// Moves `input` back by `back` bytes.
fn rewind<R: Seek>(input: &mut R, back: u64) -> io::Result<()> {
    let back = i64::try_from(back).map_err(io::Error::other)?;
    input.seek(io::SeekFrom::Current(-back)).map(drop)
}

impl<R: Read> Chunks<R> {
    pub(crate) fn new(input: R, read: Progress) -> Self {
        Self {
            input,
            carry: Vec::new(),
            eof: false,
            read,
            rewind: None,
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
            if let Some(rewind) = self.rewind {
                return self.long_line(buf, rewind).map(Some);
            }
        }
    }

    /// The rest of a line longer than a chunk, whose start is `buf`: its end is found by
    /// reading on (without keeping the bytes), then the input is moved back and the line read
    /// into `buf`, grown once to the line's size. The line (and its newline) is the chunk.
    fn long_line(
        &mut self,
        mut buf: Vec<u8>,
        rewind: fn(&mut R, u64) -> io::Result<()>,
    ) -> io::Result<Vec<u8>> {
        let mut scan = vec![0; CHUNK];
        // Bytes read past `buf`, and of them the line's rest (up to its newline).
        let mut ahead: u64 = 0;
        let rest = loop {
            let n = self.input.read(&mut scan)?;
            if n == 0 {
                // The input ends in this line.
                self.eof = true;
                break ahead;
            }
            let newline = memchr::memchr(b'\n', &scan[..n]);
            ahead += n as u64;
            if let Some(i) = newline {
                break ahead - n as u64 + i as u64 + 1;
            }
        };
        drop(scan);
        rewind(&mut self.input, ahead)?;
        let rest_len = usize::try_from(rest).map_err(io::Error::other)?;
        buf.reserve_exact(rest_len);
        let n = (&mut self.input).take(rest).read_to_end(&mut buf)?;
        self.read.add(n);
        if n < rest_len {
            // The input shrank while it was read.
            self.eof = true;
        }
        Ok(buf)
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

/// The lines of `chunk`, each with its newline (the last one may lack it), as
/// `chunk.split_inclusive(|b| *b == b'\n')` gives them (no empty line after a last newline),
/// found with `memchr` rather than byte by byte.
pub(crate) fn lines_inclusive(chunk: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut newlines = memchr::memchr_iter(b'\n', chunk);
    std::iter::from_fn(move || {
        let end = newlines.next().map_or(chunk.len(), |i| i + 1);
        if start >= end {
            return None;
        }
        let line = &chunk[start..end];
        start = end;
        Some(line)
    })
}

/// Lines in a chunk: its newlines, and a last line without one.
fn line_count(chunk: &[u8]) -> usize {
    let newlines = memchr::memchr_iter(b'\n', chunk).count();
    newlines + usize::from(!chunk.ends_with(b"\n"))
}

/// Parses the lines of a chunk, numbered from `first_line`; blank lines are skipped, and
/// parsing stops at the first error.
fn parse_chunk<T: Prepare>(chunk: Vec<u8>, first_line: usize) -> Vec<Parsed<T>> {
    if chunk.len() > CHUNK && line_count(&chunk) == 1 {
        return parse_long_line(chunk, first_line).into_iter().collect();
    }
    let mut out = Vec::with_capacity(line_count(&chunk));
    for (i, raw) in lines_inclusive(&chunk).enumerate() {
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

/// A chunk that is one long line, parsed in its own buffer
/// ([`Record::from_owned_line`]): the line takes about its size in memory, not three times.
fn parse_long_line<T: Prepare>(mut chunk: Vec<u8>, line: usize) -> Option<Parsed<T>> {
    let torn = !chunk.ends_with(b"\n");
    while chunk.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        chunk.pop();
    }
    let text = match String::from_utf8(chunk) {
        Ok(text) => text,
        Err(_) if torn => return Some((line, Err(ReadErrorKind::TornTail))),
        Err(e) => return Some((line, Err(ReadErrorKind::Utf8(e.utf8_error())))),
    };
    if text.trim().is_empty() {
        return None;
    }
    let parsed = match Record::from_owned_line(text) {
        Ok((record, rest)) => {
            let missing = record.missing_fields(&rest);
            Ok((T::prepare(record), missing))
        }
        Err(_) if torn => Err(ReadErrorKind::TornTail),
        Err(e) => Err(ReadErrorKind::Json(e)),
    };
    Some((line, parsed))
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
