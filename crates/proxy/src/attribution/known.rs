//! Processes seen before: what attribution read of each (`stat`, `exe`, `cmdline`), kept
//! while that same process lives and confirmed on every use, so that a client opening
//! connection after connection, and its parents, are not read afresh from `/proc` each time.
//!
//! An entry holds a pidfd (`pidfd_open(2)`) on its process. A pidfd refers to one process,
//! not to a number: it polls readable once that process has exited, so an entry is answered
//! only while the process it was read from still runs. That is what the start time told
//! before, without reading `stat` (the costliest file of `/proc/<pid>`): a reused pid, or an
//! exited parent whose children were re-parented, is read afresh. Each use also re-reads the
//! two facts an `exec` changes (the executable's path and the name, `comm`, the latter from a
//! file held open), so a process that ran another program is read afresh too. The parent
//! (`ppid`) is kept: it changes only when the parent exits, which its own entry tells.
//!
//! Reads are confirmed after they are made: an entry is kept only when its pidfd, opened
//! before the reads, is still not readable after them (the reads were of that process).

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags};

use super::descriptors::{self, Descriptors};
use super::facts::{self, Facts};

/// Processes kept at most. Each holds two descriptors (its pidfd and its `comm` file), three
/// once its sockets were searched (its `fd` folder): at most 96 of phonehome's descriptors.
const CACHE_LIMIT: usize = 32;
/// Bytes of a `comm` read at most (the kernel's limit is 16 with the newline).
const COMM_MAX: usize = 64;

/// What attribution knows of one process.
#[derive(Debug)]
pub(super) struct Seen {
    pub pid: u32,
    pub ppid: u32,
    /// When it started, in the capture's time format.
    pub started: String,
    /// The kernel's short name (`comm`).
    pub comm: String,
    /// Its executable; `None` when it cannot be read (another user's process).
    pub exe: Option<String>,
    /// Its command line; `None` when it cannot be read.
    pub argv: Option<Vec<String>>,
    /// Whether it was running when read: false for a process that has exited (a zombie
    /// whose children were re-parented already).
    pub running: bool,
    /// What confirms this entry; `None` when not cached.
    hold: Option<Hold>,
}

#[derive(Debug)]
struct Hold {
    pidfd: OwnedFd,
    comm: OwnedFd,
    descriptors: Mutex<Descriptors>,
}

/// The processes seen before, by pid.
#[derive(Debug)]
pub(super) struct Known {
    facts: Facts,
    /// `None` when caching is off (for the benchmark's comparison).
    entries: Option<Mutex<HashMap<u32, Arc<Seen>>>>,
}

impl Known {
    pub(super) fn new(cache: bool) -> Self {
        Known {
            facts: Facts::new(),
            entries: cache.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// Process `pid` as it is now: its entry when confirmed, else read afresh (and kept);
    /// `None` when it is gone.
    pub(super) fn get(&self, pid: u32) -> Option<Arc<Seen>> {
        if let Some(seen) = self.cached(pid) {
            if seen.confirmed() {
                return Some(seen);
            }
            self.drop_entry(pid);
        }
        self.read(pid)
    }

    /// Process `pid` read afresh, whatever is kept; `None` when it is gone.
    pub(super) fn refresh(&self, pid: u32) -> Option<Arc<Seen>> {
        self.drop_entry(pid);
        self.read(pid)
    }

    /// Whether `pid`'s descriptors include `link` (`socket:[inode]`): through its held `fd`
    /// folder and the numbers its sockets were found at when it was seen before.
    ///
    /// # Errors
    /// The descriptors cannot be read: the process is gone, or belongs to another user.
    pub(super) fn holds(&self, pid: u32, link: &[u8]) -> io::Result<bool> {
        let Some(seen) = self.cached(pid) else {
            return descriptors::holds(pid, link);
        };
        let Some(hold) = &seen.hold else {
            return descriptors::holds(pid, link);
        };
        let held = hold
            .descriptors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .holds(link, || {
                let folder = descriptors::open(pid)?;
                // Opened by number: still the process the entry is for?
                if running(&hold.pidfd) {
                    Ok(folder)
                } else {
                    Err(io::ErrorKind::NotFound.into())
                }
            });
        match held {
            Ok(found) => Ok(found),
            // The process the entry was for is gone; the pid may name another one now.
            Err(_) => {
                self.drop_entry(pid);
                descriptors::holds(pid, link)
            }
        }
    }

    fn cached(&self, pid: u32) -> Option<Arc<Seen>> {
        self.entries
            .as_ref()?
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&pid)
            .cloned()
    }

    fn drop_entry(&self, pid: u32) {
        if let Some(entries) = &self.entries {
            entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&pid);
        }
    }

