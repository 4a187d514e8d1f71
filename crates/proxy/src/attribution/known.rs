//! Processes seen before: what attribution read of each (`stat`, `exe`, `cmdline`), kept
//! while that same process lives and confirmed on every use, so that a client opening
//! connection after connection, and its parents, are not read afresh from `/proc` each time.
//!
//! An entry holds a pidfd (`pidfd_open(2)`) on its process. A pidfd refers to one process,
//! not to a number: it polls readable once that process has exited, so an entry is answered
//! only while the process it was read from still runs. That is what the start time told
//! before, without reading `stat` (the costliest file of `/proc/<pid>`): a reused pid, or an
//! exited parent whose children were re-parented, is read afresh. Each use also tells whether
//! the process ran `exec` since it was read (see [`ExecWatch`]), so a process that ran another
//! program is read afresh too. The parent (`ppid`) is kept: it changes only when the parent
//! exits, which its own entry tells.
//!
//! The `exec` check costs a read per process (1.5 µs), and a chain of parents is a dozen
//! processes that rarely run `exec`: the caller says per use how recent a check must be
//! ([`ExecCheck`]). The socket's owner and the command phonehome started are checked on
//! every use (their programs are what a policy rule's `exe` and `own` read); the parents
//! between them when their last check is older than [`ANCESTOR_CHECK`]. Whether a process
//! still runs is told on every use, whatever the check: a pid reused by another process is
//! never answered from the cache.
//!
//! Reads are confirmed after they are made: an entry is kept only when its pidfd, opened
//! before the reads, is still not readable after them (the reads were of that process). The
//! pidfds of a whole chain of parents can be polled together, once, after the chain is read
//! ([`Polls::deferred`]).

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags};

use super::descriptors::{self, Descriptors};
use super::facts::{self, Facts};

/// Processes kept at most. Each holds two descriptors (its pidfd and its `environ` or `comm`
/// file), three once its sockets were searched (its `fd` folder): at most 96 of phonehome's
/// descriptors.
const CACHE_LIMIT: usize = 32;
/// Bytes of a `comm` read at most (the kernel's limit is 16 with the newline).
const COMM_MAX: usize = 64;
/// How long a parent's `exec` check holds ([`ExecCheck::Within`]): a parent between the
/// socket's owner and the command that runs `exec` may keep its old program in the ancestry
/// of connections looked up within this long after its last check, 100 ms at most after
/// its `exec`. A client opening 1,000 connections a second has its chain checked 10 times a
/// second instead of 1,000.
pub(super) const ANCESTOR_CHECK: Duration = Duration::from_millis(100);

/// How recent an entry's `exec` check must be for it to be answered from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExecCheck {
    /// Checked on this use: the socket's owner and the command phonehome started.
    EveryUse,
    /// Checked again when the last check is this old or older: the parents between them.
    Within(Duration),
}

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
    exec: ExecWatch,
    /// When `exec` was last checked (or the process read): nanoseconds since [`Known`]'s
    /// epoch, taken before the check.
    checked: AtomicU64,
    descriptors: Mutex<Descriptors>,
}

/// How an entry tells that its process ran `exec` since it was read.
#[derive(Debug)]
enum ExecWatch {
    /// Its `/proc/<pid>/environ`, held open. The file stays on the memory the process had
    /// when it was opened, and reads nothing once that memory is let go, which `exec` does
    /// (and exit): `environ_read` in the kernel's `fs/proc/base.c` reads only while
    /// `mmget_not_zero` holds. One read of one byte, about 1.5 µs here.
    Environ(OwnedFd),
    /// Its `comm` file, held open, and its `exe` link, read again and compared (about 3.3 µs):
    /// for a process whose `environ` cannot be read (another user's) or is empty, and for one
    /// that has not run `exec` since its `fork`, whose memory may be its parent's (`vfork`),
    /// which outlives its own `exec`.
    NameAndExe(OwnedFd),
}

