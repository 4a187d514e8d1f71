//! HAR 1.2 (W3C draft "HTTP Archive format", as browsers, mitmproxy's hardump and httptap
//! write it): export a capture, and import HAR files for reports.
//!
//! Export keeps what HAR has no field for in `_phonehome*` custom fields (HAR allows fields
//! starting with `_`): the capture and end records, flow ids, stored bodies exactly, failed
//! flows and connection-level failures. Import reads them back, so a capture exported and
//! imported gives the same report; HAR files from other tools are read from the standard fields.
//!
//! Export streams: each entry is written as its exchange is read, straight from the exchange
//! (typed wire structs borrowing its strings). What goes after the entries (`log._phonehome`:
//! connections, blocks, connection-level failures) is kept in anonymous temporary files until
//! then, so memory does not grow with the capture.
//!
//! ```text
//! {"log":{"version":"1.2","creator":{…},"pages":[],"entries":[{entry},{entry},…],
//!  "_phonehome":{"capture":{…},"end":{…},"failures":[…],"conns":[…],"blocked":[…]}}}
//! ```

mod entry;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};

use base64::Engine as _;
use phonehome_record::{Body, BodyEncoding, Capture, End, FlowId, Mode, Phase, Target};
use serde::Serialize;
use serde_json::Value;

use crate::event::{self, Event, Exchange, ResponsePart};

use entry::Entry;

/// Writes `events` (from [`crate::open`]) as a HAR 1.2 document to `out`, entry by entry.
/// `out` is written in many small pieces: give it a buffered writer.
///
/// # Errors
/// An I/O error writing (or keeping the trailing records in a temporary file), or the first
/// error reading the input.
pub fn export<W: Write>(
    events: impl Iterator<Item = Result<Event, crate::event::SourceError>>,
    mut out: W,
) -> Result<(), ExportError> {
    write!(
        out,
        r#"{{"log":{{"version":"1.2","creator":{{"name":"phonehome","version":"{}"}},"pages":[],"entries":["#,
        env!("CARGO_PKG_VERSION")
    )?;
    let mut first = true;
    let mut trailer = Trailer::default();
    for event in events {
        match event? {
            Event::Exchange(x) => {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                serde_json::to_writer(&mut out, &Entry::of(&x))?;
            }
            other => trailer.add(other)?,
        }
    }
    out.write_all(b"],\"_phonehome\":")?;
    trailer.write_to(&mut out)?;
    out.write_all(b"}}\n")?;
    Ok(())
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("writing the HAR failed")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Source(#[from] crate::event::SourceError),
}

impl From<serde_json::Error> for ExportError {
    fn from(e: serde_json::Error) -> Self {
        ExportError::Io(e.into())
    }
}

/// `log._phonehome`: the records HAR has no place for, gathered while the entries stream.
#[derive(Default)]
struct Trailer {
    capture: Value,
    end: Value,
    failures: SpilledArray,
    conns: SpilledArray,
    blocked: SpilledArray,
}

impl Trailer {
    fn add(&mut self, event: Event) -> io::Result<()> {
        match event {
            Event::Header(capture) => self.capture = serde_json::to_value(&capture)?,
            Event::End(end) => self.end = serde_json::to_value(&end)?,
            Event::Failure {
                ts,
                target,
                phase,
                message,
                ..
            } => self.failures.push(&Failure {
                ts: phonehome_record::timestamp(ts),
                target: &target,
                phase,
                message: &message,
            })?,
            Event::Conn(conn) => self.conns.push(&conn)?,
            Event::Blocked(b) => self.blocked.push(&b)?,
            Event::Exchange(_) | Event::Ws(_) | Event::Dns(_) => {}
        }
        Ok(())
    }

    /// `{"capture":…,"end":…,"failures":[…],"conns":[…],"blocked":[…]}`
    fn write_to(self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"{\"capture\":")?;
        serde_json::to_writer(&mut *out, &self.capture)?;
        out.write_all(b",\"end\":")?;
        serde_json::to_writer(&mut *out, &self.end)?;
        out.write_all(b",\"failures\":")?;
        self.failures.write_to(out)?;
        out.write_all(b",\"conns\":")?;
        self.conns.write_to(out)?;
        out.write_all(b",\"blocked\":")?;
        self.blocked.write_to(out)?;
        out.write_all(b"}")
    }
}

/// A JSON array written to an anonymous temporary file as it grows (created with the first
/// element), then copied out whole.
#[derive(Default)]
struct SpilledArray {
    file: Option<BufWriter<File>>,
}

