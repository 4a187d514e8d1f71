//! Why each connection was made, as spans: the join's state fed by the mapper's events and
//! decoded LLM calls, the `execute_tool` spans, and the spans of the connections that may have
//! been caused, held until the join can say under which tool call they go.
//!
//! - `export`: every `execute_tool` span is sent at the end of the input, when the join is
//!   decided; the span of each connection it caused is its child (an ambiguous connection goes
//!   under the first call and links to the others).
//! - live (`run --otlp`): an `execute_tool` span is sent when the call's result goes back to
//!   the model (it is only known then), with span links to the connections the join gives it
//!   so far (those already closed). The spans of connections that may have been caused are
//!   still held to the end of the run, then sent under their tool call's span, as `export`
//!   does: whether one was caused is only decided once every window that may hold it has
//!   closed and the agent's own processes are known. Their requests' spans are sent at once,
//!   under the connection's span id.
//!
//! At most [`MAX_HELD_CONNS`] connection spans are held; beyond that the oldest go under the run
//! span as before, with no cause.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::SystemTime;

use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::SpanData;
use phonehome_analyze::causes::{self, Connections, ToolLog};
use phonehome_analyze::llm::Conversation;
use phonehome_analyze::Event;

use phonehome_record::{ConnId, FlowId};

use crate::ids::Ids;
use crate::tool;

/// Most connection spans held for the join.
pub(crate) const MAX_HELD_CONNS: usize = 10_000;

/// The join's state and what waits for it.
#[derive(Default)]
pub(crate) struct CauseSpans {
    connections: Connections,
    tools: ToolLog,
    /// Spans of connections that may have been caused, by conn.
    held: HashMap<ConnId, SpanData>,
    order: VecDeque<ConnId>,
    /// Whether this is a live export (tool spans sent when their result goes back).
    pub(crate) live: bool,
    /// Tool spans already sent (live).
    sent: HashSet<(FlowId, u64)>,
}

impl CauseSpans {
    pub(crate) fn event(&mut self, event: &Event) {
        self.connections.event(event);
    }

    /// Notes a decoded LLM call; live, the `execute_tool` spans of the calls whose results it
    /// sends back.
    pub(crate) fn call(
        &mut self,
        ids: &Ids,
        c: &Conversation,
        root: SpanId,
        content: bool,
    ) -> Vec<SpanData> {
        self.tools.call(c);
        if !self.live {
            return Vec::new();
        }
        let answered = self.tools.answered_by(c.flow);
        if answered.is_empty() {
            return Vec::new();
        }
        let so_far = causes::join_so_far(&self.connections, &self.tools);
        let mut spans = Vec::new();
        for (place, call) in answered {
            let caused = so_far
                .tool_calls
                .iter()
                .find(|t| t.flow == call.flow && t.id == call.id && t.name == call.name)
                .map(|t| t.caused.as_slice())
                .unwrap_or_default();
            let links = caused.iter().map(|x| tool::caused_link(ids, x)).collect();
            let end = SystemTime::UNIX_EPOCH;
            spans.push(tool::span(ids, call, place, root, end, content, links));
            self.sent.insert((call.flow, place as u64));
        }
        spans
    }

    /// Takes the span of connection `conn` when it may have been caused; gives back the spans
    /// to send now (the span itself when it may not, or the oldest held beyond the limit).
    pub(crate) fn hold(&mut self, conn: ConnId, span: SpanData) -> Vec<SpanData> {
        if !self.connections.is_candidate(conn) {
            return vec![span];
        }
        self.held.insert(conn, span);
        self.order.push_back(conn);
        let mut out = Vec::new();
        while self.held.len() > MAX_HELD_CONNS {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            out.extend(self.held.remove(&oldest));
        }
        out
    }

    /// At the end: the join decided, the tool spans not yet sent, and the held connection
    /// spans under their tool call's span (the others under `root`, as they were).
    pub(crate) fn finish(
        &mut self,
        ids: &Ids,
        root: SpanId,
        last: SystemTime,
        content: bool,
    ) -> Vec<SpanData> {
        let connections = std::mem::take(&mut self.connections);
        let tools = std::mem::take(&mut self.tools);
        let causes = causes::join(connections, tools);
        let mut spans = Vec::new();
        let mut place = (FlowId(u64::MAX), 0u64);
        for call in &causes.tool_calls {
            place = if place.0 == call.flow {
                (call.flow, place.1 + 1)
            } else {
                (call.flow, 0)
            };
            let key = tool::key(call, place.1 as usize);
            if !self.sent.contains(&(call.flow, place.1)) {
                spans.push(tool::span(
                    ids,
                    call,
                    place.1 as usize,
                    root,
                    last,
                    content,
                    Vec::new(),
                ));
            }
            for caused in &call.caused {
                let Some(mut span) = self.held.remove(&caused.conn) else {
                    continue;
                };
                span.parent_span_id = ids.span(key);
                span.attributes.extend(tool::cause_attributes(call, caused));
                for other in &caused.also {
                    if let Some((i, t)) = causes
                        .tool_calls
                        .iter()
                        .enumerate()
                        .find(|(_, t)| t.label() == other)
                    {
                        let nth = causes.tool_calls[..i]
                            .iter()
                            .filter(|u| u.flow == t.flow)
                            .count();
                        span.links
                            .links
                            .push(tool::link(ids, tool::key(t, nth), Vec::new()));
                    }
                }
                spans.push(span);
            }
        }
        self.order.clear();
        spans.extend(self.held.drain().map(|(_, span)| span));
        spans
    }
}
