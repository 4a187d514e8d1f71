//! Isolation mode (`phonehome run --isolate`, Linux): the command runs in its own network
//! namespace whose only way out is phonehome.
//!
//! ```text
//!  parent (phonehome, tokio)                      helper (phonehome isolate-helper, one thread)
//!  ─ privilege check (sysctls)                     ─ unshare(user? + net + mount)
//!  ─ Unix socket in a private temp dir   ◄──────── ─ lo up, TUN phonehome0, addresses, default
//!  ─ TUN fd (SCM_RIGHTS) ─ userspace TCP/IP          routes v4 + v6; resolv.conf and the CA
//!    (smoltcp) ─┬─ TCP → the interception core       bundle bind-mounted over /etc
//!               ├─ UDP/TCP 53 → DNS (resolved      ─ sends the TUN fd, waits for "go"
//!               │   on the host, `dns` records)    ─ execs the command
//!               └─ other UDP → dropped, `blocked`
//! ```
//!
//! Inside, the namespace has `10.0.2.100/24` and `fd00:7068::100/64` on the TUN device and
//! default routes through it. The gateway (`10.0.2.2`, `fd00:7068::2`) is phonehome: its proxy
//! port speaks the proxy protocol (so the proxy variables still work), port 53 is the DNS
//! server named in the laid-over `/etc/resolv.conf`, and other ports reach the host's loopback
//! only when host loopback is enabled. The namespace's own `127.0.0.1` is its own `lo`.
//!
//! This crate knows nothing of the proxy: TCP connections leave it as [`Connection`]s with
//! their original destination and the DNS name the client looked up, and records (`dns`,
//! `blocked`) leave through a [`Sink`].
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod device;
mod dns;
mod driver;
mod handoff;
mod namespace;
mod packet;
mod privilege;
mod sink;
mod stack;
mod stream;
mod tcp;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses bytes as a DNS query and builds its replies, with and without addresses.
    pub fn dns_query(data: &[u8]) {
        use std::net::IpAddr;
        if let Some(query) = crate::dns::Query::parse(data) {
            let _ = query.reply(&crate::dns::Lookup::NoName);
            let found = vec![IpAddr::V4(crate::GATEWAY_V4), IpAddr::V6(crate::GATEWAY_V6)];
            let _ = query.reply(&crate::dns::Lookup::Addresses(found));
        }
    }
}

pub use namespace::{enter, HelperSpec, NOT_STARTED, SETUP_FAILED};
pub use privilege::{check, needs_user_namespace, PrivilegeError};
pub use sink::{Connection, Route, Sink};
pub use stack::{
    Handoff, HandoffError, Netstack, StackConfig, HOST_LOOPBACK_RULE, NAMESPACE_RULE, UDP_RULE,
};
pub use stream::TcpStream;

/// The namespace's own IPv4 address, on the TUN device.
pub const NAMESPACE_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
/// The gateway's IPv4 address: phonehome (proxy port, DNS, host loopback when enabled).
pub const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// The prefix length of the namespace's IPv4 network.
pub const PREFIX_V4: u8 = 24;
/// The namespace's own IPv6 address (a unique local address, RFC 4193).
pub const NAMESPACE_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x7068, 0, 0, 0, 0, 0, 0x100);
/// The gateway's IPv6 address.
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x7068, 0, 0, 0, 0, 0, 2);
/// Where a name the policy denies resolves to when denials are sinkholed: addresses from the
/// benchmarking range 198.18.0.0/15 (RFC 2544 §C.2.2), which no real host uses, one per name,
/// so that the connection that follows reaches phonehome under that name and is sinkholed.
pub const SINKHOLE_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
/// The prefix length of the namespace's IPv6 network.
pub const PREFIX_V6: u8 = 64;
/// The TUN device's name inside the namespace.
pub const DEVICE: &str = "phonehome0";
/// The TUN device's MTU in bytes: the largest an IPv4 packet can be, so that bulk transfers
/// cross the userspace stack in as few packets as possible (nothing leaves the machine with
/// this MTU). Measured with bench/download: 1500 gave about 150 MB/s; with smoltcp, 65535
/// against 16384 gave 8–18 % more speed for 11–18 % less CPU (BENCHMARKS.md, "`--isolate`:
/// smoltcp"). ipstack 1.0, the stack before, stalled at 32768 and above.
pub const MTU: u16 = 65_535;
/// Each TCP connection's receive and send buffers in the userspace stack, in bytes (two per
/// connection, allocated zeroed when its SYN arrives, so pages are touched only as used).
/// Above 64 KiB the stack advertises a window scale (RFC 7323), so the window is this
/// large: eight segments at [`MTU`].
pub const TCP_BUFFER: usize = 512 * 1024;
pub use phonehome_record::HOST_LOOPBACK_NAME;

/// Whether `ip` is the gateway, v4 or v6.
pub fn is_gateway(ip: IpAddr) -> bool {
    ip == IpAddr::V4(GATEWAY_V4) || ip == IpAddr::V6(GATEWAY_V6)
}

/// Whether `ip` is inside the namespace's own networks (other than the gateway), or an address
/// no connection can go to (unspecified, multicast, broadcast).
fn is_namespace_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let net = u32::from(GATEWAY_V4) >> (32 - PREFIX_V4);
            u32::from(v4) >> (32 - PREFIX_V4) == net
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.segments()[..4] == GATEWAY_V6.segments()[..4]
                || v6.is_unspecified()
                || v6.is_multicast()
        }
    }
}

/// The text of the `resolv.conf` laid over `/etc/resolv.conf` inside the namespace.
pub fn resolv_conf() -> String {
    format!(
        "# written by phonehome run --isolate: phonehome answers every DNS query\nnameserver {GATEWAY_V4}\noptions ndots:1\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_networks() {
        assert!(is_namespace_local("10.0.2.7".parse().expect("ip")));
        assert!(is_namespace_local("fd00:7068::9".parse().expect("ip")));
        assert!(is_namespace_local("0.0.0.0".parse().expect("ip")));
        assert!(!is_namespace_local("192.0.2.1".parse().expect("ip")));
        assert!(!is_namespace_local("2001:db8::1".parse().expect("ip")));
        assert!(is_gateway(IpAddr::V4(GATEWAY_V4)));
    }
}
