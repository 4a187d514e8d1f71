//! The detail pane of one row: its records read again by byte offset, shown as tabs
//! (request, response, LLM conversation, decoded telemetry, raw records), with the process that owned the
//! connection when its `conn` record names one.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use base64::Engine as _;
use phonehome_analyze::llm::text::{self, Layout};
use phonehome_analyze::llm::{self, Conversation};
use phonehome_analyze::telemetry::{self, Telemetry};
use phonehome_analyze::Exchange;
use phonehome_record::{Body, BodyEncoding, Conn, ConnProcess, Record, Sinkhole};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use serde_json::Value;

use crate::index::Row;
use crate::json;

/// One tab of the detail pane.
pub struct Tab {
    pub name: &'static str,
    pub lines: Vec<Line<'static>>,
    /// What `c` copies: the whole payload of the tab.
    pub payload: Vec<u8>,
}

/// A row's records, decoded once; the tabs are rebuilt when the fold depth changes.
pub struct Detail {
    pub title: String,
    records: Vec<Record>,
    exchange: Option<Exchange>,
    conversation: Option<Conversation>,
    /// The decoded telemetry request, when it is one.
    telemetry: Option<Telemetry>,
    /// Set when phonehome answered the request itself.
    sinkhole: Option<Sinkhole>,
    /// The connection's `conn` record, when it names a process.
    conn: Option<Conn>,
    /// Why the connection was made (`cause.rs`), once known.
    cause: Option<String>,
    pub tabs: Vec<Tab>,
}

impl Detail {
    /// Reads the records behind `row` from `path`.
    pub fn load(path: &Path, row: &Row, fold_depth: usize) -> Detail {
        let offsets = [Some(row.at), row.response_at, row.error_at, row.conn_at];
        let mut records = Vec::new();
        let mut problems = Vec::new();
        match File::open(path) {
            Ok(mut file) => {
                for at in offsets.into_iter().flatten() {
                    match read_record(&mut file, at) {
                        Ok(record) => records.push(record),
                        Err(why) => problems.push(format!("{}{why}", path.display())),
                    }
                }
            }
            Err(e) => problems.push(format!("cannot read {}: {e}", path.display())),
        }
        let mut request = None;
        let mut response = None;
        let mut error = None;
        let mut conn = None;
        for record in &records {
            match record {
                Record::Request(r) => request = Some(r.clone()),
                Record::Conn(c) if c.process.is_some() => conn = Some(c.clone()),
                Record::Response(r) => response = Some(r.clone()),
                Record::Error(e) if row.flow.is_some() => {
                    error = Some((e.phase, e.message.clone()));
                }
                _ => {}
            }
        }
        let sinkhole = request.as_ref().and_then(|r| r.sinkhole);
        let exchange = request.map(|r| Exchange::from_records(r, response, error));
        let conversation = exchange.as_ref().and_then(llm::decode);
        let telemetry = exchange.as_ref().and_then(telemetry::decode);
        let title = format!("{} {}:{}{}", row.method, row.host, row.port, row.path);
        let mut detail = Detail {
            title,
            records,
            exchange,
            conversation,
            telemetry,
            sinkhole,
            conn,
            cause: None,
            tabs: Vec::new(),
        };
        detail.build(fold_depth);
        for why in problems {
            if let Some(tab) = detail.tabs.first_mut() {
                tab.lines.insert(0, note(&why));
            }
        }
        detail
    }

    /// (Re)builds the tabs with containers below `fold_depth` folded.
    pub fn build(&mut self, fold_depth: usize) {
        // Who sent it: under the request line, or above the records of a row without one.
        let mut process = self.conn.as_ref().map(process_lines).unwrap_or_default();
        if let Some(cause) = &self.cause {
            let line = Line::from(vec![
                Span::styled(format!("{:<9}", "cause"), json::key_style()),
                Span::raw(cause.clone()),
            ]);
            // Above the blank line that ends the process's lines.
            let at = process.len().saturating_sub(1);
            process.insert(at, line);
            if process.len() == 1 {
                process.push(Line::default());
            }
        }
        let mut tabs = Vec::new();
        let mut raw_process = Vec::new();
        if let Some(x) = &self.exchange {
            tabs.push(request_tab(x, self.sinkhole, process, fold_depth));
            tabs.push(response_tab(x, self.sinkhole, fold_depth));
        } else {
            raw_process = process;
        }
        if let Some(c) = &self.conversation {
            tabs.push(conversation_tab(c));
        }
        if let Some(t) = &self.telemetry {
            tabs.push(crate::telemetry::tab(t));
        }
        let mut raw = raw_tab(&self.records, fold_depth);
        raw.lines.splice(0..0, raw_process);
        tabs.push(raw);
        self.tabs = tabs;
    }
}