impl SpilledArray {
    fn push(&mut self, element: &impl Serialize) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => {
                file.write_all(b",")?;
                file
            }
            None => self
                .file
                .insert(BufWriter::with_capacity(1 << 16, tempfile::tempfile()?)),
        };
        serde_json::to_writer(file, element)?;
        Ok(())
    }

    fn write_to(self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"[")?;
        if let Some(file) = self.file {
            let mut file = file.into_inner().map_err(|e| e.into_error())?;
            file.seek(SeekFrom::Start(0))?;
            io::copy(&mut BufReader::with_capacity(1 << 16, file), out)?;
        }
        out.write_all(b"]")
    }
}

/// A connection-level failure in `log._phonehome.failures`.
#[derive(Serialize)]
struct Failure<'a> {
    ts: String,
    target: &'a Target,
    phase: Phase,
    message: &'a str,
}

/// Why a document cannot be read as HAR: what is missing or malformed, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarError {
    #[error("invalid JSON")]
    Json(#[source] serde_json::Error),
    #[error("no `log` object")]
    NoLog,
    #[error("no `log.entries` array")]
    NoEntries,
    /// An entry (counted from 0) without a field HAR requires, such as `request.url`.
    #[error("entry {index}: no {field}")]
    EntryField { index: usize, field: &'static str },
}

/// Reads a HAR document into events.
///
/// # Errors
/// [`HarError`] naming what is missing or malformed (the entry index where it applies).
pub(crate) fn import(text: &str) -> Result<Vec<Event>, HarError> {
    let har: Value = serde_json::from_str(text).map_err(HarError::Json)?;
    let log = har.get("log").ok_or(HarError::NoLog)?;
    let entries = log["entries"].as_array().ok_or(HarError::NoEntries)?;
    let extra = &log["_phonehome"];
    let mut events = Vec::new();
    let header =
        serde_json::from_value::<Capture>(extra["capture"].clone()).unwrap_or_else(|_| Capture {
            ts: entries
                .first()
                .and_then(|e| e["startedDateTime"].as_str())
                .unwrap_or_default()
                .to_owned(),
            format: phonehome_record::FORMAT.to_owned(),
            id: String::new(),
            tool_version: format!(
                "{} {}",
                log["creator"]["name"].as_str().unwrap_or("unknown"),
                log["creator"]["version"].as_str().unwrap_or("")
            ),
            mode: Mode::Proxy,
            command: Vec::new(),
            cwd: String::new(),
            policy: String::new(),
            options: Default::default(),
            markers: Default::default(),
            agent: None,
        });
    events.push(Event::Header(header));
    for (i, e) in entries.iter().enumerate() {
        let exchange = import_entry(e, i)?;
        events.push(Event::Exchange(exchange));
    }
    if let Some(failures) = extra["failures"].as_array() {
        for f in failures {
            let Ok(target) = serde_json::from_value::<Target>(f["target"].clone()) else {
                continue;
            };
            let Ok(phase) = serde_json::from_value::<Phase>(f["phase"].clone()) else {
                continue;
            };
            events.push(Event::Failure {
                ts: phonehome_record::parse_timestamp(f["ts"].as_str().unwrap_or_default())
                    .unwrap_or_default(),
                conn: None,
                target,
                phase,
                message: f["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    for b in extra["blocked"].as_array().into_iter().flatten() {
        if let Ok(b) = serde_json::from_value::<phonehome_record::Blocked>(b.clone()) {
            events.push(Event::Blocked(b));
        }
    }
    for conn in extra["conns"].as_array().into_iter().flatten() {
        if let Ok(conn) = serde_json::from_value::<phonehome_record::Conn>(conn.clone()) {
            events.push(Event::Conn(conn));
        }
    }
    if let Ok(end) = serde_json::from_value::<End>(extra["end"].clone()) {
        events.push(Event::End(end));
    }
    Ok(events)
}

fn headers_from(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .map(|h| {
                    (
                        h["name"].as_str().unwrap_or_default().to_ascii_lowercase(),
                        h["value"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A body from a HAR content or postData object.
fn body_from(value: &Value, size: Option<i64>) -> Option<Body> {
    if value.is_null() {
        return None;
    }
    if let Ok(body) = serde_json::from_value::<Body>(value["_phonehome_body"].clone()) {
        return Some(body);
    }
    let text = value["text"].as_str()?;
    if text.is_empty() {
        return None;
    }
    let base64 = value["encoding"].as_str() == Some("base64");
    let size = size.filter(|s| *s >= 0).map_or_else(
        || {
            if base64 {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_or(text.len(), |b| b.len())
            } else {
                text.len()
            }
        },
        |s| usize::try_from(s).unwrap_or(0),
    );
    Some(Body {
        size: size as u64,
        encoding: if base64 {
            BodyEncoding::Base64
        } else {
            BodyEncoding::Utf8
        },
        data: text.to_owned(),
        truncated: false,
        decoded_from: None,
        dropped_bytes: 0,
        redaction: None,
    })
}

fn import_entry(e: &Value, index: usize) -> Result<Exchange, HarError> {
    let request = &e["request"];
    let missing = |field| HarError::EntryField { index, field };
    let url = request["url"]
        .as_str()
        .ok_or(missing("request.url"))?
        .to_owned();
    let method = request["method"]
        .as_str()
        .ok_or(missing("request.method"))?
        .to_owned();
    let flow = FlowId(e["_phonehome_flow"].as_u64().unwrap_or(index as u64 + 1));
    let ts = phonehome_record::parse_timestamp(e["startedDateTime"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let request_headers = headers_from(&request["headers"]);
    let request_body = body_from(&request["postData"], request["bodySize"].as_i64());
    let mut exchange = event::exchange(
        flow,
        ts,
        method,
        url,
        request["httpVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        request_headers,
        request_body,
    );
    exchange.sinkhole = serde_json::from_value(request["_phonehome_sinkhole"].clone()).ok();
    let response = &e["response"];
    let status = response["status"].as_u64().unwrap_or(0);
    if status > 0 {
        let timings = &e["timings"];
        let positive = |v: &Value| v.as_f64().filter(|t| *t > 0.0).unwrap_or(0.0);
        let ttfb = ["blocked", "dns", "connect", "send", "wait"]
            .iter()
            .map(|k| positive(&timings[*k]))
            .sum::<f64>();
        exchange.response = Some(ResponsePart {
            status: u16::try_from(status).unwrap_or(0),
            reason: response["statusText"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            version: response["httpVersion"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            headers: headers_from(&response["headers"]),
            body: body_from(&response["content"], response["content"]["size"].as_i64()),
            ttfb_ms: ttfb.round() as u64,
            first_byte_ms: None,
            duration_ms: e["time"].as_f64().unwrap_or(0.0).max(0.0).round() as u64,
        });
    }
    exchange.raw_header_names =
        serde_json::from_value(request["_phonehome_raw_header_names"].clone()).unwrap_or_default();
    exchange.error = match serde_json::from_value::<Phase>(e["_phonehome_error"]["phase"].clone()) {
        Ok(phase) => Some((
            phase,
            e["_phonehome_error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )),
        Err(_) if status == 0 => {
            let message = e["_error"]
                .as_str()
                .or(response["_error"].as_str())
                .unwrap_or("no response");
            Some((phase_of(message), message.to_owned()))
        }
        Err(_) => None,
    };
    Ok(exchange)
}

/// The phase of a browser's network error text (`net::ERR_NAME_NOT_RESOLVED`, …).
fn phase_of(message: &str) -> Phase {
    let m = message.to_ascii_uppercase();
    if m.contains("NAME_NOT_RESOLVED") || m.contains("DNS") {
        Phase::Dns
    } else if m.contains("CERT") || m.contains("SSL") || m.contains("TLS") {
        Phase::TlsUpstream
    } else if m.contains("TIMED_OUT") || m.contains("TIMEOUT") {
        Phase::Timeout
    } else {
        Phase::Connect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import_error(text: &str) -> HarError {
        let Err(e) = import(text) else {
            panic!("{text} is not HAR");
        };
        e
    }

    #[test]
    fn import_errors_are_typed_with_their_cause() {
        let e = import_error("{\"log\": {\"entries\": [");
        let cause = std::error::Error::source(&e).expect("the JSON error");
        let json = cause
            .downcast_ref::<serde_json::Error>()
            .expect("serde_json");
        assert!(json.is_eof(), "{json}");
        assert!(matches!(import_error("{}"), HarError::NoLog));
        assert!(matches!(import_error(r#"{"log":{}}"#), HarError::NoEntries));
        let e = import_error(r#"{"log":{"entries":[{"request":{"method":"GET"}}]}}"#);
        assert!(
            matches!(
                e,
                HarError::EntryField {
                    index: 0,
                    field: "request.url"
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "entry 0: no request.url");
    }
}
