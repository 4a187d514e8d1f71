//! The byte relay: what phonehome does not speak (a server that speaks first, a protocol that
//! is neither TLS nor HTTP, TLS with an ALPN phonehome cannot serve) crosses as bytes, counted
//! on the `conn` record.

use tokio::net::TcpStream;

use crate::context::BoxIo;

/// Relays bytes both ways until both sides close.
pub(crate) async fn relay(mut client: BoxIo, mut upstream: TcpStream) {
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
