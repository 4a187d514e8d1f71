//! The client socket in the kernel's TCP tables: its inode and the uid that made it, found by
//! its two addresses.
//!
//! Asked of the kernel with one `sock_diag` netlink request for that exact socket (RFC 3549's
//! netlink; `sock_diag(7)`): a lookup in the connection hash, microseconds however many sockets
//! there are. Where netlink cannot be used, the table is read from `/proc/net/tcp{,6}`
//! (procfs), which walks the whole connection hash: milliseconds on a machine with a large
//! one (see BENCHMARKS.md).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use procfs::net::TcpNetEntry;
use procfs::process::Process;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

/// How long the kernel may take to answer (it answers at once; this only bounds a bug).
const DIAG_TIMEOUT: Duration = Duration::from_secs(1);
/// `ENOENT`: the kernel has no such socket.
const NO_SUCH_SOCKET: i32 = -2;

/// What the table says about the client socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    /// An open socket: its inode (`socket:[inode]` in its owner's `/proc/<pid>/fd`) and the
    /// uid that made it.
    Open { inode: u64, uid: u32 },
    /// Listed, but no file holds it any more (inode 0, TIME_WAIT): its process closed it or
    /// exited.
    Closed,
    /// Not listed: the client is on another machine or in another network namespace, or the
    /// socket is gone already.
    Missing,
}

/// The TCP tables of one network namespace.
#[derive(Debug)]
pub(super) struct Tables {
    /// A `NETLINK_SOCK_DIAG` socket made in the namespace, with the last sequence number used.
    diag: Option<Mutex<Diag>>,
    /// A process in the namespace, to read its tables through `/proc/<pid>/net` when there is
    /// no netlink socket; `None` for phonehome's own namespace.
    namespace: Option<u32>,
}

#[derive(Debug)]
struct Diag {
    socket: OwnedFd,
    sequence: u32,
    /// Where answers are received, kept from one request to the next.
    buf: Vec<u8>,
}

/// Bytes of an answer received at most: one `inet_diag_msg` without extensions is 88 bytes
/// with its netlink header; an error answer quotes the request (about 100 bytes).
const ANSWER_MAX: usize = 8192;

impl Tables {
    /// phonehome's own namespace.
    pub(super) fn own() -> Self {
        Tables {
            diag: open_diag().ok().map(|socket| Mutex::new(Diag::new(socket))),
            namespace: None,
        }
    }

    /// The namespace of process `pid`, through `diag` (a `NETLINK_SOCK_DIAG` socket made in
    /// it) when given, else through `/proc/<pid>/net`.
    pub(super) fn of(pid: u32, diag: Option<OwnedFd>) -> Self {
        Tables {
            diag: diag.map(|socket| Mutex::new(Diag::new(socket))),
            namespace: Some(pid),
        }
    }

    /// Whether these are phonehome's own namespace's tables.
    pub(super) fn is_own(&self) -> bool {
        self.namespace.is_none()
    }

    /// Whether the lookups use the whole-table fallback in `/proc`.
    pub(super) fn reads_proc(&self) -> bool {
        self.diag.is_none()
    }

    /// Finds the socket whose local address is `client` and whose remote address is `server`
    /// (the client's end; the accepted end has them the other way round).
    ///
    /// # Errors
    /// Neither netlink nor `/proc` could answer.
    pub(super) fn find(&self, client: SocketAddr, server: SocketAddr) -> io::Result<Entry> {
        let (client, server) = (unmapped(client), unmapped(server));
        if let Some(diag) = &self.diag {
            let mut diag = diag.lock().unwrap_or_else(PoisonError::into_inner);
            if let Ok(entry) = diag.find(client, server) {
                return Ok(entry);
            }
        }
        find_in_proc(client, server, self.namespace)
    }
}

fn open_diag() -> io::Result<OwnedFd> {
    let socket = rustix::net::socket(
        AddressFamily::NETLINK,
        SocketType::RAW,
        Some(rustix::net::netlink::SOCK_DIAG),
    )?;
    rustix::net::sockopt::set_socket_timeout(
        &socket,
        rustix::net::sockopt::Timeout::Recv,
        Some(DIAG_TIMEOUT),
    )?;
    Ok(socket)
}

