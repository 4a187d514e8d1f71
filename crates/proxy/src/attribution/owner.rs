//! What a lookup tells about a socket's owner: the `conn` record's fields and where the owner
//! stands relative to the command phonehome started.

use phonehome_record::{Ancestor, ConnProcess};

/// What attribution found for one connection: the fields of its `conn` record, and whether the
/// owner belongs to the command's process tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// The `conn` record's `process`.
    pub process: ConnProcess,
    /// The `conn` record's `ancestry`: the owner's parent first, then its parent, … up to the
    /// command (inclusive), or to PID 1 when there is no command or the owner is outside its
    /// tree. Empty when the owner is unknown or is the command itself.
    pub ancestry: Vec<Ancestor>,
    /// Where the owner stands relative to the command phonehome started.
    pub lineage: Lineage,
}

/// Where a socket's owner stands relative to the command phonehome started (`run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lineage {
    /// The command itself, one of its descendants, or a process of its tree re-parented to
    /// phonehome (when phonehome is the tree's child subreaper).
    Command,
    /// Not in the command's tree: its parents reach PID 1 without passing the command, or the
    /// socket belongs to another user whose processes phonehome may not read.
    Outsider,
    /// Cannot be told: there is no command (`proxy`), the owner was not found, or a parent
    /// exited while its chain was read.
    Unknown,
}

impl Attribution {
    /// An owner that could not be found, and why.
    pub(super) fn unknown(reason: impl Into<String>, lineage: Lineage) -> Self {
        Attribution {
            process: ConnProcess::unknown(reason),
            ancestry: Vec::new(),
            lineage,
        }
    }
}
