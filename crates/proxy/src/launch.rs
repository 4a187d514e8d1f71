//! The environment a launched child needs to use the proxy and trust the local CA.

use std::net::SocketAddr;
use std::path::Path;

use crate::tls::ca::CertificateAuthority;

/// Writes `path`: the system's trusted roots followed by the local CA, PEM. Runtimes that read
/// `SSL_CERT_FILE` and friends replace their default store with this file, so it must hold both.
/// Written to a temporary file and renamed, so concurrent runs never see half a file. Mode
/// 0644 whatever the umask: the child trusts what is in it, so no one else may write it.
///
/// # Errors
/// Any I/O error writing the file.
pub fn write_ca_bundle(ca: &CertificateAuthority, path: &Path) -> std::io::Result<()> {
    let mut text = String::new();
    for der in crate::tls::trust::system_roots_der() {
        text.push_str(&pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())));
    }
    text.push_str(ca.cert_pem());
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    crate::tls::ca::make_public(&tmp)?;
    std::fs::rename(&tmp, path)
}

/// The user name in the proxy URL of a proxy that requires a credential.
pub const PROXY_USER: &str = "phonehome";

/// The variables to set in a child's environment so that it sends its traffic through the
/// proxy at `proxy` and trusts the local CA.
///
/// `bundle` is the file written by [`write_ca_bundle`]; `bypass` lists hosts that go direct
/// (`NO_PROXY`). Loopback is captured unless listed there. `credential` is the proxy's
/// token when it requires one (`proxy --require-auth`): the URL then carries
/// `phonehome:TOKEN@`.
pub fn child_env(
    proxy: SocketAddr,
    credential: Option<&str>,
    ca: &CertificateAuthority,
    bundle: &Path,
    bypass: &[String],
) -> Vec<(String, String)> {
    let proxy_url = match credential {
        Some(token) => format!("http://{PROXY_USER}:{token}@{proxy}"),
        None => format!("http://{proxy}"),
    };
    let ca_cert = ca.cert_path().display().to_string();
    let bundle = bundle.display().to_string();
    let no_proxy = bypass.join(",");
    let mut env = Vec::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        env.push((name.to_owned(), proxy_url.clone()));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        env.push((name.to_owned(), no_proxy.clone()));
    }
    // Node and Bun add this file to their built-in roots; Deno likewise with DENO_CERT.
    env.push(("NODE_EXTRA_CA_CERTS".into(), ca_cert.clone()));
    env.push(("DENO_CERT".into(), ca_cert));
    // Node 24+ honours HTTP(S)_PROXY for fetch and http only with this set.
    env.push(("NODE_USE_ENV_PROXY".into(), "1".into()));
    // OpenSSL, Python requests, curl and git replace their store with this file.
    for name in [
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
    ] {
        env.push((name.to_owned(), bundle.clone()));
    }
    env
}
