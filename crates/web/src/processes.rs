//! The Processes view's tree: every process the capture names (the owner of each connection,
//! from its `conn` record's `process`, and that owner's `ancestry`), each with its parent's pid,
//! its connections and their requests. The page draws parent → children from the `ppid`s.
//!
//! Processes are told apart by pid (a pid reused within one capture is one node). Bounded:
//! at most [`MAX_PROCESSES`] processes and [`MAX_CONNECTIONS`] connections each are listed;
//! the rest are counted.

use std::collections::HashMap;

use phonehome_analyze::Event;
use phonehome_record::{Ancestor, Conn, ConnId, ProcessInfo};
use serde::Serialize;

/// Processes listed at most.
pub(crate) const MAX_PROCESSES: usize = 2000;
/// Connections listed per process at most.
pub(crate) const MAX_CONNECTIONS: usize = 100;

/// One process of the tree.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessNode {
    pub(crate) pid: u32,
    /// Its parent's pid, when the capture says it (the top of an ancestry has none).
    pub(crate) ppid: Option<u32>,
    /// The executable's path, or the kernel's short name when the path could not be read.
    pub(crate) exe: Option<String>,
    /// The command line, redacted as recorded.
    pub(crate) argv: Vec<String>,
    /// When it started (RFC 3339 UTC), when known.
    pub(crate) start: Option<String>,
    /// The connections whose client socket it owned, in capture order.
    pub(crate) connections: Vec<ConnOut>,
    /// Connections past [`MAX_CONNECTIONS`].
    pub(crate) more_connections: u64,
    /// Requests over all its connections.
    pub(crate) requests: u64,
}

/// One connection of a process.
#[derive(Debug, Serialize)]
pub(crate) struct ConnOut {
    pub(crate) conn: ConnId,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// HTTP requests it carried.
    pub(crate) requests: u64,
}

/// The tree as the page gets it.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ProcessTree {
    /// In order of first sight.
    pub(crate) processes: Vec<ProcessNode>,
    /// Processes past [`MAX_PROCESSES`].
    pub(crate) more_processes: u64,
}

/// Builds the tree from the input's events, in capture order.
#[derive(Default)]
pub(crate) struct TreeBuilder {
    tree: ProcessTree,
    at: HashMap<u32, usize>,
    /// Requests per connection whose `conn` record (written when it closes) is not read yet.
    requests: HashMap<ConnId, u64>,
}

impl TreeBuilder {
    pub(crate) fn event(&mut self, event: &Event) {
        match event {
            Event::Exchange(x) => {
                if let Some(conn) = x.conn {
                    *self.requests.entry(conn).or_default() += 1;
                }
            }
            Event::Conn(c) => self.conn(c),
            _ => {}
        }
    }

    fn conn(&mut self, c: &Conn) {
        let requests = self.requests.remove(&c.conn).unwrap_or(0);
        let Some(owner) = c.process.as_deref().and_then(|p| p.known()) else {
            return;
        };
        let parents = &c.ancestry;
        for (i, ancestor) in parents.iter().enumerate() {
            let ppid = parents.get(i + 1).map(|a| a.pid);
            self.ancestor(ancestor, ppid);
        }
        let Some(node) = self.node(owner.pid, || owner_node(owner)) else {
            return;
        };
        node.requests += requests;
        if node.connections.len() < MAX_CONNECTIONS {
            node.connections.push(ConnOut {
                conn: c.conn,
                host: c.target.host.clone(),
                port: c.target.port,
                requests,
            });
        } else {
            node.more_connections += 1;
        }
    }

    fn ancestor(&mut self, a: &Ancestor, ppid: Option<u32>) {
        let node = self.node(a.pid, || ProcessNode {
            pid: a.pid,
            ppid,
            exe: a.exe.clone().or_else(|| a.comm.clone()),
            argv: a.argv.clone(),
            start: a.start.clone(),
            connections: Vec::new(),
            more_connections: 0,
            requests: 0,
        });
        if let Some(node) = node {
            node.ppid = node.ppid.or(ppid);
        }
    }

    /// The node of `pid`, made by `make` when new; `None` past [`MAX_PROCESSES`].
    fn node(&mut self, pid: u32, make: impl FnOnce() -> ProcessNode) -> Option<&mut ProcessNode> {
        if let Some(&i) = self.at.get(&pid) {
            return self.tree.processes.get_mut(i);
        }
        if self.tree.processes.len() >= MAX_PROCESSES {
            self.tree.more_processes += 1;
            return None;
        }
        self.at.insert(pid, self.tree.processes.len());
        self.tree.processes.push(make());
        self.tree.processes.last_mut()
    }

    pub(crate) fn finish(self) -> ProcessTree {
        self.tree
    }
}

fn owner_node(p: &ProcessInfo) -> ProcessNode {
    ProcessNode {
        pid: p.pid,
        ppid: Some(p.ppid),
        exe: Some(p.exe.clone()),
        argv: p.argv.clone(),
        start: Some(p.start.clone()),
        connections: Vec::new(),
        more_connections: 0,
        requests: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(line: &str) -> Conn {
        match phonehome_record::Record::from_line(line).expect("a record") {
            phonehome_record::Record::Conn(c) => c,
            other => panic!("not a conn: {other:?}"),
        }
    }

    #[test]
    fn owners_and_their_ancestry_make_one_tree() {
        let mut b = TreeBuilder::default();
        b.requests.insert(ConnId(7), 2);
        b.conn(&conn(
            r#"{"type":"conn","ts":"2026-11-21T08:18:31.000Z","conn":7,"client":"127.0.0.1:5","target":{"host":"a.test","port":443},"transport":"tls-intercept","bytes_up":1,"bytes_down":2,"process":{"pid":30,"ppid":20,"exe":"/usr/bin/curl","argv":["curl","a.test"],"start":"2026-11-21T08:18:30.900Z"},"ancestry":[{"pid":20,"exe":"/bin/sh","argv":["sh","-c","curl a.test"]},{"pid":10,"exe":"/usr/bin/node"}]}"#,
        ));
        b.conn(&conn(
            r#"{"type":"conn","ts":"2026-11-21T08:18:32.000Z","conn":8,"client":"127.0.0.1:6","target":{"host":"llm.test","port":443},"transport":"tls-intercept","bytes_up":1,"bytes_down":2,"process":{"pid":10,"ppid":1,"exe":"/usr/bin/node","argv":["node"],"start":"2026-11-21T08:18:29.000Z"}}"#,
        ));
        let tree = b.finish();
        let pids: Vec<(u32, Option<u32>)> =
            tree.processes.iter().map(|p| (p.pid, p.ppid)).collect();
        assert_eq!(pids, [(20, Some(10)), (10, None), (30, Some(20))]);
        let curl = &tree.processes[2];
        assert_eq!(
            (curl.requests, curl.connections[0].host.as_str()),
            (2, "a.test")
        );
        assert_eq!(tree.processes[1].connections[0].conn, ConnId(8));
    }
}
