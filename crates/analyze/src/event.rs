//! What an input is read as: a stream of [`Event`]s, among them HTTP [`Exchange`]s (a request
//! with its response or failure), whatever the input (a capture or a HAR file), or why it
//! cannot be read ([`SourceError`]); and the split of each request's URL.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use phonehome_record::{
    Blocked, Body, Capture, Conn, ConnId, End, FlowId, Headers, Phase, Target, Ws,
};

/// One HTTP exchange: the request, and the response or the failure that ended it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub flow: FlowId,
    /// The connection that carried it, when the input says (HAR files from other tools do not).
    pub conn: Option<ConnId>,
    pub ts: DateTime<Utc>,
    pub method: String,
    pub url: String,
    pub host: String,
    pub port: u16,
    /// The path without the query.
    pub path: String,
    pub query: Option<String>,
    pub version: String,
    pub request_headers: Headers,
    /// HTTP/1 header names exactly as sent, when the capture has them.
    pub raw_header_names: Vec<String>,
    pub request_body: Option<Body>,
    pub response: Option<ResponsePart>,
    /// What ended the flow when it failed.
    pub error: Option<(Phase, String)>,
    /// Set when phonehome's sinkhole read and answered the request instead of forwarding it.
    pub sinkhole: Option<phonehome_record::Sinkhole>,
}

/// The response side of an [`Exchange`].
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsePart {
    pub status: u16,
    pub reason: String,
    pub version: String,
    pub headers: Headers,
    pub body: Option<Body>,
    pub ttfb_ms: u64,
    /// Milliseconds to the first byte of the body, when the capture has it.
    pub first_byte_ms: Option<u64>,
    pub duration_ms: u64,
}

impl From<phonehome_record::Response> for ResponsePart {
    fn from(r: phonehome_record::Response) -> Self {
        ResponsePart {
            status: r.status,
            reason: r.reason,
            version: r.version,
            headers: r.headers,
            body: r.body,
            ttfb_ms: r.ttfb_ms,
            first_byte_ms: r.first_byte_ms,
            duration_ms: r.duration_ms,
        }
    }
}

impl Exchange {
    /// Bytes of the request and response bodies the input holds (decoded as stored).
    pub(crate) fn body_bytes(&self) -> usize {
        let response = self.response.as_ref().and_then(|r| r.body.as_ref());
        [self.request_body.as_ref(), response]
            .into_iter()
            .flatten()
            .map(|b| b.data.len())
            .sum()
    }

    /// Whether the exchange failed: no response, or a status of 400 or more.
    /// A sinkholed request did not fail: phonehome answered it as it was asked to.
    pub fn failed(&self) -> bool {
        self.sinkhole.is_none() && self.response.as_ref().is_none_or(|r| r.status >= 400)
    }

    /// The first value of request header `name` (any case).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        header(&self.request_headers, name)
    }

    /// Joins a flow's records read on their own (the viewer reads them by byte offset).
    pub fn from_records(
        request: phonehome_record::Request,
        response: Option<phonehome_record::Response>,
        error: Option<(Phase, String)>,
    ) -> Exchange {
        let mut exchange = exchange_from_request(request);
        exchange.response = response.map(ResponsePart::from);
        exchange.error = error;
        exchange
    }

    /// The first value of response header `name` (any case).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response
            .as_ref()
            .and_then(|r| header(&r.headers, name))
    }
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What an input holds, in order.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // events are consumed one at a time
pub enum Event {
    /// The capture's header (synthesised for a HAR file from another tool).
    Header(Capture),
    Exchange(Exchange),
    /// A connection-level failure: no request was ever sent (DNS, connect, TLS).
    Failure {
        ts: DateTime<Utc>,
        /// The connection it ended, when known.
        conn: Option<ConnId>,
        target: Target,
        phase: Phase,
        message: String,
    },
    Conn(Conn),
    Blocked(Blocked),
    Ws(Ws),
    /// A DNS query phonehome answered (isolation mode).
    Dns(phonehome_record::Dns),
    End(End),
}

/// Why an input cannot be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A capture line that is not a record, or a first line that is not a capture header.
    #[error("{path}")]
    Capture {
        path: PathBuf,
        #[source]
        source: phonehome_record::ReadError,
    },
    #[error("{path}: not a HAR file")]
    Har {
        path: PathBuf,
        #[source]
        source: crate::HarError,
    },
    /// Neither HAR nor a capture, though each line holds a JSON object.
    #[error("{path}: not a HAR file; it looks like JSON lines, but not a phonehome capture either (its first line has no \"type\": a capture starts with its `capture` record)")]
    JsonLines {
        path: PathBuf,
        #[source]
        source: crate::HarError,
    },
    #[error("{path}: neither a phonehome capture (JSON Lines starting with a `capture` record) nor a HAR file (a JSON object with `log.entries`)")]
    Unknown { path: PathBuf },
}