impl Diag {
    fn new(socket: OwnedFd) -> Self {
        Diag {
            socket,
            sequence: 0,
            buf: vec![0u8; ANSWER_MAX],
        }
    }

    /// One exact-match request (no dump): the kernel looks the 4-tuple up in its hash. An
    /// IPv4 connection made from an IPv6 socket is hashed by its IPv4 addresses, so it is
    /// found the same way.
    fn find(&mut self, client: SocketAddr, server: SocketAddr) -> io::Result<Entry> {
        self.sequence = self.sequence.wrapping_add(1);
        let request = request(client, server, self.sequence);
        rustix::net::send(&self.socket, &request, SendFlags::empty())?;
        // Answers to an earlier request that timed out are skipped by their sequence number.
        loop {
            let (n, _) = rustix::net::recv(&self.socket, &mut self.buf[..], RecvFlags::empty())?;
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&self.buf[..n])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            if message.header.sequence_number != self.sequence {
                continue;
            }
            return answer(message.payload);
        }
    }
}

fn request(client: SocketAddr, server: SocketAddr, sequence: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    header.sequence_number = sequence;
    let mut message = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: if client.is_ipv4() { AF_INET } else { AF_INET6 },
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id: SocketId {
                source_port: client.port(),
                destination_port: server.port(),
                source_address: client.ip(),
                destination_address: server.ip(),
                interface_id: 0,
                // INET_DIAG_NOCOOKIE: any socket with these addresses.
                cookie: [0xff; 8],
            },
        })
        .into(),
    );
    message.finalize();
    let mut buf = vec![0u8; message.buffer_len()];
    message.serialize(&mut buf);
    buf
}

fn answer(payload: NetlinkPayload<SockDiagMessage>) -> io::Result<Entry> {
    match payload {
        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
            Ok(match response.header.inode {
                0 => Entry::Closed,
                inode => Entry::Open {
                    inode: u64::from(inode),
                    uid: response.header.uid,
                },
            })
        }
        NetlinkPayload::Error(e) if e.raw_code() == NO_SUCH_SOCKET => Ok(Entry::Missing),
        NetlinkPayload::Error(e) => Err(e.to_io()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected sock_diag answer",
        )),
    }
}

/// Which of the two `/proc` tables.
#[derive(Debug, Clone, Copy)]
enum Family {
    V4,
    V6,
}

/// The same search in `/proc/net/tcp{,6}`. An IPv4 connection may come from an IPv6 socket
/// (IPv4-mapped addresses in `tcp6`), so both tables are read when the first has no such
/// socket.
fn find_in_proc(
    client: SocketAddr,
    server: SocketAddr,
    namespace: Option<u32>,
) -> io::Result<Entry> {
    let families: &[Family] = match (client.ip(), server.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => &[Family::V4, Family::V6],
        _ => &[Family::V6],
    };
    for (i, family) in families.iter().enumerate() {
        let entries = match read(*family, namespace) {
            Ok(entries) => entries,
            // A kernel without IPv6 has no tcp6 table; the IPv4 one was read already.
            Err(_) if i > 0 => break,
            Err(e) => return Err(io::Error::other(e)),
        };
        let entry = matching(&entries, mapped(client), mapped(server));
        if entry != Entry::Missing {
            return Ok(entry);
        }
    }
    Ok(Entry::Missing)
}

fn read(family: Family, namespace: Option<u32>) -> procfs::ProcResult<Vec<TcpNetEntry>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways to the table agree, on a live socket and on one that is not there.
    #[test]
    fn netlink_and_proc_agree() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("bound")).expect("connect");
        let (from, to) = (
            client.local_addr().expect("local"),
            client.peer_addr().expect("peer"),
        );
        let tables = Tables::own();
        assert!(!tables.reads_proc(), "sock_diag is available here");
        let by_netlink = tables.find(from, to).expect("netlink answers");
        assert!(matches!(by_netlink, Entry::Open { .. }), "{by_netlink:?}");
        assert_eq!(
            find_in_proc(from, to, None).expect("/proc answers"),
            by_netlink
        );
        let nowhere: SocketAddr = "192.0.2.1:1".parse().expect("address");
        assert_eq!(tables.find(nowhere, to).expect("answers"), Entry::Missing);
        assert_eq!(
            find_in_proc(nowhere, to, None).expect("answers"),
            Entry::Missing
        );
    }
}
