//! The flow list's rows as the page reads them: one JSON object per row of the viewer's index.

use phonehome_record::{ConnId, FlowId};
use phonehome_viewer::{RowKind, RowRef};
use serde::Serialize;

/// One row of the flow list (`/api/flows`, and the exported file's `rows`).
#[derive(Debug, Serialize)]
pub(crate) struct RowJson {
    /// The row's position in the index: what `/api/flow/{i}` takes.
    pub(crate) i: usize,
    /// `flow`, `blocked`, `failure`, `conn` or `dns`.
    pub(crate) kind: &'static str,
    pub(crate) flow: Option<FlowId>,
    /// The connection the row's records name.
    pub(crate) conn: Option<ConnId>,
    /// `HH:MM:SS.mmm` (UTC).
    pub(crate) time: String,
    /// Milliseconds since midnight UTC.
    pub(crate) t: u32,
    pub(crate) method: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) status: Option<u16>,
    /// Request body bytes.
    pub(crate) request_size: u64,
    /// Response body bytes.
    pub(crate) response_size: Option<u64>,
    pub(crate) duration_ms: Option<u64>,
    /// The failure phase, when the flow failed.
    pub(crate) error: Option<String>,
    pub(crate) failed: bool,
    pub(crate) purpose: Option<&'static str>,
    pub(crate) model: Option<String>,
    pub(crate) llm: bool,
    pub(crate) meta: bool,
    pub(crate) session: Option<String>,
    /// `denied` or `unreachable`: phonehome answered the request itself.
    pub(crate) sinkhole: Option<&'static str>,
    pub(crate) process: Option<String>,
}

pub(crate) fn kind_name(kind: RowKind) -> &'static str {
    match kind {
        RowKind::Flow => "flow",
        RowKind::Blocked => "blocked",
        RowKind::Failure => "failure",
        RowKind::Conn => "conn",
        RowKind::Dns => "dns",
    }
}

pub(crate) fn sinkhole_name(sinkhole: phonehome_record::Sinkhole) -> &'static str {
    match sinkhole {
        phonehome_record::Sinkhole::Denied => "denied",
        phonehome_record::Sinkhole::Unreachable => "unreachable",
    }
}

impl RowJson {
    pub(crate) fn new(i: usize, row: RowRef<'_>) -> RowJson {
        let failed = row.failed();
        let t = row.time_ms();
        let conn = row.conn();
        let row = row.to_row();
        RowJson {
            i,
            kind: kind_name(row.kind),
            flow: row.flow,
            conn,
            time: row.time,
            t,
            method: row.method.to_string(),
            host: row.host.to_string(),
            port: row.port,
            path: row.path,
            status: row.status,
            request_size: row.request_size,
            response_size: row.response_size,
            duration_ms: row.duration_ms,
            error: row.error.map(|e| e.to_string()),
            failed,
            purpose: row.purpose,
            model: row.model.map(|m| m.to_string()),
            llm: row.llm,
            meta: row.meta,
            session: row.session.map(|s| s.to_string()),
            sinkhole: row.sinkhole.map(sinkhole_name),
            process: row.process.map(|p| p.to_string()),
        }
    }
}
