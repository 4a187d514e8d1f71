//! A child never outlives phonehome: the command `run` starts (and the isolation helper, which
//! becomes the command) is killed by the kernel when phonehome dies, `kill -9` included, so no
//! command goes on uncaptured after its capture has ended.

/// Makes the child `cmd` will start receive SIGKILL when phonehome dies (Linux
/// `PR_SET_PDEATHSIG`).
///
/// The kernel sends it when the *thread* that forked the child exits, not the process: call
/// this only for children spawned from a thread that lives as long as phonehome (the main
/// thread, which polls `run`'s future in `block_on`). A child whose parent died between the
/// fork and the `prctl` is refused: its parent is no longer the process that forked it.
pub(crate) fn dies_with_phonehome(cmd: &mut tokio::process::Command) {
    let phonehome = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed. It makes two system calls (prctl, getppid) through nix, which neither
    // allocate nor lock, and builds its error from an errno without allocating.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            if nix::unistd::getppid() != phonehome {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}