/// Splits an absolute URL into host, port, path and query.
pub(crate) fn split_url(url: &str) -> (String, u16, String, Option<String>) {
    let parts = url_parts(url);
    let (path, query) = match parts.path_and_query.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (parts.path_and_query.to_owned(), None),
    };
    (parts.host.to_ascii_lowercase(), parts.port, path, query)
}

/// The parts of an absolute URL, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// As written: without brackets (IPv6) or user info, not lowercased.
    pub host: &'a str,
    /// The URL's port, else the scheme's (443 for https, 80 otherwise).
    pub port: u16,
    /// The path and query, without the fragment; `/` when the URL has none.
    pub path_and_query: &'a str,
}

/// Splits an absolute URL (`scheme://[user@]host[:port]/path?query#fragment`) without
/// copying it.
pub fn url_parts(url: &str) -> UrlParts<'_> {
    let (scheme, rest) = split_scheme(url).unwrap_or(("http", url));
    let (authority, path_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let (host, port) = phonehome_record::split_authority(authority, default_port);
    UrlParts {
        host,
        port,
        path_and_query: path_query.split('#').next().unwrap_or("/"),
    }
}

/// `url` split at its first `://` (as `split_once("://")`, found by its colon: this runs for
/// every request an analysis reads).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let bytes = url.as_bytes();
    memchr::memchr_iter(b':', bytes)
        .find(|&i| bytes[i + 1..].starts_with(b"//"))
        .map(|i| (&url[..i], &url[i + 3..]))
}

pub(crate) fn exchange_from_request(r: phonehome_record::Request) -> Exchange {
    let (host, port, path, query) = split_url(&r.url);
    Exchange {
        flow: r.flow,
        conn: Some(r.conn),
        ts: phonehome_record::parse_timestamp(&r.ts).unwrap_or_default(),
        method: r.method,
        url: r.url,
        host,
        port,
        path,
        query,
        version: r.version,
        request_headers: r.headers,
        raw_header_names: r.raw_header_names,
        request_body: r.body,
        response: None,
        error: None,
        sinkhole: r.sinkhole,
    }
}

/// Builds an [`Exchange`] for HAR import.
pub(crate) fn exchange(
    flow: FlowId,
    ts: DateTime<Utc>,
    method: String,
    url: String,
    version: String,
    request_headers: Headers,
    request_body: Option<Body>,
) -> Exchange {
    let (host, port, path, query) = split_url(&url);
    Exchange {
        flow,
        conn: None,
        ts,
        method,
        url,
        host,
        port,
        path,
        query,
        version,
        request_headers,
        raw_header_names: Vec::new(),
        request_body,
        response: None,
        error: None,
        sinkhole: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("https://API.test/v1/x?a=1#f"),
            ("api.test".into(), 443, "/v1/x".into(), Some("a=1".into()))
        );
        assert_eq!(
            split_url("http://[::1]:8080/"),
            ("::1".into(), 8080, "/".into(), None)
        );
        assert_eq!(
            split_url("http://h.test"),
            ("h.test".into(), 80, "/".into(), None)
        );
    }

    #[test]
    fn url_parts_borrow_host_port_and_path_with_query() {
        let parts = |url| {
            let p = url_parts(url);
            (p.host, p.port, p.path_and_query)
        };
        assert_eq!(
            parts("https://api.test/v1/x?y=1"),
            ("api.test", 443, "/v1/x?y=1")
        );
        assert_eq!(parts("http://[::1]:8080"), ("::1", 8080, "/"));
        assert_eq!(parts("http://h:81/p"), ("h", 81, "/p"));
        assert_eq!(parts("https://u@API.test/#f"), ("API.test", 443, "/"));
    }

    #[test]
    fn the_scheme_ends_at_the_first_colon_slash_slash() {
        for url in [
            "https://a/b",
            "a:/b://c",
            "://",
            "x:",
            "x:/",
            "no scheme",
            "a://b://c",
            "é://x",
        ] {
            assert_eq!(super::split_scheme(url), url.split_once("://"), "{url}");
        }
    }
}
