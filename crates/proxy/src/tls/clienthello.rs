//! Reading and parsing a TLS ClientHello (RFC 8446 §4.1.2), possibly split over several
//! records, before any TLS is terminated.

use tls_parser::{
    parse_tls_extensions, parse_tls_message_handshake, SNIType, TlsExtension, TlsMessage,
    TlsMessageHandshake,
};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest ClientHello phonehome accepts (all records together).
pub(crate) const MAX_CLIENT_HELLO: usize = 64 * 1024;

/// What phonehome needs from a ClientHello: routing (SNI, ALPN) and fingerprints (the rest,
/// in wire order, GREASE values included; the fingerprints drop them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// server_name (RFC 6066), the first host_name entry.
    pub sni: Option<String>,
    /// Whether a server_name extension was present at all.
    pub has_sni: bool,
    /// application_layer_protocol_negotiation (RFC 7301), in offer order.
    pub alpn: Vec<Vec<u8>>,
    /// supported_versions (RFC 8446 §4.2.1) without GREASE, else the legacy version.
    pub versions: Vec<u16>,
    /// legacy_version of the ClientHello body.
    pub legacy_version: u16,
    pub cipher_suites: Vec<u16>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// supported_groups (RFC 8446 §4.2.7).
    pub supported_groups: Vec<u16>,
    /// ec_point_formats (RFC 8422 §5.1.2).
    pub ec_point_formats: Vec<u8>,
    /// signature_algorithms (RFC 8446 §4.2.3), in order.
    pub signature_algorithms: Vec<u16>,
    /// The handshake records as received.
    pub raw: Vec<u8>,
}

/// Why bytes are not a usable ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    #[error("more bytes are needed")]
    Incomplete,
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
    #[error("ClientHello larger than {MAX_CLIENT_HELLO} bytes")]
    TooLarge,
    #[error("connection closed before the ClientHello was complete")]
    Closed,
    #[error("reading the ClientHello failed: {0}")]
    Io(String),
}

/// Parses a ClientHello from the start of `buf` (TLS records, handshake type 1).
///
/// # Errors
/// [`HelloError::Incomplete`] when `buf` ends before the ClientHello does, or
/// [`HelloError::Malformed`] / [`HelloError::TooLarge`].
pub fn parse_client_hello(buf: &[u8]) -> Result<ClientHello, HelloError> {
    let mut handshake = Vec::new();
    let mut pos = 0;
    while pos + 5 <= buf.len() {
        if buf[pos] != 0x16 {
            return Err(HelloError::Malformed("not a handshake record"));
        }
        let len = usize::from(u16::from_be_bytes([buf[pos + 3], buf[pos + 4]]));
        if len == 0 || len > 16384 {
            return Err(HelloError::Malformed("bad record length"));
        }
        let end = pos + 5 + len;
        if end > buf.len() {
            break;
        }
        handshake.extend_from_slice(&buf[pos + 5..end]);
        pos = end;
        if handshake.len() < 4 {
            continue;
        }
        if handshake[0] != 1 {
            return Err(HelloError::Malformed(
                "first handshake message is not a ClientHello",
            ));
        }
        let msg_len = (usize::from(handshake[1]) << 16)
            | (usize::from(handshake[2]) << 8)
            | usize::from(handshake[3]);
        if msg_len + 4 > MAX_CLIENT_HELLO {
            return Err(HelloError::TooLarge);
        }
        if handshake.len() >= msg_len + 4 {
            return decode(&handshake[..msg_len + 4], buf[..pos].to_vec());
        }
    }
    if buf.len() >= MAX_CLIENT_HELLO {
        return Err(HelloError::TooLarge);
    }
    Err(HelloError::Incomplete)
}

fn decode(message: &[u8], raw: Vec<u8>) -> Result<ClientHello, HelloError> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)))) =
        parse_tls_message_handshake(message)
    else {
        return Err(HelloError::Malformed("ClientHello does not parse"));
    };
    let mut out = ClientHello {
        raw,
        legacy_version: hello.version.0,
        cipher_suites: hello.ciphers.iter().map(|c| c.0).collect(),
        extensions: hello.ext.map(extension_types).unwrap_or_default(),
        ..ClientHello::default()
    };
    let extensions = match hello.ext {
        Some(ext) => {
            parse_tls_extensions(ext)
                .map_err(|_| HelloError::Malformed("extensions do not parse"))?
                .1
        }
        None => Vec::new(),
    };
    for extension in extensions {
        match extension {
            TlsExtension::SNI(names) => {
                out.has_sni = true;
                out.sni = names
                    .iter()
                    .find(|(kind, _)| *kind == SNIType::HostName)
                    .and_then(|(_, name)| std::str::from_utf8(name).ok())
                    .map(str::to_owned);
            }
            TlsExtension::ALPN(protocols) => {
                out.alpn = protocols.into_iter().map(<[u8]>::to_vec).collect();
            }
            TlsExtension::EllipticCurves(groups) => {
                out.supported_groups = groups.into_iter().map(|g| g.0).collect();
            }
            TlsExtension::EcPointFormats(formats) => out.ec_point_formats = formats.to_vec(),
            TlsExtension::SignatureAlgorithms(algorithms) => out.signature_algorithms = algorithms,
            TlsExtension::SupportedVersions(versions) => {
                out.versions = versions
                    .into_iter()
                    .map(|v| v.0)
                    .filter(|v| !is_grease(*v))
                    .collect();
            }
            _ => {}
        }
    }
    if out.versions.is_empty() {
        out.versions.push(hello.version.0);
    }
    Ok(out)
}

