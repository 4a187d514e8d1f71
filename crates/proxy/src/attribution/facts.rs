//! What a process is: its `stat` (parent, start time, name) and `exe`, read from
//! `/proc/<pid>`, and the clock that turns its start ticks into a time. What is kept of
//! processes seen before is `known`'s.

use std::time::{Duration, SystemTime};

use procfs::process::Process;
use procfs::{Current as _, ProcResult};

/// The parts of `/proc/<pid>/stat` attribution uses.
#[derive(Debug, Clone)]
pub(super) struct ProcStat {
    pub ppid: u32,
    /// Clock ticks from boot to the process's start.
    pub start: u64,
    /// The kernel's short name (`comm`).
    pub comm: String,
    /// Whether it was forked and has not run `exec` since (`PF_FORKNOEXEC` in its flags): a
    /// copy of its parent, which may still share its parent's memory (`vfork`).
    pub fork_no_exec: bool,
}

/// `PF_FORKNOEXEC` in `/proc/<pid>/stat`'s flags (`include/linux/sched.h`; `proc(5)`): set by
/// `fork`, cleared by `exec`.
const PF_FORKNOEXEC: u32 = 0x0000_0040;

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
        ppid: u32::try_from(stat.ppid).unwrap_or(0),
        start: stat.starttime,
        comm: stat.comm,
        fork_no_exec: stat.flags & PF_FORKNOEXEC != 0,
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

/// The clock to turn process start ticks into times.
#[derive(Debug)]
pub(super) struct Facts {
    /// The wall-clock time of boot, which process start times count from.
    boot: SystemTime,
    ticks_per_second: u64,
}

impl Facts {
    pub(super) fn new() -> Self {
        Facts {
            boot: boot_time(),
            ticks_per_second: procfs::ticks_per_second().max(1),
        }
    }

    /// When the process started, in the capture's time format.
    pub(super) fn start(&self, stat: &ProcStat) -> String {
        let millis = u128::from(stat.start) * 1000 / u128::from(self.ticks_per_second);
        let since_boot = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
        phonehome_record::timestamp(self.boot + since_boot)
    }
}
