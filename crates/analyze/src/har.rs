//! HAR 1.2 (W3C draft "HTTP Archive format", as browsers, mitmproxy's hardump and httptap
//! write it): export a capture, and import HAR files for reports.
//!
//! Export keeps what HAR has no field for in `_phonehome*` custom fields (HAR allows fields
//! starting with `_`): the capture and end records, flow ids, stored bodies exactly, failed
//! flows and connection-level failures. Import reads them back, so a capture exported and
//! imported gives the same report; HAR files from other tools are read from the standard fields.

use std::io::Write;

use base64::Engine as _;
use phonehome_record::{Body, BodyEncoding, Capture, End, Mode, Phase, Target};
use serde_json::{json, Value};

use crate::source::{self, Event, Exchange, ResponsePart};

/// Writes `events` (from [`crate::open`]) as a HAR 1.2 document to `out`, entry by entry.
///
/// # Errors
/// An I/O error writing, or the first error reading the input.
pub fn export<W: Write>(
    events: impl Iterator<Item = Result<Event, source::SourceError>>,
    mut out: W,
) -> Result<(), ExportError> {
    write!(
        out,
        r#"{{"log":{{"version":"1.2","creator":{{"name":"phonehome","version":"{}"}},"pages":[],"entries":["#,
        env!("CARGO_PKG_VERSION")
    )?;
    let mut first = true;
    let mut header = Value::Null;
    let mut end = Value::Null;
    let mut failures = Vec::new();
    let mut conns = Vec::new();
    let mut blocked = Vec::new();
    for event in events {
        match event? {
            Event::Header(capture) => header = serde_json::to_value(&capture).unwrap_or_default(),
            Event::End(e) => end = serde_json::to_value(&e).unwrap_or_default(),
            Event::Failure {
                ts,
                target,
                phase,
                message,
            } => failures.push(json!({
                "ts": phonehome_record::timestamp(ts),
                "target": target, "phase": phase, "message": message,
            })),
            Event::Exchange(x) => {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                serde_json::to_writer(&mut out, &entry(&x)).map_err(std::io::Error::other)?;
            }
            Event::Conn(conn) => conns.push(serde_json::to_value(&conn).unwrap_or_default()),
            Event::Blocked(b) => blocked.push(serde_json::to_value(&b).unwrap_or_default()),
            Event::Ws(_) => {}
        }
    }
    write!(out, "],\"_phonehome\":")?;
    serde_json::to_writer(
        &mut out,
        &json!({"capture": header, "end": end, "failures": failures, "conns": conns, "blocked": blocked}),
    )
    .map_err(std::io::Error::other)?;
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
    Source(#[from] source::SourceError),
}

fn headers_json(headers: &[(String, String)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    )
}

fn mime(headers: &[(String, String)]) -> String {
    source::header(headers, "content-type")
        .unwrap_or("")
        .to_owned()
}

fn entry(x: &Exchange) -> Value {
    let query: Vec<Value> = x
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            json!({"name": n, "value": v})
        })
        .collect();
    let mut request = json!({
        "method": x.method, "url": x.url, "httpVersion": x.version,
        "cookies": [], "headers": headers_json(&x.request_headers), "queryString": query,
        "headersSize": -1,
        "bodySize": x.request_body.as_ref().map_or(0, |b| b.size as i64),
    });
    if !x.raw_header_names.is_empty() {
        request["_phonehome_raw_header_names"] = json!(x.raw_header_names);
    }
    if let Some(body) = &x.request_body {
        request["postData"] = json!({
            "mimeType": mime(&x.request_headers), "text": body.data, "_phonehome_body": body,
        });
    }
    let (response, time, wait, receive) = match &x.response {
        Some(r) => {
            let mut content = json!({
                "size": r.body.as_ref().map_or(0, |b| b.size), "mimeType": mime(&r.headers),
            });
            if let Some(body) = &r.body {
                content["text"] = json!(body.data);
                if body.encoding == BodyEncoding::Base64 {
                    content["encoding"] = json!("base64");
                }
                content["_phonehome_body"] = serde_json::to_value(body).unwrap_or_default();
            }
            (
                json!({
                    "status": r.status, "statusText": r.reason, "httpVersion": r.version,
                    "cookies": [], "headers": headers_json(&r.headers), "content": content,
                    "redirectURL": source::header(&r.headers, "location").unwrap_or(""),
                    "headersSize": -1, "bodySize": r.body.as_ref().map_or(0, |b| b.size as i64),
                }),
                r.duration_ms,
                r.ttfb_ms,
                r.duration_ms.saturating_sub(r.ttfb_ms),
            )
        }
        None => (
            json!({"status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
                   "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
                   "headersSize": -1, "bodySize": -1}),
            0,
            0,
            0,
        ),
    };
    let mut entry = json!({
        "startedDateTime": phonehome_record::timestamp(x.ts),
        "time": time, "request": request, "response": response, "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": wait, "receive": receive},
        "_phonehome_flow": x.flow,
    });
    if let Some((phase, message)) = &x.error {
        entry["_phonehome_error"] = json!({"phase": phase, "message": message});
        entry["_error"] = json!(message);
    }
    entry
}

/// Reads a HAR document into events.
///
/// # Errors
/// A message naming what is missing or malformed (the entry index where it applies).
pub(crate) fn import(text: &str) -> Result<Vec<Event>, String> {
    let har: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let log = har.get("log").ok_or("no `log` object")?;
    let entries = log["entries"].as_array().ok_or("no `log.entries` array")?;
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
            options: Value::Null,
            markers: Default::default(),
        });
    events.push(Event::Header(header));
    for (i, e) in entries.iter().enumerate() {
        let exchange = import_entry(e, i).map_err(|m| format!("entry {i}: {m}"))?;
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
                ts: source::parse_ts(f["ts"].as_str().unwrap_or_default()),
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
    })
}

fn import_entry(e: &Value, index: usize) -> Result<Exchange, String> {
    let request = &e["request"];
    let url = request["url"].as_str().ok_or("no request.url")?.to_owned();
    let method = request["method"]
        .as_str()
        .ok_or("no request.method")?
        .to_owned();
    let flow = e["_phonehome_flow"].as_u64().unwrap_or(index as u64 + 1);
    let ts = source::parse_ts(e["startedDateTime"].as_str().unwrap_or_default());
    let request_headers = headers_from(&request["headers"]);
    let request_body = body_from(&request["postData"], request["bodySize"].as_i64());
    let mut exchange = source::exchange(
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
