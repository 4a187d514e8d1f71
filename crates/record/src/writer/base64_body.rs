//! A record line whose body's `data` is written as base64 from a reader while the line is
//! written: a large binary body is never held whole, nor its base64 form.
//!
//! The record is serialized as usual (one owner of the schema: [`Record`]'s serde
//! derivation) through a [`Formatter`] that, when it reaches the empty string of the body's
//! `data`, writes the standard padded base64 (RFC 4648 §4) of the reader's bytes inside it.
//! Base64 text never needs JSON escaping, so the line is byte for byte the one the record
//! would give with that base64 in `data`.

use std::io::{self, Read, Write};

use base64::engine::general_purpose;
use base64::Engine as _;
use serde_json::ser::{CompactFormatter, Formatter};

use crate::record::Record;

/// Input bytes encoded per step: a multiple of 3, so that only the last step pads.
const STEP: usize = 48 * 1024;

/// Serializes `record` into `out`, its body's `data` (which must be empty) the base64 of what
/// `bytes` yields.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] when `record` is not a request or response with a body
/// whose `data` is empty; any error reading `bytes` or writing `out`.
pub(super) fn write(out: &mut impl Write, record: &Record, bytes: &mut dyn Read) -> io::Result<()> {
    let body = match record {
        Record::Request(r) => r.body.as_ref(),
        Record::Response(r) => r.body.as_ref(),
        _ => None,
    };
    if !body.is_some_and(|b| b.data.is_empty()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "base64 body bytes need a request or response whose body data is empty",
        ));
    }
    let formatter = BodyData {
        bytes: Some(bytes),
        depth: 0,
        in_key: false,
        key: Vec::new(),
        in_body: false,
        at_data: false,
    };
    let mut serializer = serde_json::Serializer::with_formatter(out, formatter);
    serde::Serialize::serialize(record, &mut serializer).map_err(io::Error::other)
}

/// A compact formatter that follows where in the record it is and writes the body's bytes as
/// base64 at the start of the body's `data` string.
struct BodyData<'a> {
    /// Taken when written.
    bytes: Option<&'a mut dyn Read>,
    /// Objects open: 1 inside the record, 2 inside an object of the record (its body).
    depth: usize,
    /// Whether an object key's text is being written.
    in_key: bool,
    /// The last key's text at the innermost open object.
    key: Vec<u8>,
    /// Whether the object at depth 2 is the record's `body`.
    in_body: bool,
    /// Whether the value being written is the body's `data`.
    at_data: bool,
}

impl Formatter for BodyData<'_> {
    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        if self.depth == 2 {
            self.in_body = self.key == b"body";
        }
        CompactFormatter.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        if self.depth == 2 {
            self.in_body = false;
        }
        self.depth -= 1;
        CompactFormatter.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.in_key = true;
        self.key.clear();
        CompactFormatter.begin_object_key(writer, first)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.in_key = false;
        CompactFormatter.end_object_key(writer)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.at_data = self.depth == 2 && self.in_body && self.key == b"data";
        CompactFormatter.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.at_data = false;
        CompactFormatter.end_object_value(writer)
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if self.in_key {
            self.key.extend_from_slice(fragment.as_bytes());
        }
        CompactFormatter.write_string_fragment(writer, fragment)
    }

    fn begin_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        CompactFormatter.begin_string(writer)?;
        if self.at_data && !self.in_key {
            if let Some(bytes) = self.bytes.take() {
                write_base64(writer, bytes)?;
            }
        }
        Ok(())
    }
}

/// Writes the standard padded base64 of everything `bytes` yields, in steps of [`STEP`].
fn write_base64<W: ?Sized + Write>(writer: &mut W, bytes: &mut dyn Read) -> io::Result<()> {
    let mut input = vec![0u8; STEP];
    let mut output = vec![0u8; STEP / 3 * 4];
    loop {
        let n = fill(bytes, &mut input)?;
        if n == 0 {
            return Ok(());
        }
        let written = general_purpose::STANDARD
            .encode_slice(&input[..n], &mut output)
            .map_err(io::Error::other)?;
        writer.write_all(&output[..written])?;
        if n < input.len() {
            return Ok(());
        }
    }
}

/// Reads until `buf` is full or the reader ends; the bytes read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Body, BodyEncoding, Headers, Response};
    use crate::FlowId;

    fn response(data: String) -> Record {
        let headers: Headers = vec![("data".into(), "body".into())];
        Record::Response(Response {
            ts: "2026-01-01T00:00:00.000Z".into(),
            flow: FlowId(7),
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            headers,
            body: Some(Body {
                size: 123_456,
                encoding: BodyEncoding::Base64,
                data,
                truncated: true,
                decoded_from: None,
                dropped_bytes: 5,
                redaction: None,
            }),
            ttfb_ms: 1,
            first_byte_ms: Some(2),
            duration_ms: 3,
        })
    }

    fn same_line(bytes: &[u8]) {
        let whole = serde_json::to_vec(&response(general_purpose::STANDARD.encode(bytes)))
            .expect("serialize");
        let mut streamed = Vec::new();
        write(&mut streamed, &response(String::new()), &mut &bytes[..]).expect("write");
        assert_eq!(
            String::from_utf8(streamed).expect("utf8"),
            String::from_utf8(whole).expect("utf8")
        );
    }

    #[test]
    fn the_line_is_the_one_with_the_base64_in_data() {
        for len in [0, 1, 2, 3, 4, STEP - 1, STEP, STEP + 1, 3 * STEP + 2] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            same_line(&bytes);
        }
    }

    #[test]
    fn a_record_without_an_empty_body_is_refused() {
        let mut out = Vec::new();
        let err = write(&mut out, &response("AAAA".into()), &mut &b"x"[..]).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let mut no_body = response(String::new());
        if let Record::Response(r) = &mut no_body {
            r.body = None;
        }
        assert!(write(&mut out, &no_body, &mut &b"x"[..]).is_err());
    }

    /// A reader that gives one byte per call, to cross every step boundary.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn short_reads_give_the_same_base64() {
        let bytes: Vec<u8> = (0..STEP + 5).map(|i| (i % 256) as u8).collect();
        let mut out = Vec::new();
        write_base64(&mut out, &mut Trickle(&bytes)).expect("write");
        assert_eq!(out, general_purpose::STANDARD.encode(&bytes).into_bytes());
    }
}
