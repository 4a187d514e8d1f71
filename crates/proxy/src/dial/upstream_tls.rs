//! The TLS handshake with an upstream, verified as a client would verify it: a rustls client
//! config per ALPN list (so sessions are resumed across connections) with the
//! [`UpstreamVerifier`], the client certificate of the host ([`ClientAuth`]), a tap on the
//! first bytes each way (the ClientHello phonehome sent, for its fingerprints; the upstream's
//! ServerHello, for its version), and a failure told in the words of [`crate::tls::failure`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phonehome_record::{ClientCertUse, Phase};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tls_parser::{TlsMessage, TlsMessageHandshake, TlsRecordType};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::dial::error::DialError;
use crate::observe::{Observed, Observer};
use crate::tls::client_cert::{ClientAuth, ClientCert};
use crate::tls::failure::{self, Seen};
use crate::tls::fingerprint::Fingerprints;
use crate::tls::trust::Trust;
use crate::tls::verify::UpstreamVerifier;

/// A TLS stream to an upstream.
pub(crate) type UpstreamStream = TlsStream<Observed<TcpStream, HandshakeTap>>;

/// How phonehome speaks TLS to upstreams.
pub(crate) struct UpstreamTls {
    verifier: Arc<UpstreamVerifier>,
    client_certs: Vec<ClientCert>,
    /// Client configs per ALPN list; each handshake gets a copy with its own [`ClientAuth`],
    /// sharing the session store.
    configs: Mutex<HashMap<Vec<Vec<u8>>, Arc<ClientConfig>>>,
}

/// A finished handshake.
pub(crate) struct Handshaken {
    pub stream: UpstreamStream,
    /// Fingerprints of the ClientHello phonehome sent (they differ from the client's:
    /// phonehome presents its own TLS stack upstream).
    pub prints: Option<Fingerprints>,
    /// Set when the upstream asked for a client certificate.
    pub client_cert: Option<ClientCertUse>,
}

impl UpstreamTls {
    pub(crate) fn new(trust: &Trust, client_certs: Vec<ClientCert>) -> Self {
        Self {
            verifier: Arc::new(UpstreamVerifier::new(trust)),
            client_certs,
            configs: Mutex::new(HashMap::new()),
        }
    }

    /// Runs the TLS handshake with the upstream over `stream`, offering `alpn`, verifying
    /// `server_name`, within `timeout`.
    pub(crate) async fn handshake(
        &self,
        stream: TcpStream,
        server_name: &str,
        alpn: &[Vec<u8>],
        timeout: Duration,
    ) -> Result<Handshaken, DialError> {
        let bare = server_name.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare.to_owned()).map_err(|_| {
            DialError::new(
                Phase::TlsUpstream,
                format!("{server_name:?} is not a valid TLS server name"),
            )
        })?;
        let auth = Arc::new(ClientAuth::for_host(&self.client_certs, bare));
        let connector = tokio_rustls::TlsConnector::from(self.config(alpn, auth.clone()));
        let tapped = Observed::new(stream, HandshakeTap::default());
        let handshake = connector.connect(name, tapped).into_fallible();
        let failed = |message: String| {
            DialError::new(
                Phase::TlsUpstream,
                format!("TLS handshake with {server_name} failed: {message}"),
            )
        };
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(mut tls)) => {
                let sent = tls.get_mut().0.observer_mut().finish();
                let prints = crate::tls::clienthello::parse_client_hello(&sent)
                    .ok()
                    .map(|hello| crate::tls::fingerprint::fingerprints(&hello));
                Ok(Handshaken {
                    stream: tls,
                    prints,
                    client_cert: auth.used(),
                })
            }
            Ok(Err((e, mut io))) => {
                let seen = Seen {
                    server_version: io.observer_mut().server_version(),
                    client_cert: auth.used(),
                };
                Err(failed(match failure::rustls_error(&e) {
                    Some(tls) => failure::describe(tls, seen, bare),
                    None => e.to_string(),
                }))
            }
            Err(_) => Err(DialError::new(
                Phase::Timeout,
                format!("TLS handshake with {server_name} timed out"),
            )),
        }
    }

    fn config(&self, alpn: &[Vec<u8>], auth: Arc<ClientAuth>) -> Arc<ClientConfig> {
        let mut configs = self.configs.lock().unwrap_or_else(|e| e.into_inner());
        let shared = configs.entry(alpn.to_vec()).or_insert_with(|| {
            let mut config = ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(self.verifier.clone())
                .with_no_client_auth();
            config.alpn_protocols = alpn.to_vec();
            Arc::new(config)
        });
        let mut config = ClientConfig::clone(shared);
        config.client_auth_cert_resolver = auth;
        Arc::new(config)
    }
}

/// Keeps the first bytes written to a stream (the ClientHello phonehome sends upstream) and
/// the first bytes read (the upstream's ServerHello) until they are taken.
#[derive(Default)]
pub(crate) struct HandshakeTap {
    sent: Vec<u8>,
    received: Vec<u8>,
    /// Set once the handshake is over: nothing more is kept.
    done: bool,
}

/// Enough for any ClientHello phonehome's TLS stack sends.
const MAX_SENT: usize = 16 * 1024;
/// Enough for the first record header and a ServerHello.
const MAX_RECEIVED: usize = 1024;

impl HandshakeTap {
    /// The TLS version the upstream answered with: its ServerHello's (RFC 5246 §7.4.1.3), or,
    /// when its first record is an alert, that record's version (a server that speaks only
    /// TLS 1.0 refuses rustls's ClientHello with a TLS 1.0 alert record).
    fn server_version(&self) -> Option<u16> {
        let (fragment, header) = tls_parser::parse_tls_record_header(&self.received).ok()?;
        if header.record_type == TlsRecordType::Alert {
            return Some(header.version.0);
        }
        if header.record_type != TlsRecordType::Handshake {
            return None;
        }
        match tls_parser::parse_tls_message_handshake(fragment).ok()?.1 {
            TlsMessage::Handshake(TlsMessageHandshake::ServerHello(hello)) => Some(hello.version.0),
            _ => None,
        }
    }

    /// The ClientHello bytes sent; nothing is kept from now on.
    fn finish(&mut self) -> Vec<u8> {
        self.done = true;
        self.received = Vec::new();
        std::mem::take(&mut self.sent)
    }
}

impl Observer for HandshakeTap {
    fn read(&mut self, bytes: &[u8]) {
        if self.done {
            return;
        }
        let take = bytes
            .len()
            .min(MAX_RECEIVED.saturating_sub(self.received.len()));
        self.received.extend_from_slice(&bytes[..take]);
    }

    fn wrote(&mut self, bufs: &[std::io::IoSlice<'_>], mut n: usize) {
        if self.done {
            return;
        }
        for buf in bufs {
            let take = buf
                .len()
                .min(n)
                .min(MAX_SENT.saturating_sub(self.sent.len()));
            self.sent.extend_from_slice(&buf[..take]);
            n -= buf.len().min(n);
            if n == 0 {
                return;
            }
        }
    }
}
