//! One capture line as a replay sees it: only the fields a policy decision needs, parsed
//! without building the record (bodies and everything else are skipped unread).

use std::borrow::Cow;

use serde::Deserialize;

use phonehome_catalog::recognise_package;
use phonehome_record::{Ancestor, ConnProcess};

use phonehome_record::{ConnId, FlowId};

use crate::event::url_parts;

/// What one line means to a replay.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The capture header, with its format.
    Header {
        format: String,
        /// `run`: attribution's chains end at the command phonehome started.
        run: bool,
    },
    /// A request (or a per-request denial recorded without a request record).
    Request(Request),
    Response {
        flow: FlowId,
        status: u16,
    },
    /// A connection, a connection-level denial or failure.
    Connection {
        conn: Option<ConnId>,
        host: String,
        port: u16,
        owner: Option<Owner>,
        /// A `conn` record (written when the connection closed), not a `blocked` or `error`.
        closed: bool,
    },
    Other,
}

/// The process that owned a connection, as its `conn` record (or first `request`) names it.
#[derive(Debug)]
pub(super) struct Owner {
    pub(super) process: ConnProcess,
    pub(super) ancestry: Vec<Ancestor>,
}

#[derive(Debug)]
pub(super) struct Request {
    pub(super) flow: FlowId,
    pub(super) conn: Option<ConnId>,
    pub(super) method: String,
    pub(super) host: String,
    pub(super) port: u16,
    /// Without the query.
    pub(super) path: String,
    /// An LLM API call (by method and path).
    pub(super) llm: bool,
    /// A package registry request (recognised by protocol).
    pub(super) registry: bool,
    /// On a connection's first request: its process.
    pub(super) owner: Option<Owner>,
    /// Read from a `blocked` record (a per-request denial), not a `request`.
    pub(super) blocked: bool,
}

/// A line: an attempt, a torn last line, or an error message.
#[derive(Debug)]
pub(super) enum Parsed {
    Attempt(Attempt),
    Torn,
    Bad(String),
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    format: Option<Cow<'a, str>>,
    #[serde(default)]
    flow: Option<FlowId>,
    #[serde(default)]
    conn: Option<ConnId>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(borrow, default)]
    target: Option<Target<'a>>,
    #[serde(borrow, default)]
    headers: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    #[serde(borrow, default)]
    mode: Option<Cow<'a, str>>,
    #[serde(default)]
    process: Option<ConnProcess>,
    #[serde(default)]
    ancestry: Vec<Ancestor>,
}

/// The `process` and `ancestry` members at the end of a line (after its body).
#[derive(Deserialize)]
struct Tail {
    process: ConnProcess,
    #[serde(default)]
    ancestry: Vec<Ancestor>,
}

#[derive(Deserialize)]
struct Target<'a> {
    #[serde(borrow)]
    host: Cow<'a, str>,
    port: u16,
}

/// Parses the lines of a chunk, numbered from `first_line`; blank lines are skipped, and
/// parsing stops at the first bad line.
pub(super) fn parse_chunk(chunk: &[u8], first_line: usize) -> Vec<(usize, Parsed)> {
    let mut out = Vec::new();
    let finders = Finders::new();
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', chunk).map(|i| i + 1);
    let ends = ends.chain((!chunk.ends_with(b"\n")).then_some(chunk.len()));
    for (i, end) in ends.enumerate() {
        let raw = &chunk[start..end];
        start = end;
        let torn = !raw.ends_with(b"\n");
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        if text.trim_ascii_start().is_empty() {
            continue;
        }
        let parsed = match parse_line(text, &finders) {
            Ok(attempt) => Parsed::Attempt(attempt),
            Err(_) if torn => Parsed::Torn,
            Err(e) => Parsed::Bad(format!("not a capture record: {e}")),
        };
        let bad = matches!(parsed, Parsed::Bad(_));
        out.push((first_line + i, parsed));
        if bad {
            break;
        }
    }
    out
}

/// The keys a line is cut at, searched for once per chunk's worth of lines.
struct Finders {
    headers: memchr::memmem::Finder<'static>,
    body: memchr::memmem::Finder<'static>,
    process: memchr::memmem::FinderRev<'static>,
}

