//! The upstream dialer: resolve, connect (directly or through an upstream proxy's CONNECT),
//! and hand the connection to [`crate::dial::upstream_tls`] for a TLS handshake verified as a client
//! would verify it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use phonehome_record::{Phase, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dial::error::DialError;
use crate::dial::upstream_proxy::UpstreamProxy;
use crate::dial::upstream_tls::{Handshaken, UpstreamTls};

/// Default time allowed for DNS plus TCP connect.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens connections to upstreams.
pub(crate) struct Dialer {
    connect_timeout: Duration,
    proxy: Option<UpstreamProxy>,
    tls: UpstreamTls,
    /// Host names dialled at a fixed address, without DNS or the upstream proxy.
    aliases: Mutex<HashMap<String, std::net::IpAddr>>,
}

/// A TCP connection to an upstream (or to the upstream proxy, tunnelled to it).
pub(crate) struct Dialed {
    pub stream: TcpStream,
    pub peer: SocketAddr,
}

impl Dialer {
    pub(crate) fn new(
        connect_timeout: Duration,
        proxy: Option<UpstreamProxy>,
        tls: UpstreamTls,
    ) -> Self {
        Self {
            connect_timeout,
            proxy,
            tls,
            aliases: Mutex::new(HashMap::new()),
        }
    }

    /// Dials `host` at `ip` from now on, without DNS or the upstream proxy.
    pub(crate) fn alias(&self, host: &str, ip: std::net::IpAddr) {
        self.aliases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_ascii_lowercase(), ip);
    }

    fn aliased(&self, host: &str) -> Option<std::net::IpAddr> {
        let aliases = self.aliases.lock().unwrap_or_else(|e| e.into_inner());
        aliases.get(&host.to_ascii_lowercase()).copied()
    }

    pub(crate) fn proxy(&self) -> Option<&UpstreamProxy> {
        self.proxy.as_ref()
    }

    /// Connects to `target`, through the upstream proxy when one is set.
    pub(crate) async fn connect(&self, target: &Target) -> Result<Dialed, DialError> {
        if let Some(ip) = self.aliased(&target.host) {
            return self
                .connect_to(target, SocketAddr::new(ip, target.port))
                .await;
        }
        let attempt = async {
            match &self.proxy {
                Some(proxy) if !proxy.bypasses(&target.host) => connect_via(proxy, target).await,
                _ => connect_direct(&target.host, target.port).await,
            }
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(DialError::new(
                Phase::Timeout,
                format!(
                    "connecting to {target} timed out after {} ms",
                    self.connect_timeout.as_millis()
                ),
            )),
        }
    }

    /// Connects to `addr`, the address a client connected to for `target`: directly, or through
    /// the upstream proxy (by `target`) when one is set, `target` does not bypass it and
    /// `addr` is not loopback.
    pub(crate) async fn connect_to(
        &self,
        target: &Target,
        addr: SocketAddr,
    ) -> Result<Dialed, DialError> {
        let attempt = async {
            match &self.proxy {
                Some(proxy) if !proxy.bypasses(&target.host) && !addr.ip().is_loopback() => {
                    connect_via(proxy, target).await
                }
                _ => connect_addr(addr, target).await,
            }
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(DialError::new(
                Phase::Timeout,
                format!(
                    "connecting to {target} ({addr}) timed out after {} ms",
                    self.connect_timeout.as_millis()
                ),
            )),
        }
    }

    /// Runs the TLS handshake with the upstream over `stream`, offering `alpn`, verifying
    /// `server_name` (see [`UpstreamTls::handshake`]).
    pub(crate) async fn tls(
        &self,
        stream: TcpStream,
        server_name: &str,
        alpn: &[Vec<u8>],
    ) -> Result<Handshaken, DialError> {
        self.tls
            .handshake(stream, server_name, alpn, self.connect_timeout)
            .await
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, DialError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| DialError::new(Phase::Dns, format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(DialError::new(
            Phase::Dns,
            format!("cannot resolve {host}: no addresses"),
        ));
    }
    Ok(addrs)
}

async fn connect_addr(addr: SocketAddr, target: &Target) -> Result<Dialed, DialError> {
    match TcpStream::connect(addr).await {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            Ok(Dialed { stream, peer: addr })
        }
        Err(e) => Err(DialError::new(
            Phase::Connect,
            format!("cannot connect to {target} ({addr}): {e}"),
        )),
    }
}

async fn connect_direct(host: &str, port: u16) -> Result<Dialed, DialError> {
    let addrs = resolve(host, port).await?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(Dialed { stream, peer: addr });
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.expect("resolve returns at least one address");
    Err(DialError::new(
        Phase::Connect,
        format!("cannot connect to {host} ({addr}): {e}"),
    ))
}

/// Most bytes of an upstream proxy's CONNECT response head phonehome reads.
const MAX_PROXY_HEAD: usize = 16 * 1024;

async fn connect_via(proxy: &UpstreamProxy, target: &Target) -> Result<Dialed, DialError> {
    let mut dialed = connect_direct(&proxy.host, proxy.port).await.map_err(|e| {
        DialError::new(
            e.phase,
            format!("upstream proxy {}: {}", proxy.display(), e.message),
        )
    })?;
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = &proxy.credentials {
        head.push_str(&format!(
            "Proxy-Authorization: {}\r\n",
            basic_authorization(credentials)
        ));
    }
    head.push_str("\r\n");
    let io_error = |e: std::io::Error| {
        DialError::new(
            Phase::Connect,
            format!("upstream proxy {}: {e}", proxy.display()),
        )
    };
    dialed
        .stream
        .write_all(head.as_bytes())
        .await
        .map_err(io_error)?;
    // Read byte by byte up to the blank line, so no tunnelled byte is consumed.
    let mut response = Vec::with_capacity(256);
    while !response.ends_with(b"\r\n\r\n") {
        if response.len() >= MAX_PROXY_HEAD {
            return Err(DialError::new(
                Phase::Connect,
                format!(
                    "upstream proxy {} sent an oversized response",
                    proxy.display()
                ),
            ));
        }
        let byte = dialed.stream.read_u8().await.map_err(io_error)?;
        response.push(byte);
    }
    match connect_status(&response) {
        Ok(200) => Ok(dialed),
        Ok(_) | Err(_) => {
            let head = String::from_utf8_lossy(&response);
            let status_line = head.lines().next().unwrap_or_default();
            Err(DialError::new(
                Phase::Connect,
                format!(
                    "upstream proxy {} refused CONNECT {target}: {status_line}",
                    proxy.display()
                ),
            ))
        }
    }
}

/// The status code of an upstream proxy's answer to CONNECT (RFC 9110 §9.3.6), parsed with
/// httparse.
fn connect_status(head: &[u8]) -> Result<u16, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(head)?;
    Ok(response.code.unwrap_or(0))
}

/// The `Basic` credentials of `user:password` (RFC 7617), as `Proxy-Authorization` carries them.
pub(crate) fn basic_authorization(user_password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_answers() {
        assert_eq!(
            connect_status(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Ok(200)
        );
        assert_eq!(
            connect_status(
                b"HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"
            ),
            Ok(407)
        );
        assert!(connect_status(b"SSH-2.0-x\r\n\r\n").is_err());
    }
}
