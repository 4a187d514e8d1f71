//! The client socket in the kernel's TCP table (`/proc/net/tcp` and `tcp6`, or a network
//! namespace's through `/proc/<pid>/net`): its inode and the uid that made it, found by its
//! two addresses.

use std::net::{IpAddr, SocketAddr};

use procfs::net::TcpNetEntry;
use procfs::process::Process;
use procfs::ProcResult;

/// What the table says about the client socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    /// An open socket: its inode (`socket:[inode]` in its owner's `/proc/<pid>/fd`) and the
    /// uid that made it.
    Open { inode: u64, uid: u32 },
    /// Listed, but no file holds it any more (inode 0): its process closed it or exited.
    Closed,
    /// Not listed: the client is on another machine or in another network namespace, or the
    /// socket is gone already.
    Missing,
}

/// Which of the two tables.
#[derive(Debug, Clone, Copy)]
enum Family {
    V4,
    V6,
}

/// Finds the socket whose local address is `client` and whose remote address is `server`
/// (the client's end; the accepted end has them the other way round). An IPv4 connection may
/// come from an IPv6 socket (IPv4-mapped addresses in `tcp6`), so both tables are read when
/// the first has no such socket.
///
/// # Errors
/// The table could not be read (no such namespace process, permission).
pub(super) fn find(
    client: SocketAddr,
    server: SocketAddr,
    namespace: Option<u32>,
) -> ProcResult<Entry> {
    let (client, server) = (unmapped(client), unmapped(server));
    let families: &[Family] = match (client.ip(), server.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => &[Family::V4, Family::V6],
        _ => &[Family::V6],
    };
    for (i, family) in families.iter().enumerate() {
        let entries = match read(*family, namespace) {
            Ok(entries) => entries,
            // A kernel without IPv6 has no tcp6 table; the IPv4 one was read already.
            Err(_) if i > 0 => break,
            Err(e) => return Err(e),
        };
        let entry = matching(&entries, mapped(client), mapped(server));
        if entry != Entry::Missing {
            return Ok(entry);
        }
    }
    Ok(Entry::Missing)
}

fn read(family: Family, namespace: Option<u32>) -> ProcResult<Vec<TcpNetEntry>> {
    let Some(pid) = namespace else {
        return match family {
            Family::V4 => procfs::net::tcp(),
            Family::V6 => procfs::net::tcp6(),
        };
    };
    let process = Process::new(i32::try_from(pid).unwrap_or(i32::MAX))?;
    match family {
        Family::V4 => process.tcp(),
        Family::V6 => process.tcp6(),
    }
}

/// The open socket with these addresses; else `Closed` when only closed ones are listed (a
/// port reused while an old connection lingers in TIME_WAIT).
fn matching(entries: &[TcpNetEntry], client: SocketAddr, server: SocketAddr) -> Entry {
    let mut found = Entry::Missing;
    for entry in entries {
        if mapped(entry.local_address) != client || mapped(entry.remote_address) != server {
            continue;
        }
        if entry.inode != 0 {
            return Entry::Open {
                inode: entry.inode,
                uid: entry.uid,
            };
        }
        found = Entry::Closed;
    }
    found
}

/// IPv4 addresses as IPv4-mapped IPv6 ones, so that both tables compare alike.
fn mapped(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), addr.port()),
        IpAddr::V6(_) => addr,
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack listener's view of an IPv4 peer) as IPv4.
fn unmapped(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}
