//! TLS client certificates for upstreams (`--client-cert HOST_GLOB=CERT.pem[,KEY.pem]`, as
//! mitmproxy's `client_certs`): which one an upstream gets, and, per handshake, whether the
//! upstream asked for one and what it got.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use phonehome_record::ClientCertUse;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

/// A client certificate and the upstream hosts it is presented to.
#[derive(Debug, Clone)]
pub struct ClientCert {
    hosts: globset::GlobMatcher,
    key: Arc<CertifiedKey>,
}

/// Failures loading a `--client-cert`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientCertError {
    #[error("{spec:?} is not HOST_GLOB=CERT.pem[,KEY.pem]")]
    Syntax { spec: String },
    #[error("invalid host pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("the key in {path} cannot be used with its certificate: {message}")]
    Key { path: PathBuf, message: String },
}

impl ClientCert {
    /// Parses `HOST_GLOB=CERT.pem[,KEY.pem]` and loads the certificate chain (leaf first) and
    /// its private key, from KEY.pem or else from CERT.pem. The glob matches host names
    /// without regard to case (`*.corp.example`, `api.internal`).
    ///
    /// # Errors
    /// [`ClientCertError`] naming the part or the file that cannot be used.
    pub fn load(spec: &str) -> Result<ClientCert, ClientCertError> {
        let syntax = || ClientCertError::Syntax {
            spec: spec.to_owned(),
        };
        let (pattern, files) = spec.split_once('=').ok_or_else(syntax)?;
        let (cert_path, key_path) = match files.split_once(',') {
            Some((cert, key)) => (Path::new(cert), Path::new(key)),
            None => (Path::new(files), Path::new(files)),
        };
        if pattern.is_empty() || cert_path.as_os_str().is_empty() {
            return Err(syntax());
        }
        let hosts = globset::GlobBuilder::new(pattern)
            .case_insensitive(true)
            .literal_separator(false)
            .build()
            .map_err(|e| ClientCertError::Pattern {
                pattern: pattern.to_owned(),
                message: e.kind().to_string(),
            })?
            .compile_matcher();
        let chain = read_chain(cert_path)?;
        let key = read_key(key_path)?;
        let key = certified_key(chain, key).map_err(|message| ClientCertError::Key {
            path: key_path.to_owned(),
            message,
        })?;
        Ok(ClientCert {
            hosts,
            key: Arc::new(key),
        })
    }

    fn matches(&self, host: &str) -> bool {
        self.hosts.is_match(host)
    }
}

/// The chain with its signing key, once the key is known to belong to the leaf: their public
/// keys (SubjectPublicKeyInfo, RFC 5280 §4.1.2.7) are compared. The leaf is read as X.509 of
/// any version, v1 included (what `openssl x509 -req -CA …` makes by default), as curl and
/// nginx accept it; the upstream judges the certificate, not phonehome.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, String> {
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| e.to_string())?;
    let leaf = chain.first().ok_or("no certificate")?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| format!("the certificate does not parse: {e}"))?;
    let cert_spki = parsed.tbs_certificate.subject_pki.raw;
    match signing_key.public_key() {
        Some(key_spki) if key_spki.as_ref() != cert_spki => {
            return Err("the private key does not belong to the certificate".to_owned());
        }
        // A key type whose public key rustls cannot derive: nothing to compare with.
        Some(_) | None => {}
    }
    Ok(CertifiedKey::new(chain, signing_key))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientCertError> {
    let read = |e: rustls::pki_types::pem::Error| ClientCertError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if chain.is_empty() {
        return Err(ClientCertError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ClientCertError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => ClientCertError::NoKey {
            path: path.to_owned(),
        },
        e => ClientCertError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        },
    })
}

/// The client certificate of one handshake with `host` (the first `--client-cert` whose glob
/// matches), and what became of the upstream's request for one, if it made one.
#[derive(Debug)]
pub(crate) struct ClientAuth {
    key: Option<Arc<CertifiedKey>>,
    used: Mutex<Option<ClientCertUse>>,
}

impl ClientAuth {
    pub(crate) fn for_host(certs: &[ClientCert], host: &str) -> Self {
        Self {
            key: certs
                .iter()
                .find(|c| c.matches(host))
                .map(|c| c.key.clone()),
            used: Mutex::new(None),
        }
    }

    /// `None` when the upstream did not ask for a client certificate.
    pub(crate) fn used(&self) -> Option<ClientCertUse> {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResolvesClientCert for ClientAuth {
    /// Called by rustls when the upstream sends a CertificateRequest.
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let usable = self
            .key
            .clone()
            .filter(|key| key.key.choose_scheme(sigschemes).is_some());
        *self.used.lock().unwrap_or_else(|e| e.into_inner()) = Some(match usable {
            Some(_) => ClientCertUse::Presented,
            None => ClientCertUse::Missing,
        });
        usable
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}
