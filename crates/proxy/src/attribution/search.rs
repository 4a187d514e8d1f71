//! The search for a socket's owner, and the chain of its parents.
//!
//! A socket belongs to the process whose `/proc/<pid>/fd` holds a link to `socket:[inode]`.
//! Reading every process's descriptors is the cost of a lookup, so the likeliest processes
//! come first: the last owners found (an agent that opens connection after connection), then
//! the command's descendants, newest (highest pid) first, where a short-lived client such as
//! `curl` is; every other process last. A socket held by several processes (inherited across
//! a `fork`) is attributed to the first one found.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use phonehome_record::{Ancestor, ConnProcess, ProcessInfo};
use procfs::process::Process;
use rustix::fs::{Dir, Mode, OFlags};

use super::known::{ExecCheck, Known, Polls, Seen, ANCESTOR_CHECK};
use super::owner::{Attribution, Lineage};
use super::table::{Entry, Tables};

/// Last owners remembered, searched first.
const RECENT_OWNERS: usize = 8;
/// Processes of the command's tree listed at most (a fork bomb must not stall accepts).
const TREE_LIMIT: usize = 4096;
/// Parents followed at most (a chain read while processes are re-parented could loop).
const CHAIN_LIMIT: usize = 128;

#[derive(Debug)]
pub(super) struct Searcher {
    command: Option<u32>,
    tables: Tables,
    /// Whether to search the last owners and the command's tree first, and cache.
    shortcuts: bool,
    own_pid: u32,
    own_uid: Option<u32>,
    known: Known,
    recent: Mutex<VecDeque<u32>>,
}

/// What a search over processes' descriptors found.
#[derive(Debug, Default)]
struct Search {
    owner: Option<u32>,
    /// Processes whose descriptors could not be read (another user's).
    denied: usize,
    /// Pids already searched.
    seen: HashSet<u32>,
}

impl Searcher {
    pub(super) fn new(command: Option<u32>, tables: Tables, shortcuts: bool) -> Self {
        Searcher {
            command,
            tables,
            shortcuts,
            own_pid: std::process::id(),
            own_uid: Process::myself().and_then(|p| p.uid()).ok(),
            known: Known::new(shortcuts),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_OWNERS)),
        }
    }

    pub(super) fn lookup(&self, client: SocketAddr, server: SocketAddr) -> Attribution {
        let (inode, uid) = match self.tables.find(client, server) {
            Ok(Entry::Open { inode, uid }) => (inode, uid),
            Ok(Entry::Closed) => return Attribution::unknown(
                "the client socket is closed: its process closed it or exited before the lookup",
                Lineage::Unknown,
            ),
            Ok(Entry::Missing) => {
                return Attribution::unknown(missing(self.tables.is_own()), Lineage::Unknown)
            }
            Err(e) => {
                return Attribution::unknown(
                    format!("cannot read the TCP table: {e}"),
                    Lineage::Unknown,
                )
            }
        };
        let search = self.owner(inode);
        match search.owner {
            Some(pid) => self.describe(pid),
            None => self.not_found(uid, search.denied),
        }
    }

    /// The processes kept from earlier lookups (for tests that plant a stale entry).
    #[cfg(test)]
    pub(super) fn known(&self) -> &Known {
        &self.known
    }

    pub(super) fn reads_proc_tables(&self) -> bool {
        self.tables.reads_proc()
    }

    /// Searches the likeliest processes first for the one holding `socket:[inode]`.
    fn owner(&self, inode: u64) -> Search {
        let link = format!("socket:[{inode}]");
        let mut search = Search::default();
        if self.shortcuts {
            let recent: Vec<u32> = self
                .recent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .copied()
                .collect();
            if self.search(recent, link.as_bytes(), &mut search) {
                return search;
            }
            if let Some(command) = self.command {
                if self.search(tree(command), link.as_bytes(), &mut search) {
                    return search;
                }
            }
        }
        self.search(all_processes(self.shortcuts), link.as_bytes(), &mut search);
        search
    }

    /// Looks through `pids`' descriptors (skipping those searched already); true when found.
    fn search(&self, pids: Vec<u32>, link: &[u8], search: &mut Search) -> bool {
        for pid in pids {
            if !search.seen.insert(pid) {
                continue;
            }
            match self.known.holds(pid, link) {
                Ok(true) => {
                    search.owner = Some(pid);
                    self.remember(pid);
                    return true;
                }
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => search.denied += 1,
                // Gone since it was listed.
                Err(_) => self.forget(pid),
            }
        }
        false
    }

    /// Drops a process that exited from the last owners.
    fn forget(&self, pid: u32) {
        if self.shortcuts {
            self.recent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|&p| p != pid);
        }
    }

    fn remember(&self, pid: u32) {
        if !self.shortcuts {
            return;
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.retain(|&p| p != pid);
        recent.push_front(pid);
        recent.truncate(RECENT_OWNERS);
    }

    /// Why no owner was found for an open socket made by `uid`.
    fn not_found(&self, uid: u32, denied: usize) -> Attribution {
        let may_read_all = self.own_uid == Some(0);
        if denied > 0 && !may_read_all && self.own_uid != Some(uid) {
            let lineage = match self.command {
                Some(_) => Lineage::Outsider,
                None => Lineage::Unknown,
            };
            return Attribution::unknown(
                format!("the client socket belongs to uid {uid}, whose processes phonehome may not read"),
                lineage,
            );
        }
        let mut reason =
            "no process holds the client socket: its owner closed it or exited during the lookup"
                .to_owned();
        if denied > 0 {
            reason.push_str(&format!(" ({denied} processes could not be read)"));
        }
        Attribution::unknown(reason, Lineage::Unknown)
    }

    /// The owner's facts and its chain of parents: the processes kept from earlier lookups
    /// polled together once the chain is read; read again, each polled, when one has exited.
    fn describe(&self, pid: u32) -> Attribution {
        let mut polls = Polls::deferred();
        let attribution = self.describe_with(pid, &mut polls);
        if polls.running() {
            return attribution;
        }
        self.describe_with(pid, &mut Polls::each())
    }

    fn describe_with(&self, pid: u32, polls: &mut Polls) -> Attribution {
        let owner = self.known.get_with(pid, polls);
        let Some((owner, exe, argv)) = owner
            .as_ref()
            .and_then(|o| Some((o, o.exe.as_ref()?, o.argv.as_ref()?)))
        else {
            return Attribution::unknown(
                format!("the owner (pid {pid}) exited during the lookup"),
                Lineage::Unknown,
            );
        };
        let (ancestry, lineage) = self.ancestry(owner, polls);
        Attribution {
            process: ConnProcess::Known(ProcessInfo {
                pid,
                ppid: owner.ppid,
                exe: exe.clone(),
                argv: argv.clone(),
                start: owner.started.clone(),
            }),
            ancestry,
            lineage,
        }
    }

    /// The owner's parents up to the command (inclusive), or to PID 1.
    fn ancestry(&self, owner: &Arc<Seen>, polls: &mut Polls) -> (Vec<Ancestor>, Lineage) {
        let outside = match self.command {
            Some(_) => Lineage::Outsider,
            None => Lineage::Unknown,
        };
        if Some(owner.pid) == self.command {
            return (Vec::new(), Lineage::Command);
        }
        let mut chain = Vec::new();
        let mut child = owner.clone();
        while child.ppid != 0 && chain.len() < CHAIN_LIMIT {
            let Some(parent) = self.parent(&mut child, polls) else {
                // A parent exited while the chain was read.
                return (chain, Lineage::Unknown);
            };
            chain.push(step(&parent));
            let pid = parent.pid;
            if Some(pid) == self.command || (self.command.is_some() && pid == self.own_pid) {
                return (chain, Lineage::Command);
            }
            if pid == 1 {
                break;
            }
            child = parent;
        }
        (chain, outside)
    }

    /// `child`'s parent; `None` when it is gone. When the parent has exited, `child` may
    /// have been re-parented since its `ppid` was read: it is read afresh, and its parent now
    /// is the answer.
    fn parent(&self, child: &mut Arc<Seen>, polls: &mut Polls) -> Option<Arc<Seen>> {
        let parent = self.parent_of(child, polls);
        if parent.as_ref().is_some_and(|p| p.running) {
            return parent;
        }
        let fresh = self.known.refresh(child.pid)?;
        let moved = fresh.ppid != child.ppid;
        *child = fresh;
        if moved {
            self.parent_of(child, polls)
        } else {
            // Exiting right now, its children not yet re-parented: as read.
            parent
        }
    }

    /// `child`'s parent as kept: the command's `exec` checked on every use (a policy rule's
    /// `own` compares its program with the owner's), any other parent's when its last check
    /// is older than [`ANCESTOR_CHECK`]. Whether it still runs is polled either way.
    fn parent_of(&self, child: &Seen, polls: &mut Polls) -> Option<Arc<Seen>> {
        let check = if Some(child.ppid) == self.command {
            ExecCheck::EveryUse
        } else {
            ExecCheck::Within(ANCESTOR_CHECK)
        };
        self.known.get_checked(child.ppid, polls, check)
    }
}

