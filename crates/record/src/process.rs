//! Who sent a connection: the `process` and `ancestry` fields of a `conn` record.
//!
//! These are wire types (documented in `docs/capture-format.md`, "Process attribution"). They
//! say what phonehome found when it looked the client socket's owner up at accept time, or why
//! it found nothing; they never hold a guess.

use serde::{Deserialize, Serialize};

/// The `process` field of a `conn` record: the process that owned the client socket when the
/// connection was accepted, or why it is not known.
///
/// On the wire either `{"pid", "ppid", "exe", "argv", "start"}` or `{"unknown": "reason"}`.
///
/// ```
/// use phonehome_record::ConnProcess;
/// let unknown: ConnProcess = serde_json::from_str(r#"{"unknown":"not Linux"}"#).expect("parses");
/// assert_eq!(unknown, ConnProcess::unknown("not Linux"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConnProcess {
    /// The owner was found.
    Known(ProcessInfo),
    /// The owner was not found; `unknown` says why, for people.
    Unknown {
        /// Why: the socket was not in the TCP table (another machine, or the client already
        /// closed it), its owner could not be read (another user's process), not Linux, ….
        unknown: String,
    },
}

impl ConnProcess {
    /// An unknown owner, with the reason.
    pub fn unknown(reason: impl Into<String>) -> Self {
        ConnProcess::Unknown {
            unknown: reason.into(),
        }
    }

    /// The process, when it was found.
    pub fn known(&self) -> Option<&ProcessInfo> {
        match self {
            ConnProcess::Known(info) => Some(info),
            ConnProcess::Unknown { .. } => None,
        }
    }
}

/// A process that owned a client socket, as read from `/proc/<pid>` at accept time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id (as seen by phonehome, in its PID namespace).
    pub pid: u32,
    /// Parent process id at accept time.
    pub ppid: u32,
    /// The executable's path (the target of `/proc/<pid>/exe`; ` (deleted)` when the file was
    /// replaced). For a script, the interpreter: see `argv`.
    pub exe: String,
    /// The command line, each argument redacted as text (key shapes, known secrets,
    /// credential headers written out) and the value of credential-named flags
    /// (`--api-key VALUE`, `--token=VALUE`) redacted whole.
    pub argv: Vec<String>,
    /// When the process started, RFC 3339 UTC with milliseconds like `ts` (the kernel counts
    /// in clock ticks, usually 10 ms).
    pub start: String,
}

impl ProcessInfo {
    /// The executable's file name, as lists show a process: `curl` for `/usr/bin/curl`,
    /// without the ` (deleted)` the kernel appends to a replaced file.
    ///
    /// ```
    /// use phonehome_record::ProcessInfo;
    /// let info = ProcessInfo {
    ///     pid: 2,
    ///     ppid: 1,
    ///     exe: "/usr/lib/node (deleted)".into(),
    ///     argv: vec!["node".into()],
    ///     start: "2026-01-01T00:00:00.000Z".into(),
    /// };
    /// assert_eq!(info.name(), "node");
    /// ```
    pub fn name(&self) -> &str {
        let exe = self.exe.strip_suffix(" (deleted)").unwrap_or(&self.exe);
        exe.rsplit('/').next().unwrap_or(exe)
    }
}

/// One step of a `conn` record's `ancestry`: a parent of the socket's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ancestor {
    pub pid: u32,
    /// The executable's path; absent when phonehome may not read it (another user's process,
    /// such as PID 1 when phonehome does not run as root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// The kernel's short name for the process (`comm`, at most 15 bytes), written only when
    /// `exe` is absent, so that no step is nameless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    /// Its command line, redacted as [`ProcessInfo::argv`] is; absent (empty) when it could
    /// not be read, and in captures written before ancestors carried it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// When it started, as [`ProcessInfo::start`]; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
}

#[cfg(test)]
mod tests;
