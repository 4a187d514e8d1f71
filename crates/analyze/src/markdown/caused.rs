//! The report's Markdown for the join of tool calls and connections: the "Caused by tool
//! calls" section and the Domains table's request counts split by who made them.

use std::fmt::Write as _;

use super::cell;
use crate::report::{DomainRow, Report};

/// The Domains table's requests: `12`, or `12 (3 by tool commands)` when commands the model
/// ran made some of them.
pub(super) fn requests(d: &DomainRow) -> String {
    if d.tool_requests == 0 {
        d.requests.to_string()
    } else if d.tool_requests >= d.requests {
        format!("{} (all by tool commands)", d.requests)
    } else {
        format!("{} ({} by tool commands)", d.requests, d.tool_requests)
    }
}

/// The connections commands the model ran made, per tool call.
pub(super) fn section(w: &mut String, report: &Report) {
    if report.caused.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Caused by tool calls\n");
    let _ = writeln!(
        w,
        "Connections made by processes the agent started to run a tool call (the process, or a \
         parent below the agent, started between the call and its result, and its command line \
         matches the call's command: `argv`; by the time window alone: `window`). Everything \
         else is the agent's own.\n"
    );
    let _ = writeln!(
        w,
        "| Tool call | Command | Process | Connection | Host | Requests | Joined by |\n|---|---|---|---:|---|---:|---|"
    );
    for r in &report.caused {
        let _ = writeln!(
            w,
            "| {} ({}, flow {}) | {} | {} (pid {}) | {} | {}:{} | {} | {} |",
            cell(&r.tool_call),
            cell(&r.tool),
            r.llm_flow,
            cell(r.command.as_deref().unwrap_or("")),
            cell(&r.process),
            r.pid,
            r.conn,
            cell(&r.host),
            r.port,
            r.requests,
            r.method.as_str()
        );
    }
}
