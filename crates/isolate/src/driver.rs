//! The task that owns the userspace stack: smoltcp's interface, the TUN device's reads, and
//! the connection table. It reads the namespace's packets, looks at each before the stack
//! does (TCP to the stack, one segment at a time; UDP to the handler; the rest dropped),
//! sends what the sockets have to send, and sleeps until a packet arrives, a stream wakes
//! it, or the stack's next timer (retransmission, delayed ACK) is due.

use std::hash::{BuildHasher as _, Hasher as _};
use std::io;
use std::sync::Arc;

use smoltcp::iface::{Config, Interface, PollResult};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::device::{PacketDevice, Phy, Wire};
use crate::packet::{classify, Packet, Tuple};
use crate::tcp::{Connections, Established, SocketTable, Sockets};

/// Packets read from the TUN device per turn, at most, before the sockets send.
const READ_BATCH: usize = 64;
/// Egress passes per turn, at most (each sends at most one packet per socket).
const EGRESS_PASSES: usize = 64;
/// How often sockets whose handshake never finished are looked for, at least.
const SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// What the driver hands on: TCP connections once established, and UDP datagrams.
pub(crate) trait Handler: Send + Sync + 'static {
    fn connection(&self, stream: crate::TcpStream, tuple: Tuple);
    /// A UDP datagram from the namespace; answers are written to `device`.
    fn datagram(&self, tuple: Tuple, payload: &[u8], device: &Arc<PacketDevice>);
}

/// smoltcp's interface with its device and the connection table: the stack without I/O.
pub(crate) struct Engine<W> {
    pub(crate) phy: Phy<W>,
    iface: Interface,
    pub(crate) connections: Connections,
}

impl<W: Wire> Engine<W> {
    /// An interface that is the gateway (`10.0.2.2`, `fd00:7068::2`) and takes every
    /// destination (any-IP, through default routes to itself).
    pub(crate) fn new(wire: W) -> Self {
        let mut phy = Phy::new(wire);
        let mut config = Config::new(HardwareAddress::Ip);
        let mut seed = std::hash::RandomState::new().build_hasher();
        seed.write_u128(
            std::time::UNIX_EPOCH
                .elapsed()
                .unwrap_or_default()
                .as_nanos(),
        );
        config.random_seed = seed.finish();
        let mut iface = Interface::new(config, &mut phy, Instant::now());
        iface.set_any_ip(true);
        iface.update_ip_addrs(|addrs| {
            let v4 = IpCidr::new(IpAddress::Ipv4(crate::GATEWAY_V4), crate::PREFIX_V4);
            let v6 = IpCidr::new(IpAddress::Ipv6(crate::GATEWAY_V6), crate::PREFIX_V6);
            // Room for two addresses (smoltcp's default), so neither push fails.
            let _ = addrs.push(v4);
            let _ = addrs.push(v6);
        });
        let routes = iface.routes_mut();
        let _ = routes.add_default_ipv4_route(crate::GATEWAY_V4);
        let _ = routes.add_default_ipv6_route(crate::GATEWAY_V6);
        Self {
            phy,
            iface,
            connections: Connections::default(),
        }
    }

    /// Hands the TCP segment in `phy.rx` (`len` bytes, of `tuple`) to the stack, with the
    /// connection table's checks before and after.
    pub(crate) fn segment(
        &mut self,
        len: usize,
        tuple: Tuple,
        syn: bool,
        sockets: &mut Sockets,
    ) -> Option<Established> {
        if !self.connections.before(tuple, syn, sockets) {
            return None;
        }
        self.phy.rx_len = Some(len);
        self.iface
            .poll_ingress_single(Instant::now(), &mut self.phy, &mut sockets.set);
        self.phy.rx_len = None;
        self.connections.after(tuple, sockets)
    }

    /// Sends what the sockets have to send, removes the sockets done with, and returns when
    /// the stack wants to be polled again.
    pub(crate) fn egress(&mut self, sockets: &mut Sockets) -> Option<std::time::Duration> {
        for _ in 0..EGRESS_PASSES {
            let sent = self
                .iface
                .poll_egress(Instant::now(), &mut self.phy, &mut sockets.set);
            if sent == PollResult::None {
                break;
            }
        }
        self.connections.reap(sockets);
        self.iface
            .poll_delay(Instant::now(), &sockets.set)
            .map(|d| std::time::Duration::from_micros(d.total_micros()))
    }
}

/// The stack's task.
pub(crate) struct Driver<H> {
    device: Arc<PacketDevice>,
    engine: Engine<Arc<PacketDevice>>,
    table: Arc<SocketTable>,
    handler: H,
}

