//! The phonehome interception core: the local CA, the listener, first-bytes sniffing,
//! ClientHello parsing, TLS interception, the HTTP engine, the upstream dialer, the recorder
//! and the environment for launched children.
//!
//! ```text
//! listener ─ CONNECT / absolute-form ─ tunnel ─ sniff ─┬─ TLS: ClientHello → upstream TLS → leaf → HTTP engine
//!                                                      ├─ HTTP: HTTP engine
//!                                                      └─ other: byte relay
//! HTTP engine ─ tee ─ recorder thread ─ capture file
//! ```
//!
//! The rooms, in the order a connection walks them (docs/architecture.md draws the path):
//! [`listener`] (accept loop, proxy protocol), [`attribution`] (which process), [`tunnel`]
//! (sniff, TLS interception, relay), [`http`] (engine, sinkhole, flows, tee), [`dial`] (dialer,
//! upstream proxy, upstream TLS), [`tls`] (ClientHello, fingerprints, CA, trust, verification),
//! [`recorder`] (the writer thread). Shared by all: [`config`], [`context`], [`connection`],
//! [`enforce`], [`observe`]; [`launch`] is the environment of a launched child.
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod attribution;
mod config;
mod connection;
mod context;
mod dial;
mod enforce;
mod http;
mod launch;
mod listener;
mod observe;
mod recorder;
mod tls;
mod tunnel;

pub use attribution::{Attribution, Attributor, Lineage};
pub use config::{ProxyConfig, DEFAULT_HEAD_TIMEOUT, DEFAULT_SINKHOLE_WAIT};
pub use dial::dialer::DEFAULT_CONNECT_TIMEOUT;
pub use dial::error::DialError;
pub use dial::upstream_proxy::UpstreamProxy;
pub use enforce::Enforcer;
pub use launch::{child_env, write_ca_bundle, PROXY_USER};
pub use listener::{Proxy, ProxyError, ProxyHandle};
pub use phonehome_record::SinkholeMode;
pub use recorder::{
    check_spool_dir, BlockedSummary, CaptureSummary, Failure, HostSummary, RecordTap, Recorder,
    RecorderOptions, RecorderTask, DEFAULT_BUDGET, DEFAULT_MAX_BODY,
};
pub use tls::ca::{CaDescription, CaError, CertificateAuthority, LEAF_REUSE, LEAF_VALIDITY};
pub use tls::client_cert::{ClientCert, ClientCertError};
pub use tls::clienthello::{parse_client_hello, ClientHello, HelloError};
pub use tls::fingerprint::{fingerprints, Fingerprints};
pub use tls::trust::{read_pem_certs, TrustError};

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses bytes as a ClientHello and fingerprints whatever parses.
    pub fn client_hello(data: &[u8]) {
        if let Ok(hello) = crate::tls::clienthello::parse_client_hello(data) {
            let _ = crate::tls::fingerprint::fingerprints(&hello);
        }
    }

    /// Classifies bytes as a tunnel's first bytes.
    pub fn sniff(data: &[u8]) {
        let _ = crate::tunnel::sniff::classify(data);
    }

    /// Feeds bytes, in pieces cut where the first byte says, to the HTTP/1 head tap.
    pub fn http1_heads(data: &[u8]) {
        let mut parser = crate::http::headtap::Parser::new(crate::http::headtap::Heads::default());
        for piece in pieces(data) {
            parser.feed(piece);
        }
    }

    /// Feeds bytes after the HTTP/2 preface, in pieces, to the HTTP/2 head tap (HPACK).
    pub fn http2_heads(data: &[u8]) {
        let mut parser =
            crate::http::headtap::H2Parser::new(crate::http::headtap::Heads::default());
        parser.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        for piece in pieces(data) {
            parser.feed(piece);
        }
    }

    /// Feeds bytes, in pieces, to the WebSocket frame parser (client to server: masked).
    pub fn websocket_frames(data: &[u8]) {
        let mut parser =
            crate::http::websocket::FrameParser::new(phonehome_record::Direction::Up, 64 * 1024);
        for piece in pieces(data) {
            let _ = parser.feed(piece);
        }
    }

    /// Parses text as CONNECT's authority-form target.
    pub fn connect_authority(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = phonehome_record::Target::parse_connect(text);
        }
    }

    /// `data` cut into pieces of the length its first byte gives (1 to 256): parsers that
    /// keep state across reads are fed as a socket would feed them.
    fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
        let size = data.first().map_or(1, |b| usize::from(*b) + 1);
        data.get(1..).unwrap_or_default().chunks(size)
    }
}
