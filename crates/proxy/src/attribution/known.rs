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
    match rustix::event::poll(
        &mut fds,
        Some(&rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        }),
    ) {
        Ok(0) => true,
        Ok(_) => false,
        // Cannot tell: not kept.
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::process::{Child, Command, Stdio};

    use super::*;

    /// A child process, killed and reaped when the test ends.
    struct Running(Child);

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts `program` and returns once it runs it (a child is a copy of the test until its
    /// `exec`).
    fn start(program: &str, args: &[&str]) -> Running {
        let child = Running(
            Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {program}: {e}")),
        );
        wait_for_name(child.0.id(), program);
        child
    }

    fn wait_for_name(pid: u32, name: &str) {
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() != name) {
            std::thread::yield_now();
        }
    }

    fn kept(known: &Known, pid: u32) -> Option<Arc<Seen>> {
        known.cached(pid)
    }

    #[test]
    fn a_process_seen_before_is_answered_from_the_cache() {
        let child = start("sleep", &["30"]);
        let known = Known::new(true);
        let first = known.get(child.0.id()).expect("running");
        assert!(first.running);
        assert_eq!(
            first.argv.as_deref(),
            Some(&["sleep".to_owned(), "30".to_owned()][..])
        );
        assert!(first.exe.as_deref().is_some_and(|e| e.ends_with("sleep")));
        let again = known.get(child.0.id()).expect("running");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second answer is the kept one"
        );
    }

    #[test]
    fn a_process_not_seen_before_is_read_and_kept() {
        let child = start("sleep", &["30"]);
        let known = Known::new(true);
        assert!(kept(&known, child.0.id()).is_none());
        let seen = known.get(child.0.id()).expect("running");
        assert!(kept(&known, child.0.id()).is_some_and(|k| Arc::ptr_eq(&k, &seen)));
        // Without the cache every answer is read afresh and nothing is kept.
        let uncached = Known::new(false);
        let a = uncached.get(child.0.id()).expect("running");
        let b = uncached.get(child.0.id()).expect("running");
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(
            (a.ppid, &a.argv, &a.started),
            (seen.ppid, &seen.argv, &seen.started)
        );
    }

    #[test]
    fn a_process_that_exited_is_not_answered() {
        let mut child = start("sleep", &["30"]);
        let pid = child.0.id();
        let known = Known::new(true);
        known.get(pid).expect("running");
        child.0.kill().expect("kill");
        child.0.wait().expect("reap");
        assert!(
            known.get(pid).is_none(),
            "gone, not answered from the cache"
        );
        assert!(kept(&known, pid).is_none());
    }

    /// A reused pid: the entry kept under a pid was read from a process that has exited since,
    /// and the pid now names another process. The entry is never answered.
    #[test]
    fn a_reused_pid_is_read_afresh() {
        let known = Known::new(true);
        let mut old = start("sleep", &["30"]);
        let old_pidfd = rustix::process::pidfd_open(
            Pid::from_raw(i32::try_from(old.0.id()).expect("pid")).expect("not 0"),
            PidfdFlags::empty(),
        )
        .expect("pidfd_open");
        old.0.kill().expect("kill");
        old.0.wait().expect("reap");
        let new = start("sleep", &["31"]);
        let pid = new.0.id();
        // The stale entry: what the old process was, kept under the new one's pid.
        let comm = rustix::fs::open(format!("/proc/{pid}/comm"), OFlags::RDONLY, Mode::empty())
            .expect("comm");
        let stale = Arc::new(Seen {
            pid,
            ppid: 1,
            started: "2000-01-01T00:00:00.000Z".to_owned(),
            comm: "sleep".to_owned(),
            exe: read(&known.facts, pid, None).and_then(|s| s.exe),
            argv: Some(vec!["sleep".to_owned(), "30".to_owned()]),
            running: true,
            hold: Some(Hold {
                pidfd: old_pidfd,
                comm,
                descriptors: Mutex::new(Descriptors::default()),
            }),
        });
        known
            .entries
            .as_ref()
            .expect("cache on")
            .lock()
            .expect("not poisoned")
            .insert(pid, stale.clone());
        let seen = known.get(pid).expect("running");
        assert!(!Arc::ptr_eq(&seen, &stale));
        assert_eq!(
            seen.argv.as_deref(),
            Some(&["sleep".to_owned(), "31".to_owned()][..])
        );
        assert_eq!(seen.ppid, std::process::id());
        assert_ne!(seen.started, stale.started);
    }

    #[test]
    fn a_process_that_ran_another_program_is_read_afresh() {
        let mut child = start("sh", &["-c", "read line; exec sleep 30"]);
        let pid = child.0.id();
        let known = Known::new(true);
        let before = known.get(pid).expect("running");
        assert!(before.exe.as_deref().is_some_and(|e| !e.ends_with("sleep")));
        writeln!(child.0.stdin.as_mut().expect("piped")).expect("write");
        // Until the exec is done: the kernel's name changes part way through it, the command
        // line only once the new program's stack is set up.
        wait_for_name(pid, "sleep");
        while std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c != b"sleep\x0030\x00") {
            std::thread::yield_now();
        }
        let after = known.get(pid).expect("running");
        assert!(
            after.exe.as_deref().is_some_and(|e| e.ends_with("sleep")),
            "{after:?}"
        );
        assert_eq!(
            after.argv.as_deref(),
            Some(&["sleep".to_owned(), "30".to_owned()][..])
        );
        assert_eq!(after.started, before.started, "the same process");
    }

    /// A socket found through the kept `fd` folder, at a number it was found at before or not.
    #[test]
    fn sockets_are_found_through_the_kept_folder() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let known = Known::new(true);
        let me = std::process::id();
        known.get(me).expect("running");
        for _ in 0..3 {
            let client = std::net::TcpStream::connect(listener.local_addr().expect("bound"))
                .expect("connect");
            let inode = rustix::fs::fstat(&client).expect("fstat").st_ino;
            let link = format!("socket:[{inode}]");
            assert!(known.holds(me, link.as_bytes()).expect("readable"));
            drop(client);
        }
        assert!(!known.holds(me, b"socket:[1]").expect("readable"));
    }
}
