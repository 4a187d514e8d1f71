//! The row model: what a row of the flow list stands for ([`RowKind`]), the row as the view
//! shows it ([`Row`]), the compact form every row is kept in ([`Stored`]), and the borrowed
//! view of a stored row that filters read ([`RowRef`]), with the process of its connection
//! once the connection's `conn` record has been read ([`ConnSeen`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use phonehome_catalog::Purpose;
use phonehome_record::{ConnId, FlowId, Sinkhole};

use super::strings::{Strings, NO_STRING};

/// No value, in a stored row's 64-bit fields.
pub(crate) const NONE: u64 = u64::MAX;
/// No flow, in a stored row's `flow`.
pub(crate) const NO_FLOW: FlowId = FlowId(NONE);
/// No connection, in a stored row's `conn`.
pub(crate) const NO_CONN: ConnId = ConnId(NONE);
/// No value, in a stored row's 32-bit fields.
pub(crate) const NONE32: u32 = u32::MAX;

/// What a row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// An HTTP exchange (`request`, then `response` and `error` records).
    Flow,
    /// A connection or request the policy blocked.
    Blocked,
    /// A connection that failed before any request (DNS, connect, TLS).
    Failure,
    /// A connection that carried no HTTP: relayed TCP, or TLS passed through.
    Conn,
    /// A DNS query phonehome answered (`run --isolate`).
    Dns,
}

/// One line of the flow list, as the view shows it (built for the rows on screen).
#[derive(Debug, Clone)]
pub struct Row {
    pub kind: RowKind,
    pub flow: Option<FlowId>,
    /// The connection its records name.
    pub conn: Option<ConnId>,
    /// `HH:MM:SS.mmm` (UTC).
    pub time: String,
    pub method: Arc<str>,
    pub host: Arc<str>,
    pub port: u16,
    /// Path and query, or what the row says instead (the block rule, the failure message).
    pub path: String,
    pub status: Option<u16>,
    pub request_size: u64,
    pub response_size: Option<u64>,
    pub duration_ms: Option<u64>,
    /// The failure phase (`dns`, `connect`, `upstream_http`, …) when the flow failed.
    pub error: Option<Arc<str>>,
    pub purpose: Option<&'static str>,
    /// The model of an LLM call.
    pub model: Option<Arc<str>>,
    pub llm: bool,
    /// A side call (title generation, summaries).
    pub meta: bool,
    pub session: Option<Arc<str>>,
    /// Set when phonehome answered the request itself instead of forwarding it.
    pub sinkhole: Option<Sinkhole>,
    /// The executable's file name of the process that owned the connection (`?` when it is
    /// not known), once the connection's `conn` record has been read.
    pub process: Option<Arc<str>>,
    /// Byte offsets of the records behind the row: the first (`request`, `blocked` or
    /// `error`), the response, the flow's first error (or the `blocked` record of a sinkholed
    /// request), and the connection's `conn` record when it names a process.
    pub at: u64,
    pub response_at: Option<u64>,
    pub error_at: Option<u64>,
    pub conn_at: Option<u64>,
}

/// What the index keeps of a `conn` record that names its process: the executable's file name
/// (interned) and where the record is, for the detail pane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSeen {
    pub(crate) process: u32,
    pub(crate) at: u64,
}

/// A row as kept for every flow of the capture: 104 bytes plus its path, with repeated
/// strings (hosts, methods, models, sessions, phases) interned. [`NONE`], [`NONE32`] and
/// [`NO_STRING`] stand for no value; a `status` of 0 for no response yet.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) kind: RowKind,
    pub(crate) llm: bool,
    pub(crate) meta: bool,
    /// See [`purpose_number`].
    pub(crate) purpose: u8,
    /// See [`sinkhole_number`].
    pub(crate) sinkhole: u8,
    pub(crate) port: u16,
    pub(crate) status: u16,
    /// Milliseconds since midnight UTC.
    pub(crate) time: u32,
    pub(crate) duration_ms: u32,
    pub(crate) method: u32,
    pub(crate) host: u32,
    pub(crate) error: u32,
    pub(crate) model: u32,
    pub(crate) session: u32,
    /// The path's span (start, length) in the path arena.
    pub(crate) path: (u32, u32),
    pub(crate) flow: FlowId,
    /// The connection the row's records name ([`NO_CONN`] when they name none).
    pub(crate) conn: ConnId,
    pub(crate) request_size: u64,
    pub(crate) response_size: u64,
    pub(crate) at: u64,
    pub(crate) response_at: u64,
    pub(crate) error_at: u64,
}

/// A stored row with the strings and paths it refers to, for filters.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    pub(crate) strings: &'a Strings,
    pub(crate) paths: &'a str,
    pub(crate) conns: &'a HashMap<ConnId, ConnSeen>,
    pub(crate) row: &'a Stored,
}

impl<'a> RowRef<'a> {
    pub fn kind(self) -> RowKind {
        self.row.kind
    }

    /// The flow id of a flow row.
    pub fn flow(self) -> Option<FlowId> {
        (self.row.kind == RowKind::Flow).then_some(self.row.flow)
    }

    /// The connection the row's records name, when they name one.
    pub fn conn(self) -> Option<ConnId> {
        (self.row.conn != NO_CONN).then_some(self.row.conn)
    }

    pub fn llm(self) -> bool {
        self.row.llm
    }

    pub fn meta(self) -> bool {
        self.row.meta
    }

    pub fn has_response(self) -> bool {
        self.row.status != 0
    }

    /// A flow still waiting for its response has not failed (yet).
    pub fn failed(self) -> bool {
        match self.row.kind {
            RowKind::Flow => self.row.error != NO_STRING || self.row.status >= 400,
            RowKind::Blocked | RowKind::Conn | RowKind::Dns => false,
            RowKind::Failure => true,
        }
    }

