//! The local certificate authority: created on first use, kept on disk, and the leaf
//! certificates it issues per host for TLS interception.
//!
//! The CA is ECDSA P-256 (`ca.pem`, `ca.key` with mode 0600). Each leaf has its own P-256 key
//! (never the CA's), a DNS or IP subject alternative name, a validity of [`LEAF_VALIDITY`], and
//! is cached in memory for [`LEAF_REUSE`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// How long an issued leaf certificate is valid.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a cached leaf is served before a new one is issued.
pub const LEAF_REUSE: Duration = Duration::from_secs(24 * 3600);
const CA_VALIDITY_DAYS: i64 = 3650;
const CA_CERT_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca.key";

/// Failures of the local CA.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a usable CA file")]
    Invalid {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot issue a certificate")]
    Issue(#[from] rcgen::Error),
    #[error("cannot use the issued key")]
    Key(#[from] rustls::Error),
}

/// The local CA and its cache of leaf certificates.
pub struct CertificateAuthority {
    dir: PathBuf,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    leaves: Mutex<HashMap<String, (Instant, Arc<CertifiedKey>)>>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, creating it (and `dir`, mode 0700) when it does not exist yet.
    ///
    /// # Errors
    /// [`CaError::Io`] when the files cannot be read or written, [`CaError::Invalid`] when they
    /// exist but do not hold a CA certificate and its key.
    pub fn load_or_create(dir: &Path) -> Result<Self, CaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if !cert_path.exists() || !key_path.exists() {
            create(dir, &cert_path, &key_path)?;
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CaError::Io { path, source }
        };
        let cert_pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
        let invalid = |path: &Path| {
            let path = path.to_owned();
            move |source| CaError::Invalid { path, source }
        };
        let key = KeyPair::from_pem(&key_pem).map_err(invalid(&key_path))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(invalid(&cert_path))?;
        Ok(Self {
            dir: dir.to_owned(),
            cert_pem,
            issuer,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The folder holding the CA files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the CA certificate (PEM), the file clients must trust.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate's subject, validity and SHA-256 fingerprint, for display.
    ///
    /// # Errors
    /// [`CaError::Invalid`] when the stored certificate does not parse.
    pub fn describe(&self) -> Result<CaDescription, CaError> {
        use sha2::Digest as _;
        let der = ca_der(&self.cert_pem);
        let invalid = |_| CaError::Invalid {
            path: self.cert_path(),
            source: rcgen::Error::CouldNotParseCertificate,
        };
        let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(invalid)?;
        let digest = sha2::Sha256::digest(der.as_ref());
        Ok(CaDescription {
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.to_string(),
            not_after: cert.validity().not_after.to_string(),
            sha256: digest
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
        })
    }

    /// A leaf certificate for `host` (a DNS name or an IP address), from the cache when one was
    /// issued less than [`LEAF_REUSE`] ago.
    ///
    /// # Errors
    /// [`CaError::Issue`] when the certificate cannot be made (for example an empty host).
    pub fn leaf(&self, host: &str) -> Result<Arc<CertifiedKey>, CaError> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some((issued, key)) = self.lock_leaves().get(&host) {
            if issued.elapsed() < LEAF_REUSE {
                return Ok(key.clone());
            }
        }
        let key = Arc::new(self.issue(&host)?);
        self.lock_leaves()
            .insert(host, (Instant::now(), key.clone()));
        Ok(key)
    }

    fn lock_leaves(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<CertifiedKey>)>> {
        // A panic while holding the lock leaves a usable map behind.
        self.leaves.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn issue(&self, host: &str) -> Result<CertifiedKey, CaError> {
        let mut params = CertificateParams::default();
        let san = match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.to_owned().try_into()?),
        };
        params.subject_alt_names = vec![san];
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, host);
        params.distinguished_name = name;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + LEAF_VALIDITY;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_supported_type(&private)?;
        let chain = vec![cert.der().clone(), ca_der(&self.cert_pem)];
        Ok(CertifiedKey::new(chain, signing))
    }
}

/// What [`CertificateAuthority::describe`] tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaDescription {
    pub subject: String,
    pub not_before: String,
    pub not_after: String,
    /// SHA-256 of the DER certificate, colon-separated upper-case hex.
    pub sha256: String,
}

fn ca_der(pem_text: &str) -> CertificateDer<'static> {
    let parsed = pem::parse(pem_text).expect("the CA PEM parsed when it was loaded");
    CertificateDer::from(parsed.into_contents())
}

fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), CaError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CaError::Io { path, source }
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io(dir))?;

    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "phonehome local CA");
    name.push(DnType::OrganizationName, "phonehome");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_VALIDITY_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;

    write_private(key_path, key.serialize_pem().as_bytes()).map_err(io(key_path))?;
    std::fs::write(cert_path, cert.pem()).map_err(io(cert_path))?;
    make_public(cert_path).map_err(io(cert_path))?;
    Ok(())
}

/// Sets `path` to mode 0644 (`rw-r--r--`) whatever the umask: a certificate others may read,
/// which only its owner may change, since whoever can write it decides what clients trust.
pub(crate) fn make_public(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_reloads() {
        let dir = std::env::temp_dir().join(format!("phonehome-ca-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = CertificateAuthority::load_or_create(&dir).expect("creates");
        let second = CertificateAuthority::load_or_create(&dir).expect("reloads");
        assert_eq!(first.cert_pem(), second.cert_pem());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(CA_KEY_FILE))
                .expect("key exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let a = second.leaf("api.example.test").expect("leaf");
        let b = second.leaf("API.example.test.").expect("leaf");
        assert!(Arc::ptr_eq(&a, &b), "cached per host, case-insensitively");
        assert_eq!(a.cert.len(), 2, "leaf plus CA");
        second.leaf("127.0.0.1").expect("ip leaf");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