/// The type of every extension in an extensions block, in wire order.
fn extension_types(mut block: &[u8]) -> Vec<u16> {
    let mut types = Vec::new();
    while block.len() >= 4 {
        types.push(u16::from_be_bytes([block[0], block[1]]));
        let len = usize::from(u16::from_be_bytes([block[2], block[3]]));
        block = block.get(4 + len..).unwrap_or_default();
    }
    types
}

/// GREASE values (RFC 8701): 0x?a?a with equal bytes.
pub(crate) fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The name of a TLS protocol version.
pub(crate) fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLSv1.3".into(),
        0x0303 => "TLSv1.2".into(),
        0x0302 => "TLSv1.1".into(),
        0x0301 => "TLSv1.0".into(),
        0x0300 => "SSLv3".into(),
        other => format!("0x{other:04x}"),
    }
}

/// Reads from `io` after the bytes already in `buf` until a whole ClientHello is there.
pub(crate) async fn read_client_hello<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut Vec<u8>,
) -> Result<ClientHello, HelloError> {
    let mut chunk = [0u8; 4096];
    loop {
        match parse_client_hello(buf) {
            Err(HelloError::Incomplete) => {}
            other => return other,
        }
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| HelloError::Io(e.to_string()))?;
        if n == 0 {
            return Err(HelloError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal TLS 1.3 ClientHello with SNI "a.test" and ALPN h2, http/1.1.
    pub(crate) fn sample_hello() -> Vec<u8> {
        let mut ext = Vec::new();
        // server_name
        let name = b"a.test";
        let mut sni = Vec::new();
        sni.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        ext.extend_from_slice(&[0x00, 0x00]);
        ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sni);
        // ALPN
        let mut alpn = Vec::new();
        for p in [&b"h2"[..], b"http/1.1"] {
            alpn.push(p.len() as u8);
            alpn.extend_from_slice(p);
        }
        ext.extend_from_slice(&[0x00, 0x10]);
        ext.extend_from_slice(&((alpn.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(alpn.len() as u16).to_be_bytes());
        ext.extend_from_slice(&alpn);
        // supported_versions: GREASE, TLS 1.3, TLS 1.2
        ext.extend_from_slice(&[
            0x00, 0x2b, 0x00, 0x07, 0x06, 0x3a, 0x3a, 0x03, 0x04, 0x03, 0x03,
        ]);

        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]); // cipher suites
        body.extend_from_slice(&[0x01, 0x00]); // compression
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);

        let mut hs = vec![0x01];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut record = vec![0x16, 0x03, 0x01];
        record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        record.extend_from_slice(&hs);
        record
    }

    #[test]
    fn parses_sni_alpn_versions() {
        let hello = parse_client_hello(&sample_hello()).expect("parses");
        assert_eq!(hello.sni.as_deref(), Some("a.test"));
        assert_eq!(hello.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(hello.versions, vec![0x0304, 0x0303]);
        assert_eq!(hello.raw, sample_hello());
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let full = sample_hello();
        for n in 0..full.len() {
            assert_eq!(
                parse_client_hello(&full[..n]),
                Err(HelloError::Incomplete),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn split_across_records() {
        let full = sample_hello();
        let hs = &full[5..];
        let (a, b) = hs.split_at(10);
        let mut split = Vec::new();
        for part in [a, b] {
            split.extend_from_slice(&[0x16, 0x03, 0x01]);
            split.extend_from_slice(&(part.len() as u16).to_be_bytes());
            split.extend_from_slice(part);
        }
        let hello = parse_client_hello(&split).expect("parses");
        assert_eq!(hello.sni.as_deref(), Some("a.test"));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        assert!(matches!(
            parse_client_hello(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0]),
            Err(HelloError::Malformed(_))
        ));
        assert!(matches!(
            parse_client_hello(&[0x17, 0x03, 0x01, 0x00, 0x01, 0x00]),
            Err(HelloError::Malformed(_))
        ));
        let mut corrupt = sample_hello();
        corrupt[50] ^= 0xff;
        corrupt[60] ^= 0xff;
        let _ = parse_client_hello(&corrupt);
    }
}
