//! What a client did wrong on an HTTP connection phonehome serves (the proxy port, or an
//! intercepted TLS stream): a head too large (answered 431), a malformed request (400), a head
//! not received in time, an HTTP/2 protocol error. hyper reports these when the connection
//! ends; each becomes an `error` record (phase `client_http`) naming the limit that was hit.

use phonehome_record::{Phase, Target};

use crate::connection::ConnState;

/// The most header bytes and fields hyper reads in one HTTP/1 head (its defaults): past them
/// it answers 431.
const HEAD_LIMIT: &str = "the request head is over hyper's limit of ~400 KiB or 100 fields";
/// How long hyper waits for a whole HTTP/1 request head (its default with a timer).
const HEAD_TIMEOUT: &str = "the request head did not arrive within 30 s";

/// Records the failure that ended a served connection, when it was the client's doing.
/// A client that simply closed, or reset, the connection is not an error.
pub(crate) fn record(conn: &ConnState, result: Result<(), hyper::Error>, h2: bool) {
    let Err(e) = result else { return };
    let Some(message) = describe(&e, h2) else {
        return;
    };
    let target = conn.info().target.clone().unwrap_or(Target {
        host: String::new(),
        port: 0,
    });
    conn.error(&target, Phase::ClientHttp, message);
}

/// The `error` message for `e`, or `None` when it is no client mistake.
fn describe(e: &hyper::Error, h2: bool) -> Option<String> {
    let detail = crate::http::responses::error_chain(e);
    if e.is_parse_too_large() {
        return Some(format!("{HEAD_LIMIT}: {detail} (answered 431)"));
    }
    if e.is_parse() || e.is_parse_status() {
        return Some(format!("malformed request: {detail} (answered 400)"));
    }
    if e.is_timeout() {
        return Some(format!("{HEAD_TIMEOUT}: {detail} (connection closed)"));
    }
    let ordinary = e.is_closed()
        || e.is_incomplete_message()
        || e.is_canceled()
        || e.is_body_write_aborted()
        || io_error(e);
    (h2 && !ordinary).then(|| format!("HTTP/2: {detail}"))
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
