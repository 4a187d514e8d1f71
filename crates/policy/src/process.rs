//! The process that opened a connection, as a rule's `exe` and `own` conditions see it
//! ([`Connecting`]), made from what attribution found (the `conn` record's `process` and
//! `ancestry`, the same at connect time in the proxy and in a capture).
//!
//! `own` is true for the command phonehome started and for a process running that same
//! program (a relaunch): the same executable, and for a script interpreter (`node`, `python3`,
//! …) the same script. It cannot be told (and no `own` rule matches) when the process is not
//! known, or when there is no command (`proxy`) or the process is outside its tree.

use phonehome_record::{running_program, Ancestor, ConnProcess};

/// The connecting process's facts a rule may match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connecting {
    /// The executable's path; `None` when the process is not known.
    pub exe: Option<String>,
    /// Whether it is the agent's own (see the module head); `None` when it cannot be told.
    pub own: Option<bool>,
}

impl Connecting {
    /// Nothing known: no `exe` or `own` condition holds.
    pub fn unknown() -> Connecting {
        Connecting::default()
    }

    /// From attribution: the owner (`None` when not looked up), its parents nearest first up
    /// to the command phonehome started (inclusive), and whether that chain ends at the
    /// command (`Some(true)`: the process is in the command's tree; `Some(false)`: outside
    /// it; `None`: no command, or not known).
    pub fn of(process: Option<&ConnProcess>, ancestry: &[Ancestor], in_tree: Option<bool>) -> Self {
        let Some(owner) = process.and_then(ConnProcess::known) else {
            return Connecting::unknown();
        };
        let own = match in_tree {
            None => None,
            Some(false) => Some(false),
            Some(true) => Some(match ancestry.last() {
                // The owner is the command itself.
                None => true,
                Some(command) => match &command.exe {
                    Some(exe) => {
                        exe == &owner.exe
                            && running_program(exe, &command.argv)
                                == running_program(&owner.exe, &owner.argv)
                    }
                    None => false,
                },
            }),
        };
        Connecting {
            exe: Some(owner.exe.clone()),
            own,
        }
    }

    /// From a capture's `conn` record (or a connection's first `request` record): under
    /// `run` (`run` true) the chain ends at the command, unless it reaches PID 1 (a process
    /// outside the command's tree); under `proxy` there is no command.
    pub fn of_record(process: Option<&ConnProcess>, ancestry: &[Ancestor], run: bool) -> Self {
        let in_tree = run.then(|| ancestry.last().is_none_or(|a| a.pid != 1));
        Connecting::of(process, ancestry, in_tree)
    }
}

#[cfg(test)]
mod tests {
    use phonehome_record::ProcessInfo;

    use super::*;

    fn owner(exe: &str, argv: &[&str]) -> ConnProcess {
        ConnProcess::Known(ProcessInfo {
            pid: 20,
            ppid: 10,
            exe: exe.into(),
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            start: String::new(),
        })
    }

    fn command(exe: &str, argv: &[&str]) -> Ancestor {
        Ancestor {
            pid: 10,
            exe: Some(exe.into()),
            comm: None,
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            start: None,
        }
    }

    #[test]
    fn own_is_the_command_or_a_process_running_its_program() {
        let agent = command("/usr/bin/node", &["node", "/opt/agent/cli.js", "-p", "hi"]);
        let relaunch = owner(
            "/usr/bin/node",
            &["node", "--no-warnings", "/opt/agent/cli.js"],
        );
        let npm = owner(
            "/usr/bin/node",
            &["node", "/usr/lib/npm/bin/npm-cli.js", "install"],
        );
        let curl = owner("/usr/bin/curl", &["curl", "https://x.test/"]);
        let own =
            |p: &ConnProcess, chain: &[Ancestor]| Connecting::of(Some(p), chain, Some(true)).own;
        assert_eq!(own(&relaunch, &[]), Some(true), "the command itself");
        assert_eq!(
            own(&relaunch, std::slice::from_ref(&agent)),
            Some(true),
            "a relaunch"
        );
        assert_eq!(
            own(&npm, std::slice::from_ref(&agent)),
            Some(false),
            "another script"
        );
        assert_eq!(own(&curl, std::slice::from_ref(&agent)), Some(false));
        let c = Connecting::of(Some(&curl), std::slice::from_ref(&agent), Some(true));
        assert_eq!(c.exe.as_deref(), Some("/usr/bin/curl"));
        assert_eq!(
            Connecting::of(Some(&curl), &[], None).own,
            None,
            "no command"
        );
        assert_eq!(
            Connecting::of(Some(&curl), &[], Some(false)).own,
            Some(false)
        );
        let unknown = ConnProcess::Unknown {
            unknown: "closed".into(),
        };
        assert_eq!(
            Connecting::of(Some(&unknown), &[agent], Some(true)),
            Connecting::unknown()
        );
        assert_eq!(Connecting::of(None, &[], Some(true)), Connecting::unknown());
    }
}
