//! Reading a capture file back, with line numbers for every error.

use std::io::BufRead;

use crate::record::{Counts, Record};

/// One record read from a capture, with its 1-based line number.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadItem {
    pub line: usize,
    pub record: Record,
    /// Fields the line lacks that were read as 0 or empty ([`Record::missing_fields`]).
    pub missing: Vec<&'static str>,
}

/// What was wrong with a capture file, and on which line.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ReadError {
    /// 1-based line number.
    pub line: usize,
    pub kind: ReadErrorKind,
}

impl ReadError {
    /// The last line is incomplete (the writer was killed mid-line): callers skip it with a
    /// warning rather than fail.
    pub fn is_torn_tail(&self) -> bool {
        matches!(self.kind, ReadErrorKind::TornTail)
    }
}

/// The kinds of [`ReadError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadErrorKind {
    #[error("reading failed: {0}")]
    Io(#[from] std::io::Error),
    /// The line is not UTF-8; the error says at which byte of the line.
    #[error("not UTF-8: {0}")]
    Utf8(std::str::Utf8Error),
    #[error("not a phonehome record: {}", json_reason(.0))]
    Json(serde_json::Error),
    #[error("the first record is not a `capture` record; this is not a phonehome capture")]
    NotACapture,
    #[error("unsupported capture format {found:?} (this phonehome reads {expected:?})")]
    UnsupportedFormat {
        found: String,
        expected: &'static str,
    },
    #[error("the last line is incomplete and was skipped")]
    TornTail,
}

impl Record {
    /// The fields the analysis can do without that `line` (this record's text) lacks: they
    /// were read as 0 or empty. Only a record holding such a default is searched, so this
    /// costs nothing for a whole record.
    ///
    /// ```
    /// let line = r#"{"type":"end","ts":"2026-01-01T00:00:00.000Z","counts":{"conns":0,"requests":0,"responses":0,"errors":0,"blocked":0,"ws":0}}"#;
    /// let record = phonehome_record::Record::from_line(line).expect("a record");
    /// assert_eq!(record.missing_fields(line), ["dropped_bytes"]);
    /// ```
    pub fn missing_fields(&self, line: &str) -> Vec<&'static str> {
        let candidates: &[(&'static str, bool)] = match self {
            Record::Conn(c) => &[
                ("bytes_up", c.bytes_up == 0),
                ("bytes_down", c.bytes_down == 0),
                ("opened", c.opened.is_empty()),
                ("duration_ms", c.duration_ms == 0),
            ],
            Record::Response(r) => &[
                ("ttfb_ms", r.ttfb_ms == 0),
                ("duration_ms", r.duration_ms == 0),
            ],
            Record::End(e) => &[
                ("counts", e.counts == Counts::default()),
                ("dropped_bytes", e.dropped_bytes == 0),
            ],
            _ => return Vec::new(),
        };
        candidates
            .iter()
            .filter(|(name, default)| *default && !line.contains(&format!("\"{name}\"")))
            .map(|(name, _)| *name)
            .collect()
    }
}

/// serde_json's message for one line, its place given as the column alone: "at line 1
/// column 15" would contradict the line number of the capture.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let place = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&place) {
        Some(reason) => format!("{reason} (column {})", e.column()),
        None => text,
    }
}

/// Iterates over the records of a capture file.
///
/// The first record must be a `capture` record of format [`crate::FORMAT`]. A last line with no
/// newline that does not parse yields a [`ReadErrorKind::TornTail`] error and ends the iteration.
///
/// ```
/// let text = br#"{"type":"capture","ts":"2026-01-01T00:00:00.000Z","format":"phonehome/1","id":"1","tool_version":"0","mode":"proxy","command":[],"cwd":"/","policy":"observe","options":{}}
/// {"type":"dns","ts":"2026-01-01T00:00:00.000Z","query":"a.test","qtype":"A","answers":[]}
/// {"type":"end","ts"#;
/// let items: Vec<_> = phonehome_record::CaptureReader::new(&text[..]).collect();
/// assert_eq!(items.len(), 3);
/// assert!(items[2].as_ref().unwrap_err().is_torn_tail());
/// ```
#[derive(Debug)]
pub struct CaptureReader<R> {
    input: R,
    line: usize,
    buf: Vec<u8>,
    done: bool,
    seen_header: bool,
}

impl<R: BufRead> CaptureReader<R> {
    /// Reads from `input`.
    pub fn new(input: R) -> Self {
        Self {
            input,
            line: 0,
            buf: Vec::new(),
            done: false,
            seen_header: false,
        }
    }