/// A parent's step in the chain: its executable, or its name when that cannot be read; its
/// command line and start.
fn step(seen: &Seen) -> Ancestor {
    Ancestor {
        pid: seen.pid,
        argv: seen.argv.clone().unwrap_or_default(),
        exe: seen.exe.clone(),
        comm: seen.exe.is_none().then(|| seen.comm.clone()),
        start: Some(seen.started.clone()),
    }
}

/// The reason for a socket that is not in the table.
fn missing(own_namespace: bool) -> String {
    let table = if own_namespace {
        "the TCP table"
    } else {
        "the isolated namespace's TCP table"
    };
    format!(
        "no such socket in {table}: the client is on another machine or in another network \
         namespace, or its socket is gone already"
    )
}

/// The command and its descendants, newest (highest pid) first. Children are listed per
/// thread (`/proc/<pid>/task/<tid>/children`): a child belongs to the thread that forked it.
fn tree(command: u32) -> Vec<u32> {
    let mut pids = vec![command];
    let mut i = 0;
    while i < pids.len() && pids.len() < TREE_LIMIT {
        pids.extend(children(pids[i]));
        i += 1;
    }
    pids.truncate(TREE_LIMIT);
    pids.sort_unstable_by(|a, b| b.cmp(a));
    pids
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(process) = Process::new(i32::try_from(pid).unwrap_or(i32::MAX)) else {
        return Vec::new();
    };
    let Ok(tasks) = process.tasks() else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| task.children().ok())
        .flatten()
        .collect()
}

/// Every process, newest (highest pid) first; in `/proc` order when `newest_first` is false.
/// Only the folder is listed (`procfs::process::all_processes` would open every process).
fn all_processes(newest_first: bool) -> Vec<u32> {
    let Ok(folder) = rustix::fs::open(
        "/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return Vec::new();
    };
    let Ok(entries) = Dir::new(folder) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| {
            std::str::from_utf8(entry.file_name().to_bytes())
                .ok()?
                .parse()
                .ok()
        })
        .collect();
    if newest_first {
        pids.sort_unstable_by(|a, b| b.cmp(a));
    }
    pids
}
