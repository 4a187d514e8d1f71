//! The join itself: what is kept of connections ([`Connections`], fed by events, or through
//! [`Tap`]) and of tool calls ([`ToolLog`], fed by decoded LLM calls), and the decision
//! ([`join`]) once both are whole.

use std::collections::VecDeque;

use foldhash::{HashMap, HashSet};

use phonehome_record::{Conn, ConnId, ConnProcess, FlowId};

use super::command::{argv_segments, keys, keys_match, tool_command, Key};
use super::{Caused, Causes, Method, ToolCall, SLACK_MS};
use crate::event::Event;
use crate::event::SourceError;
use crate::llm::{Conversation, Part};

/// A process of a connection's chain: the owner, then its parents.
#[derive(Debug)]
struct Step {
    pid: u32,
    /// Milliseconds since the epoch; `None` when unknown.
    start: Option<i64>,
    keys: Vec<Key>,
}

/// A connection that may have been caused: its process is known and has parents.
#[derive(Debug)]
struct Candidate {
    conn: ConnId,
    host: String,
    port: u16,
    flows: Vec<FlowId>,
    process: String,
    argv: Vec<String>,
    chain: Vec<Step>,
}

/// What the join keeps of connections: the candidates (their process known, with parents),
/// the pids that carried LLM calls (the agent), and the flows of connections still open.
#[derive(Debug, Default)]
pub struct Connections {
    candidates: Vec<Candidate>,
    by_conn: HashMap<ConnId, usize>,
    open_flows: HashMap<ConnId, Vec<FlowId>>,
    llm_conns: HashSet<ConnId>,
    agent_pids: HashSet<u32>,
}

impl Connections {
    /// Notes one event: an exchange's flow and whether it is an LLM call; a `conn` record.
    pub fn event(&mut self, event: &Event) {
        match event {
            Event::Exchange(x) => {
                self.exchange(x.flow, x.conn, crate::llm::is_call(&x.method, &x.path));
            }
            Event::Conn(c) => self.conn(c),
            _ => {}
        }
    }

    /// Notes flow `flow` on connection `conn`, and whether it is an LLM call.
    pub fn exchange(&mut self, flow: FlowId, conn: Option<ConnId>, llm: bool) {
        let Some(conn) = conn else { return };
        // A connection that carried an LLM call is the agent's: its flows are not kept.
        if llm {
            self.llm_conns.insert(conn);
            self.open_flows.remove(&conn);
        }
        if self.llm_conns.contains(&conn) {
            return;
        }
        match self.by_conn.get(&conn) {
            Some(&i) => self.candidates[i].flows.push(flow),
            None => self.open_flows.entry(conn).or_default().push(flow),
        }
    }

    /// Notes a `conn` record (written when the connection closed).
    pub fn conn(&mut self, c: &Conn) {
        let flows = self.open_flows.remove(&c.conn).unwrap_or_default();
        let Some(process) = c.process.as_deref().and_then(ConnProcess::known) else {
            return;
        };
        if self.llm_conns.remove(&c.conn) {
            self.agent_pids.insert(process.pid);
            return;
        }
        if c.ancestry.is_empty() {
            // The command phonehome started, or a chain not read: the agent's own.
            return;
        }
        let mut chain = vec![Step {
            pid: process.pid,
            start: millis(&process.start),
            keys: keys(&argv_segments(&process.argv, 0)),
        }];
        chain.extend(c.ancestry.iter().map(|a| Step {
            pid: a.pid,
            start: a.start.as_deref().and_then(millis),
            keys: keys(&argv_segments(&a.argv, 0)),
        }));
        self.by_conn.insert(c.conn, self.candidates.len());
        self.candidates.push(Candidate {
            conn: c.conn,
            host: c.target.host.clone(),
            port: c.target.port,
            flows,
            process: process.name().to_owned(),
            argv: process.argv.clone(),
            chain,
        });
    }
}

/// An events iterator that notes each event in [`Connections`] as it passes.
pub struct Tap<I> {
    events: I,
    connections: Connections,
}

impl<I> Tap<I> {
    pub fn new(events: I) -> Self {
        Tap {
            events,
            connections: Connections::default(),
        }
    }

    /// The events read so far (for what the input says once read).
    pub fn events(&self) -> &I {
        &self.events
    }

    /// What was kept of the connections.
    pub fn into_connections(self) -> Connections {
        self.connections
    }
}

