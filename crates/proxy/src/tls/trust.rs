//! Upstream TLS trust: the system's roots plus the `--extra-ca` PEM files. A certificate the
//! client would reject is rejected upstream too; phonehome never hides it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Failures building the upstream TLS trust.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    #[error("cannot read extra CA file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    Empty { path: PathBuf },
    #[error("certificate in {path} is not usable as a trust anchor: {message}")]
    Anchor { path: PathBuf, message: String },
    #[error("invalid upstream proxy {url:?}: {why}")]
    Proxy { url: String, why: &'static str },
}

/// What upstream TLS trusts: the system's roots plus the `--extra-ca` certificates, and those
/// certificates themselves, which a server may present as its own (see [`crate::tls::verify`]).
pub(crate) struct Trust {
    pub roots: Arc<RootCertStore>,
    /// Every certificate of the `--extra-ca` files, as DER.
    pub extra: Vec<CertificateDer<'static>>,
}

/// The system's trusted roots plus the certificates in `extra` (PEM files).
///
/// # Errors
/// [`TrustError`] naming the extra file that cannot be read or used.
pub(crate) fn load_trust(extra: &[PathBuf]) -> Result<Trust, TrustError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system root this TLS stack cannot use is skipped, as a browser would.
        let _ = roots.add(cert);
    }
    let mut certs = Vec::new();
    for path in extra {
        for cert in read_pem_certs(path)? {
            roots.add(cert.clone()).map_err(|e| TrustError::Anchor {
                path: path.clone(),
                message: e.to_string(),
            })?;
            certs.push(cert);
        }
    }
    Ok(Trust {
        roots: Arc::new(roots),
        extra: certs,
    })
}

/// The system roots as DER, for writing a CA bundle for clients.
pub fn system_roots_der() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

/// Reads every certificate of a PEM file.
///
/// # Errors
/// [`TrustError::Read`] or [`TrustError::Empty`].
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let text = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs: Vec<_> = pem::parse_many(&text)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| CertificateDer::from(p.into_contents()))
        .collect();
    if certs.is_empty() {
        return Err(TrustError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}
