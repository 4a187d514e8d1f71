//! Process attribution: which process owns the client end of an accepted connection, its
//! parents up to the command phonehome started, and whether it belongs to that command's tree.
//!
//! Linux only: the client socket's inode from the kernel's TCP table (a `sock_diag` netlink
//! request; `/proc/net/tcp{,6}` where netlink cannot be used), then, from `/proc` (read with
//! the `procfs` crate), the process holding `socket:[inode]` among `/proc/<pid>/fd`, its `stat`,
//! `exe` and `cmdline`, and its parents'. The lookup is synchronous and must run when the connection is accepted, while
//! the client still waits for phonehome's answer: a short-lived client is gone soon after.
//! Elsewhere every lookup answers [`ConnProcess::Unknown`](phonehome_record::ConnProcess).
//!
//! What is found is the truth at that moment or nothing: an owner that cannot be found is
//! reported with a reason, never guessed from a port or a name.

use std::net::SocketAddr;

#[cfg(target_os = "linux")]
mod descriptors;
#[cfg(target_os = "linux")]
mod facts;
#[cfg(target_os = "linux")]
mod known;
mod owner;
#[cfg(target_os = "linux")]
mod search;
#[cfg(target_os = "linux")]
mod table;

pub(crate) use owner::Recent;
pub use owner::{Attribution, Lineage};

/// Looks up the owners of client sockets. One per network namespace the clients come from
/// (two under `--isolate`: the host's, for the listener, and the command's), shared by every
/// connection: `&self`, thread-safe, callable from many threads at once.
///
/// Searches, in this order, until a process holds the socket: the processes that owned the
/// last client sockets (an agent opens many connections), then the command's descendants
/// (newest first), then every process (newest first). What was read of a process (`stat`,
/// `exe`, `cmdline`) is kept while that same process runs, told by a pidfd held on it and
/// polled on every use: neither a reused PID nor a parent that exited is answered from the
/// cache. Whether it ran `exec` since (one read of its `environ`, held open, which reads
/// nothing after an `exec`; else its name and executable read again) is checked on every use
/// for the socket's owner and the command, and for the parents between them once their last
/// check is 100 ms old: a parent that runs another program may keep its old one in the
/// ancestry of connections looked up within 100 ms of its `exec`. A process seen before keeps
/// its `fd` folder open and the numbers its sockets were found at, read first.
#[derive(Debug)]
pub struct Attributor {
    #[cfg(target_os = "linux")]
    inner: search::Searcher,
}

impl Attributor {
    /// An attributor for connections from phonehome's own network namespace, for `command`'s
    /// process tree (`run`: the pid of the command phonehome started; `None` for `proxy`).
    pub fn new(command: Option<u32>) -> Self {
        Attributor {
            #[cfg(target_os = "linux")]
            inner: search::Searcher::new(command, table::Tables::own(), true),
        }
    }

    /// An attributor for connections from the network namespace of process `pid`
    /// (`--isolate`: the command, whose pid phonehome sees in its own PID namespace). `diag`
    /// is a `NETLINK_SOCK_DIAG` socket made inside that namespace (a netlink socket answers
    /// for the namespace it was made in): with it the socket is found in tens of microseconds;
    /// without it the namespace's tables are read through `/proc/<pid>/net/tcp{,6}`, which
    /// costs milliseconds on a machine with a large connection hash.
    #[cfg(target_os = "linux")]
    pub fn in_namespace(
        command: Option<u32>,
        pid: u32,
        diag: Option<std::os::fd::OwnedFd>,
    ) -> Self {
        Attributor {
            inner: search::Searcher::new(command, table::Tables::of(pid, diag), true),
        }
    }

    /// An attributor for the benchmark's comparisons: `shortcuts` off searches every process
    /// in `/proc` order and caches nothing; `proc_tables` reads `/proc/net/tcp{,6}` instead of
    /// asking netlink. Not for use.
    #[doc(hidden)]
    pub fn for_benchmark(command: Option<u32>, shortcuts: bool, proc_tables: bool) -> Self {
        let _ = (command, shortcuts, proc_tables);
        Attributor {
            #[cfg(target_os = "linux")]
            inner: search::Searcher::new(
                command,
                if proc_tables {
                    table::Tables::of(std::process::id(), None)
                } else {
                    table::Tables::own()
                },
                shortcuts,
            ),
        }
    }

    /// Whether lookups read the whole TCP table from `/proc` because netlink cannot be used
    /// (no `sock_diag` socket for a namespace, or none could be made): each then costs
    /// milliseconds on a machine with a large connection hash, worth a warning.
    pub fn reads_proc_tables(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.inner.reads_proc_tables();
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// The owner of the client end of a TCP connection: `client` is the client's address (the
    /// peer of the accepted socket), `server` the address it connected to (phonehome's local
    /// address; under `--isolate`, the destination inside the namespace).
    ///
    /// Blocking: one netlink request and reads in `/proc`, tens of microseconds of CPU for a
    /// client seen before, 0.1 to 0.8 ms for a new one, on the project's machine
    /// (BENCHMARKS.md, "Process attribution"); from async code, call it
    /// on `tokio::task::spawn_blocking` (about 60 µs more latency, no async worker held).
    /// Never fails: what was not found is [`ConnProcess::Unknown`](phonehome_record::ConnProcess)
    /// with the reason.
    pub fn lookup(&self, client: SocketAddr, server: SocketAddr) -> Attribution {
        #[cfg(target_os = "linux")]
        return self.inner.lookup(client, server);
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (client, server);
            Attribution::unknown("process attribution needs Linux /proc", Lineage::Unknown)
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests;
