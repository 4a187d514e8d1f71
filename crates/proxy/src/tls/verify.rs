//! Which upstream certificates phonehome accepts: what webpki accepts against the trust roots
//! of [`crate::tls::trust`], and, as OpenSSL-based clients (curl, Python, Node) accept it, a
//! certificate byte-identical to one the user trusted with `--extra-ca`, its validity period
//! and names still checked. A chain that is not trusted is rejected saying why
//! ([`NotTrusted`]), for the words of [`crate::tls::failure`].

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::tls::trust::Trust;

/// Why an upstream certificate's chain is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotTrusted {
    /// It is its own issuer and is not among the trusted certificates.
    #[error("self-signed")]
    SelfSigned,
    /// Its issuer (the distinguished name) is not among the trusted roots.
    #[error("unknown issuer {0}")]
    UnknownIssuer(String),
    /// A CA certificate presented as the server's own.
    #[error("a CA certificate presented as a server certificate")]
    CaAsServer,
}

/// webpki's verdict, with `--extra-ca` certificates accepted as server certificates.
#[derive(Debug)]
pub(crate) struct UpstreamVerifier {
    /// `None` when there is no trusted root at all (no system roots, no `--extra-ca`): then
    /// every chain is rejected.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The `--extra-ca` certificates, as DER.
    pinned: Vec<CertificateDer<'static>>,
    /// The signature algorithms handshake signatures are verified with.
    algorithms: WebPkiSupportedAlgorithms,
}

impl UpstreamVerifier {
    /// A verifier over `trust`, with the algorithms of rustls's ring provider.
    pub(crate) fn new(trust: &Trust) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let webpki = WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), provider)
            .build()
            .ok();
        Self {
            webpki,
            pinned: trust.extra.clone(),
            algorithms,
        }
    }
}

impl ServerCertVerifier for UpstreamVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verdict = match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(CertificateError::UnknownIssuer.into()),
        };
        let Err(e) = verdict else {
            return verdict;
        };
        if !is_chain_error(&e) {
            return Err(e);
        }
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return verify_pinned(end_entity, server_name, now);
        }
        Err(not_trusted(end_entity, &e).map_or(e, |why| {
            Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(why))))
        }))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether webpki rejected the certificate for its chain (no path to a trusted root), rather
/// than for its names, its validity period or its encoding.
fn is_chain_error(e: &Error) -> bool {
    let Error::InvalidCertificate(e) = e else {
        return false;
    };
    match e {
        CertificateError::UnknownIssuer
        | CertificateError::BadSignature
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => true,
        CertificateError::Other(other) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity | webpki::Error::UnknownIssuer)
        ),
        _ => false,
    }
}

/// Why the chain of `end_entity`, rejected by webpki with `e`, is not trusted, when it can be
/// said better than `e` says it.
fn not_trusted(end_entity: &CertificateDer<'_>, e: &Error) -> Option<NotTrusted> {
    let (_, cert) = X509Certificate::from_der(end_entity.as_ref()).ok()?;
    if cert.subject().as_raw() == cert.issuer().as_raw() {
        return Some(NotTrusted::SelfSigned);
    }
    match e {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            Some(NotTrusted::UnknownIssuer(cert.issuer().to_string()))
        }
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => Some(NotTrusted::CaAsServer),
                Some(webpki::Error::UnknownIssuer) => {
                    Some(NotTrusted::UnknownIssuer(cert.issuer().to_string()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A certificate the user trusted itself: valid now and issued for `server_name`.
fn verify_pinned(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, Error> {
    check_validity(end_entity, now)?;
    let parsed = ParsedCertificate::try_from(end_entity)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    Ok(ServerCertVerified::assertion())
}

/// The certificate's validity period (RFC 5280 §4.1.2.5) holds `now`.
fn check_validity(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), Error> {
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let at = |seconds: i64| {
        UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
    };
    let validity = cert.validity();
    let time = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if time < validity.not_before.timestamp() {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: at(validity.not_before.timestamp()),
        }
        .into());
    }
    if time > validity.not_after.timestamp() {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: at(validity.not_after.timestamp()),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
