//! Where a connection goes: [`Target`] (host and port), the one parser of an authority
//! (`[userinfo@]host[:port]`, RFC 3986 §3.2) and the one definition of which hosts mean
//! this machine (loopback). Policy, proxy, analysis and viewer all use these.

use serde::{Deserialize, Serialize};

/// A host and port, as the client asked for them. An IPv6 host is kept without brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Parses an authority (`[userinfo@]host[:port]`, RFC 3986 §3.2); `default_port` when it
    /// names none. `None` when the host is empty.
    ///
    /// ```
    /// use phonehome_record::Target;
    /// let t = Target::from_authority("user@[::1]:8443", 443).expect("a host");
    /// assert_eq!((t.host.as_str(), t.port), ("::1", 8443));
    /// assert_eq!(Target::from_authority("api.test", 443).map(|t| t.port), Some(443));
    /// ```
    pub fn from_authority(authority: &str, default_port: u16) -> Option<Target> {
        let (host, port) = split_authority(authority, default_port);
        (!host.is_empty()).then(|| Target {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Splits an authority (`[userinfo@]host[:port]`) into host (IPv6 without brackets) and port,
/// without copying; `default_port` when it names none or names one that is not a number.
///
/// ```
/// use phonehome_record::split_authority;
/// assert_eq!(split_authority("a.test:8080", 80), ("a.test", 8080));
/// assert_eq!(split_authority("[::1]", 443), ("::1", 443));
/// ```
pub fn split_authority(authority: &str, default_port: u16) -> (&str, u16) {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (host, port.unwrap_or(default_port));
    }
    match authority.rsplit_once(':') {
        // One colon: host and port. More: an IPv6 address without brackets.
        Some((host, port)) if !host.contains(':') => match port.parse::<u16>() {
            Ok(port) => (host, port),
            Err(_) => (authority, default_port),
        },
        _ => (authority, default_port),
    }
}

/// The name under which `run --isolate --isolate-host-loopback` lets the isolated command reach
/// this machine's loopback.
pub const HOST_LOOPBACK_NAME: &str = "host.phonehome.internal";

/// Host globs (policy syntax) that mean this machine; [`is_loopback`] answers the same.
pub const LOOPBACK_HOSTS: [&str; 6] = [
    "localhost",
    "*.localhost",
    "127.*",
    "::1",
    "[::1]",
    HOST_LOOPBACK_NAME,
];

/// Whether `host` means this machine: `localhost` and its subdomains (RFC 6761 §6.3), a
/// loopback address (IPv4 127.0.0.0/8, IPv6 `::1`, bracketed or not), or
/// [`HOST_LOOPBACK_NAME`].
///
/// ```
/// use phonehome_record::is_loopback;
/// assert!(is_loopback("127.0.0.2") && is_loopback("[::1]") && is_loopback("a.localhost"));
/// assert!(is_loopback("host.phonehome.internal") && !is_loopback("api.test"));
/// ```
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == HOST_LOOPBACK_NAME
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(split_authority("u:p@h.test:81", 80), ("h.test", 81));
        assert_eq!(split_authority("h.test:x", 80), ("h.test:x", 80));
        assert_eq!(split_authority("[fe80::1]:9", 80), ("fe80::1", 9));
        assert_eq!(split_authority("fe80::1", 80), ("fe80::1", 80));
        assert_eq!(Target::from_authority(":80", 80), None);
        assert_eq!(Target::from_authority("[]:80", 80), None);
    }

    #[test]
    fn loopback_list_and_predicate_agree() {
        for host in [
            "localhost",
            "x.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        assert!(is_loopback(HOST_LOOPBACK_NAME));
        for host in ["localhost.test", "128.0.0.1", "::2", "api.test"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
