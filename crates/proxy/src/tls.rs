//! What phonehome knows of TLS, for both ends of a connection: the client's ClientHello and
//! its fingerprints, the local CA that issues the leaves clients see, which upstream
//! certificates are trusted (and, when one is not, why), client certificates for upstreams, and
//! a failed upstream handshake told in words. Interception itself, the TLS step of a tunnel, is
//! [`crate::tunnel::intercept`]; the handshake with an upstream is [`crate::dial::upstream_tls`].

pub(crate) mod ca;
pub(crate) mod client_cert;
pub(crate) mod clienthello;
pub(crate) mod failure;
pub(crate) mod fingerprint;
pub(crate) mod trust;
pub(crate) mod verify;
