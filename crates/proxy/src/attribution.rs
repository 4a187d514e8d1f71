//! Process attribution: which process owns the client end of an accepted connection, its
//! parents up to the command phonehome started, and whether it belongs to that command's tree.
//!
//! Linux only, from `/proc` (read with the `procfs` crate): the client socket's inode from the
//! TCP table (`/proc/net/tcp{,6}`, or a network namespace's through `/proc/<pid>/net`), then the
//! process holding `socket:[inode]` among `/proc/<pid>/fd`, then its `stat`, `exe` and
//! `cmdline`. The lookup is synchronous and must run when the connection is accepted, while
//! the client still waits for phonehome's answer: a short-lived client is gone soon after.
//! Elsewhere every lookup answers [`ConnProcess::Unknown`](phonehome_record::ConnProcess).
//!
//! What is found is the truth at that moment or nothing: an owner that cannot be found is
//! reported with a reason, never guessed from a port or a name.

use std::net::SocketAddr;

#[cfg(target_os = "linux")]
mod facts;
mod owner;
#[cfg(target_os = "linux")]
mod search;
#[cfg(target_os = "linux")]
mod table;

pub use owner::{Attribution, Lineage};

/// Looks up the owners of client sockets. One per capture; shared by every connection
/// (`&self`, thread-safe), and cheap to call from many threads at once.
///
/// Searches, in this order, until a process holds the socket: the processes that owned the
/// last client sockets (an agent opens many connections), then the command's descendants
/// (newest first), then every process (newest first). The command line of a process seen
/// before is cached per pid, start time, name and executable, so that neither a reused PID
/// nor an `exec` is answered from the cache.
#[derive(Debug)]
pub struct Attributor {
    #[cfg(target_os = "linux")]
    inner: search::Searcher,
}

impl Attributor {
    /// An attributor for connections from `command`'s process tree (`run`: the pid of the
    /// command phonehome started; `None` for `proxy`).
    pub fn new(command: Option<u32>) -> Self {
        Attributor {
            #[cfg(target_os = "linux")]
            inner: search::Searcher::new(command, true),
        }
    }

    /// An attributor that searches every process in `/proc` order and caches nothing: what
    /// the search order and the cache save, for the benchmark. Not for use.
    #[doc(hidden)]
    pub fn without_shortcuts(command: Option<u32>) -> Self {
        Attributor {
            #[cfg(target_os = "linux")]
            inner: search::Searcher::new(command, false),
        }
    }

    /// The owner of the client end of a TCP connection: `client` is the client's address (the
    /// peer of the accepted socket), `server` the address it connected to (phonehome's local
    /// address; under `--isolate`, the destination inside the namespace). `namespace` is a
    /// process whose network namespace holds the client socket (`--isolate`: the command's
    /// pid); `None` reads phonehome's own.
    ///
    /// Blocking: reads `/proc` (tens to hundreds of microseconds, see BENCHMARKS.md). Never
    /// fails: what was not found is [`ConnProcess::Unknown`](phonehome_record::ConnProcess)
    /// with the reason.
    pub fn lookup(
        &self,
        client: SocketAddr,
        server: SocketAddr,
        namespace: Option<u32>,
    ) -> Attribution {
        #[cfg(target_os = "linux")]
        return self.inner.lookup(client, server, namespace);
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (client, server, namespace);
            Attribution::unknown("process attribution needs Linux /proc", Lineage::Unknown)
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests;