impl<H: Handler> Driver<H> {
    pub(crate) fn new(device: PacketDevice, handler: H) -> Self {
        let device = Arc::new(device);
        Self {
            engine: Engine::new(device.clone()),
            device,
            table: SocketTable::new(),
            handler,
        }
    }

    /// Runs until the TUN device fails (the namespace is gone).
    pub(crate) async fn run(mut self) {
        let mut sweep_at = tokio::time::Instant::now() + SWEEP;
        loop {
            let (established, delay) = match self.turn() {
                Ok(turned) => turned,
                Err(e) => {
                    tracing::warn!("cannot read the TUN device: {e}");
                    return;
                }
            };
            for Established { handle, tuple } in established {
                let stream = crate::TcpStream::new(handle, self.table.clone());
                self.handler.connection(stream, tuple);
            }
            if tokio::time::Instant::now() >= sweep_at {
                self.engine.connections.sweep(&mut self.table.lock());
                sweep_at = tokio::time::Instant::now() + SWEEP;
            }
            let wait = delay.unwrap_or(SWEEP).min(SWEEP);
            tokio::select! {
                ready = self.device.readable() => {
                    if let Err(e) = ready {
                        tracing::warn!("cannot wait for the TUN device: {e}");
                        return;
                    }
                }
                () = self.table.woken() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Reads the packets waiting (up to a batch), then lets the sockets send.
    fn turn(&mut self) -> io::Result<(Vec<Established>, Option<std::time::Duration>)> {
        let mut sockets = self.table.lock();
        let mut established = Vec::new();
        for _ in 0..READ_BATCH {
            let len = match self.device.try_read(&mut self.engine.phy.rx) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            match classify(&self.engine.phy.rx[..len]) {
                Packet::Tcp { tuple, syn } => {
                    if let Some(e) = self.engine.segment(len, tuple, syn, &mut sockets) {
                        established.push(e);
                    }
                }
                Packet::Udp { tuple, payload } => {
                    self.handler.datagram(tuple, payload, &self.device);
                }
                Packet::Other => {}
            }
        }
        let delay = self.engine.egress(&mut sockets);
        Ok((established, delay))
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use smoltcp::wire::{
        IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
    };

    use smoltcp::socket::tcp::State;

    use crate::tcp::MAX_HANDSHAKES;

    use super::*;

    impl Wire for Vec<Vec<u8>> {
        fn transmit(&mut self, packet: &[u8]) {
            self.push(packet.to_vec());
        }
    }

    /// An IPv4 packet carrying a TCP segment without payload.
    fn segment(tuple: Tuple, control: TcpControl, seq: i32, ack: Option<i32>) -> Vec<u8> {
        let (SocketAddr::V4(client), SocketAddr::V4(destination)) =
            (tuple.client, tuple.destination)
        else {
            panic!("v4 only");
        };
        let tcp = TcpRepr {
            src_port: client.port(),
            dst_port: destination.port(),
            control,
            seq_number: TcpSeqNumber(seq),
            ack_number: ack.map(TcpSeqNumber),
            window_len: 64_000,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let ip = Ipv4Repr {
            src_addr: *client.ip(),
            dst_addr: *destination.ip(),
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut packet = vec![0; ip.buffer_len() + tcp.buffer_len()];
        let caps = smoltcp::phy::ChecksumCapabilities::default();
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut packet), &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(&mut packet[ip.buffer_len()..]),
            &client.ip().to_owned().into(),
            &destination.ip().to_owned().into(),
            &caps,
        );
        packet
    }

    /// Hands `packet` to the engine as the driver does, then lets the sockets send.
    fn feed(
        engine: &mut Engine<Vec<Vec<u8>>>,
        sockets: &mut Sockets,
        packet: &[u8],
    ) -> Option<Established> {
        engine.phy.rx[..packet.len()].copy_from_slice(packet);
        let Packet::Tcp { tuple, syn } = classify(packet) else {
            panic!("not TCP");
        };
        let established = engine.segment(packet.len(), tuple, syn, sockets);
        engine.egress(sockets);
        established
    }

    /// The (flags, sequence number) of the TCP segments sent to `port`, taken from the wire.
    fn sent_to(engine: &mut Engine<Vec<Vec<u8>>>, port: u16) -> Vec<(bool, bool, i32)> {
        let mut found = Vec::new();
        for packet in std::mem::take(&mut engine.phy.wire) {
            let ip = Ipv4Packet::new_checked(&packet[..]).expect("ipv4");
            let tcp = TcpPacket::new_checked(ip.payload()).expect("tcp");
            if tcp.dst_port() == port {
                found.push((tcp.syn(), tcp.rst(), tcp.seq_number().0));
            }
        }
        found
    }

    /// Sends `tuple`'s opening SYN (sequence 100) and returns the sequence number of the one
    /// SYN-ACK it must get.
    fn syn_ack(engine: &mut Engine<Vec<Vec<u8>>>, sockets: &mut Sockets, tuple: Tuple) -> i32 {
        feed(engine, sockets, &segment(tuple, TcpControl::Syn, 100, None));
        let sent = sent_to(engine, tuple.client.port());
        let [(true, false, server_seq)] = sent[..] else {
            panic!("no SYN-ACK for {tuple:?}: {sent:?}");
        };
        server_seq
    }

    /// A RST to a half-open connection (the client gave up before the SYN-ACK) must not leave
    /// a socket that takes the next SYN to the same destination: the next connection gets a
    /// socket of its own, handed over with its own client port, and the first never is.
    #[test]
    fn a_reset_half_open_connection_does_not_take_the_next_one() {
        let table = SocketTable::new();
        let mut sockets = table.lock();
        let mut engine = Engine::new(Vec::new());
        let destination: SocketAddr = "192.0.2.1:443".parse().expect("addr");
        let first = Tuple {
            client: "10.0.2.100:40001".parse().expect("addr"),
            destination,
        };
        let second = Tuple {
            client: "10.0.2.100:40002".parse().expect("addr"),
            destination,
        };
        assert!(feed(
            &mut engine,
            &mut sockets,
            &segment(first, TcpControl::Syn, 100, None)
        )
        .is_none());
        let syn_ack = sent_to(&mut engine, 40001);
        assert!(matches!(syn_ack[..], [(true, false, _)]), "{syn_ack:?}");
        let rst = segment(first, TcpControl::Rst, 101, None);
        assert!(feed(&mut engine, &mut sockets, &rst).is_none());
        assert_eq!(engine.connections.len(), 0, "the reset socket is removed");

        let syn = segment(second, TcpControl::Syn, 5000, None);
        assert!(feed(&mut engine, &mut sockets, &syn).is_none());
        let sent = sent_to(&mut engine, 40002);
        let [(true, false, server_seq)] = sent[..] else {
            panic!("no SYN-ACK to the second client: {sent:?}");
        };
        assert!(sent_to(&mut engine, 40001).is_empty());
        let ack = segment(second, TcpControl::None, 5001, Some(server_seq + 1));
        let established = feed(&mut engine, &mut sockets, &ack).expect("established");
        assert_eq!(established.tuple, second);
        assert_eq!(engine.connections.len(), 1);

        // The first client's late ACK finds no socket: the stack answers it with a RST.
        let late = segment(first, TcpControl::None, 101, Some(server_seq + 1));
        assert!(feed(&mut engine, &mut sockets, &late).is_none());
        let answer = sent_to(&mut engine, 40001);
        assert!(matches!(answer[..], [(false, true, _)]), "{answer:?}");
        assert_eq!(engine.connections.len(), 1);
    }

    /// A SYN to a destination where a connection is already established makes a second
    /// socket; the established one keeps its own client.
    #[test]
    fn two_connections_to_one_destination_get_two_sockets() {
        let table = SocketTable::new();
        let mut sockets = table.lock();
        let mut engine = Engine::new(Vec::new());
        let destination: SocketAddr = "10.0.2.2:8080".parse().expect("addr");
        let mut handed = Vec::new();
        for port in [41000, 41001] {
            let tuple = Tuple {
                client: SocketAddr::new("10.0.2.100".parse().expect("ip"), port),
                destination,
            };
            feed(
                &mut engine,
                &mut sockets,
                &segment(tuple, TcpControl::Syn, 7, None),
            );
            let sent = sent_to(&mut engine, port);
            let [(true, false, server_seq)] = sent[..] else {
                panic!("no SYN-ACK to {port}: {sent:?}");
            };
            let ack = segment(tuple, TcpControl::None, 8, Some(server_seq + 1));
            handed.push(feed(&mut engine, &mut sockets, &ack).expect("established"));
        }
        assert_eq!(handed[0].tuple.client.port(), 41000);
        assert_eq!(handed[1].tuple.client.port(), 41001);
        assert_ne!(handed[0].handle, handed[1].handle);
    }

    /// A client that reuses its port as soon as its connection closed (phonehome closed first,
    /// so the stack's socket is in TIME-WAIT while its stream is still held) gets a SYN-ACK for
    /// the new connection: `Connections::before` makes a socket for it, but the stack hands a
    /// segment to the first socket that accepts it, and the TIME-WAIT socket of the same
    /// 4-tuple, earlier in the set, accepts the SYN and drops it ("expecting an ACK").
    #[test]
    fn a_syn_reusing_the_port_of_a_connection_in_time_wait_is_answered() {
        let table = SocketTable::new();
        let mut sockets = table.lock();
        let mut engine = Engine::new(Vec::new());
        let tuple = Tuple {
            client: "10.0.2.100:45555".parse().expect("addr"),
            destination: "10.0.2.2:8080".parse().expect("addr"),
        };
        let server_seq = syn_ack(&mut engine, &mut sockets, tuple);
        let ack = segment(tuple, TcpControl::None, 101, Some(server_seq + 1));
        let first = feed(&mut engine, &mut sockets, &ack).expect("established");
        // phonehome closes first (the upstream server did); the stream is still held.
        sockets.socket(first.handle).close();
        engine.egress(&mut sockets);
        let fin_ack = segment(tuple, TcpControl::Fin, 101, Some(server_seq + 2));
        feed(&mut engine, &mut sockets, &fin_ack);
        assert_eq!(sockets.socket(first.handle).state(), State::TimeWait);
        sent_to(&mut engine, 45555);

        // The client (CLOSED on its side) connects again from the same port.
        let syn = segment(tuple, TcpControl::Syn, 900_000, None);
        feed(&mut engine, &mut sockets, &syn);
        let sent = sent_to(&mut engine, 45555);
        let syn_acks: Vec<i32> = sent
            .iter()
            .filter(|(syn, _, _)| *syn)
            .map(|&(_, _, seq)| seq)
            .collect();
        let [new_seq] = syn_acks[..] else {
            panic!("the new connection's SYN got no SYN-ACK: {sent:?}");
        };
        // Besides it, at most the old socket's one RST, in the old connection's sequence
        // space (a client in SYN-SENT ignores it: it acknowledges nothing of the new SYN).
        assert!(
            sent.iter()
                .all(|&(syn, rst, seq)| syn || (rst && seq == server_seq + 2)),
            "{sent:?}"
        );
        let ack = segment(tuple, TcpControl::None, 900_001, Some(new_seq + 1));
        let second = feed(&mut engine, &mut sockets, &ack).expect("the new one established");
        assert_ne!(second.handle, first.handle);
    }
    /// SYNs past [`MAX_HANDSHAKES`] handshakes in progress are dropped, not answered and not
    /// reset; once a handshake finishes, a new SYN is answered again.
    #[test]
    fn syns_past_the_handshakes_in_progress_are_dropped() {
        let table = SocketTable::new();
        let mut sockets = table.lock();
        let mut engine = Engine::new(Vec::new());
        let tuple = |port: u16| Tuple {
            client: SocketAddr::from(([10, 0, 2, 100], port)),
            destination: "10.0.2.2:8080".parse().expect("addr"),
        };
        let first_seq = syn_ack(&mut engine, &mut sockets, tuple(40_000));
        for port in 40_001..40_000 + MAX_HANDSHAKES as u16 {
            syn_ack(&mut engine, &mut sockets, tuple(port));
        }
        let over = 40_000 + MAX_HANDSHAKES as u16;
        let syn = segment(tuple(over), TcpControl::Syn, 100, None);
        feed(&mut engine, &mut sockets, &syn);
        assert!(sent_to(&mut engine, over).is_empty(), "dropped");
        let ack = segment(tuple(40_000), TcpControl::None, 101, Some(first_seq + 1));
        feed(&mut engine, &mut sockets, &ack).expect("established");
        feed(&mut engine, &mut sockets, &syn);
        assert!(matches!(sent_to(&mut engine, over)[..], [(true, false, _)]));
    }

    /// A handshake finished by a segment that also carries the client's FIN (its plain ACK
    /// was lost: the TUN queue was full) leaves the socket in CLOSE-WAIT, not ESTABLISHED:
    /// the connection must still be handed over (the client waits for an answer), not left
    /// to the quiet limit's reset.
    #[test]
    fn a_handshake_finished_with_a_fin_is_handed_over() {
        let table = SocketTable::new();
        let mut sockets = table.lock();
        let mut engine = Engine::new(Vec::new());
        let tuple = Tuple {
            client: "10.0.2.100:45556".parse().expect("addr"),
            destination: "10.0.2.2:8080".parse().expect("addr"),
        };
        let server_seq = syn_ack(&mut engine, &mut sockets, tuple);
        let fin_ack = segment(tuple, TcpControl::Fin, 101, Some(server_seq + 1));
        let handed = feed(&mut engine, &mut sockets, &fin_ack);
        assert!(
            handed.is_some(),
            "not handed over: the connection is left to time out"
        );
    }
}
