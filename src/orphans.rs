//! Orphans of the command's process tree. A process that leaves the tree (`cmd &` from a shell
//! that exited, a daemon) would be re-parented to init and look like a program outside the
//! command; with phonehome as the tree's child subreaper (PR_SET_CHILD_SUBREAPER, prctl(2)) it
//! is re-parented to phonehome instead, and attribution still counts it as the command's.
//! phonehome then reaps those orphans itself, never the command, whose status tokio waits for.

use anyhow::{Context as _, Result};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

/// Makes phonehome the subreaper of the processes it starts from now on, and reaps the orphans
/// that reach it (every child but `command`) until the returned task is dropped or aborted.
///
/// # Errors
/// When the kernel refuses the prctl or SIGCHLD cannot be watched.
pub fn adopt(command: u32) -> Result<tokio::task::JoinHandle<()>> {
    nix::sys::prctl::set_child_subreaper(true).context("cannot become a child subreaper")?;
    let mut children = signal(SignalKind::child()).context("cannot watch SIGCHLD")?;
    let command = Pid::from_raw(i32::try_from(command).context("a pid fits in i32")?);
    Ok(tokio::spawn(async move {
        while children.recv().await.is_some() {
            reap(command);
        }
    }))
}

/// Reaps every exited child but `command`, looking before it reaps (WNOWAIT).
fn reap(command: Pid) {
    let look = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    while let Ok(status) = waitid(Id::All, look) {
        let Some(pid) = status.pid() else {
            return;
        };
        if pid == command || matches!(status, WaitStatus::StillAlive) {
            // The command's status is tokio's to collect; the rest waits for the next signal.
            return;
        }
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
    }
}
