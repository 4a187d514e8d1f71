//! The detail pane of one row: its records read again by byte offset, shown as tabs
//! (request, response, LLM conversation, raw records).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use base64::Engine as _;
use phonehome_analyze::llm::{self, Conversation, Message, Part};
use phonehome_analyze::Exchange;
use phonehome_record::{Body, BodyEncoding, Record};
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
    pub tabs: Vec<Tab>,
}

impl Detail {
    /// Reads the records behind `row` from `path`.
    pub fn load(path: &Path, row: &Row, fold_depth: usize) -> Detail {
        let offsets = [Some(row.at), row.response_at, row.error_at];
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
        for record in &records {
            match record {
                Record::Request(r) => request = Some(r.clone()),
                Record::Response(r) => response = Some(r.clone()),
                Record::Error(e) if row.flow.is_some() => {
                    error = Some((e.phase, e.message.clone()));
                }
                _ => {}
            }
        }
        let exchange = request.map(|r| Exchange::from_records(r, response, error));
        let conversation = exchange.as_ref().and_then(llm::decode);
        let title = format!("{} {}:{}{}", row.method, row.host, row.port, row.path);
        let mut detail = Detail {
            title,
            records,
            exchange,
            conversation,
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
        let mut tabs = Vec::new();
        if let Some(x) = &self.exchange {
            tabs.push(request_tab(x, fold_depth));
            tabs.push(response_tab(x, fold_depth));
        }
        if let Some(c) = &self.conversation {
            tabs.push(conversation_tab(c));
        }
        tabs.push(raw_tab(&self.records, fold_depth));
        self.tabs = tabs;
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

fn heading(text: impl Into<String>) -> Line<'static> {
    Line::from(Span::styled(
        text.into(),
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    ))
}

fn note(text: &str) -> Line<'static> {
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

fn request_tab(x: &Exchange, fold_depth: usize) -> Tab {
    let mut lines = vec![heading(format!("{} {} {}", x.method, x.url, x.version))];
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

fn response_tab(x: &Exchange, fold_depth: usize) -> Tab {
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
        None => lines.push(heading("no response")),
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
    let mut lines = Vec::new();
    let mut facts = vec![c.api.to_owned(), c.model_label()];
    if c.streaming {
        facts.push("streamed".into());
    }
    if c.meta {
        facts.push("side call".into());
    }
    if let Some(session) = &c.session {
        facts.push(format!("session {session}"));
    }
    lines.push(heading(facts.join(" · ")));
    lines.push(Line::raw(c.timing().join(" · ")));
    if !c.parameters.is_empty() {
        let params: Vec<String> = c
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        lines.push(Line::raw(format!("parameters: {}", params.join(" "))));
    }
    if let Some(e) = &c.error {
        let status = e.status.map(|s| format!("{s} ")).unwrap_or_default();
        let kind = e
            .kind
            .as_deref()
            .map(|k| format!("{k}: "))
            .unwrap_or_default();
        lines.push(note(&format!("error: {status}{kind}{}", e.message)));
    }
    for n in &c.notes {
        lines.push(note(n));
    }
    if !c.system_instructions.is_empty() {
        lines.push(Line::default());
        lines.push(role_line("system"));
        parts_lines(&c.system_instructions, &mut lines);
    }
    if !c.tool_definitions.is_empty() {
        lines.push(Line::default());
        lines.push(role_line(&format!("tools ({})", c.tool_definitions.len())));
        for tool in &c.tool_definitions {
            let description = tool
                .description
                .as_deref()
                .and_then(|d| d.lines().next())
                .unwrap_or_default();
            lines.push(Line::from(vec![
                Span::styled(tool.name.clone(), json::key_style()),
                Span::raw(format!("  {description}")),
            ]));
        }
    }
    messages_lines(&c.input_messages, &mut lines);
    if !c.output_messages.is_empty() {
        lines.push(Line::default());
        lines.push(heading("── answer ──"));
        messages_lines(&c.output_messages, &mut lines);
    }
    let payload = serde_json::to_vec_pretty(c).unwrap_or_default();
    Tab {
        name: "LLM",
        lines,
        payload,
    }
}

fn role_line(role: &str) -> Line<'static> {
    Line::from(Span::styled(
        format!("── {role} ──"),
        Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
    ))
}

fn messages_lines(messages: &[Message], lines: &mut Vec<Line<'static>>) {
    for message in messages {
        lines.push(Line::default());
        let role = match &message.finish_reason {
            Some(reason) => format!("{} (finish: {reason})", message.role),
            None => message.role.clone(),
        };
        lines.push(role_line(&role));
        parts_lines(&message.parts, lines);
    }
}

fn parts_lines(parts: &[Part], lines: &mut Vec<Line<'static>>) {
    for part in parts {
        match part {
            Part::Text { content } => {
                lines.extend(content.lines().map(|l| Line::raw(l.to_owned())));
            }
            Part::Reasoning { content } => {
                let style = Style::new().add_modifier(Modifier::ITALIC | Modifier::DIM);
                lines.push(Line::styled("[reasoning]", style));
                lines.extend(content.lines().map(|l| Line::styled(l.to_owned(), style)));
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                let mut spans = vec![
                    Span::styled("→ call ", Style::new().fg(Color::Magenta)),
                    Span::styled(name.clone(), json::key_style()),
                ];
                if let Some(id) = id {
                    spans.push(Span::styled(
                        format!(" [{id}]"),
                        Style::new().add_modifier(Modifier::DIM),
                    ));
                }
                spans.push(Span::raw(" "));
                spans.extend(json::compact_line(arguments).spans);
                lines.push(Line::from(spans));
            }
            Part::ToolCallResponse { id, response } => {
                let id = id.as_deref().map(|i| format!(" [{i}]")).unwrap_or_default();
                lines.push(Line::styled(
                    format!("← result{id}"),
                    Style::new().fg(Color::Magenta),
                ));
                match response {
                    Value::String(text) => {
                        lines.extend(text.lines().map(|l| Line::raw(l.to_owned())));
                    }
                    other => lines.push(json::compact_line(other)),
                }
            }
            Part::Other { kind, value } => {
                let mut spans = vec![Span::styled(
                    format!("[{kind}] "),
                    Style::new().add_modifier(Modifier::DIM),
                )];
                spans.extend(json::compact_line(value).spans);
                lines.push(Line::from(spans));
            }
        }
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
