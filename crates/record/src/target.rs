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

/// Why an authority-form request target (`CONNECT host:port`) is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// Nothing before the port.
    #[error("no host")]
    EmptyHost,
    /// No `:port` after the host.
    #[error("no port (CONNECT names host:port)")]
    MissingPort,
    /// A port that is not a number from 1 to 65535.
    #[error("port {0:?} is not a number from 1 to 65535")]
    InvalidPort(String),
    /// Userinfo, a path or other characters an authority-form target cannot hold.
    #[error("not host:port")]
    Malformed,
}

impl Target {
    /// Parses the authority-form request target of CONNECT (`host:port`, `[v6]:port`; RFC
    /// 9110 §9.3.6, RFC 9112 §3.2.3): the port is required and must be 1 to 65535, the host
    /// non-empty; no userinfo.
    ///
    /// # Errors
    /// [`AuthorityError`] naming what is wrong.
    ///
    /// ```
    /// use phonehome_record::{AuthorityError, Target};
    /// assert_eq!(Target::parse_connect("[::1]:8443").map(|t| t.port), Ok(8443));
    /// assert_eq!(
    ///     Target::parse_connect("127.0.0.1:65536"),
    ///     Err(AuthorityError::InvalidPort("65536".into()))
    /// );
    /// assert_eq!(Target::parse_connect(":443"), Err(AuthorityError::EmptyHost));
    /// ```
    pub fn parse_connect(authority: &str) -> Result<Target, AuthorityError> {
        if authority.contains(['@', '/', '?', '#']) || authority.chars().any(char::is_whitespace) {
            return Err(AuthorityError::Malformed);
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or(AuthorityError::Malformed)?;
            let port = after.strip_prefix(':').ok_or(if after.is_empty() {
                AuthorityError::MissingPort
            } else {
                AuthorityError::Malformed
            })?;
            (host, port)
        } else {
            let (host, port) = authority
                .rsplit_once(':')
                .ok_or(AuthorityError::MissingPort)?;
            if host.contains(':') {
                // An IPv6 address must be bracketed in an authority.
                return Err(AuthorityError::Malformed);
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(AuthorityError::EmptyHost);
        }
        let number = port
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| port.parse::<u16>().ok())
            .flatten()
            .filter(|p| *p > 0);
        let Some(port) = number else {
            return Err(AuthorityError::InvalidPort(port.to_owned()));
        };
        Ok(Target {
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
    fn connect_authorities() {
        let ok = |a: &str| Target::parse_connect(a).map(|t| (t.host, t.port));
        assert_eq!(ok("a.test:443"), Ok(("a.test".into(), 443)));
        assert_eq!(ok("[fe80::1]:9"), Ok(("fe80::1".into(), 9)));
        assert_eq!(ok("a.test"), Err(AuthorityError::MissingPort));
        assert_eq!(ok("[::1]"), Err(AuthorityError::MissingPort));
        assert_eq!(ok(":80"), Err(AuthorityError::EmptyHost));
        assert_eq!(ok("[]:80"), Err(AuthorityError::EmptyHost));
        for port in ["0", "65536", "x", "", "+1", "-1"] {
            assert_eq!(
                ok(&format!("h.test:{port}")),
                Err(AuthorityError::InvalidPort(port.into()))
            );
        }
        for bad in ["u@h.test:1", "h.test:1/x", "fe80::1:443", "h test:1"] {
            assert_eq!(ok(bad), Err(AuthorityError::Malformed), "{bad}");
        }
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
