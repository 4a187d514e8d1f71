//! What a lookup tells about a socket's owner: the `conn` record's fields and where the owner
//! stands relative to the command phonehome started.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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

/// How many distinct attributions [`Recent`] keeps.
const RECENT: usize = 8;

/// The attributions of the last connections, shared between the connections they describe.
/// An agent opens many connections from one process, and each would otherwise keep its own
/// copy of the same command lines for as long as it is open (about 4 KiB for an owner with
/// a few parents; bench/rss, the crowd workload).
#[derive(Debug, Default)]
pub(crate) struct Recent {
    /// Most recently used first.
    shared: Mutex<VecDeque<Arc<Attribution>>>,
}

impl Recent {
    /// `found`, or an equal attribution already shared.
    pub(crate) fn share(&self, found: Attribution) -> Arc<Attribution> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let attribution = match shared.iter().position(|a| **a == found) {
            Some(at) => shared.remove(at).unwrap_or_else(|| Arc::new(found)),
            None => Arc::new(found),
        };
        shared.push_front(attribution.clone());
        shared.truncate(RECENT);
        attribution
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehome_record::ProcessInfo;

    fn owned_by(pid: u32) -> Attribution {
        Attribution {
            process: ConnProcess::Known(ProcessInfo {
                pid,
                ppid: 1,
                exe: "/usr/bin/curl".into(),
                argv: vec!["curl".into(), "https://example.test/".into()],
                start: "2026-12-06T12:00:00.000Z".into(),
            }),
            ancestry: Vec::new(),
            lineage: Lineage::Unknown,
        }
    }

    #[test]
    fn equal_attributions_are_shared_and_different_ones_are_not() {
        let recent = Recent::default();
        let first = recent.share(owned_by(10));
        let again = recent.share(owned_by(10));
        assert!(Arc::ptr_eq(&first, &again));
        let other = recent.share(owned_by(11));
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(*other, owned_by(11));
        assert_eq!(*first, owned_by(10));
    }

    #[test]
    fn only_the_most_recent_are_kept() {
        let recent = Recent::default();
        let first = recent.share(owned_by(1));
        for pid in 2..=RECENT as u32 {
            recent.share(owned_by(pid));
        }
        // Still among the last RECENT: shared.
        assert!(Arc::ptr_eq(&first, &recent.share(owned_by(1))));
        for pid in 100..100 + RECENT as u32 {
            recent.share(owned_by(pid));
        }
        // Pushed out: a fresh copy, equal.
        let fresh = recent.share(owned_by(1));
        assert!(!Arc::ptr_eq(&first, &fresh));
        assert_eq!(*fresh, *first);
    }
}