    pub fn host(self) -> &'a str {
        self.strings.get(self.row.host)
    }

    /// When the row's first record was written: milliseconds since midnight UTC.
    pub fn time_ms(self) -> u32 {
        self.row.time
    }

    pub fn session(self) -> Option<&'a str> {
        self.strings.opt(self.row.session)
    }

    /// The executable's file name of the connection's process (`?` when it is not known);
    /// `None` until the `conn` record is read, or when it names no process.
    pub fn process(self) -> Option<&'a str> {
        self.conn_seen().map(|seen| self.strings.get(seen.process))
    }

    fn conn_seen(self) -> Option<&'a ConnSeen> {
        self.conns.get(&self.row.conn)
    }

    pub fn sinkhole(self) -> Option<Sinkhole> {
        sinkhole_of(self.row.sinkhole)
    }

    fn path(self) -> &'a str {
        let (start, len) = (self.row.path.0 as usize, self.row.path.1 as usize);
        self.paths.get(start..start + len).unwrap_or_default()
    }

    /// Whether one of the row's records starts at one of `offsets`.
    pub fn recorded_at(self, offsets: &HashSet<u64>) -> bool {
        [self.row.at, self.row.response_at, self.row.error_at]
            .iter()
            .any(|at| *at != NONE && offsets.contains(at))
    }

    /// Whether any text field contains `needle` (lowercase).
    pub fn contains(self, needle: &str) -> bool {
        let status = if self.row.status == 0 {
            String::new()
        } else {
            self.row.status.to_string()
        };
        let strings = self.strings;
        [
            strings.get(self.row.method),
            self.host(),
            self.path(),
            strings.opt(self.row.model).unwrap_or_default(),
            strings.opt(self.row.error).unwrap_or_default(),
            purpose_name(self.row.purpose).unwrap_or_default(),
            status.as_str(),
            self.process().unwrap_or_default(),
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(needle))
    }

    /// The row as the view shows it.
    pub fn to_row(self) -> Row {
        let r = self.row;
        let strings = self.strings;
        let some = |v: u64| (v != NONE).then_some(v);
        Row {
            kind: r.kind,
            flow: (r.kind == RowKind::Flow).then_some(r.flow),
            conn: self.conn(),
            time: clock(r.time),
            method: strings.arc(r.method),
            host: strings.arc(r.host),
            port: r.port,
            path: self.path().to_owned(),
            status: (r.status != 0).then_some(r.status),
            request_size: r.request_size,
            response_size: some(r.response_size),
            duration_ms: (r.duration_ms != NONE32).then_some(u64::from(r.duration_ms)),
            error: strings.opt_arc(r.error),
            purpose: purpose_name(r.purpose),
            model: strings.opt_arc(r.model),
            llm: r.llm,
            meta: r.meta,
            session: strings.opt_arc(r.session),
            sinkhole: self.sinkhole(),
            process: self.conn_seen().map(|seen| strings.arc(seen.process)),
            at: r.at,
            response_at: some(r.response_at),
            error_at: some(r.error_at),
            conn_at: self
                .conn_seen()
                .map(|seen| seen.at)
                .filter(|at| *at != r.at),
        }
    }
}

/// `HH:MM:SS.mmm` of milliseconds since midnight.
fn clock(ms: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Milliseconds since midnight (UTC) of a capture time; 0 when it is not one.
pub(crate) fn time_of(ts: &str) -> u32 {
    phonehome_record::time_of_day_ms(ts).unwrap_or(0)
}

/// Purposes by number in stored rows: 0 is none, then the catalog's, then ones recognised by
/// protocol.
fn purpose_name(n: u8) -> Option<&'static str> {
    match usize::from(n) {
        0 => None,
        i if i <= Purpose::ALL.len() => Some(Purpose::ALL[i - 1].as_str()),
        _ => None,
    }
}

/// The number [`purpose_name`] reads back.
pub(crate) fn purpose_number(purpose: Option<Purpose>) -> u8 {
    purpose
        .and_then(|p| Purpose::ALL.iter().position(|q| *q == p))
        .and_then(|i| u8::try_from(i + 1).ok())
        .unwrap_or(0)
}

/// Sinkhole answers by number in stored rows: 0 is none.
pub(crate) fn sinkhole_number(sinkhole: Option<&str>) -> u8 {
    match sinkhole {
        Some("denied") => 1,
        Some("unreachable") => 2,
        _ => 0,
    }
}

/// The answer [`sinkhole_number`] stored.
fn sinkhole_of(n: u8) -> Option<Sinkhole> {
    match n {
        1 => Some(Sinkhole::Denied),
        2 => Some(Sinkhole::Unreachable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back() {
        let ms = time_of("2026-11-21T09:00:01.800Z");
        assert_eq!(ms, 9 * 3_600_000 + 1800);
        assert_eq!(clock(ms), "09:00:01.800");
        assert_eq!(time_of("garbage"), 0);
    }

    #[test]
    fn purposes_read_back() {
        for purpose in Purpose::ALL {
            assert_eq!(
                purpose_name(purpose_number(Some(purpose))),
                Some(purpose.as_str())
            );
        }
        assert_eq!(purpose_name(purpose_number(None)), None);
    }

    #[test]
    fn sinkholes_read_back() {
        assert_eq!(
            sinkhole_of(sinkhole_number(Some("denied"))),
            Some(Sinkhole::Denied)
        );
        assert_eq!(
            sinkhole_of(sinkhole_number(Some("unreachable"))),
            Some(Sinkhole::Unreachable)
        );
        assert_eq!(sinkhole_of(sinkhole_number(Some("later"))), None);
        assert_eq!(sinkhole_of(sinkhole_number(None)), None);
    }
}
