//! Why a TLS connection with an upstream failed, in words: the one owner of the mapping from a
//! rustls error, and what the handshake saw (the server's TLS version, a request for a client
//! certificate), to the message of a `tls_upstream` error record. Messages name the reason
//! ("not trusted (self-signed)", "expired on …", "upstream offers only TLS 1.0"), never a
//! rustls variant name alone.

use phonehome_record::ClientCertUse;
use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError, Error, PeerIncompatible};

use crate::tls::clienthello::version_name;
use crate::tls::verify::NotTrusted;

/// What a handshake with an upstream saw besides its error.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    /// The TLS version the upstream answered with (its ServerHello's, or the record version
    /// of the alert it answered with), when known.
    pub server_version: Option<u16>,
    /// Set when the upstream asked for a client certificate.
    pub client_cert: Option<ClientCertUse>,
}

/// Why the TLS connection with `host` failed with `e`.
pub(crate) fn describe(e: &Error, seen: Seen, host: &str) -> String {
    if seen.client_cert == Some(ClientCertUse::Missing) {
        if let Error::AlertReceived(alert) = e {
            return format!(
                "{}; it then refused the connection ({})",
                missing_client_cert(host),
                alert_name(*alert)
            );
        }
    }
    match e {
        Error::InvalidCertificate(e) => certificate(e),
        Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13)
        | Error::AlertReceived(AlertDescription::ProtocolVersion) => versions(seen.server_version),
        Error::AlertReceived(
            AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity,
        ) if seen.server_version.is_some_and(|v| v < 0x0303) => versions(seen.server_version),
        Error::AlertReceived(alert) => {
            format!("upstream refused the handshake ({})", alert_name(*alert))
        }
        e => e.to_string(),
    }
}

/// The upstream `host` asked for a client certificate and phonehome had none for it.
pub(crate) fn missing_client_cert(host: &str) -> String {
    format!("upstream asked for a client certificate and none was configured for {host} (--client-cert)")
}

/// The TLS error inside an I/O error (a handshake's, or one read by hyper), if any.
pub(crate) fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Error> {
    let mut source = Some(e);
    while let Some(e) = source {
        if let Some(tls) = e.downcast_ref::<Error>() {
            return Some(tls);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
                return Some(tls);
            }
        }
        source = e.source();
    }
    None
}

/// An upstream that refused TLS 1.2 and 1.3: by the version it answered with when known, else
/// by the protocol_version alert (RFC 8446 §4.1.3: the server supports neither offered version).
fn versions(server_version: Option<u16>) -> String {
    const LIMIT: &str = "phonehome's TLS stack (rustls) speaks TLS 1.2 and 1.3 only";
    match server_version {
        Some(version) if version < 0x0303 => format!(
            "upstream offers only {}; {LIMIT}",
            old_version_name(version)
        ),
        _ => format!(
            "upstream offers only TLS 1.0 or 1.1 (it refused TLS 1.2 and 1.3 with alert \
             protocol_version); {LIMIT}"
        ),
    }
}

/// A version before TLS 1.2, as people say it (`TLS 1.0`).
fn old_version_name(version: u16) -> String {
    match version {
        0x0300 => "SSL 3.0".to_owned(),
        0x0301 => "TLS 1.0".to_owned(),
        0x0302 => "TLS 1.1".to_owned(),
        other => version_name(other),
    }
}

fn certificate(e: &CertificateError) -> String {
    match e {
        CertificateError::Other(other) => match other.0.downcast_ref::<NotTrusted>() {
            Some(why) => format!("the certificate is not trusted ({why})"),
            None => format!("the certificate is rejected: {other}"),
        },
        CertificateError::UnknownIssuer => {
            "the certificate is not trusted (unknown issuer)".to_owned()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let names = match presented.is_empty() {
                true => "none".to_owned(),
                false => presented
                    .iter()
                    .map(|name| presented_name(name))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            format!(
                "the certificate is for other names: {names} (not {})",
                expected.to_str()
            )
        }
        CertificateError::NotValidForName => "the certificate is for other names".to_owned(),
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("the certificate expired on {}", date(*not_after))
        }
        CertificateError::Expired => "the certificate expired".to_owned(),
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("the certificate is not valid before {}", date(*not_before))
        }
        CertificateError::NotValidYet => "the certificate is not valid yet".to_owned(),
        CertificateError::Revoked => "the certificate is revoked".to_owned(),
        CertificateError::BadSignature => "the certificate's signature is invalid".to_owned(),
        e => format!("the certificate is rejected: {e}"),
    }
}

/// A name webpki presents in its debug form (`DnsName("api.test")`, `IpAddress(10.0.0.1)`),
/// as the name itself.
fn presented_name(debug: &str) -> &str {
    debug
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map_or(debug, |name| name.trim_matches('"'))
}

/// `2026-11-30 08:00:00 UTC`.
fn date(at: UnixTime) -> String {
    let seconds = i64::try_from(at.as_secs()).unwrap_or(i64::MAX);
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
        return format!("{seconds} s after 1970");
    };
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The alert's name as RFC 8446 §6 spells it (`handshake_failure`).
fn alert_name(alert: AlertDescription) -> String {
    let camel = format!("{alert:?}");
    let mut name = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    format!("alert {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_named_as_the_rfc_spells_them() {
        assert_eq!(
            alert_name(AlertDescription::HandshakeFailure),
            "alert handshake_failure"
        );
        assert_eq!(
            alert_name(AlertDescription::CertificateRequired),
            "alert certificate_required"
        );
    }

    #[test]
    fn presented_names_are_plain() {
        assert_eq!(presented_name(r#"DnsName("api.test")"#), "api.test");
        assert_eq!(presented_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(presented_name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn old_versions_are_named() {
        let e = Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13);
        let seen = Seen {
            server_version: Some(0x0301),
            client_cert: None,
        };
        assert!(describe(&e, seen, "old.test").starts_with("upstream offers only TLS 1.0"));
    }

    #[test]
    fn expiry_has_a_date() {
        let e = Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
        });
        assert_eq!(
            describe(&e, Seen::default(), "x.test"),
            "the certificate expired on 2023-11-14 22:13:20 UTC"
        );
    }
}
