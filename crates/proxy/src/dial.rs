//! Reaching an upstream: the [`dialer`] (resolve, then connect directly or through the
//! [`upstream_proxy`]), the TLS handshake verified as a client would verify it
//! ([`upstream_tls`]), and the one [`error`] of all of it, with the capture's phase.

pub(crate) mod dialer;
pub(crate) mod error;
pub(crate) mod upstream_proxy;
pub(crate) mod upstream_tls;
