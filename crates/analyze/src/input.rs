//! What to analyse: a `phonehome/1` capture or a HAR 1.2 file, told apart by their first
//! bytes and read as one stream of [`Event`]s.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::records::Progress;
use crate::source::{CaptureEvents, Event, SourceError};

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
    let mut reader = BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(io)?);
    let start = reader.fill_buf().map_err(io)?;
    let first_line = start.split(|b| *b == b'\n').next().unwrap_or_default();
    let is_capture = std::str::from_utf8(first_line)
        .is_ok_and(|l| l.trim_start().starts_with('{') && l.contains(r#""type""#));
    let trimmed = start.iter().position(|b| !b.is_ascii_whitespace());
    if is_capture {
        let events = CaptureEvents::new(path, reader, read.clone());
        return Ok(Events::Capture(Box::new(events)));
    }
    if trimmed.is_some_and(|i| start[i] == b'{') {
        let mut text = String::new();
        reader.read_to_string(&mut text).map_err(io)?;
        let events = crate::har::import(&text).map_err(|message| SourceError::Har {
            path: path.to_owned(),
            message,
        })?;
        return Ok(Events::Har(events.into_iter()));
    }
    Err(SourceError::Unknown {
        path: path.to_owned(),
    })
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