impl Detail {
    /// Whether the records read name the connection's process (its `conn` record, or its
    /// first request).
    pub fn process_known(&self) -> bool {
        let known =
            |p: &Option<Box<ConnProcess>>| p.as_deref().and_then(ConnProcess::known).is_some();
        self.conn.as_ref().is_some_and(|c| known(&c.process))
            || self
                .records
                .iter()
                .any(|r| matches!(r, Record::Request(q) if known(&q.process)))
    }

    /// Shows why the connection was made (a line under the process), rebuilding the tabs.
    pub fn set_cause(&mut self, cause: String, fold_depth: usize) {
        self.cause = Some(cause);
        self.build(fold_depth);
    }
}

/// The record on the line at byte `at`; the error follows the file's name.
fn read_record(file: &mut File, at: u64) -> Result<Record, String> {
    let mut line = String::new();
    file.seek(SeekFrom::Start(at))
        .and_then(|_| BufReader::new(&mut *file).read_line(&mut line))
        .map_err(|e| format!(": cannot read at byte {at}: {e}"))?;
    Record::from_line(line.trim_end()).map_err(|e| format!(" at byte {at}: not a record: {e}"))
}

pub(crate) fn heading(text: impl Into<String>) -> Line<'static> {
    Line::from(Span::styled(
        text.into(),
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    ))
}

pub(crate) fn note(text: &str) -> Line<'static> {
    Line::from(Span::styled(
        format!("note: {text}"),
        Style::new().fg(Color::Red),
    ))
}

fn header_lines(headers: &[(String, String)], out: &mut Vec<Line<'static>>) {
    for (name, value) in headers {
        out.push(Line::from(vec![
            Span::styled(name.clone(), json::key_style()),
            Span::raw(": "),
            Span::raw(value.clone()),
        ]));
    }
}

/// The process that owned the connection: name, pid, parent, start, executable, command line
/// and the chain of its parents up to the command phonehome started.
fn process_lines(conn: &Conn) -> Vec<Line<'static>> {
    let label = |name: &str| Span::styled(format!("{name:<9}"), json::key_style());
    let dim = Style::new().add_modifier(Modifier::DIM);
    let info = match conn.process.as_deref() {
        Some(ConnProcess::Known(info)) => info,
        Some(ConnProcess::Unknown { unknown }) => {
            return vec![
                Line::from(vec![
                    label("process"),
                    Span::raw(format!("not known: {unknown}")),
                ]),
                Line::default(),
            ];
        }
        None => return Vec::new(),
    };
    let name = info.name();
    let mut lines = vec![
        Line::from(vec![
            label("process"),
            Span::styled(name.to_owned(), Style::new().add_modifier(Modifier::BOLD)),
            Span::styled(
                format!(
                    " · pid {} · ppid {} · started {}",
                    info.pid, info.ppid, info.start
                ),
                dim,
            ),
        ]),
        Line::from(vec![label("exe"), Span::raw(info.exe.clone())]),
        Line::from(vec![label("argv"), Span::raw(info.argv.join(" "))]),
    ];
    if !conn.ancestry.is_empty() {
        let chain: Vec<String> = conn
            .ancestry
            .iter()
            .map(|a| {
                let name = a.exe.as_deref().or(a.comm.as_deref()).unwrap_or("?");
                format!("{} {}", name.rsplit('/').next().unwrap_or(name), a.pid)
            })
            .collect();
        lines.push(Line::from(vec![
            label("parents"),
            Span::raw(chain.join(" ← ")),
        ]));
    }
    lines.push(Line::default());
    lines
}

