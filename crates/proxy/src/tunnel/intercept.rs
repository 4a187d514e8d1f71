//! TLS interception: the client's ClientHello (SNI, ALPN, JA3/JA4) becomes the `conn`'s TLS
//! info; phonehome handshakes with the upstream offering the client's ALPN and verifying as a
//! client would (or, on a sinkholed tunnel, dials nothing), then completes the client's
//! handshake with a leaf from the local CA and serves HTTP on it.

use std::sync::Arc;

use phonehome_record::{Phase, Target, TlsInfo, Transport};
use tokio::io::AsyncWriteExt;

use crate::connection::ConnState;
use crate::context::BoxIo;
use crate::dial::dialer::Dialed;
use crate::http::engine::{self, Route};
use crate::http::link::{Origin, UpstreamLink};
use crate::http::responses::{error_chain, HANDSHAKE_FAILURE_ALERT};
use crate::http::sinkhole::{Sink, SinkAnswer, Upstream};
use crate::tls::clienthello::{read_client_hello, version_name, ClientHello};
use crate::tunnel::relay::relay;
use crate::tunnel::sniff::Prefixed;

/// The name to verify the upstream against and to issue the client's leaf for: the SNI when it
/// is a DNS name (RFC 6066 §3), else the CONNECT host. Some clients send an IP address or
/// `host:port` as SNI; the record keeps what they sent.
fn tls_server_name(sni: Option<&str>, target: &Target) -> String {
    match sni {
        Some(sni) if is_dns_name(sni) => sni.to_owned(),
        _ => target.host.clone(),
    }
}

fn is_dns_name(name: &str) -> bool {
    matches!(
        rustls::pki_types::ServerName::try_from(name),
        Ok(rustls::pki_types::ServerName::DnsName(_))
    )
}

/// The ALPN protocols phonehome can speak, in the client's order.
fn speakable(offered: &[Vec<u8>]) -> Vec<Vec<u8>> {
    offered
        .iter()
        .filter(|p| p.as_slice() == b"h2" || p.as_slice() == b"http/1.1")
        .cloned()
        .collect()
}

/// TLS: read the ClientHello; with an upstream, handshake with it offering the client's ALPN,
/// then complete the client's handshake with a leaf from the local CA offering only what the
/// upstream agreed to; on a sinkholed tunnel, offer the client what phonehome speaks.
pub(crate) async fn intercept_tls(
    mut client: BoxIo,
    mut buf: Vec<u8>,
    upstream: Upstream,
    target: Target,
    conn: Arc<ConnState>,
) {
    conn.info().transport = Transport::TlsIntercept;
    // The phases before serving are boxed: a task's future is as big as its biggest state, so
    // each phase's state is allocated only while that phase waits (bench/rss, a crowd).
    let hello = match Box::pin(read_client_hello(&mut client, &mut buf)).await {
        Ok(hello) => hello,
        Err(e) => return conn.error(&target, Phase::TlsClient, e.to_string()),
    };
    let mut tls = tls_info(&hello);
    let alpn = speakable(&hello.alpn);
    let server_name = tls_server_name(hello.sni.as_deref(), &target);
    if !hello.alpn.is_empty() && alpn.is_empty() {
        return pass_through(client, buf, upstream, &target, &conn, tls).await;
    }
    let route = match upstream {
        Upstream::Dialed(dialed) => {
            Box::pin(upstream_link(&conn, dialed, &server_name, alpn, &target)).await
        }
        Upstream::Sink(answer) => Ok(sink_route(answer, &target, alpn)),
    };
    let (route, offer) = match route {
        Ok(route) => route,
        Err(tls_failed) => {
            conn.info().tls = Some(tls);
            if tls_failed {
                let _ = client.write_all(&HANDSHAKE_FAILURE_ALERT).await;
                let _ = client.shutdown().await;
            }
            return;
        }
    };
    let accepted = Box::pin(accept_client(
        &conn,
        &server_name,
        &offer,
        buf,
        client,
        &hello.sni,
    ))
    .await;
    let client_tls = match accepted {
        Ok(client_tls) => client_tls,
        Err(message) => {
            conn.info().tls = Some(tls);
            return conn.error(&target, Phase::TlsClient, message);
        }
    };
    let h2 = negotiated(&mut tls, client_tls.get_ref().1);
    conn.info().tls = Some(tls);
    conn.clone()
        .serve_apart(engine::serve(Box::new(client_tls), h2, route, conn));
}

/// A TLS protocol phonehome does not speak (the client offers no ALPN it can serve): relayed
/// untouched to the upstream, or, on a sinkholed tunnel, closed with an error record.
async fn pass_through(
    client: BoxIo,
    buf: Vec<u8>,
    upstream: Upstream,
    target: &Target,
    conn: &ConnState,
    tls: TlsInfo,
) {
    {
        let mut info = conn.info();
        info.transport = Transport::TlsPassthrough;
        info.tls = Some(tls);
    }
    match upstream {
        Upstream::Dialed(dialed) => {
            conn.serve_apart(relay(Box::new(Prefixed::new(buf, client)), dialed.stream));
        }
        Upstream::Sink(_) => conn.error(
            target,
            Phase::TlsClient,
            "sinkhole: the client offers no ALPN protocol phonehome speaks".to_owned(),
        ),
    }
}

