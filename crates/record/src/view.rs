//! `request` and `response` lines read as views that borrow from the line where a field is
//! only looked at, never kept: the record's `ts`, read in place (a `Cow`, owned only when the
//! text holds an escape) instead of copied into a `String` that an analysis parses and drops.
//!
//! The views accept exactly the lines [`Record::from_line`] reads as a [`Request`] or a
//! [`Response`], and read them to the same values: each converts into its record
//! ([`RequestView::into_request`], [`ResponseView::into_response`]) by naming every field of
//! the record, so a field added to the record and not to its view does not compile, and the
//! unit tests compare both readers over generated lines.

use std::borrow::Cow;

use serde::Deserialize;

use crate::record::{Body, Headers, Request, Response, Sinkhole};
use crate::{Ancestor, ConnId, ConnProcess, FlowId, Record};

/// A `request` line, its `ts` borrowed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct RequestView<'a> {
    /// As [`Request::ts`], borrowed from the line unless it holds an escape.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    pub flow: FlowId,
    pub conn: ConnId,
    pub method: String,
    pub url: String,
    pub version: String,
    pub headers: Headers,
    #[serde(default)]
    pub raw_header_names: Vec<String>,
    pub body: Option<Body>,
    #[serde(default)]
    pub sinkhole: Option<Sinkhole>,
    #[serde(default)]
    pub process: Option<Box<ConnProcess>>,
    #[serde(default)]
    pub ancestry: Vec<Ancestor>,
}

/// A `response` line, its `ts` borrowed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ResponseView<'a> {
    /// As [`Response::ts`], borrowed from the line unless it holds an escape.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    pub flow: FlowId,
    pub status: u16,
    pub reason: String,
    pub version: String,
    pub headers: Headers,
    pub body: Option<Body>,
    #[serde(default)]
    pub ttfb_ms: u64,
    #[serde(default)]
    pub first_byte_ms: Option<u64>,
    #[serde(default)]
    pub duration_ms: u64,
}

impl<'a> RequestView<'a> {
    /// Reads a `request` line: `Some` when the line is one phonehome wrote (`type` first) and
    /// reads as a [`Request`]; `None` for any other line, which [`Record::from_line`] reads
    /// (or tells why it cannot).
    pub fn from_line(line: &'a str) -> Option<Self> {
        (Record::kind_of_line(line) == Some("request"))
            .then(|| serde_json::from_str(line).ok())
            .flatten()
    }

    /// The record, as [`Record::from_line`] reads the same line.
    pub fn into_request(self) -> Request {
        Request {
            ts: self.ts.into_owned(),
            flow: self.flow,
            conn: self.conn,
            method: self.method,
            url: self.url,
            version: self.version,
            headers: self.headers,
            raw_header_names: self.raw_header_names,
            body: self.body,
            sinkhole: self.sinkhole,
            process: self.process,
            ancestry: self.ancestry,
        }
    }
}

impl<'a> ResponseView<'a> {
    /// Reads a `response` line: `Some` when the line is one phonehome wrote (`type` first)
    /// and reads as a [`Response`]; `None` for any other line, which [`Record::from_line`]
    /// reads (or tells why it cannot).
    pub fn from_line(line: &'a str) -> Option<Self> {
        (Record::kind_of_line(line) == Some("response"))
            .then(|| serde_json::from_str(line).ok())
            .flatten()
    }

    /// The fields the line lacks that were read as 0, as [`Record::missing_fields`] says of
    /// the same line's record.
    pub fn missing_fields(&self, line: &str) -> Vec<&'static str> {
        crate::reader::absent(line, &response_defaults(self.ttfb_ms, self.duration_ms))
    }

    /// The record, as [`Record::from_line`] reads the same line.
    pub fn into_response(self) -> Response {
        Response {
            ts: self.ts.into_owned(),
            flow: self.flow,
            status: self.status,
            reason: self.reason,
            version: self.version,
            headers: self.headers,
            body: self.body,
            ttfb_ms: self.ttfb_ms,
            first_byte_ms: self.first_byte_ms,
            duration_ms: self.duration_ms,
        }
    }
}

/// A response's fields that are read as 0 when missing, and whether each holds 0.
pub(crate) fn response_defaults(ttfb_ms: u64, duration_ms: u64) -> [(&'static str, bool); 2] {
    [("ttfb_ms", ttfb_ms == 0), ("duration_ms", duration_ms == 0)]
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