/// What phonehome answered instead of forwarding: the status and why.
fn sinkhole_text(sinkhole: Sinkhole) -> &'static str {
    match sinkhole {
        Sinkhole::Denied => "sinkholed: phonehome answered 403 itself (the policy denies it); nothing was forwarded",
        Sinkhole::Unreachable => "sinkholed: phonehome answered 502 itself (the upstream could not be reached); nothing was forwarded",
    }
}

fn request_tab(
    x: &Exchange,
    sinkhole: Option<Sinkhole>,
    process: Vec<Line<'static>>,
    fold_depth: usize,
) -> Tab {
    let mut lines = vec![heading(format!("{} {} {}", x.method, x.url, x.version))];
    if let Some(sinkhole) = sinkhole {
        lines.push(Line::styled(
            sinkhole_text(sinkhole),
            Style::new().fg(Color::Yellow),
        ));
    }
    lines.extend(process);
    header_lines(&x.request_headers, &mut lines);
    if !x.raw_header_names.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("as sent: {}", x.raw_header_names.join(", ")),
            Style::new().add_modifier(Modifier::DIM),
        )));
    }
    lines.push(Line::default());
    let content_type = x.request_header("content-type");
    let payload = body_lines(
        x.request_body.as_ref(),
        content_type,
        fold_depth,
        &mut lines,
    );
    Tab {
        name: "Request",
        lines,
        payload,
    }
}

fn response_tab(x: &Exchange, sinkhole: Option<Sinkhole>, fold_depth: usize) -> Tab {
    let mut lines = Vec::new();
    let mut payload = Vec::new();
    match &x.response {
        Some(r) => {
            lines.push(heading(format!("{} {} {}", r.version, r.status, r.reason)));
            let first = r
                .first_byte_ms
                .map(|ms| format!(" · first body byte {ms} ms"))
                .unwrap_or_default();
            lines.push(Line::from(Span::styled(
                format!("head {} ms{first} · end {} ms", r.ttfb_ms, r.duration_ms),
                Style::new().add_modifier(Modifier::DIM),
            )));
            header_lines(&r.headers, &mut lines);
            lines.push(Line::default());
            let content_type = x.response_header("content-type");
            payload = body_lines(r.body.as_ref(), content_type, fold_depth, &mut lines);
        }
        None => match sinkhole {
            Some(sinkhole) => lines.push(heading(sinkhole_text(sinkhole))),
            None => lines.push(heading("no response")),
        },
    }
    if let Some((phase, message)) = &x.error {
        lines.push(Line::default());
        lines.push(note(&format!("failed ({phase}): {message}")));
    }
    Tab {
        name: "Response",
        lines,
        payload,
    }
}

/// Appends the lines of a body and returns its bytes (what a copy gives).
fn body_lines(
    body: Option<&Body>,
    content_type: Option<&str>,
    fold_depth: usize,
    out: &mut Vec<Line<'static>>,
) -> Vec<u8> {
    let Some(body) = body else {
        out.push(Line::from(Span::styled(
            "(no body)",
            Style::new().add_modifier(Modifier::DIM),
        )));
        return Vec::new();
    };
    let mut facts = vec![format!("{} bytes", body.size)];
    if let Some(from) = &body.decoded_from {
        facts.push(format!("decoded from {from}"));
    }
    if body.truncated {
        facts.push(format!("stored {} bytes, truncated", body.data.len()));
    }
    if body.dropped_bytes > 0 {
        facts.push(format!("{} bytes dropped", body.dropped_bytes));
    }
    out.push(Line::from(Span::styled(
        format!("body: {}", facts.join(" · ")),
        Style::new().add_modifier(Modifier::DIM),
    )));
    if body.encoding == BodyEncoding::Base64 {
        out.push(Line::from(Span::styled(
            "binary: shown as base64",
            Style::new().add_modifier(Modifier::DIM),
        )));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&body.data)
            .unwrap_or_else(|_| body.data.clone().into_bytes());
        for chunk in body.data.as_bytes().chunks(96) {
            out.push(Line::raw(String::from_utf8_lossy(chunk).into_owned()));
        }
        return bytes;
    }
    let text = body.data.as_str();
    let content_type = content_type.unwrap_or_default().to_ascii_lowercase();
    if content_type.contains("event-stream") {
        sse_lines(text, body.truncated, out);
    } else if content_type.contains("ndjson") || content_type.contains("jsonl") {
        for line in text.lines() {
            match serde_json::from_str::<Value>(line) {
                Ok(value) => out.push(json::compact_line(&value)),
                Err(_) => out.push(Line::raw(line.to_owned())),
            }
        }
    } else {
        let looks_json = text.trim_start().starts_with(['{', '[']);
        if content_type.contains("json") || looks_json {
            match serde_json::from_str::<Value>(text) {
                Ok(value) => out.extend(json::lines(&value, fold_depth)),
                Err(e) => {
                    let claim = if content_type.contains("json") {
                        format!("content-type says {content_type} but")
                    } else {
                        "looks like JSON but".to_owned()
                    };
                    let cut = if body.truncated {
                        " (the stored body is truncated)"
                    } else {
                        ""
                    };
                    out.push(note(&format!(
                        "{claim} the body does not parse: {e}{cut}; shown raw"
                    )));
                    out.extend(text.lines().map(|l| Line::raw(l.to_owned())));
                }
            }
        } else {
            out.extend(text.lines().map(|l| Line::raw(l.to_owned())));
        }
    }
    text.as_bytes().to_vec()
}

