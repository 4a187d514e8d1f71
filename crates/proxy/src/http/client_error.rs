//! What a client did wrong on an HTTP connection phonehome serves (the proxy port, or an
//! intercepted TLS stream): a head too large (answered 431), a malformed request (400), a head
//! not received in time, an HTTP/2 protocol error. hyper reports these when the connection
//! ends; each becomes an `error` record (phase `client_http`) naming the limit that was hit.
//! A head not received in time is also answered 408, which hyper leaves unsaid.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use phonehome_record::{Phase, Target};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};

use crate::connection::ConnState;

/// The most header bytes and fields hyper reads in one HTTP/1 head (its defaults): past them
/// it answers 431.
const HEAD_LIMIT: &str = "the request head is over hyper's limit of ~400 KiB or 100 fields";

/// Records the failure that ended a served connection, when it was the client's doing.
/// A client that simply closed, or reset, the connection is not an error.
pub(crate) fn record(conn: &ConnState, result: Result<(), hyper::Error>, h2: bool) {
    let Err(e) = result else { return };
    let Some(message) = describe(&e, h2, conn.ctx.head_timeout) else {
        return;
    };
    client_http_error(conn, message);
}

fn client_http_error(conn: &ConnState, message: String) {
    let target = conn.info().target.clone().unwrap_or(Target {
        host: String::new(),
        port: 0,
    });
    conn.error(&target, Phase::ClientHttp, message);
}

/// The `error` message for `e`, or `None` when it is no client mistake.
fn describe(e: &hyper::Error, h2: bool, head_timeout: std::time::Duration) -> Option<String> {
    let detail = crate::http::responses::error_chain(e);
    if e.is_parse_too_large() {
        return Some(format!("{HEAD_LIMIT}: {detail} (answered 431)"));
    }
    if e.is_parse() || e.is_parse_status() {
        return Some(format!("malformed request: {detail} (answered 400)"));
    }
    if e.is_timeout() {
        return Some(head_timeout_message(head_timeout, &detail));
    }
    let ordinary = e.is_closed()
        || e.is_incomplete_message()
        || e.is_canceled()
        || e.is_body_write_aborted()
        || io_error(e);
    (h2 && !ordinary).then(|| format!("HTTP/2: {detail}"))
}

fn head_timeout_message(head_timeout: std::time::Duration, detail: &str) -> String {
    let limit = match head_timeout.subsec_millis() {
        0 => format!("{} s", head_timeout.as_secs()),
        _ => format!("{} ms", head_timeout.as_millis()),
    };
    format!("the request head did not arrive within {limit}: {detail} (answered 408)")
}

/// A keep-alive connection at rest (`http::keepalive`) whose client sent no next request
/// within the head timeout: recorded and answered 408, as hyper's own timeout is.
pub(crate) async fn head_timed_out<S: AsyncWrite + Unpin>(conn: &ConnState, stream: Answerable<S>) {
    let detail = "the kept-alive connection stayed idle";
    client_http_error(conn, head_timeout_message(conn.ctx.head_timeout, detail));
    answer_408(stream).await;
}

/// Whether `e` comes from the socket (a reset or broken pipe): the client went away.
fn io_error(e: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if inner.is::<std::io::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

/// A client stream shared between hyper and phonehome, so that phonehome can still answer
/// when hyper gives up on the connection: hyper closes a connection whose request head did
/// not arrive in time without a word, and the client is owed a 408.
pub(crate) struct Answerable<S>(Arc<Mutex<S>>);

impl<S> Answerable<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self(Arc::new(Mutex::new(stream)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, S> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S> Clone for Answerable<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Answerable<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Answerable<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.lock().is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_shutdown(cx)
    }
}

/// RFC 9110 §15.5.9 (<https://www.rfc-editor.org/rfc/rfc9110#section-15.5.9>): the server
/// would not wait longer for the request.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// After hyper ended an HTTP/1 connection: when it was because the request head did not
/// arrive in time, answers 408 and closes the stream (best effort, for at most a second).
pub(crate) async fn answer<S: AsyncWrite + Unpin>(
    result: &Result<(), hyper::Error>,
    stream: Answerable<S>,
) {
    if result.as_ref().is_err_and(hyper::Error::is_timeout) {
        answer_408(stream).await;
    }
}

async fn answer_408<S: AsyncWrite + Unpin>(mut stream: Answerable<S>) {
    let answered = async {
        stream.write_all(REQUEST_TIMEOUT).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), answered).await;
}
