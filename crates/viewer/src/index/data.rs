//! What the reader has learnt so far ([`IndexData`]): the stored rows with their strings and
//! paths, the process of each connection, the capture's header and end, and the lines that were
//! not records; and how each [`Change`] the reader makes of a line is applied to it.

use std::collections::{HashMap, HashSet};

use phonehome_catalog::Purpose;
use phonehome_record::{Capture, ConnId, End, FlowId};

use super::row::{
    purpose_number, ConnSeen, RowKind, RowRef, Stored, NONE, NONE32, NO_CONN, NO_FLOW,
};
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
    pending: HashMap<FlowId, usize>,
    /// Errors read before their flow's request (a request is written when its body ends).
    early_errors: HashMap<FlowId, (String, u64)>,
    /// Connections with a blocked or failure row: their `conn` record adds none.
    shown_conns: HashSet<ConnId>,
    /// The process of each connection whose `conn` record named one. A `conn` record is
    /// written when its connection closes, after its requests: rows look their process up here.
    conns: HashMap<ConnId, ConnSeen>,
    /// Rows of `blocked` records that name a flow, by flow: a sinkholed request's record
    /// follows its `blocked` record and takes its row.
    blocked_flows: HashMap<FlowId, usize>,
    /// Whether a request was answered by the sinkhole (the status column then widens).
    pub sinkholed: bool,
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
    /// The connection the row's record names.
    pub(crate) conn: Option<ConnId>,
    /// See [`super::row::sinkhole_number`].
    pub(crate) sinkhole: u8,
    pub(crate) response_size: u64,
    pub(crate) duration_ms: u32,
    /// The flow of a request's row, or of a blocked request's ([`NO_FLOW`] for none).
    pub(crate) flow: FlowId,
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
    // Boxed: the header comes once, the other changes once a record.
    Header(Box<Capture>),
    End(End),
    Row(NewRow),
    Response {
        flow: FlowId,
        status: u16,
        size: Option<u64>,
        duration_ms: u64,
        at: u64,
    },
    Error {
        flow: FlowId,
        phase: String,
        at: u64,
    },
    /// A `conn` record: the process it names (the executable's file name, `?` when not known),
    /// and the row of a connection that carried no HTTP.
    Conn {
        conn: ConnId,
        process: Option<String>,
        at: u64,
        row: Option<NewRow>,
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
            conns: &self.conns,
            row,
        }
    }

    /// Whether the capture names processes: a `conn` record named one, or the header says
    /// attribution was on (so that the column is there before the first connection closes).
    pub fn has_processes(&self) -> bool {
        let attributed = self
            .header
            .as_ref()
            .is_some_and(|h| h.options.attribution());
        attributed || !self.conns.is_empty()
    }

    /// Applies the reader's changes, in the order of their lines.
    pub(crate) fn apply(&mut self, changes: impl Iterator<Item = Change>) {
        for change in changes {
            match change {
                Change::Header(header) => self.header = Some(*header),
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
                Change::Conn {
                    conn,
                    process,
                    at,
                    row,
                } => {
                    if let Some(process) = process {
                        let process = self.strings.id(&process);
                        self.conns.insert(conn, ConnSeen { process, at });
                    }
                    if let Some(row) = row {
                        self.add_row(row);
                    }
                }
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
        match row.kind {
            RowKind::Flow => self.add_flow(&row),
            RowKind::Blocked => self.add_blocked(&row),
            _ => {
                let stored = self.store(&row);
                self.rows.push(stored);
            }
        }
    }

    /// A request's row; a sinkholed request takes the row of its `blocked` record.
    fn add_flow(&mut self, row: &NewRow) {
        let mut stored = self.store(row);
        self.sinkholed |= stored.sinkhole != 0;
        if let Some((phase, at)) = self.early_errors.remove(&row.flow) {
            stored.error = self.strings.id(&phase);
            stored.error_at = at;
        }
        let blocked = self.blocked_flows.remove(&row.flow);
        let blocked = blocked.filter(|_| stored.sinkhole != 0);
        let Some((i, old)) = blocked.and_then(|i| Some((i, self.rows.get(i)?.clone()))) else {
            self.pending.insert(row.flow, self.rows.len());
            self.rows.push(stored);
            return;
        };
        // The row keeps its place and time; the decision stays among its records.
        stored.time = old.time;
        if stored.error_at == NONE {
            stored.error_at = old.at;
        }
        self.rows[i] = stored;
        self.pending.insert(row.flow, i);
    }

    /// A blocked connection's or request's row; a sinkholed request already read takes the
    /// record instead.
    fn add_blocked(&mut self, row: &NewRow) {
        if row.flow != NO_FLOW {
            let pending = self
                .pending
                .get(&row.flow)
                .and_then(|i| self.rows.get_mut(*i));
            if let Some(flow_row) = pending.filter(|r| r.sinkhole != 0) {
                if flow_row.error_at == NONE {
                    flow_row.error_at = row.at;
                }
                return;
            }
            self.blocked_flows.insert(row.flow, self.rows.len());
        }
        let stored = self.store(row);
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
            sinkhole: row.sinkhole,
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
            conn: row.conn.unwrap_or(NO_CONN),
            request_size: row.request_size,
            response_size: row.response_size,
            at: row.at,
            response_at: NONE,
            error_at: NONE,
        }
    }

    fn add_response(&mut self, flow: FlowId, status: u16, size: Option<u64>, ms: u64, at: u64) {
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

    fn add_error(&mut self, flow: FlowId, phase: String, at: u64) {
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
