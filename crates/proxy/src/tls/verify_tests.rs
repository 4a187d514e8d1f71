use super::*;

use rustls::RootCertStore;

/// A self-signed certificate for localhost, as `openssl req -x509 -subj /CN=localhost
/// -addext subjectAltName=DNS:localhost` makes it: it carries `CA:TRUE`.
fn ca_true_self_signed() -> CertificateDer<'static> {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").der().clone()
}

fn verifier(trusted: &[CertificateDer<'static>]) -> UpstreamVerifier {
    let mut roots = RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.clone()).expect("anchor");
    }
    // An unrelated root, so that the store is never empty.
    let other = ca_true_self_signed();
    roots.add(other).expect("anchor");
    UpstreamVerifier::new(&Trust {
        roots: Arc::new(roots),
        extra: trusted.to_vec(),
    })
}

fn verify(verifier: &UpstreamVerifier, cert: &CertificateDer<'_>, name: &str) -> Result<(), Error> {
    let name = ServerName::try_from(name.to_owned()).expect("name");
    verifier
        .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
        .map(|_| ())
}

fn not_trusted_reason(e: Error) -> Option<NotTrusted> {
    match e {
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<NotTrusted>().cloned()
        }
        _ => None,
    }
}

#[test]
fn a_trusted_ca_true_certificate_is_accepted_as_the_server_certificate() {
    let cert = ca_true_self_signed();
    let verifier = verifier(std::slice::from_ref(&cert));
    verify(&verifier, &cert, "localhost").expect("accepted");
}

#[test]
fn a_trusted_certificate_is_still_checked_for_its_names() {
    let cert = ca_true_self_signed();
    let verifier = verifier(std::slice::from_ref(&cert));
    let e = verify(&verifier, &cert, "elsewhere.test").expect_err("rejected");
    assert!(
        matches!(
            e,
            Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
        ),
        "{e:?}"
    );
}

#[test]
fn an_untrusted_self_signed_certificate_is_named_so() {
    let verifier = verifier(&[]);
    let e = verify(&verifier, &ca_true_self_signed(), "localhost").expect_err("rejected");
    assert_eq!(not_trusted_reason(e), Some(NotTrusted::SelfSigned));
    let plain = {
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().clone()
    };
    let e = verify(&verifier, &plain, "localhost").expect_err("rejected");
    assert_eq!(not_trusted_reason(e), Some(NotTrusted::SelfSigned));
}

#[test]
fn an_expired_trusted_certificate_is_rejected() {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(10);
    params.not_after = now - time::Duration::days(1);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert").der().clone();
    let verifier = verifier(std::slice::from_ref(&cert));
    let e = verify(&verifier, &cert, "localhost").expect_err("rejected");
    assert!(
        matches!(
            e,
            Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
        ),
        "{e:?}"
    );
}
