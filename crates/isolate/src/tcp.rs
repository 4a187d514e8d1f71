//! The namespace's TCP connections in the userspace stack (smoltcp): one socket per
//! connection, bound to the connection's 4-tuple from its SYN on, and the socket table the
//! driver and the streams share.
//!
//! smoltcp accepts a connection with a socket listening on a local endpoint, and puts a
//! socket in SYN-RECEIVED that gets a RST back to LISTEN, where it would take whichever SYN
//! comes next. So here a socket is made for one SYN's 4-tuple, and looked at after every
//! segment of that 4-tuple: back in LISTEN, or connected to another client, it is aborted
//! and removed, never reused. A stream is handed over only once its socket is ESTABLISHED
//! (or CLOSE-WAIT) with the client it was made for. A SYN for a 4-tuple whose old socket is
//! in TIME-WAIT closes that socket first, so that the old one does not take the SYN.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Duration;
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};
use tokio::sync::Notify;

use crate::packet::Tuple;

/// How long a connection may go without a packet from the client while its handshake is
/// not finished, or after phonehome closed its side, before it is aborted.
pub(crate) const QUIET_LIMIT: Duration = Duration::from_secs(30);

/// Handshakes in progress at most: a SYN past them is dropped (its client sends it again),
/// as a kernel's full SYN backlog does. Each socket holds two [`crate::TCP_BUFFER`]s, so this
/// bounds what SYNs alone can make phonehome hold (a process in the namespace with raw
/// sockets can send any number).
pub(crate) const MAX_HANDSHAKES: usize = 256;

/// The sockets, shared by the driver and the streams.
pub(crate) struct SocketTable {
    sockets: Mutex<Sockets>,
    /// Wakes the driver: a stream wrote, read, closed or was dropped.
    wake: Notify,
}

pub(crate) struct Sockets {
    pub(crate) set: SocketSet<'static>,
    /// Sockets whose stream was dropped, to be removed once closed.
    released: Vec<SocketHandle>,
}

impl SocketTable {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            sockets: Mutex::new(Sockets {
                set: SocketSet::new(Vec::new()),
                released: Vec::new(),
            }),
            wake: Notify::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Sockets> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the driver to poll the stack.
    pub(crate) fn wake_driver(&self) {
        self.wake.notify_one();
    }

    /// Waits until a stream wakes the driver.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}

impl Sockets {
    pub(crate) fn socket(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.set.get_mut::<tcp::Socket<'static>>(handle)
    }