/// Server-sent events, one line per event: its type and its data (compact JSON when it is).
fn sse_lines(text: &str, truncated: bool, out: &mut Vec<Line<'static>>) {
    let sse = llm::sse::parse(text);
    out.push(heading(format!("{} server-sent events", sse.events.len())));
    for (i, event) in sse.events.iter().enumerate() {
        let mut spans = vec![Span::styled(
            format!("#{:<4} ", i + 1),
            Style::new().add_modifier(Modifier::DIM),
        )];
        if event.event != "message" {
            spans.push(Span::styled(format!("{} ", event.event), json::key_style()));
        }
        match serde_json::from_str::<Value>(&event.data) {
            Ok(value) => spans.extend(json::compact_line(&value).spans),
            Err(_) => spans.push(Span::raw(event.data.clone())),
        }
        out.push(Line::from(spans));
    }
    if sse.torn || truncated {
        out.push(note(
            "the stream ends in the middle of an event (cut or truncated); what is left of it, raw:",
        ));
        let tail = text
            .rfind("\n\n")
            .map_or(text, |at| &text[at + 2..])
            .trim_end_matches(['\r', '\n']);
        out.extend(tail.lines().map(|l| Line::raw(l.to_owned())));
    }
}

fn conversation_tab(c: &Conversation) -> Tab {
    let lines = text::lines(c, Layout::Detail)
        .iter()
        .map(styled_line)
        .collect();
    let payload = serde_json::to_vec_pretty(c).unwrap_or_default();
    Tab {
        name: "LLM",
        lines,
        payload,
    }
}

/// A line of the conversation's text in the viewer's colours; JSON highlighted.
fn styled_line(line: &text::Line<'_>) -> Line<'static> {
    let mut spans = Vec::new();
    for span in &line.spans {
        match span {
            text::Span::Text(style, text) => {
                spans.push(Span::styled(text.to_string(), conversation_style(*style)));
            }
            text::Span::Json(value) => spans.extend(json::compact_line(value).spans),
        }
    }
    Line::from(spans)
}

fn conversation_style(style: text::Style) -> Style {
    match style {
        text::Style::Plain => Style::new(),
        text::Style::Heading => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        text::Style::Role => Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
        text::Style::Note => Style::new().fg(Color::Red),
        text::Style::Reasoning => Style::new().add_modifier(Modifier::ITALIC | Modifier::DIM),
        text::Style::Tool => Style::new().fg(Color::Magenta),
        text::Style::Name => json::key_style(),
        text::Style::Dim => Style::new().add_modifier(Modifier::DIM),
    }
}

fn raw_tab(records: &[Record], fold_depth: usize) -> Tab {
    let mut lines = Vec::new();
    let mut payload = Vec::new();
    for record in records {
        let value = serde_json::to_value(record).unwrap_or(Value::Null);
        lines.extend(json::lines(&value, fold_depth.max(1)));
        payload.extend(serde_json::to_vec(record).unwrap_or_default());
        payload.push(b'\n');
    }
    Tab {
        name: "Records",
        lines,
        payload,
    }
}