impl<I: Iterator<Item = Result<Event, SourceError>>> Iterator for Tap<I> {
    type Item = Result<Event, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.events.next();
        if let Some(Ok(event)) = &next {
            self.connections.event(event);
        }
        next
    }
}

/// A tool call being followed: the public view and its window.
#[derive(Debug, Clone)]
struct Followed {
    call: ToolCall,
    keys: Vec<Key>,
    opens: i64,
    closes: Option<i64>,
}

/// The tool calls of the decoded LLM calls, with the request that carried each result back.
#[derive(Debug, Default)]
pub struct ToolLog {
    calls: Vec<Followed>,
    /// Calls whose result has not been seen, by id (or name, for APIs without ids), oldest
    /// first.
    waiting: HashMap<String, VecDeque<usize>>,
}

/// What one LLM call tells the join, taken from its decoded conversation (on any thread):
/// the results its request sends back and the calls its answer asks for.
#[derive(Debug)]
pub struct ToolStep {
    flow: FlowId,
    ts: String,
    sent: i64,
    /// Each result's keys: its id, then its tool's name.
    results: Vec<[Option<String>; 2]>,
    calls: Vec<Followed>,
}

impl ToolStep {
    /// The step of one decoded LLM call; `None` when it neither sends a result nor asks for
    /// a call (or its time cannot be read).
    pub fn of(c: &Conversation) -> Option<ToolStep> {
        let sent = millis(&c.ts)?;
        // By id; else by name (Gemini and Ollama calls carry no id, though a client may give
        // the result one).
        let results: Vec<[Option<String>; 2]> = c
            .input_messages
            .iter()
            .flat_map(|m| &m.parts)
            .filter_map(|part| match part {
                Part::ToolCallResponse { id, response } => {
                    Some([id.clone(), response["name"].as_str().map(str::to_owned)])
                }
                _ => None,
            })
            .collect();
        let first_byte = sent + ms(c.ttft_ms.or(c.duration_ms));
        let issued = phonehome_record::timestamp(
            chrono::DateTime::from_timestamp_millis(sent + ms(c.duration_ms)).unwrap_or_default(),
        );
        let calls: Vec<Followed> = c
            .output_messages
            .iter()
            .flat_map(|m| &m.parts)
            .filter_map(|part| match part {
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                } => Some((id, name, tool_command(arguments))),
                _ => None,
            })
            .map(|(id, name, command)| Followed {
                keys: command
                    .as_ref()
                    .map(|c| keys(&c.segments()))
                    .unwrap_or_default(),
                call: ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    command: command.map(|c| c.text()),
                    flow: c.flow,
                    issued: issued.clone(),
                    result: None,
                    result_flow: None,
                    caused: Vec::new(),
                },
                opens: first_byte,
                closes: None,
            })
            .collect();
        (!results.is_empty() || !calls.is_empty()).then(|| ToolStep {
            flow: c.flow,
            ts: c.ts.clone(),
            sent,
            results,
            calls,
        })
    }
}

impl ToolLog {
    /// Notes one decoded LLM call: the results its request sends back, the calls its answer
    /// asks for.
    pub fn call(&mut self, c: &Conversation) {
        if let Some(step) = ToolStep::of(c) {
            self.add(step);
        }
    }

    /// Notes one LLM call's step; steps are added in the order of their calls.
    pub fn add(&mut self, step: ToolStep) {
        for keys in &step.results {
            let keys = [keys[0].as_deref(), keys[1].as_deref()];
            self.result(&keys, step.sent, &step.ts, step.flow);
        }
        for followed in step.calls {
            let key = followed
                .call
                .id
                .clone()
                .unwrap_or_else(|| followed.call.name.clone());
            self.waiting
                .entry(key)
                .or_default()
                .push_back(self.calls.len());
            self.calls.push(followed);
        }
    }

    fn result(&mut self, keys: &[Option<&str>], sent: i64, ts: &str, flow: FlowId) {
        let Some(i) = keys
            .iter()
            .flatten()
            .find_map(|key| self.waiting.get_mut(*key).and_then(VecDeque::pop_front))
        else {
            return;
        };
        let followed = &mut self.calls[i];
        followed.closes = Some(sent);
        followed.call.result = Some(ts.to_owned());
        followed.call.result_flow = Some(flow);
    }
}

/// Joins connections to tool calls: see the module head of `causes` for the rule.
pub fn join(connections: Connections, tools: ToolLog) -> Causes {
    decide(&connections, tools.calls)
}