/// The route of a sinkholed tunnel, where phonehome answers itself, and the ALPN to offer the
/// client: what phonehome speaks of what it offered.
fn sink_route(answer: SinkAnswer, target: &Target, alpn: Vec<Vec<u8>>) -> (Route, Vec<Vec<u8>>) {
    let origin = Origin {
        scheme: "https",
        target: target.clone(),
    };
    (Route::Sink(Arc::new(Sink { origin, answer })), alpn)
}

/// What the client's handshake settled (ALPN, version) into `tls`; whether it is HTTP/2.
fn negotiated(tls: &mut TlsInfo, session: &rustls::ServerConnection) -> bool {
    tls.alpn = session
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    tls.version = session
        .protocol_version()
        .map(|v| version_name(u16::from(v)));
    session.alpn_protocol() == Some(b"h2")
}

/// The `conn` record's TLS info from the client's ClientHello: SNI, ALPN, versions, JA3, JA4
/// and the lists they are made of.
fn tls_info(hello: &ClientHello) -> TlsInfo {
    let prints = crate::tls::fingerprint::fingerprints(hello);
    TlsInfo {
        sni: hello.sni.clone(),
        alpn_offered: hello
            .alpn
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
        versions_offered: hello.versions.iter().map(|v| version_name(*v)).collect(),
        ja3: Some(prints.ja3),
        ja3_text: Some(prints.ja3_text),
        ja4: Some(prints.ja4),
        ja4_r: Some(prints.ja4_r),
        cipher_suites: hello.cipher_suites.clone(),
        extensions: hello.extensions.clone(),
        supported_groups: hello.supported_groups.clone(),
        signature_algorithms: hello.signature_algorithms.clone(),
        ..TlsInfo::default()
    }
}

/// The TLS handshake with the upstream, offering `alpn`, and the link over it: the route and
/// the ALPN to offer the client (what the upstream agreed to). On failure the error is
/// recorded; `Err(true)` when the upstream's TLS failed (the client is told with an alert).
async fn upstream_link(
    conn: &ConnState,
    dialed: Dialed,
    server_name: &str,
    alpn: Vec<Vec<u8>>,
    target: &Target,
) -> Result<(Route, Vec<Vec<u8>>), bool> {
    let handshaken = match conn.ctx.dialer.tls(dialed.stream, server_name, &alpn).await {
        Ok(handshaken) => handshaken,
        Err(e) => {
            conn.error(target, e.phase, e.message);
            return Err(true);
        }
    };
    let upstream = handshaken.stream;
    let session = upstream.get_ref().1;
    let agreed = session.alpn_protocol().map(<[u8]>::to_vec);
    if let Some(info) = conn.info().upstream.as_mut() {
        if let Some(prints) = handshaken.prints {
            info.ja3 = Some(prints.ja3);
            info.ja4 = Some(prints.ja4);
        }
        info.client_cert = handshaken.client_cert;
        info.alpn = agreed
            .as_deref()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        info.version = session
            .protocol_version()
            .map(|v| version_name(u16::from(v)));
    }
    let h2 = agreed.as_deref() == Some(b"h2");
    let origin = Origin {
        scheme: "https",
        target: target.clone(),
    };
    let dialer = conn.ctx.dialer.clone();
    let name = Some(server_name.to_owned());
    let io = Box::new(upstream);
    let opened = UpstreamLink::open(dialer, origin, name, alpn, io, h2, handshaken.client_cert);
    match opened.await {
        Ok(link) => Ok((Route::Link(Arc::new(link)), Vec::from_iter(agreed))),
        Err(e) => {
            conn.error(target, e.phase, e.message);
            Err(false)
        }
    }
}

/// Completes the client's TLS handshake with a leaf for `server_name` from the local CA,
/// offering `alpn`. The error text names why it failed.
async fn accept_client(
    conn: &ConnState,
    server_name: &str,
    alpn: &[Vec<u8>],
    buf: Vec<u8>,
    client: BoxIo,
    sni: &Option<String>,
) -> Result<tokio_rustls::server::TlsStream<Prefixed<BoxIo>>, String> {
    let config = conn
        .ctx
        .server_config(server_name, alpn)
        .map_err(|e| format!("cannot issue a certificate: {}", error_chain(&e)))?;
    tokio_rustls::TlsAcceptor::from(config)
        .accept(Prefixed::new(buf, client))
        .await
        .map_err(|e| {
            let why = match sni {
                Some(sni) if !is_dns_name(sni) => format!(
                    "the client's SNI {sni:?} is not a host name (RFC 6066 §3), so the TLS \
                     handshake was refused: "
                ),
                _ => "the TLS handshake with the client failed: ".to_owned(),
            };
            why + &error_chain(&e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_sni_falls_back_to_the_connect_host() {
        let target = Target {
            host: "127.0.0.1".into(),
            port: 8443,
        };
        assert_eq!(tls_server_name(Some("api.test"), &target), "api.test");
        assert_eq!(
            tls_server_name(Some("127.0.0.1:8443"), &target),
            "127.0.0.1"
        );
        assert_eq!(tls_server_name(Some("10.0.0.1"), &target), "127.0.0.1");
        assert_eq!(tls_server_name(None, &target), "127.0.0.1");
    }
}