    fn next_item(&mut self) -> Option<Result<ReadItem, ReadErrorKind>> {
        loop {
            self.buf.clear();
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
            self.line += 1;
            let torn = !self.buf.ends_with(b"\n");
            let text = match std::str::from_utf8(&self.buf) {
                Ok(text) => text.trim_end_matches(['\n', '\r']),
                Err(_) if torn => return Some(Err(ReadErrorKind::TornTail)),
                Err(e) => return Some(Err(ReadErrorKind::Utf8(e))),
            };
            if text.trim().is_empty() {
                continue;
            }
            let record = match Record::from_line(text) {
                Ok(record) => record,
                Err(_) if torn => return Some(Err(ReadErrorKind::TornTail)),
                Err(e) => return Some(Err(ReadErrorKind::Json(e))),
            };
            if !self.seen_header {
                if let Err(e) = check_header(&record) {
                    return Some(Err(e));
                }
                self.seen_header = true;
            }
            return Some(Ok(ReadItem {
                line: self.line,
                missing: record.missing_fields(text),
                record,
            }));
        }
    }
}

fn check_header(record: &Record) -> Result<(), ReadErrorKind> {
    let Record::Capture(capture) = record else {
        return Err(ReadErrorKind::NotACapture);
    };
    if capture.format != crate::FORMAT {
        return Err(ReadErrorKind::UnsupportedFormat {
            found: capture.format.clone(),
            expected: crate::FORMAT,
        });
    }
    Ok(())
}

impl<R: BufRead> Iterator for CaptureReader<R> {
    type Item = Result<ReadItem, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_item()?;
        Some(item.map_err(|kind| {
            self.done = true;
            ReadError {
                line: self.line.max(1),
                kind,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"type":"capture","ts":"2026-01-01T00:00:00.000Z","format":"phonehome/1","id":"1","tool_version":"0","mode":"proxy","command":[],"cwd":"/","policy":"observe","options":{}}"#;

    #[test]
    fn foreign_first_record_is_rejected_even_after_blank_lines() {
        let text = "\n{\"type\":\"end\",\"ts\":\"x\",\"counts\":{\"conns\":0,\"requests\":0,\"responses\":0,\"errors\":0,\"blocked\":0,\"ws\":0},\"dropped_bytes\":0}\n";
        let first = CaptureReader::new(text.as_bytes()).next().expect("an item");
        let error = first.expect_err("not a capture");
        assert!(matches!(error.kind, ReadErrorKind::NotACapture));
        assert_eq!(error.line, 2);
    }

    #[test]
    fn unknown_format_version_names_both_versions() {
        let text = HEADER.replace("phonehome/1", "phonehome/9") + "\n";
        let error = CaptureReader::new(text.as_bytes())
            .next()
            .expect("an item")
            .expect_err("unsupported");
        assert_eq!(
            error.to_string(),
            r#"line 1: unsupported capture format "phonehome/9" (this phonehome reads "phonehome/1")"#
        );
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_with_its_number() {
        let text = format!("{HEADER}\nnot json\n{HEADER}\n");
        let items: Vec<_> = CaptureReader::new(text.as_bytes()).collect();
        assert_eq!(items.len(), 2, "reading stops at the error");
        let error = items[1].as_ref().expect_err("bad line");
        assert_eq!(error.line, 2);
        assert!(!error.is_torn_tail());
    }

    #[test]
    fn invalid_utf8_is_reported_at_its_line_with_the_reason() {
        for bad_line in [1, 3] {
            let mut lines: Vec<Vec<u8>> = vec![HEADER.into(), HEADER.into(), HEADER.into()];
            lines[bad_line - 1].splice(20..20, [0xff, 0xfe]);
            let mut text = lines.join(&b'\n');
            text.push(b'\n');
            let error = CaptureReader::new(&text[..])
                .find_map(Result::err)
                .expect("an error");
            assert_eq!(error.line, bad_line);
            assert_eq!(
                error.to_string(),
                format!(
                    "line {bad_line}: not UTF-8: invalid utf-8 sequence of 1 bytes from index 20"
                )
            );
        }
    }

    #[test]
    fn fields_the_analysis_can_do_without_are_read_as_missing() {
        let conn = r#"{"type":"conn","ts":"2026-01-01T00:00:00.000Z","conn":1,"client":"127.0.0.1:1","target":{"host":"a.test","port":443},"transport":"tcp","bytes_down":0}"#;
        let text = format!("{HEADER}\n{conn}\n");
        let items: Vec<_> = CaptureReader::new(text.as_bytes())
            .collect::<Result<_, _>>()
            .expect("read");
        assert_eq!(items[0].missing, Vec::<&str>::new());
        assert_eq!(items[1].missing, ["bytes_up", "opened", "duration_ms"]);
    }
}
