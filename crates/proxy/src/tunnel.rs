//! A tunnel's protocol, decided by who speaks first, never by a timer: upstream bytes first
//! (SMTP, SSH banners) mean a byte relay recorded as `tcp`; client bytes first are sniffed,
//! however late they come: TLS goes to interception, HTTP/1.1 and HTTP/2 to the engine,
//! anything else is relayed. A sinkholed tunnel has no upstream: it waits for the client,
//! up to `--sinkhole-wait`, and records when that expires.
//!
//! Its steps: [`sniff`] the first bytes, [`intercept`] TLS, [`relay`] what phonehome does not
//! speak; HTTP goes to [`crate::http`].

pub(crate) mod intercept;
pub(crate) mod relay;
pub(crate) mod sniff;

use std::io;
use std::sync::Arc;

use phonehome_record::{Phase, Target, Transport};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use crate::connection::ConnState;
use crate::context::BoxIo;
use crate::http::engine::{self, Route};
use crate::http::link::{Origin, UpstreamLink};
use crate::http::sinkhole::{Sink, Upstream};
use crate::tunnel::intercept::intercept_tls;
use crate::tunnel::relay::relay;
use crate::tunnel::sniff::{classify, read_first, read_until_classified, FirstBytes, Prefixed};

/// Who spoke first on a tunnel.
enum First {
    /// The client, these bytes (empty: it closed without a byte).
    Client(Vec<u8>),
    /// The upstream: a protocol in which the server speaks first.
    Upstream,
    /// Nobody, within the sinkhole's wait.
    Nobody,
}

/// Serves a tunnel whose target is known: the first speaker decides what follows.
pub(crate) async fn tunnel(
    mut client: BoxIo,
    upstream: Upstream,
    target: Target,
    conn: Arc<ConnState>,
) {
    let wait = conn.ctx.sinkhole_wait;
    // Boxed, as every phase before serving: a task's future is as big as its biggest state,
    // so each phase's state is allocated only while that phase waits on the network.
    let first = match &upstream {
        Upstream::Dialed(dialed) => {
            Box::pin(first_speaker(&mut client, &dialed.stream, wait)).await
        }
        Upstream::Sink(_) => Box::pin(read_first(&mut client, wait))
            .await
            .map(|first| first.map_or(First::Nobody, First::Client)),
    };
    let first = match first {
        Ok(First::Client(first)) if first.is_empty() => return,
        Ok(first) => first,
        Err(e) => {
            let message = format!("reading from the client failed: {e}");
            return conn.error(&target, Phase::ClientHttp, message);
        }
    };
    match (first, upstream) {
        (First::Client(first), upstream) => dispatch(client, first, upstream, target, conn).await,
        (First::Upstream, Upstream::Dialed(dialed)) => {
            conn.serve_apart(relay(client, dialed.stream));
        }
        (_, _) => {
            let message = format!(
                "sinkhole: the client sent nothing within {} s",
                wait.as_secs()
            );
            conn.error(&target, Phase::Timeout, message);
        }
    }
}

/// Waits for the first byte from either side. Once the client has spoken, its first bytes are
/// read on until they can be classified (each read waiting up to `wait`).
async fn first_speaker(
    client: &mut BoxIo,
    upstream: &TcpStream,
    wait: std::time::Duration,
) -> io::Result<First> {
    let mut chunk = vec![0u8; 4096];
    let mut peeked = [0u8; 1];
    // Both are cancel safe: the losing side has consumed nothing.
    let n = tokio::select! {
        n = client.read(&mut chunk) => n?,
        _ = upstream.peek(&mut peeked) => return Ok(First::Upstream),
    };
    chunk.truncate(n);
    if n > 0 {
        read_until_classified(client, &mut chunk, wait).await?;
    }
    Ok(First::Client(chunk))
}

/// Hands a tunnel whose client spoke first to the handler of its protocol.
async fn dispatch(
    client: BoxIo,
    first: Vec<u8>,
    upstream: Upstream,
    target: Target,
    conn: Arc<ConnState>,
) {
    match classify(&first) {
        FirstBytes::Tls => intercept_tls(client, first, upstream, target, conn).await,
        kind @ (FirstBytes::Http1 | FirstBytes::Http2) => {
            conn.info().transport = Transport::Http;
            let client = Box::new(Prefixed::new(first, client));
            serve_http(client, kind == FirstBytes::Http2, upstream, target, conn).await;
        }
        FirstBytes::Other => match upstream {
            Upstream::Dialed(dialed) => {
                conn.serve_apart(relay(Box::new(Prefixed::new(first, client)), dialed.stream));
            }
            Upstream::Sink(_) => {
                // Not TLS, not HTTP: nothing phonehome can answer. Closed, its size recorded.
                conn.info().first_bytes = Some(first.len() as u64);
            }
        },
    }
}

/// Plain HTTP in a tunnel: over a link to the upstream, or answered by the sinkhole.
async fn serve_http(
    client: BoxIo,
    h2: bool,
    upstream: Upstream,
    target: Target,
    conn: Arc<ConnState>,
) {
    let origin = Origin {
        scheme: "http",
        target: target.clone(),
    };
    let route = match upstream {
        Upstream::Sink(answer) => Route::Sink(Arc::new(Sink { origin, answer })),
        Upstream::Dialed(dialed) => {
            let dialer = conn.ctx.dialer.clone();
            let stream = Box::new(dialed.stream);
            match UpstreamLink::open(dialer, origin, None, Vec::new(), stream, h2, None).await {
                Ok(link) => Route::Link(Arc::new(link)),
                Err(e) => return conn.error(&target, e.phase, e.message),
            }
        }
    };
    conn.clone()
        .serve_apart(engine::serve(client, h2, route, conn));
}