/// The join over what has been read so far, leaving both sides to be fed on (a live
/// consumer's view: windows still open are open, connections not yet closed are not known).
pub fn join_so_far(connections: &Connections, tools: &ToolLog) -> Causes {
    decide(connections, tools.calls.clone())
}

impl Connections {
    /// Whether connection `conn` may have been caused by a tool call: its `conn` record named
    /// its process, with parents, and it carried no LLM call.
    pub fn is_candidate(&self, conn: ConnId) -> bool {
        self.by_conn.contains_key(&conn)
    }
}

impl ToolLog {
    /// The tool calls whose result went back in the request of LLM call `flow`, each with
    /// its place among the calls of the answer that asked for it.
    pub fn answered_by(&self, flow: FlowId) -> Vec<(usize, &ToolCall)> {
        self.calls
            .iter()
            .filter(|f| f.call.result_flow == Some(flow))
            .map(|f| (self.place(f), &f.call))
            .collect()
    }

    /// The place of a call among the calls of its LLM call's answer (0 for the first).
    fn place(&self, followed: &Followed) -> usize {
        self.calls
            .iter()
            .take_while(|f| !std::ptr::eq(*f, followed))
            .filter(|f| f.call.flow == followed.call.flow)
            .count()
    }
}

fn decide(connections: &Connections, mut calls: Vec<Followed>) -> Causes {
    let agent = &connections.agent_pids;
    for candidate in &connections.candidates {
        let Some(below) = below_agent(&candidate.chain, agent) else {
            continue;
        };
        let Some((chosen, method)) = choose(below, &calls) else {
            continue;
        };
        let labels: Vec<String> = chosen
            .iter()
            .map(|&i| calls[i].call.label().to_owned())
            .collect();
        for &i in &chosen {
            let label = calls[i].call.label().to_owned();
            calls[i].call.caused.push(Caused {
                conn: candidate.conn,
                pid: candidate.chain[0].pid,
                process: candidate.process.clone(),
                argv: candidate.argv.clone(),
                parents: below.iter().skip(1).map(|s| s.pid).collect(),
                host: candidate.host.clone(),
                port: candidate.port,
                flows: candidate.flows.clone(),
                method,
                also: labels.iter().filter(|l| **l != label).cloned().collect(),
            });
        }
    }
    let mut tool_calls: Vec<ToolCall> = calls.into_iter().map(|f| f.call).collect();
    for call in &mut tool_calls {
        call.caused.sort_by_key(|c| c.conn);
    }
    // Stable: calls of one answer keep their order.
    tool_calls.sort_by_key(|t| t.flow);
    Causes { tool_calls }
}

/// The calls a connection whose chain below the agent is `below` belongs to, and how.
fn choose(below: &[Step], calls: &[Followed]) -> Option<(Vec<usize>, Method)> {
    let inside: Vec<usize> = (0..calls.len())
        .filter(|&i| below.iter().any(|s| in_window(s.start, &calls[i])))
        .collect();
    let matching: Vec<usize> = inside
        .iter()
        .copied()
        .filter(|&i| below.iter().any(|s| keys_match(&s.keys, &calls[i].keys)))
        .collect();
    match (matching.len(), inside.len()) {
        (1, _) => Some((matching, Method::Argv)),
        (0, 0) => None,
        (0, 1) => Some((inside, Method::Window)),
        (0, _) => Some((inside, Method::Ambiguous)),
        _ => Some((matching, Method::Ambiguous)),
    }
}

/// The chain's processes below the agent (the nearest process that carried LLM calls); `None`
/// when the owner is the agent itself or does not descend from it. When no LLM connection's
/// process is known (its `conn` record is missing: a capture cut short, or records lost at a
/// stop), the agent is the chain's top: the command phonehome started.
fn below_agent<'a>(chain: &'a [Step], agent: &HashSet<u32>) -> Option<&'a [Step]> {
    let at = if agent.is_empty() {
        chain.len().checked_sub(1)?
    } else {
        chain.iter().position(|s| agent.contains(&s.pid))?
    };
    (at > 0).then(|| &chain[..at])
}

fn in_window(start: Option<i64>, call: &Followed) -> bool {
    let Some(start) = start else { return false };
    start >= call.opens - SLACK_MS && call.closes.is_none_or(|closes| start <= closes + SLACK_MS)
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn millis(ts: &str) -> Option<i64> {
    phonehome_record::parse_timestamp(ts).map(|t| t.timestamp_millis())
}

fn ms(duration: Option<u64>) -> i64 {
    duration.map_or(0, |d| i64::try_from(d).unwrap_or(i64::MAX / 2))
}
