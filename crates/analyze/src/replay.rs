//! Replaying a capture's attempts against a policy: what the policy would allow and deny, and
//! which of the capture's successful LLM calls it would break. Streams: the capture is read
//! in chunks of lines, each line is parsed on a worker into a small [`Attempt`] (only the
//! fields a decision needs, bodies skipped), and the decisions are taken in order; memory is
//! bounded by the hosts, not by the requests.

mod attempt;
mod bitset;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use phonehome_catalog::Catalog;
use phonehome_policy::{Action, Connecting, Decision, HostDecision, Policy, RequestInfo};

use phonehome_record::{ConnId, FlowId};

use crate::input::{Chunks, Progress};
use crate::pool::InOrder;
use attempt::{Attempt, Owner, Parsed};
use bitset::IdSet;

/// Chunks parsed ahead of the one being decided.
const AHEAD: usize = 4;

/// What a policy would do with a capture's attempts.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// The policy's name (its path or preset).
    pub policy: String,
    /// Connections and requests replayed: every request, and every connection that carried
    /// none (refused, failed or tunnelled without a request phonehome could read).
    pub attempts: u64,
    pub allowed: u64,
    pub denied: u64,
    /// LLM calls the capture shows succeeding (2xx), and how many the policy would deny.
    pub llm_successful: u64,
    pub llm_broken: u64,
    /// Per host and port, sorted by host.
    pub hosts: Vec<HostVerdict>,
    /// Input warnings (a torn last line).
    pub warnings: Vec<String>,
}

/// What the policy does to one host and port.
#[derive(Debug, Clone, Serialize)]
pub struct HostVerdict {
    pub host: String,
    pub port: u16,
    /// The catalog's purpose of the host.
    pub purpose: Option<String>,
    pub allowed: u64,
    pub denied: u64,
    /// The rule that allowed the first allowed attempt.
    pub allowed_by: Option<String>,
    /// The rule that denied the first denied attempt.
    pub denied_by: Option<String>,
    /// Successful LLM calls in the capture, and those the policy would deny.
    pub llm_successful: u64,
    pub llm_broken: u64,
}

/// Why a capture cannot be replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("cannot read {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Line {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
}

