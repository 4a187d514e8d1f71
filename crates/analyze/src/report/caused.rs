//! The report's share of the join of tool calls and connections ([`crate::causes`]): what it
//! keeps while the builder counts, and, at the end, the "Caused by tool calls" rows and the
//! requests per host that commands the model ran made.

use std::collections::{BTreeMap, HashSet};

use phonehome_record::Conn;

use super::digest::Digest;
use super::model::{CausedRow, DomainRow};
use crate::causes::{self, Connections, ToolLog};

/// What the join keeps while the capture is counted.
#[derive(Default)]
pub(super) struct Track {
    connections: Connections,
    tools: ToolLog,
}

impl Track {
    /// Notes an exchange: its flow and connection, and its LLM call's tool step.
    pub(super) fn exchange(&mut self, x: &mut Digest) {
        self.connections.exchange(x.flow, x.conn, x.call.is_some());
        if let Some(step) = x.tool_step.take() {
            self.tools.add(step);
        }
    }

    pub(super) fn conn(&mut self, conn: &Conn) {
        self.connections.conn(conn);
    }

    /// The rows of "Caused by tool calls", and each domain's requests made by commands the
    /// model ran (`tool_requests`).
    pub(super) fn finish(self, domains: &mut [DomainRow]) -> Vec<CausedRow> {
        let causes = causes::join(self.connections, self.tools);
        let mut by_host: BTreeMap<&str, u64> = BTreeMap::new();
        let mut counted = HashSet::new();
        let mut rows = Vec::new();
        for call in &causes.tool_calls {
            for c in &call.caused {
                if counted.insert(c.conn) {
                    *by_host.entry(c.host.as_str()).or_default() += c.flows.len() as u64;
                }
                rows.push(CausedRow {
                    tool_call: call.label().to_owned(),
                    tool: call.name.clone(),
                    command: call.command.clone(),
                    llm_flow: call.flow,
                    process: c.process.clone(),
                    pid: c.pid,
                    conn: c.conn,
                    host: c.host.clone(),
                    port: c.port,
                    requests: c.flows.len() as u64,
                    method: c.method,
                });
            }
        }
        for d in domains {
            d.tool_requests = by_host.get(d.domain.as_str()).copied().unwrap_or(0);
        }
        rows
    }
}
