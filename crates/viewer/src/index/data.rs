//! What the reader has learnt so far ([`IndexData`]): the stored rows with their strings and
//! paths, the capture's header and end, and the lines that were not records; and how each
//! [`Change`] the reader makes of a line is applied to it.

use std::collections::{HashMap, HashSet};

use phonehome_catalog::Purpose;
use phonehome_record::{Capture, End};

use super::row::{purpose_number, RowKind, RowRef, Stored, NONE, NONE32};
use super::strings::{Strings, NO_STRING};

/// What the reader has learnt so far.
#[derive(Debug, Default)]
pub struct IndexData {
    pub header: Option<Capture>,
    pub end: Option<End>,
    rows: Vec<Stored>,
    strings: Strings,
    /// The arena of every row's path.
    paths: String,
    /// Rows of flows still waiting for their response.
    pending: HashMap<u64, usize>,
    /// Errors read before their flow's request (a request is written when its body ends).
    early_errors: HashMap<u64, (String, u64)>,
    /// Connections with a blocked or failure row: their `conn` record adds none.
    shown_conns: HashSet<u64>,
    /// Bumped on every change, so the view knows when to filter again.
    pub generation: u64,
    /// Bytes read so far.
    pub offset: u64,
    /// Lines that are not records, with their line numbers (shown, never fatal).
    pub bad_lines: Vec<(u64, String)>,
    /// Whether the reader has reached the end of what it will read (`end` record, or end of
    /// file for a static view).
    pub done: bool,
    /// Why reading stopped early, if it did.
    pub failure: Option<String>,
}

/// A row as the reader makes it, before its strings are interned.
pub(crate) struct NewRow {
    pub(crate) kind: RowKind,
    /// The connection of a blocked, failed or relayed connection's row.
    pub(crate) conn: Option<u64>,
    pub(crate) response_size: u64,
    pub(crate) duration_ms: u32,
    pub(crate) flow: u64,
    /// Milliseconds since midnight UTC.
    pub(crate) time: u32,
    pub(crate) method: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) request_size: u64,
    pub(crate) error: Option<String>,
    pub(crate) purpose: Option<Purpose>,
    pub(crate) model: Option<String>,
    pub(crate) llm: bool,
    pub(crate) meta: bool,
    pub(crate) session: Option<String>,
    /// Byte offset of the record the row starts with.
    pub(crate) at: u64,
}

/// What one line of the capture changes.
pub(crate) enum Change {
    Header(Capture),
    End(End),
    Row(NewRow),
    Response {
        flow: u64,
        status: u16,
        size: Option<u64>,
        duration_ms: u64,
        at: u64,
    },
    Error {
        flow: u64,
        phase: String,
        at: u64,
    },
    /// A line that is not a record: its number and why.
    Bad(u64, String),
}

impl IndexData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `i`, for filters.
    pub fn get(&self, i: usize) -> Option<RowRef<'_>> {
        self.rows.get(i).map(|row| self.row_ref(row))
    }

    /// Every row, for filters.
    pub fn iter(&self) -> impl Iterator<Item = RowRef<'_>> {
        self.rows.iter().map(|row| self.row_ref(row))
    }

    fn row_ref<'a>(&'a self, row: &'a Stored) -> RowRef<'a> {
        RowRef {
            strings: &self.strings,
            paths: &self.paths,
            row,
        }
    }

    /// Applies the reader's changes, in the order of their lines.
    pub(crate) fn apply(&mut self, changes: impl Iterator<Item = Change>) {
        for change in changes {
            match change {
                Change::Header(header) => self.header = Some(header),
                Change::End(end) => self.end = Some(end),
                Change::Bad(line, why) => self.bad_lines.push((line, why)),
                Change::Row(row) => self.add_row(row),
                Change::Response {
                    flow,
                    status,
                    size,
                    duration_ms,
                    at,
                } => self.add_response(flow, status, size, duration_ms, at),
                Change::Error { flow, phase, at } => self.add_error(flow, phase, at),
            }
        }
    }

    fn add_row(&mut self, row: NewRow) {
        // A blocked or failed connection already has its row.
        if let (RowKind::Blocked | RowKind::Failure, Some(conn)) = (row.kind, row.conn) {
            self.shown_conns.insert(conn);
        }
        if let (RowKind::Conn, Some(conn)) = (row.kind, row.conn) {
            if self.shown_conns.remove(&conn) {
                return;
            }
        }
        let mut stored = self.store(&row);
        if row.kind == RowKind::Flow {
            if let Some((phase, at)) = self.early_errors.remove(&row.flow) {
                stored.error = self.strings.id(&phase);
                stored.error_at = at;
            }
            self.pending.insert(row.flow, self.rows.len());
        }
        self.rows.push(stored);
    }

    /// The stored form of `row`, its strings interned and its path in the arena.
    fn store(&mut self, row: &NewRow) -> Stored {
        let path_start = self.paths.len();
        self.paths.push_str(&row.path);
        let strings = &mut self.strings;
        Stored {
            kind: row.kind,
            llm: row.llm,
            meta: row.meta,
            purpose: purpose_number(row.purpose),
            port: row.port,
            status: 0,
            time: row.time,
            duration_ms: row.duration_ms,
            method: strings.id(&row.method),
            host: strings.id(&row.host),
            error: strings.opt_id(row.error.as_deref()),
            model: strings.opt_id(row.model.as_deref()),
            session: strings.opt_id(row.session.as_deref()),
            path: (
                u32::try_from(path_start).unwrap_or(NONE32),
                u32::try_from(row.path.len()).unwrap_or(0),
            ),
            flow: row.flow,
            request_size: row.request_size,
            response_size: row.response_size,
            at: row.at,
            response_at: NONE,
            error_at: NONE,
        }
    }

    fn add_response(&mut self, flow: u64, status: u16, size: Option<u64>, ms: u64, at: u64) {
        // A response ends its flow: late errors of a flow are rare and left out.
        let Some(i) = self.pending.remove(&flow) else {
            return;
        };
        if let Some(row) = self.rows.get_mut(i) {
            row.status = status.max(1);
            row.response_size = size.unwrap_or(0);
            row.duration_ms = u32::try_from(ms).unwrap_or(NONE32 - 1);
            row.response_at = at;
        }
    }

    fn add_error(&mut self, flow: u64, phase: String, at: u64) {
        let Some(i) = self.pending.get(&flow).copied() else {
            self.early_errors.entry(flow).or_insert((phase, at));
            return;
        };
        let id = self.strings.id(&phase);
        if let Some(row) = self.rows.get_mut(i) {
            if row.error == NO_STRING {
                row.error = id;
                row.error_at = at;
            }
        }
    }
}