/// How the pidfds of the entries answered by [`Known::get_with`] are polled: each at once, or
/// all together by [`Polls::running`] once the caller has read all it needs.
#[derive(Debug)]
pub(super) struct Polls {
    deferred: bool,
    /// Kept entries answered without their pidfd polled yet.
    pending: Vec<Arc<Seen>>,
}

impl Polls {
    /// Each entry polled as it is answered.
    pub(super) fn each() -> Self {
        Polls {
            deferred: false,
            pending: Vec::new(),
        }
    }

    /// Entries polled later, all in one `poll(2)`, by [`Polls::running`]; what was answered
    /// is true only if that returns true.
    pub(super) fn deferred() -> Self {
        Polls {
            deferred: true,
            pending: Vec::with_capacity(16),
        }
    }

    /// Whether every process answered from the cache without a poll still runs.
    pub(super) fn running(&self) -> bool {
        let mut fds: Vec<PollFd<'_>> = self
            .pending
            .iter()
            .filter_map(|seen| seen.hold.as_ref())
            .map(|hold| PollFd::new(&hold.pidfd, PollFlags::IN))
            .collect();
        fds.is_empty() || none_readable(&mut fds)
    }
}

/// The processes seen before, by pid.
#[derive(Debug)]
pub(super) struct Known {
    facts: Facts,
    /// What [`Hold::checked`] counts from.
    epoch: Instant,
    /// `None` when caching is off (for the benchmark's comparison).
    entries: Option<Mutex<HashMap<u32, Arc<Seen>>>>,
}

