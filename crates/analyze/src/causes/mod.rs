//! Why a connection was made: the join of each tool call the model asked for to the processes
//! it ran and the connections those processes made. Everything else is the agent's own.
//!
//! Pure and streaming: [`Connections`] is fed the input's events (directly or through [`Tap`])
//! and [`ToolLog`] its decoded LLM calls as they are read; they keep a few numbers per
//! connection that may have been caused and per tool call (not the capture), and [`join`]
//! decides at the end.
//!
//! A connection is *caused by* tool call T when
//! - its process, or one of that process's parents below the agent, started inside T's window:
//!   from the first byte of the answer that carried T (an agent may run a call as soon as its
//!   part of a stream is whole, before the answer ends) to the request that sent T's result
//!   back (the end of the capture when none did), with [`SLACK_MS`] either side for the
//!   kernel's clock ticks;
//! - it descends from the agent: a process that carried LLM calls is among its parents (the
//!   agent is the nearest such process);
//! - one of those processes' command lines matches T's command (see `command.rs`: shell
//!   wrappers, quoting and separators undone, the first words compared).
//!
//! A connection whose processes started inside one window but match no command there is
//! caused by that call *by the window only*, and said so ([`Method::Window`]); inside several
//! windows with no way to tell them apart by command, it is [`Method::Ambiguous`] and listed
//! under each. A connection of the agent's own process, or outside every window, is the
//! agent's own; one whose process is not known (not attributed, or captures before
//! attribution) is never said to be caused.

mod command;
mod join;
mod text;

use phonehome_record::{ConnId, FlowId};

use serde::Serialize;

pub use join::{join, join_so_far, Connections, Tap, ToolLog, ToolStep};
pub use text::under_call;

use crate::event::{Event, SourceError};

/// The join over a whole input, read once and streamed: what is kept is the join's few
/// numbers per tool call and per connection that may have been caused, never the events.
///
/// # Errors
/// The input's, when a record cannot be read.
pub fn read(
    events: impl Iterator<Item = Result<Event, SourceError>>,
) -> Result<Causes, SourceError> {
    let mut calls = crate::llm::Calls::new(Tap::new(events));
    let mut tools = ToolLog::default();
    for call in &mut calls {
        tools.call(&call?);
    }
    Ok(join(calls.into_events().into_connections(), tools))
}

/// Milliseconds of tolerance at both ends of a window: process start times count in clock
/// ticks (10 ms) from a boot time read once.
pub const SLACK_MS: i64 = 50;

/// How a connection was joined to a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A process started inside the call's window and its command line matches the call's.
    Argv,
    /// A process started inside the call's window, but no command line matches the call's
    /// (or the call names no command): likely, not shown.
    Window,
    /// Inside several calls' windows, and matching all or none of their commands.
    Ambiguous,
}

impl Method {
    /// A word for people.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Argv => "argv",
            Method::Window => "window only",
            Method::Ambiguous => "ambiguous",
        }
    }
}

/// One tool call the model asked for, and what it caused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The call's id as the API gave it (`call_…`, `toolu_…`); absent for APIs without ids
    /// (Gemini, Ollama), whose calls are matched to results by name, in order.
    pub id: Option<String>,
    /// The tool's name (`Bash`, `shell`, `exec_command`, `run_shell_command`, …).
    pub name: String,
    /// The shell command it asked for, when the tool names one.
    pub command: Option<String>,
    /// The LLM call whose answer carried it.
    pub flow: FlowId,
    /// When that answer ended (RFC 3339, as `ts`).
    pub issued: String,
    /// When its result went back to the model: the `ts` of the request carrying it.
    pub result: Option<String>,
    /// The LLM call that carried the result.
    pub result_flow: Option<FlowId>,
    /// The connections it caused, in connection order.
    pub caused: Vec<Caused>,
}

/// A connection a tool call caused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Caused {
    pub conn: ConnId,
    /// The process that made the connection.
    pub pid: u32,
    /// Its executable's file name.
    pub process: String,
    /// Its command line (redacted in the capture).
    pub argv: Vec<String>,
    /// Its parents below the agent, nearest first, as `pid`.
    pub parents: Vec<u32>,
    pub host: String,
    pub port: u16,
    /// The HTTP flows it carried.
    pub flows: Vec<FlowId>,
    pub method: Method,
    /// With [`Method::Ambiguous`]: the other calls it may belong to (their ids, or names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

/// The join's result: every tool call with what it caused.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Causes {
    /// In the order of the LLM calls that carried them.
    pub tool_calls: Vec<ToolCall>,
}

impl Causes {
    /// The tool calls carried by the answer of LLM call `flow` (a binary search: the calls
    /// are in the order of their LLM calls, which [`crate::llm::Calls`] hands on in flow
    /// order).
    pub fn of_flow(&self, flow: FlowId) -> &[ToolCall] {
        let from = self.tool_calls.partition_point(|t| t.flow < flow);
        let to = self.tool_calls.partition_point(|t| t.flow <= flow);
        self.tool_calls.get(from..to).unwrap_or_default()
    }

    /// The tool call that caused connection `conn` (the first, when ambiguous) and how.
    pub fn of_conn(&self, conn: ConnId) -> Option<(&ToolCall, &Caused)> {
        self.tool_calls
            .iter()
            .find_map(|t| t.caused.iter().find(|c| c.conn == conn).map(|c| (t, c)))
    }

    /// Whether any connection was caused by a tool call.
    pub fn any(&self) -> bool {
        self.tool_calls.iter().any(|t| !t.caused.is_empty())
    }

    /// The ids of the connections caused by tool calls (by any method), sorted.
    pub fn conns(&self) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self
            .tool_calls
            .iter()
            .flat_map(|t| t.caused.iter().map(|c| c.conn))
            .collect();
        conns.sort_unstable();
        conns.dedup();
        conns
    }
}

impl ToolCall {
    /// How people name the call: its id, else its name.
    pub fn label(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.name)
    }
}

#[cfg(test)]
mod tests;
