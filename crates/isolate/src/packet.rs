//! IP packets from and to the namespace, read and built with smoltcp's wire types: what a
//! packet carries (read before the stack sees it), and UDP datagrams back to the namespace.
//! Formats: IPv4 (RFC 791), IPv6 (RFC 8200), TCP (RFC 9293), UDP (RFC 768).

use std::net::{IpAddr, SocketAddr};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, IpRepr, IpVersion, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket, UdpRepr,
};

/// A TCP connection's addresses: the client's inside the namespace, and the destination it
/// connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Tuple {
    pub(crate) client: SocketAddr,
    pub(crate) destination: SocketAddr,
}

/// What a packet from the namespace carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    /// A TCP segment, for the stack.
    Tcp {
        tuple: Tuple,
        /// Whether it opens a connection: SYN without ACK.
        syn: bool,
    },
    /// A UDP datagram whose header is whole.
    Udp { tuple: Tuple, payload: &'a [u8] },
    /// Anything else (ICMP, other protocols, fragments, broken headers): dropped.
    Other,
}

/// The IP packet's source, destination, protocol and payload, if its header is whole and
/// it is not a fragment.
fn ip(packet: &[u8]) -> Option<(IpAddr, IpAddr, IpProtocol, &[u8])> {
    // `of_packet` reads the first byte unchecked.
    if packet.is_empty() {
        return None;
    }
    match IpVersion::of_packet(packet).ok()? {
        IpVersion::Ipv4 => {
            let ip = Ipv4Packet::new_checked(packet).ok()?;
            if ip.more_frags() || ip.frag_offset() != 0 {
                return None;
            }
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            let payload = &packet[ip.header_len().into()..usize::from(ip.total_len())];
            Some((src.into(), dst.into(), ip.next_header(), payload))
        }
        IpVersion::Ipv6 => {
            let ip = Ipv6Packet::new_checked(packet).ok()?;
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            let start = packet.len() - ip.payload().len();
            Some((src.into(), dst.into(), ip.next_header(), &packet[start..]))
        }
    }
}

/// Reads what `packet` carries.
pub(crate) fn classify(packet: &[u8]) -> Packet<'_> {
    let Some((src, dst, protocol, payload)) = ip(packet) else {
        return Packet::Other;
    };
    match protocol {
        IpProtocol::Tcp => match TcpPacket::new_checked(payload) {
            Ok(tcp) => Packet::Tcp {
                tuple: Tuple {
                    client: SocketAddr::new(src, tcp.src_port()),
                    destination: SocketAddr::new(dst, tcp.dst_port()),
                },
                syn: tcp.syn() && !tcp.ack(),
            },
            Err(_) => Packet::Other,
        },
        IpProtocol::Udp => match UdpPacket::new_checked(payload) {
            Ok(udp) => Packet::Udp {
                tuple: Tuple {
                    client: SocketAddr::new(src, udp.src_port()),
                    destination: SocketAddr::new(dst, udp.dst_port()),
                },
                payload: &payload[8..usize::from(udp.len())],
            },
            Err(_) => Packet::Other,
        },
        _ => Packet::Other,
    }
}

/// An IP packet carrying a UDP datagram from `from` to `to` (the same IP version), with
/// its checksums; `None` when the versions differ or the payload is too long for one packet.
pub(crate) fn udp(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    if from.is_ipv4() != to.is_ipv4() {
        return None;
    }
    let caps = ChecksumCapabilities::default();
    let udp = UdpRepr {
        src_port: from.port(),
        dst_port: to.port(),
    };
    let udp_len = udp.header_len() + payload.len();
    let (src, dst) = (IpAddress::from(from.ip()), IpAddress::from(to.ip()));
    let ip_repr = IpRepr::new(src, dst, IpProtocol::Udp, udp_len, 64);
    // IPv4's 16-bit length counts its header too, IPv6's only what follows it.
    let counted = if from.is_ipv4() {
        ip_repr.buffer_len()
    } else {
        udp_len
    };
    u16::try_from(counted).ok()?;
    let mut packet = vec![0; ip_repr.buffer_len()];
    ip_repr.emit(&mut packet[..], &caps);
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut packet[ip_repr.header_len()..]),
        &src,
        &dst,
        payload.len(),
        |out| out.copy_from_slice(payload),
        &caps,
    );
    Some(packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_udp_datagram_built_reads_back() {
        let from: SocketAddr = "10.0.2.2:53".parse().expect("addr");
        let to: SocketAddr = "10.0.2.100:40000".parse().expect("addr");
        let packet = udp(from, to, b"answer").expect("packet");
        let tuple = Tuple {
            client: from,
            destination: to,
        };
        assert_eq!(
            classify(&packet),
            Packet::Udp {
                tuple,
                payload: b"answer"
            }
        );
        let v6: SocketAddr = "[fd00:7068::2]:53".parse().expect("addr");
        let to6: SocketAddr = "[fd00:7068::100]:5353".parse().expect("addr");
        let packet = udp(v6, to6, b"x").expect("packet");
        assert!(matches!(
            classify(&packet),
            Packet::Udp { payload: b"x", .. }
        ));
        assert!(udp(from, to6, b"x").is_none());
    }

    #[test]
    fn a_broken_header_is_other() {
        let from: SocketAddr = "10.0.2.100:40000".parse().expect("addr");
        let to: SocketAddr = "10.0.2.2:53".parse().expect("addr");
        let packet = udp(from, to, b"query").expect("packet");
        assert_eq!(classify(&packet[..24]), Packet::Other);
        assert_eq!(classify(&[0x45, 0, 0]), Packet::Other);
        assert_eq!(classify(&[]), Packet::Other);
    }
}