    /// Reads `pid` from `/proc` and keeps it when it is confirmed.
    fn read(&self, pid: u32) -> Option<Arc<Seen>> {
        let Some(entries) = &self.entries else {
            return read(&self.facts, pid, None).map(Arc::new);
        };
        let pidfd = Pid::from_raw(i32::try_from(pid).ok()?)
            .and_then(|pid| rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok());
        let seen = Arc::new(read(&self.facts, pid, pidfd)?);
        if seen.hold.is_some() {
            let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries.len() >= CACHE_LIMIT {
                entries.retain(|_, seen| seen.hold.as_ref().is_some_and(|h| running(&h.pidfd)));
            }
            if entries.len() >= CACHE_LIMIT {
                entries.clear();
            }
            entries.insert(pid, seen.clone());
        }
        Some(seen)
    }

    /// The number of processes kept (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.lock().expect("not poisoned").len())
    }
}

impl Seen {
    /// Whether the entry still describes its process: the process has not exited, and runs
    /// the same program under the same name.
    fn confirmed(&self) -> bool {
        let Some(hold) = &self.hold else {
            return false;
        };
        let mut buf = [0u8; COMM_MAX];
        let comm_now = match rustix::io::pread(&hold.comm, &mut buf[..], 0) {
            Ok(n) => buf[..n].strip_suffix(b"\n").unwrap_or(&buf[..n]),
            Err(_) => return false,
        };
        if comm_now != self.comm.as_bytes() {
            return false;
        }
        let mut path = [0u8; 4096];
        let exe_now = rustix::fs::readlinkat_raw(
            rustix::fs::CWD,
            format!("/proc/{}/exe", self.pid),
            &mut path[..],
        )
        .ok();
        let same_exe = match (exe_now, &self.exe) {
            (Some(n), Some(exe)) => String::from_utf8_lossy(&path[..n]) == exe.as_str(),
            (None, None) => true,
            _ => false,
        };
        // Last: the reads above were of this process only if it still runs now.
        same_exe && running(&hold.pidfd)
    }
}

/// Reads process `pid` from `/proc`; with `pidfd` (opened on it before), the entry can be kept
/// when the process still runs after the reads. `None` when it is gone.
fn read(facts: &Facts, pid: u32, pidfd: Option<OwnedFd>) -> Option<Seen> {
    let process = facts::open(pid).ok()?;
    let stat = facts::stat(&process).ok()?;
    let exe = facts::exe(&process).ok();
    let argv = process.cmdline().ok();
    let comm = rustix::fs::open(
        format!("/proc/{pid}/comm"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok();
    let running_now = pidfd.as_ref().is_none_or(running);
    let hold = match (pidfd, comm) {
        (Some(pidfd), Some(comm)) if running_now => Some(Hold {
            pidfd,
            comm,
            descriptors: Mutex::new(Descriptors::default()),
        }),
        _ => None,
    };
    Some(Seen {
        pid,
        ppid: stat.ppid,
        started: facts.start(&stat),
        comm: stat.comm,
        exe,
        argv,
        running: running_now,
        hold,
    })
}

/// Whether the process a pidfd refers to has not exited (its pidfd is not readable).
fn running(pidfd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    match rustix::event::poll(&mut fds, Some(&rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 })) {
        Ok(0) => true,
        Ok(_) => false,
        // Cannot tell: not kept.
        Err(_) => false,
    }
}
