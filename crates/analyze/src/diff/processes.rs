//! The processes part of `phonehome diff`: which executables opened connections in each input,
//! to which hosts and how many times, from the `process` of each `conn` record; and which
//! executables appear in one input only.

use std::collections::BTreeMap;

use phonehome_record::{Conn, ConnProcess, ProcessInfo};
use serde::Serialize;

/// The name connections whose owner was not found are counted under.
pub(crate) const UNKNOWN: &str = "?";

/// What one input's `conn` records say of processes: connections by executable, then by host.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Processes {
    by_exe: BTreeMap<String, ProcessSide>,
}

impl Processes {
    /// Counts `conn` under its process's executable; a connection whose record names no
    /// process (attribution off, or a capture from before it) is not counted.
    pub(crate) fn conn(&mut self, conn: &Conn) {
        let Some(process) = conn.process.as_deref() else {
            return;
        };
        let side = self.by_exe.entry(executable(process)).or_default();
        side.connections += 1;
        *side.hosts.entry(conn.target.host.clone()).or_default() += 1;
    }

    /// Whether any connection named its process.
    pub(crate) fn attributed(&self) -> bool {
        !self.by_exe.is_empty()
    }
}

/// The executable's file name (`curl` for `/usr/bin/curl`), or [`UNKNOWN`].
fn executable(process: &ConnProcess) -> String {
    process
        .known()
        .map_or(UNKNOWN, ProcessInfo::name)
        .to_owned()
}

/// One executable's connections in one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessSide {
    /// Connections whose client socket this executable owned.
    pub connections: u64,
    /// Those connections by target host.
    pub hosts: BTreeMap<String, u64>,
}

/// One executable of either input, with its connections on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessDiff {
    /// The executable's file name (`curl`, `node`); `?` for connections whose owner was not
    /// found.
    pub exe: String,
    /// Its connections in A; `null` when A has none.
    pub a: Option<ProcessSide>,
    /// Its connections in B; `null` when B has none.
    pub b: Option<ProcessSide>,
}

/// The processes part of a diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Compared {
    pub(crate) only_in_a: Vec<String>,
    pub(crate) only_in_b: Vec<String>,
    /// Every executable of either input, when the inputs differ in processes; else none.
    pub(crate) executables: Vec<ProcessDiff>,
    /// The inputs (`A`, `B`) whose connections name no process, when the other's do.
    pub(crate) unattributed: Vec<String>,
}

/// Compares the processes of two inputs. An input that names no process at all is reported
/// as such rather than as missing every executable of the other.
pub(crate) fn compare(a: &Processes, b: &Processes) -> Compared {
    let mut out = Compared::default();
    if a == b {
        return out;
    }
    for (name, side) in [("A", a), ("B", b)] {
        if !side.attributed() {
            out.unattributed.push(name.to_owned());
        }
    }
    if out.unattributed.is_empty() {
        out.only_in_a = only(&a.by_exe, &b.by_exe);
        out.only_in_b = only(&b.by_exe, &a.by_exe);
    }
    let mut names: Vec<&String> = a.by_exe.keys().chain(b.by_exe.keys()).collect();
    names.sort();
    names.dedup();
    out.executables = names
        .into_iter()
        .map(|exe| ProcessDiff {
            exe: exe.clone(),
            a: a.by_exe.get(exe).cloned(),
            b: b.by_exe.get(exe).cloned(),
        })
        .collect();
    out
}

fn only(
    this: &BTreeMap<String, ProcessSide>,
    other: &BTreeMap<String, ProcessSide>,
) -> Vec<String> {
    this.keys()
        .filter(|exe| !other.contains_key(*exe))
        .cloned()
        .collect()
}

/// One side of an executable as text: `host (count), …`, or `—`.
pub(crate) fn hosts_text(side: Option<&ProcessSide>) -> String {
    let Some(side) = side else {
        return "—".to_owned();
    };
    side.hosts
        .iter()
        .map(|(host, n)| format!("{host} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
