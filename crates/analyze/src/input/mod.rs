//! Opening what to analyse: a `phonehome/1` capture (streamed; only flows still waiting for
//! their response are held) or a HAR 1.2 file (mitmproxy's hardump, browsers, httptap, or
//! `phonehome export`), told apart by their first bytes and read as one stream of [`Event`]s.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

pub use join::{CaptureEvents, FlowJoin, INCOMPLETE};
pub(crate) use parallel::Chunks;
pub use parallel::Progress;

use crate::event::{Event, SourceError};

mod join;
pub(crate) mod parallel;

/// Opens `path` as a capture or a HAR file, telling them apart by their first bytes.
///
/// # Errors
/// [`SourceError`] naming the file (and the line, for a capture).
pub fn open(path: &Path) -> Result<Events, SourceError> {
    open_with_progress(path, &Progress::default())
}

/// [`open`], counting the bytes of a capture read into `read` as it goes.
///
/// # Errors
/// As [`open`].
pub fn open_with_progress(path: &Path, read: &Progress) -> Result<Events, SourceError> {
    let io = |source| SourceError::Io {
        path: path.to_owned(),
        source,
    };
    let file = open_regular(path).map_err(io)?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let start = reader.fill_buf().map_err(io)?;
    let first_line = start.split(|b| *b == b'\n').next().unwrap_or_default();
    // Lossy, so that a capture with a bad byte on its first line is read as one and the
    // reader names the line and the byte.
    let first_line = String::from_utf8_lossy(first_line);
    let is_capture = first_line.trim_start().starts_with('{') && first_line.contains(r#""type""#);
    let trimmed = start.iter().position(|b| !b.is_ascii_whitespace());
    if is_capture {
        let events = CaptureEvents::new(path, reader, read.clone());
        return Ok(Events::Capture(Box::new(events)));
    }
    if trimmed.is_some_and(|i| start[i] == b'{') {
        let mut text = String::new();
        reader.read_to_string(&mut text).map_err(io)?;
        let events = crate::har::import(&text).map_err(|source| {
            let path = path.to_owned();
            match looks_like_json_lines(&text) {
                true => SourceError::JsonLines { path, source },
                false => SourceError::Har { path, source },
            }
        })?;
        return Ok(Events::Har(events.into_iter()));
    }
    Err(SourceError::Unknown {
        path: path.to_owned(),
    })
}

/// Whether `text` is several lines that each hold a JSON object (JSON Lines), as a capture
/// is, rather than one JSON document, as a HAR file is.
fn looks_like_json_lines(text: &str) -> bool {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let is_object = |line: &str| {
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line).is_ok()
    };
    match (lines.next(), lines.next()) {
        (Some(first), Some(second)) => is_object(first) && second.starts_with('{'),
        _ => false,
    }
}

/// Opens `path` for reading only when it is a regular file (after symbolic links): a FIFO
/// would block until a writer came, a device or a socket never ends.
///
/// # Errors
/// The I/O error of `metadata` or `open`, or [`std::io::ErrorKind::InvalidInput`] naming
/// what the path is instead.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = std::fs::metadata(path)?.file_type();
    let what = if kind.is_file() {
        return std::fs::File::open(path);
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{what}, not a capture file: copy it to a file first"),
    ))
}

/// The events of an input.
pub enum Events {
    Capture(Box<CaptureEvents>),
    Har(std::vec::IntoIter<Event>),
}

impl Iterator for Events {
    type Item = Result<Event, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Events::Capture(events) => events.next(),
            Events::Har(events) => events.next().map(Ok),
        }
    }
}