impl Finders {
    fn new() -> Self {
        Self {
            headers: memchr::memmem::Finder::new(br#","headers":"#),
            body: memchr::memmem::Finder::new(br#","body":"#),
            process: memchr::memmem::FinderRev::new(br#","process":"#),
        }
    }
}

/// A request line's `process` and `ancestry`, written after its body: from the last
/// `,"process":` key (an unescaped quote cannot occur inside a JSON string) to the line's end.
fn owner_tail(text: &[u8], finders: &Finders) -> Option<Owner> {
    let at = finders.process.rfind(text)?;
    let mut tail = Vec::with_capacity(text.len() - at);
    tail.push(b'{');
    tail.extend_from_slice(&text[at + 1..]);
    let tail: Tail = serde_json::from_slice(&tail).ok()?;
    Some(Owner {
        process: tail.process,
        ancestry: tail.ancestry,
    })
}

/// One line's attempt. Bodies are most of a capture's bytes and no decision needs them: as
/// phonehome writes records, a request's `body` comes after its method, URL and headers, and a
/// response's `headers` and `body` after its flow and status, so the line is first parsed only
/// up to there (a key with an unescaped quote cannot occur inside a JSON string). A line
/// written in another order, whose prefix lacks what is needed, is parsed whole.
fn parse_line(text: &[u8], finders: &Finders) -> Result<Attempt, serde_json::Error> {
    let response = text.starts_with(br#"{"type":"response""#);
    let cut = if response {
        &finders.headers
    } else {
        &finders.body
    };
    if let Some(at) = cut.find(text) {
        let mut prefix = Vec::with_capacity(at + 1);
        prefix.extend_from_slice(&text[..at]);
        prefix.push(b'}');
        if let Ok(line) = serde_json::from_slice::<Line<'_>>(&prefix) {
            let complete = if response {
                line.status.is_some() && line.flow.is_some()
            } else {
                line.kind != "request" || (line.url.is_some() && line.flow.is_some())
            };
            if complete {
                let mut attempt = attempt(line);
                if let Attempt::Request(request) = &mut attempt {
                    request.owner = owner_tail(text, finders);
                }
                return Ok(attempt);
            }
        }
    }
    serde_json::from_slice::<Line<'_>>(text).map(attempt)
}

/// The first line must be a `phonehome/1` capture header.
pub(super) fn check_header(attempt: &Attempt) -> Result<(), String> {
    match attempt {
        Attempt::Header { format, .. } if format == phonehome_record::FORMAT => Ok(()),
        Attempt::Header { format, .. } => Err(format!(
            "format {format:?}; this phonehome reads {}",
            phonehome_record::FORMAT
        )),
        _ => Err("not a phonehome capture (the first line is not a capture header)".to_owned()),
    }
}

fn attempt(mut line: Line<'_>) -> Attempt {
    match line.kind.as_ref() {
        "capture" => Attempt::Header {
            run: line.mode.as_deref() == Some("run"),
            format: line.format.unwrap_or_default().into_owned(),
        },
        "request" => request(&mut line).map_or(Attempt::Other, Attempt::Request),
        "response" => match (line.flow, line.status) {
            (Some(flow), Some(status)) => Attempt::Response { flow, status },
            _ => Attempt::Other,
        },
        "blocked" if line.flow.is_some() && line.url.is_some() => {
            request(&mut line).map_or(Attempt::Other, Attempt::Request)
        }
        "conn" | "blocked" => connection(&mut line),
        "error" if line.flow.is_none() => connection(&mut line),
        _ => Attempt::Other,
    }
}

fn connection(line: &mut Line<'_>) -> Attempt {
    let Some(target) = &line.target else {
        return Attempt::Other;
    };
    Attempt::Connection {
        conn: line.conn,
        host: target.host.to_ascii_lowercase(),
        port: target.port,
        owner: owner(line),
        closed: line.kind == "conn",
    }
}

fn owner(line: &mut Line<'_>) -> Option<Owner> {
    Some(Owner {
        process: line.process.take()?,
        ancestry: std::mem::take(&mut line.ancestry),
    })
}

fn request(line: &mut Line<'_>) -> Option<Request> {
    let url = line.url.as_deref()?;
    let method = line.method.as_deref().unwrap_or("GET");
    let parts = url_parts(url);
    let path = parts
        .path_and_query
        .split('?')
        .next()
        .unwrap_or("/")
        .to_owned();
    let registry = method.eq_ignore_ascii_case("GET") && {
        let headers: Vec<(String, String)> = line
            .headers
            .iter()
            .flatten()
            .filter(|(n, _)| {
                n.eq_ignore_ascii_case("accept") || n.eq_ignore_ascii_case("user-agent")
            })
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        recognise_package(method, &path, &headers).is_some()
    };
    Some(Request {
        flow: line.flow?,
        conn: line.conn,
        method: method.to_owned(),
        host: parts.host.to_ascii_lowercase(),
        port: parts.port,
        llm: crate::llm::is_call(method, &path),
        path,
        registry,
        owner: owner(line),
        blocked: line.kind == "blocked",
    })
}

#[cfg(test)]
#[path = "attempt_tests.rs"]
mod tests;
