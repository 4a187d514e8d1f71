//! What the capture could not see, and who sent what: attempts that ended before their request
//! was seen (the content verdict says **unknown** for their hosts, with the flag that would
//! reveal them), and the processes behind the connections (`conn.process`).

use std::collections::{BTreeMap, BTreeSet};

use phonehome_record::{Blocked, Capture, Conn, ConnId, ConnProcess, Phase, Target, Transport};

use super::model::{ProcessHost, ProcessRow, UnseenRow};

/// Counts unseen attempts and connections per process, in capture order.
#[derive(Default)]
pub(super) struct Sight {
    /// Whether the capture's sinkhole read denied / unreachable connections (`options.sinkhole`).
    sinkhole_denied: bool,
    sinkhole_unreachable: bool,
    /// Host → why → attempts.
    unseen: BTreeMap<String, BTreeMap<Why, u64>>,
    /// Executable → host → connections.
    processes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Connections that failed before any request (their `conn` record comes later): counted
    /// once, as the failure, not again as bytes relayed.
    failed_conns: BTreeSet<ConnId>,
}

/// Why an attempt's request was not seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    /// Denied at CONNECT with the sinkhole off for denials.
    Denied,
    /// Its upstream could not be reached, with the sinkhole off for failures.
    Unreachable,
    /// The upstream's certificate was rejected before the client's request.
    UpstreamTls,
    /// Relayed as bytes: not HTTP, or TLS with an ALPN phonehome does not speak.
    Relayed,
    /// On a sinkholed connection: neither TLS nor HTTP.
    NotHttp,
}

impl Why {
    fn text(self) -> &'static str {
        match self {
            Why::Denied => "denied at CONNECT",
            Why::Unreachable => "upstream unreachable",
            Why::UpstreamTls => "upstream certificate rejected",
            Why::Relayed => "relayed as bytes (not HTTP, or TLS phonehome does not decrypt)",
            Why::NotHttp => "neither TLS nor HTTP",
        }
    }

    /// The one flag that would have shown the request.
    fn reveal(self) -> Option<&'static str> {
        match self {
            Why::Denied => Some("--sinkhole denied"),
            Why::Unreachable => Some("--sinkhole unreachable"),
            Why::UpstreamTls | Why::Relayed | Why::NotHttp => None,
        }
    }
}

impl Sight {
    /// Reads which connections the capture's sinkhole served (none in captures made before it).
    pub(super) fn header(&mut self, capture: &Capture) {
        let mode = capture.options.sinkhole();
        (self.sinkhole_denied, self.sinkhole_unreachable) = (mode.denied, mode.unreachable);
    }

    /// A connection-level failure (no flow) of connection `conn`.
    pub(super) fn failure(&mut self, conn: Option<ConnId>, target: &Target, phase: Phase) {
        self.failed_conns.extend(conn);
        let why = match phase {
            // With the sinkhole on, a failure without a flow had no request to see.
            Phase::Dns | Phase::Connect | Phase::Timeout if !self.sinkhole_unreachable => {
                Why::Unreachable
            }
            Phase::TlsUpstream => Why::UpstreamTls,
            _ => return,
        };
        self.add(&target.host, why);
    }

    /// A denial: one at CONNECT (no flow) hid its request unless the sinkhole read it.
    pub(super) fn blocked(&mut self, b: &Blocked) {
        if b.flow.is_none() && b.conn.is_some() && b.enforced && !self.sinkhole_denied {
            self.add(&b.target.host, Why::Denied);
        }
    }

    /// A connection: its process, and bytes that left unseen.
    pub(super) fn conn(&mut self, c: &Conn) {
        if let Some(ConnProcess::Known(p)) = c.process.as_deref() {
            *self
                .processes
                .entry(p.exe.clone())
                .or_default()
                .entry(c.target.host.clone())
                .or_default() += 1;
        }
        let failed = self.failed_conns.remove(&c.conn);
        if c.first_bytes.is_some() {
            self.add(&c.target.host, Why::NotHttp);
        } else if !failed
            && c.sinkhole.is_none()
            && c.bytes_up > 0
            && matches!(c.transport, Transport::Tcp | Transport::TlsPassthrough)
        {
            self.add(&c.target.host, Why::Relayed);
        }
    }

    fn add(&mut self, host: &str, why: Why) {
        *self
            .unseen
            .entry(host.to_owned())
            .or_default()
            .entry(why)
            .or_default() += 1;
    }

    /// The unseen attempts per host and why, and the processes with their hosts.
    pub(super) fn finish(self) -> (Vec<UnseenRow>, Vec<ProcessRow>) {
        let unseen = self
            .unseen
            .into_iter()
            .flat_map(|(host, whys)| {
                whys.into_iter().map(move |(why, attempts)| UnseenRow {
                    host: host.clone(),
                    attempts,
                    why: why.text(),
                    reveal: why.reveal(),
                })
            })
            .collect();
        let processes = self
            .processes
            .into_iter()
            .map(|(exe, hosts)| ProcessRow {
                connections: hosts.values().sum(),
                hosts: hosts
                    .into_iter()
                    .map(|(host, connections)| ProcessHost { host, connections })
                    .collect(),
                exe,
            })
            .collect();
        (unseen, processes)
    }
}
