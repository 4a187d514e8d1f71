//! What a process is: its `stat` (parent, start time, name), `exe` and `cmdline`, read from
//! `/proc/<pid>`, with the command line cached for processes seen before.
//!
//! Only what cannot change while a process runs the same program is cached: the command line,
//! keyed by pid, start time, name and executable. The start time catches a reused PID; the
//! name and the executable, read afresh every time, catch an `exec` (which keeps the pid and
//! the start time). The parent is never cached: a process whose parent exits is re-parented.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use procfs::process::Process;
use procfs::{Current as _, ProcResult};

/// Command lines kept at most; the cache is emptied when it is full.
const CACHE_LIMIT: usize = 4096;

/// The parts of `/proc/<pid>/stat` attribution uses.
#[derive(Debug, Clone)]
pub(super) struct ProcStat {
    pub pid: u32,
    pub ppid: u32,
    /// Clock ticks from boot to the process's start.
    pub start: u64,
    /// The kernel's short name (`comm`).
    pub comm: String,
}

/// Opens `/proc/<pid>`. The handle stays on that process: reads through it fail once it has
/// exited, even if its pid is reused.
///
/// # Errors
/// No such process.
pub(super) fn open(pid: u32) -> ProcResult<Process> {
    Process::new(i32::try_from(pid).unwrap_or(i32::MAX))
}

/// Reads the process's `stat`.
///
/// # Errors
/// The process is gone.
pub(super) fn stat(process: &Process) -> ProcResult<ProcStat> {
    let stat = process.stat()?;
    Ok(ProcStat {
        pid: u32::try_from(stat.pid).unwrap_or(0),
        ppid: u32::try_from(stat.ppid).unwrap_or(0),
        start: stat.starttime,
        comm: stat.comm,
    })
}

/// The target of the process's `exe` link.
///
/// # Errors
/// The process is gone, or belongs to another user (permission denied).
pub(super) fn exe(process: &Process) -> ProcResult<String> {
    Ok(process.exe()?.to_string_lossy().into_owned())
}

/// The wall-clock time of boot, read once per phonehome process (now minus the uptime): every
/// attributor then turns the same start ticks into the same time, to the millisecond.
fn boot_time() -> SystemTime {
    static BOOT: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        let uptime = procfs::Uptime::current().map_or(Duration::ZERO, |u| {
            Duration::try_from_secs_f64(u.uptime).unwrap_or(Duration::ZERO)
        });
        SystemTime::now()
            .checked_sub(uptime)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    })
}

/// Which program a process runs: what a cached command line is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    pid: u32,
    start: u64,
    comm: String,
    exe: String,
}

/// Process facts with the command-line cache and the clock to turn start ticks into times.
#[derive(Debug)]
pub(super) struct Facts {
    /// The wall-clock time of boot, which process start times count from.
    boot: SystemTime,
    ticks_per_second: u64,
    /// `None` when caching is off (for the benchmark's comparison).
    argv: Option<Mutex<HashMap<Key, Vec<String>>>>,
}

impl Facts {
    pub(super) fn new(cache: bool) -> Self {
        Facts {
            boot: boot_time(),
            ticks_per_second: procfs::ticks_per_second().max(1),
            argv: cache.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// When the process started, in the capture's time format.
    pub(super) fn start(&self, stat: &ProcStat) -> String {
        let millis = u128::from(stat.start) * 1000 / u128::from(self.ticks_per_second);
        let since_boot = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
        phonehome_record::timestamp(self.boot + since_boot)
    }

    /// The process's command line (from the cache when it runs the same program as when it
    /// was read).
    ///
    /// # Errors
    /// The process is gone (or is not readable).
    pub(super) fn argv(
        &self,
        process: &Process,
        stat: &ProcStat,
        exe: &str,
    ) -> ProcResult<Vec<String>> {
        let Some(cache) = &self.argv else {
            return process.cmdline();
        };
        let key = Key {
            pid: stat.pid,
            start: stat.start,
            comm: stat.comm.clone(),
            exe: exe.to_owned(),
        };
        if let Some(argv) = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(argv.clone());
        }
        let argv = process.cmdline()?;
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, argv.clone());
        Ok(argv)
    }
}