/// Replays the capture at `path` against `policy`.
///
/// # Errors
/// [`ReplayError`]: the file cannot be read, its first line is not a `phonehome/1` header,
/// or a line (other than a torn last one) is not a record.
pub fn replay(path: &Path, policy: &Policy, catalog: &Catalog) -> Result<Replay, ReplayError> {
    let file = std::fs::File::open(path).map_err(|source| ReplayError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut state = State::new(policy, catalog);
    let mut first = true;
    for item in parsed_lines(file) {
        let (line, parsed) = item.map_err(|source| ReplayError::Io {
            path: path.to_owned(),
            source,
        })?;
        let attempt = match parsed {
            Parsed::Attempt(attempt) => attempt,
            Parsed::Torn => {
                state
                    .warnings
                    .push(format!("line {line}: a torn last line, skipped"));
                continue;
            }
            Parsed::Bad(message) => {
                return Err(ReplayError::Line {
                    path: path.to_owned(),
                    line,
                    message,
                })
            }
        };
        if std::mem::take(&mut first) {
            attempt::check_header(&attempt).map_err(|message| ReplayError::Line {
                path: path.to_owned(),
                line,
                message,
            })?;
        }
        state.take(attempt);
    }
    Ok(state.finish())
}

/// The lines of `input`, parsed on the workers, in order.
fn parsed_lines<R: Read>(input: R) -> impl Iterator<Item = std::io::Result<(usize, Parsed)>> {
    let mut chunks = Chunks::new(input, Progress::default());
    let mut pool: InOrder<Vec<(usize, Parsed)>> = InOrder::new();
    let mut ready = std::collections::VecDeque::new();
    let mut lines = 0;
    std::iter::from_fn(move || loop {
        if let Some(item) = ready.pop_front() {
            return Some(Ok(item));
        }
        while !chunks.ended() && pool.pending() < AHEAD {
            match chunks.next_chunk() {
                Ok(Some(chunk)) => {
                    let first = lines + 1;
                    lines += memchr::memchr_iter(b'\n', &chunk).count()
                        + usize::from(!chunk.ends_with(b"\n"));
                    pool.submit(move || attempt::parse_chunk(&chunk, first));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        ready.extend(pool.next()?);
    })
}

/// One host and port's tally, and its action at CONNECT once decided (`Some(None)`: decided
/// per request).
struct Row {
    verdict: HostVerdict,
    decision: Option<Option<Action>>,
}

/// Notes the first rule that allowed, or denied, an attempt on this host.
fn note_rule(verdict: &mut HostVerdict, action: Action, rule: String) {
    let by = match action {
        Action::Allow => &mut verdict.allowed_by,
        Action::Deny => &mut verdict.denied_by,
    };
    by.get_or_insert(rule);
}

/// An LLM call waiting for its response: its row and whether the policy allows it.
struct Pending {
    row: usize,
    allowed: bool,
}

struct State<'a> {
    policy: &'a Policy,
    catalog: &'a Catalog,
    rows: Vec<Row>,
    index: HashMap<String, Vec<(u16, usize)>>,
    flows: IdSet<FlowId>,
    conns_with_requests: IdSet<ConnId>,
    conns_counted: IdSet<ConnId>,
    pending: HashMap<FlowId, Pending>,
    warnings: Vec<String>,
    /// Whether the capture was made by `run` (attribution's chains end at its command).
    run: bool,
    /// The process of each open connection whose first request named it (only with a
    /// policy that has process rules); dropped at its `conn` record.
    owners: HashMap<ConnId, Connecting>,
    /// With process rules, attempts read before the record that names their process: a
    /// per-request denial's `blocked` record (before its `request`), by flow; a connection's
    /// `blocked` or `error` record (before its `conn` record), by conn.
    held_requests: HashMap<FlowId, attempt::Request>,
    held_conns: HashMap<ConnId, (String, u16)>,
}

impl<'a> State<'a> {
    fn new(policy: &'a Policy, catalog: &'a Catalog) -> Self {
        Self {
            policy,
            catalog,
            rows: Vec::new(),
            index: HashMap::new(),
            flows: IdSet::default(),
            conns_with_requests: IdSet::default(),
            conns_counted: IdSet::default(),
            pending: HashMap::new(),
            warnings: Vec::new(),
            run: false,
            owners: HashMap::new(),
            held_requests: HashMap::new(),
            held_conns: HashMap::new(),
        }
    }

    /// Whether `attempt` waits for the record that names its process (only with process
    /// rules, and only when that process is not known yet); held attempts are taken with that
    /// record, or at the end as unattributed.
    fn hold(&mut self, attempt: Attempt) -> Option<Attempt> {
        if !self.policy.has_process_rules() {
            return Some(attempt);
        }
        let known = |conn: Option<ConnId>| conn.is_some_and(|c| self.owners.contains_key(&c));
        match attempt {
            Attempt::Request(r) if r.blocked && r.owner.is_none() && !known(r.conn) => {
                self.held_requests.insert(r.flow, r);
                None
            }
            Attempt::Request(r) => {
                self.held_requests.remove(&r.flow);
                Some(Attempt::Request(r))
            }
            Attempt::Connection {
                conn: Some(conn),
                host,
                port,
                owner: None,
                closed: false,
            } if !known(Some(conn)) => {
                self.held_conns.entry(conn).or_insert((host, port));
                None
            }
            Attempt::Connection {
                conn: Some(conn),
                host,
                port,
                owner,
                closed: true,
            } => {
                let (host, port) = self.held_conns.remove(&conn).unwrap_or((host, port));
                Some(Attempt::Connection {
                    conn: Some(conn),
                    host,
                    port,
                    owner,
                    closed: true,
                })
            }
            other => Some(other),
        }
    }

    /// At the end: the held attempts whose process never came, as unattributed.
    fn release(&mut self) {
        let mut requests: Vec<attempt::Request> =
            self.held_requests.drain().map(|(_, r)| r).collect();
        requests.sort_by_key(|r| r.flow);
        for mut request in requests {
            request.blocked = false;
            self.decide(Attempt::Request(request));
        }
        let mut conns: Vec<(ConnId, (String, u16))> = self.held_conns.drain().collect();
        conns.sort_by_key(|(c, _)| *c);
        for (conn, (host, port)) in conns {
            self.decide(Attempt::Connection {
                conn: Some(conn),
                host,
                port,
                owner: None,
                closed: true,
            });
        }
    }

    /// The process of a connection, as a policy's process rules see it: from the record's
    /// own `process`, else from the connection's first request; unknown without either.
    fn connecting(
        &mut self,
        conn: Option<ConnId>,
        owner: Option<Owner>,
        closed: bool,
    ) -> Connecting {
        if !self.policy.has_process_rules() {
            return Connecting::unknown();
        }
        let from_record =
            owner.map(|o| Connecting::of_record(Some(&o.process), &o.ancestry, self.run));
        let Some(conn) = conn else {
            return from_record.unwrap_or_default();
        };
        let known = if closed {
            self.owners.remove(&conn)
        } else {
            self.owners.get(&conn).cloned()
        };
        match from_record {
            Some(c) if !closed => {
                self.owners.insert(conn, c.clone());
                c
            }
            Some(c) => c,
            None => known.unwrap_or_default(),
        }
    }

    fn take(&mut self, attempt: Attempt) {
        if let Some(attempt) = self.hold(attempt) {
            self.decide(attempt);
        }
    }

    fn decide(&mut self, attempt: Attempt) {
        match attempt {
            Attempt::Request(mut request) => {
                if let Some(conn) = request.conn {
                    self.conns_with_requests.insert(conn);
                }
                let process = self.connecting(request.conn, request.owner.take(), false);
                if !self.flows.insert(request.flow) {
                    return;
                }
                let row = self.row(&request.host, request.port);
                if request.registry {
                    let purpose = &mut self.rows[row].verdict.purpose;
                    purpose.get_or_insert_with(|| "package-registry".to_owned());
                }
                let allowed = match self.host_decision(row, &process) {
                    // Decided at CONNECT: the rule is already on the row.
                    Some(action) => self.count_again(row, action),
                    None => {
                        let decision = self.decide_request(&request, &process);
                        self.count(row, decision)
                    }
                };
                if request.llm {
                    self.pending.insert(request.flow, Pending { row, allowed });
                }
            }
            Attempt::Response { flow, status } => self.response(flow, status),
            Attempt::Connection {
                conn,
                host,
                port,
                owner,
                closed,
            } => {
                let process = self.connecting(conn, owner, closed);
                let seen = conn.is_some_and(|c| {
                    self.conns_with_requests.contains(c) || !self.conns_counted.insert(c)
                });
                if seen {
                    return;
                }
                let row = self.row(&host, port);
                match self.host_decision(row, &process) {
                    Some(action) => self.count_again(row, action),
                    None => self.count(
                        row,
                        Decision {
                            action: Action::Allow,
                            rule: "decided per request (no request on the connection)".to_owned(),
                        },
                    ),
                };
            }
            Attempt::Header { run, .. } => self.run = run,
            Attempt::Other => {}
        }
    }

    fn response(&mut self, flow: FlowId, status: u16) {
        let Some(pending) = self.pending.remove(&flow) else {
            return;
        };
        if !(200..300).contains(&status) {
            return;
        }
        let verdict = &mut self.rows[pending.row].verdict;
        verdict.llm_successful += 1;
        verdict.llm_broken += u64::from(!pending.allowed);
    }

    fn row(&mut self, host: &str, port: u16) -> usize {
        if let Some(&(_, row)) = self
            .index
            .get(host)
            .and_then(|ports| ports.iter().find(|(p, _)| *p == port))
        {
            return row;
        }
        let row = self.rows.len();
        self.rows.push(Row {
            verdict: HostVerdict {
                host: host.to_owned(),
                port,
                purpose: self
                    .catalog
                    .lookup(host, port)
                    .map(|e| e.purpose.as_str().to_owned()),
                allowed: 0,
                denied: 0,
                allowed_by: None,
                denied_by: None,
                llm_successful: 0,
                llm_broken: 0,
            },
            decision: None,
        });
        self.index
            .entry(host.to_owned())
            .or_default()
            .push((port, row));
        row
    }

    /// The action of `row`'s host at CONNECT for a connection of `process`, decided once per
    /// host (its rule noted on the row) unless the policy has process rules; `None` when the
    /// policy decides that host per request.
    fn host_decision(&mut self, row: usize, process: &Connecting) -> Option<Action> {
        if let Some(decided) = self.rows[row].decision {
            return decided;
        }
        let verdict = &mut self.rows[row].verdict;
        let decided =
            match self
                .policy
                .decide_host(&verdict.host, verdict.port, process, self.catalog)
            {
                HostDecision::Decided(decision) => {
                    note_rule(verdict, decision.action, decision.rule);
                    Some(decision.action)
                }
                HostDecision::PerRequest => None,
            };
        if !self.policy.has_process_rules() {
            self.rows[row].decision = Some(decided);
        }
        decided
    }

    fn decide_request(&self, request: &attempt::Request, process: &Connecting) -> Decision {
        self.policy.decide_request(
            &RequestInfo {
                host: &request.host,
                port: request.port,
                method: &request.method,
                path: &request.path,
                package_registry: request.registry,
                process,
            },
            self.catalog,
        )
    }

    /// Counts a decision on a row; whether it allows.
    fn count(&mut self, row: usize, decision: Decision) -> bool {
        note_rule(&mut self.rows[row].verdict, decision.action, decision.rule);
        self.count_again(row, decision.action)
    }

    /// Counts an action whose rule is already noted on the row; whether it allows.
    fn count_again(&mut self, row: usize, action: Action) -> bool {
        let verdict = &mut self.rows[row].verdict;
        match action {
            Action::Allow => verdict.allowed += 1,
            Action::Deny => verdict.denied += 1,
        }
        action == Action::Allow
    }

    fn finish(mut self) -> Replay {
        self.release();
        let mut hosts: Vec<HostVerdict> = self.rows.into_iter().map(|r| r.verdict).collect();
        hosts.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        let sum = |f: fn(&HostVerdict) -> u64| hosts.iter().map(f).sum::<u64>();
        Replay {
            policy: self.policy.name().to_owned(),
            attempts: sum(|h| h.allowed + h.denied),
            allowed: sum(|h| h.allowed),
            denied: sum(|h| h.denied),
            llm_successful: sum(|h| h.llm_successful),
            llm_broken: sum(|h| h.llm_broken),
            hosts,
            warnings: self.warnings,
        }
    }
}