impl Known {
    pub(super) fn new(cache: bool) -> Self {
        Known {
            facts: Facts::new(),
            epoch: Instant::now(),
            entries: cache.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// Process `pid` as it is now: its entry when confirmed, else read afresh (and kept);
    /// `None` when it is gone.
    #[cfg(test)]
    pub(super) fn get(&self, pid: u32) -> Option<Arc<Seen>> {
        self.get_with(pid, &mut Polls::each())
    }

    /// Process `pid` as it is now: its entry when it has not run `exec` and, unless `polls`
    /// defers it, still runs; else read afresh (and kept). `None` when it is gone.
    pub(super) fn get_with(&self, pid: u32, polls: &mut Polls) -> Option<Arc<Seen>> {
        self.get_checked(pid, polls, ExecCheck::EveryUse)
    }

    /// As [`Known::get_with`], the `exec` check made as `check` says.
    pub(super) fn get_checked(
        &self,
        pid: u32,
        polls: &mut Polls,
        check: ExecCheck,
    ) -> Option<Arc<Seen>> {
        if let Some(seen) = self.cached(pid) {
            if self.same_program(&seen, check) {
                if polls.deferred {
                    polls.pending.push(seen.clone());
                    return Some(seen);
                }
                if seen.hold.as_ref().is_some_and(|h| running(&h.pidfd)) {
                    return Some(seen);
                }
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

    /// Whether a kept entry still runs the program it was read running: checked now, or
    /// trusted when `check` allows and its last check is recent enough.
    fn same_program(&self, seen: &Seen, check: ExecCheck) -> bool {
        let Some(hold) = &seen.hold else {
            return false;
        };
        let now = self.now();
        if let ExecCheck::Within(window) = check {
            let since = now.saturating_sub(hold.checked.load(Ordering::Relaxed));
            if u128::from(since) < window.as_nanos() {
                return true;
            }
        }
        if !seen.unchanged() {
            return false;
        }
        hold.checked.fetch_max(now, Ordering::Relaxed);
        true
    }

    /// Nanoseconds since the epoch, for [`Hold::checked`].
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
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
        let seen = Arc::new(read(&self.facts, pid, pidfd.map(|fd| (fd, self.now())))?);
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
}

#[cfg(test)]
impl Known {
    /// Keeps, under `pid`, an entry for the process `pidfd` refers to, as if read with `ppid`
    /// and `argv` and checked for `exec` just now: what a pid reused by another process
    /// leaves in the cache when `pidfd`'s process has exited.
    pub(super) fn keep_as_checked(&self, pid: u32, ppid: u32, argv: Vec<String>, pidfd: OwnedFd) {
        let comm = open_in(pid, "comm").expect("the pid names a process");
        let seen = Seen {
            pid,
            ppid,
            started: "2000-01-01T00:00:00.000Z".to_owned(),
            comm: "sh".to_owned(),
            exe: None,
            argv: Some(argv),
            running: true,
            hold: Some(Hold {
                pidfd,
                exec: ExecWatch::NameAndExe(comm),
                checked: AtomicU64::new(self.now()),
                descriptors: Mutex::new(Descriptors::default()),
            }),
        };
        self.entries
            .as_ref()
            .expect("cache on")
            .lock()
            .expect("not poisoned")
            .insert(pid, Arc::new(seen));
    }
}

impl Seen {
    /// Whether the entry still describes its process: it runs the same program as when it
    /// was read. Whether the process still runs is its pidfd's to tell, polled after this.
    fn unchanged(&self) -> bool {
        let Some(hold) = &self.hold else {
            return false;
        };
        match &hold.exec {
            ExecWatch::Environ(environ) => reads_some(environ),
            ExecWatch::NameAndExe(comm) => self.same_name_and_exe(comm),
        }
    }

    /// Whether the name (`comm`, read through `comm`) and the executable are as read.
    fn same_name_and_exe(&self, comm: &OwnedFd) -> bool {
        let mut buf = [0u8; COMM_MAX];
        let comm_now = match rustix::io::pread(comm, &mut buf[..], 0) {
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
        match (exe_now, &self.exe) {
            (Some(n), Some(exe)) => String::from_utf8_lossy(&path[..n]) == exe.as_str(),
            (None, None) => true,
            _ => false,
        }
    }
}

/// Reads process `pid` from `/proc`; with `pidfd` (opened on it before, with the time the
/// reads began), the entry can be kept when the process still runs after the reads. `None`
/// when it is gone.
fn read(facts: &Facts, pid: u32, pidfd: Option<(OwnedFd, u64)>) -> Option<Seen> {
    let process = facts::open(pid).ok()?;
    let stat = facts::stat(&process).ok()?;
    // Opened before the reads it vouches for: an `exec` during them empties it.
    let environ = (pidfd.is_some() && !stat.fork_no_exec)
        .then(|| open_in(pid, "environ"))
        .flatten();
    let exe = facts::exe(&process).ok();
    let argv = process.cmdline().ok();
    let exec = match environ {
        Some(environ) if reads_some(&environ) => Some(ExecWatch::Environ(environ)),
        _ => pidfd
            .is_some()
            .then(|| open_in(pid, "comm"))
            .flatten()
            .map(ExecWatch::NameAndExe),
    };
    let running_now = pidfd.as_ref().is_none_or(|(pidfd, _)| running(pidfd));
    let hold = match (pidfd, exec) {
        (Some((pidfd, began)), Some(exec)) if running_now => Some(Hold {
            pidfd,
            exec,
            checked: AtomicU64::new(began),
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

/// Opens `/proc/<pid>/<name>` for reading.
fn open_in(pid: u32, name: &str) -> Option<OwnedFd> {
    rustix::fs::open(
        format!("/proc/{pid}/{name}"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Whether a held `environ` still reads (the memory it was opened on is still in use).
fn reads_some(environ: &OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    matches!(rustix::io::pread(environ, &mut byte, 0), Ok(1))
}

/// Whether the process a pidfd refers to has not exited (its pidfd is not readable).
fn running(pidfd: &OwnedFd) -> bool {
    none_readable(&mut [PollFd::new(pidfd, PollFlags::IN)])
}

/// Whether none of `fds` (pidfds) is readable now: one `poll(2)`, no wait. False when that
/// cannot be told.
fn none_readable(fds: &mut [PollFd<'_>]) -> bool {
    let now = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(rustix::event::poll(fds, Some(&now)), Ok(0))
}

#[cfg(test)]
mod tests;