    /// A stream let go of its socket: the driver removes it once closed.
    pub(crate) fn release(&mut self, handle: SocketHandle) {
        self.released.push(handle);
    }
}

/// A connection whose handshake finished: its socket and 4-tuple, for a stream.
#[derive(Debug)]
pub(crate) struct Established {
    pub(crate) handle: SocketHandle,
    pub(crate) tuple: Tuple,
}

struct Entry {
    tuple: Tuple,
    /// Whether a stream holds the socket (then only its release removes it).
    handed: bool,
}

/// Which socket serves which 4-tuple.
#[derive(Default)]
pub(crate) struct Connections {
    entries: HashMap<SocketHandle, Entry>,
    /// The 4-tuples whose socket may still take segments.
    tuples: HashMap<Tuple, SocketHandle>,
    /// Sockets not handed over that closed or were aborted: removed after the next egress
    /// (which sends an aborted socket's RST).
    closing: Vec<SocketHandle>,
}

impl Connections {
    /// Before the stack sees a segment of `tuple`: an opening SYN of a 4-tuple not known (or
    /// whose socket is closing) gets a socket of its own, listening on its destination.
    /// False: the segment is to be dropped (a SYN past [`MAX_HANDSHAKES`]).
    pub(crate) fn before(&mut self, tuple: Tuple, syn: bool, sockets: &mut Sockets) -> bool {
        if !syn {
            return true;
        }
        if let Some(&handle) = self.tuples.get(&tuple) {
            let socket = sockets.socket(handle);
            if !matches!(socket.state(), State::Closed | State::TimeWait) {
                return true;
            }
            // smoltcp gives a segment to the first socket that accepts it, and one in
            // TIME-WAIT still accepts its 4-tuple's: closed now, it takes no more, and the new
            // connection's SYN reaches its own socket (the one RST the old socket sends
            // carries the old sequence numbers, which a client in SYN-SENT ignores).
            socket.abort();
            self.forget(handle, sockets);
        }
        if self.entries.values().filter(|entry| !entry.handed).count() >= MAX_HANDSHAKES {
            return false;
        }
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; crate::TCP_BUFFER]),
            tcp::SocketBuffer::new(vec![0; crate::TCP_BUFFER]),
        );
        socket.set_nagle_enabled(false);
        socket.set_timeout(Some(QUIET_LIMIT));
        let destination = IpListenEndpoint {
            addr: Some(tuple.destination.ip().into()),
            port: tuple.destination.port(),
        };
        if socket.listen(destination).is_err() {
            return true;
        }
        let handle = sockets.set.add(socket);
        self.entries.insert(
            handle,
            Entry {
                tuple,
                handed: false,
            },
        );
        self.tuples.insert(tuple, handle);
        true
    }

    /// After the stack saw a segment of `tuple`: its socket, if any, is checked. Back in
    /// LISTEN or connected to another client: aborted, never reused. ESTABLISHED and not yet
    /// handed over (or CLOSE-WAIT: its FIN came with or right after the handshake): returned,
    /// for a stream. Closed: no longer takes segments. TIME-WAIT: kept, for `before`.
    pub(crate) fn after(&mut self, tuple: Tuple, sockets: &mut Sockets) -> Option<Established> {
        let &handle = self.tuples.get(&tuple)?;
        let socket = sockets.socket(handle);
        let serves = socket
            .remote_endpoint()
            .is_none_or(|remote| remote == IpEndpoint::from(tuple.client));
        match socket.state() {
            State::Listen => {
                socket.abort();
                self.forget(handle, sockets);
            }
            _ if !serves => {
                socket.abort();
                self.forget(handle, sockets);
            }
            // CLOSE-WAIT: the handshake was finished by a segment with the client's FIN too
            // (or its data and FIN came before this look); the stream reads them, then its end.
            State::Established | State::CloseWait => {
                let entry = self.entries.get_mut(&handle)?;
                if !entry.handed {
                    entry.handed = true;
                    socket.set_timeout(None);
                    return Some(Established { handle, tuple });
                }
            }
            State::Closed => self.forget(handle, sockets),
            // Kept under its 4-tuple: a new SYN of the same 4-tuple closes it first (`before`).
            _ => {}
        }
        None
    }

    /// The socket no longer takes segments of its 4-tuple; one not handed over is removed
    /// after the next egress.
    fn forget(&mut self, handle: SocketHandle, sockets: &mut Sockets) {
        if let Some(entry) = self.entries.get(&handle) {
            if self.tuples.get(&entry.tuple) == Some(&handle) {
                self.tuples.remove(&entry.tuple);
            }
            if !entry.handed {
                sockets.socket(handle).abort();
                self.closing.push(handle);
            }
        }
    }

    /// After an egress: removes the sockets aborted or closed that no stream holds, and
    /// the released ones that closed. What a released socket received is discarded, so that
    /// its window stays open until the client closes too.
    pub(crate) fn reap(&mut self, sockets: &mut Sockets) {
        for handle in std::mem::take(&mut self.closing) {
            self.remove(handle, sockets);
        }
        let released = std::mem::take(&mut sockets.released);
        for handle in released {
            let socket = sockets.socket(handle);
            // Two takes at most: the receive buffer is a ring.
            for _ in 0..2 {
                let _ = socket.recv(|data| (data.len(), ()));
            }
            if matches!(socket.state(), State::Closed | State::TimeWait) {
                self.remove(handle, sockets);
            } else {
                sockets.released.push(handle);
            }
        }
    }

    fn remove(&mut self, handle: SocketHandle, sockets: &mut Sockets) {
        if let Some(entry) = self.entries.remove(&handle) {
            if self.tuples.get(&entry.tuple) == Some(&handle) {
                self.tuples.remove(&entry.tuple);
            }
            sockets.set.remove(handle);
        }
    }

    /// Looks at every socket not handed over (their handshakes time out in the stack, not
    /// on a segment): a closed one is removed.
    pub(crate) fn sweep(&mut self, sockets: &mut Sockets) {
        let closed: Vec<SocketHandle> = self
            .entries
            .iter()
            .filter(|(_, entry)| !entry.handed)
            .map(|(&handle, _)| handle)
            .filter(|&handle| sockets.socket(handle).state() == State::Closed)
            .collect();
        for handle in closed {
            self.remove(handle, sockets);
        }
    }

    /// The number of sockets, for tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
