//! Conversations as text for people, in the two layouts phonehome shows them: the listing of
//! `phonehome llm` (one line per part, `role: text`, abbreviated, only the last input messages)
//! and the detail of the viewer's LLM tab (every message whole, as a block under its role).
//!
//! Pure: a conversation becomes [`Line`]s of typed [`Span`]s. A terminal maps each [`Style`] to
//! its colours and shows [`Span::Json`] highlighted; [`Line::plain`] gives the bare text.
//!
//! ```text
//! listing                                        detail
//! --- flow 2 · 2026-…Z · host · openai.chat · m    openai.chat · m · streamed
//!   tokens: 120 in, 18 out · TTFT 210 ms           tokens: 120 in, 18 out · TTFT 210 ms
//!   system: You are a coding agent.                ── system ──
//!   user: add a test                               You are a coding agent.
//!   === answer                                     ── user ──
//!   assistant: → read({"path":"a"}) [call_1]       add a test
//!                                                  ── answer ──
//!                                                  ── assistant (finish: tool_calls) ──
//!                                                  → call read [call_1] {"path":"a"}
//! ```

use std::borrow::Cow;

use serde_json::Value;

use super::conversation::{Conversation, LlmError, Message, Part};

/// Characters of the system instructions shown in the listing.
const SYSTEM_CHARS: usize = 300;
/// Characters of each input message part (and of the tool and parameter lists) in the listing.
const INPUT_CHARS: usize = 400;
/// Characters of each answer part in the listing.
const OUTPUT_CHARS: usize = 4_000;
/// Input messages in the listing: the last ones, since each call resends the history before.
const LAST_INPUTS: usize = 3;

/// What a span is, for a terminal to style it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    /// The conversation's heading, and the answer's.
    Heading,
    /// A role or section heading (`── user ──`).
    Role,
    /// The call's error, or a note on what could not be decoded.
    Note,
    /// Model reasoning.
    Reasoning,
    /// The arrow of a tool call or of its result.
    Tool,
    /// A tool's name.
    Name,
    /// Ids, part kinds: what matters less.
    Dim,
}

/// A piece of a line.
#[derive(Debug, Clone, PartialEq)]
pub enum Span<'a> {
    Text(Style, Cow<'a, str>),
    /// A JSON value (tool arguments, a structured result), shown compact:
    /// `{"path":"src/lib.rs"}`.
    Json(&'a Value),
}

/// One line of text, as spans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line<'a> {
    pub spans: Vec<Span<'a>>,
}

/// The two layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `phonehome llm`: a heading with flow, time and host, then one line per part.
    Listing,
    /// The viewer's LLM tab: facts, then every message as a block.
    Detail,
}

impl<'a> Line<'a> {
    fn styled(style: Style, text: impl Into<Cow<'a, str>>) -> Self {
        Line {
            spans: vec![Span::Text(style, text.into())],
        }
    }

    fn plain_text(text: impl Into<Cow<'a, str>>) -> Self {
        Line::styled(Style::Plain, text)
    }

    /// The line's text without styles (JSON compact, as serde writes it).
    pub fn plain(&self) -> String {
        let mut out = String::new();
        for span in &self.spans {
            match span {
                Span::Text(_, text) => out.push_str(text),
                Span::Json(value) => out.push_str(&value.to_string()),
            }
        }
        out
    }
}

/// The lines of `c` in `layout`.
pub fn lines(c: &Conversation, layout: Layout) -> Vec<Line<'_>> {
    match layout {
        Layout::Listing => listing(c),
        Layout::Detail => detail(c),
    }
}

/// `c` in the listing layout, each line ended by a newline.
pub fn listing_text(c: &Conversation) -> String {
    let mut out = String::new();
    for line in listing(c) {
        out.push_str(&line.plain());
        out.push('\n');
    }
    out
}

/// The heading of a session's group in the listing: `=== session ses_A: 2 calls`.
pub fn session_heading(session: Option<&str>, calls: usize) -> String {
    let plural = if calls == 1 { "" } else { "s" };
    match session {
        Some(id) => format!("=== session {id}: {calls} call{plural}"),
        None => format!("=== no session id: {calls} call{plural}"),
    }
}

/// API, model, and whether streamed or a side call.
fn facts(c: &Conversation) -> Vec<String> {
    let mut facts = vec![c.api.to_owned(), c.model_label()];
    if c.streaming {
        facts.push("streamed".into());
    }
    if c.meta {
        facts.push("side call".into());
    }
    facts
}

/// `429 rate_limit_error: Rate limit reached`.
fn error_phrase(e: &LlmError) -> String {
    let status = e.status.map(|s| format!("{s} ")).unwrap_or_default();
    let kind = e
        .kind
        .as_deref()
        .map(|k| format!("{k}: "))
        .unwrap_or_default();
    format!("error: {status}{kind}{}", e.message)
}

/// The request parameters as `key=value` (the value as JSON).
fn parameters(c: &Conversation) -> Vec<String> {
    c.parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

fn listing(c: &Conversation) -> Vec<Line<'_>> {
    let head = format!(
        "--- flow {} · {} · {} · {}",
        c.flow,
        c.ts,
        c.host,
        facts(c).join(" · ")
    );
    let mut out = vec![
        Line::styled(Style::Heading, head),
        Line::plain_text(format!("  {}", c.timing().join(" · "))),
    ];
    if let Some(e) = &c.error {
        out.push(Line::styled(Style::Note, format!("  {}", error_phrase(e))));
    }
    for note in &c.notes {
        out.push(Line::styled(Style::Note, format!("  note: {note}")));
    }
    if !c.system_instructions.is_empty() {
        let system: Vec<String> = c.system_instructions.iter().map(part_text).collect();
        labelled(&mut out, "system", &system.join("\n"), SYSTEM_CHARS);
    }
    if !c.tool_definitions.is_empty() {
        let names: Vec<&str> = c.tool_definitions.iter().map(|t| t.name.as_str()).collect();
        let list = names.join(", ");
        let list = abbreviate(&list, INPUT_CHARS);
        out.push(Line::plain_text(format!(
            "  tools ({}): {list}",
            names.len()
        )));
    }
    if !c.parameters.is_empty() {
        labelled(
            &mut out,
            "parameters",
            &parameters(c).join(", "),
            INPUT_CHARS,
        );
    }
    let earlier = c.input_messages.len().saturating_sub(LAST_INPUTS);
    if earlier > 0 {
        out.push(Line::styled(
            Style::Dim,
            format!("  … {earlier} earlier messages"),
        ));
    }
    for m in &c.input_messages[earlier..] {
        listed_message(&mut out, m, INPUT_CHARS);
    }
    if !c.output_messages.is_empty() {
        out.push(Line::styled(Style::Heading, "  === answer"));
        for m in &c.output_messages {
            listed_message(&mut out, m, OUTPUT_CHARS);
        }
    }
    out
}

/// One line per part: `  role: text`, `  role (reasoning): text`, or `  role: (empty)`.
fn listed_message(out: &mut Vec<Line<'_>>, m: &Message, max: usize) {
    for part in &m.parts {
        let label = match part {
            Part::Reasoning { .. } => format!("{} (reasoning)", m.role),
            _ => m.role.clone(),
        };
        labelled(out, &label, &part_text(part), max);
    }
    if m.parts.is_empty() {
        out.push(Line::plain_text(format!("  {}: (empty)", m.role)));
    }
}

/// A part in one string: text as is, a tool call as `→ name(arguments) [id]`, its result as
/// `← [id] result`.
fn part_text(part: &Part) -> String {
    match part {
        Part::Text { content } | Part::Reasoning { content } => content.clone(),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => {
            let id = id
                .as_deref()
                .map(|id| format!(" [{id}]"))
                .unwrap_or_default();
            format!("→ {name}({arguments}){id}")
        }
        Part::ToolCallResponse { id, response } => {
            let id = id
                .as_deref()
                .map(|id| format!("[{id}] "))
                .unwrap_or_default();
            let text = response
                .as_str()
                .map_or_else(|| response.to_string(), str::to_owned);
            format!("← {id}{text}")
        }
        Part::Other { kind, value } => format!("({kind}) {value}"),
    }
}

/// `  label: text`, abbreviated to `max` characters, continuation lines indented.
fn labelled(out: &mut Vec<Line<'_>>, label: &str, text: &str, max: usize) {
    let text = abbreviate(text, max);
    let mut pieces = text.split('\n');
    let first = pieces.next().unwrap_or_default();
    out.push(Line::plain_text(format!("  {label}: {first}")));
    out.extend(pieces.map(|piece| Line::plain_text(format!("    {piece}"))));
}

/// The first `max` characters of `text`, and how many more there were: `abc… (+12 chars)`.
fn abbreviate(text: &str, max: usize) -> Cow<'_, str> {
    let total = text.chars().count();
    if total <= max {
        return Cow::Borrowed(text);
    }
    let kept: String = text.chars().take(max).collect();
    Cow::Owned(format!("{kept}… (+{} chars)", total - max))
}

fn detail(c: &Conversation) -> Vec<Line<'_>> {
    let mut facts = facts(c);
    if let Some(session) = &c.session {
        facts.push(format!("session {session}"));
    }
    let mut out = vec![
        Line::styled(Style::Heading, facts.join(" · ")),
        Line::plain_text(c.timing().join(" · ")),
    ];
    if !c.parameters.is_empty() {
        out.push(Line::plain_text(format!(
            "parameters: {}",
            parameters(c).join(" ")
        )));
    }
    if let Some(e) = &c.error {
        out.push(Line::styled(
            Style::Note,
            format!("note: {}", error_phrase(e)),
        ));
    }
    for n in &c.notes {
        out.push(Line::styled(Style::Note, format!("note: {n}")));
    }
    if !c.system_instructions.is_empty() {
        out.push(Line::default());
        out.push(role("system".to_owned()));
        parts_block(&mut out, &c.system_instructions);
    }
    if !c.tool_definitions.is_empty() {
        out.push(Line::default());
        out.push(role(format!("tools ({})", c.tool_definitions.len())));
        for tool in &c.tool_definitions {
            let description = tool.description.as_deref().unwrap_or_default();
            let first = description.lines().next().unwrap_or_default();
            out.push(Line {
                spans: vec![
                    Span::Text(Style::Name, Cow::Borrowed(&tool.name)),
                    Span::Text(Style::Plain, Cow::Owned(format!("  {first}"))),
                ],
            });
        }
    }
    messages_block(&mut out, &c.input_messages);
    if !c.output_messages.is_empty() {
        out.push(Line::default());
        out.push(Line::styled(Style::Heading, "── answer ──"));
        messages_block(&mut out, &c.output_messages);
    }
    out
}

/// `── user ──`
fn role<'a>(role: String) -> Line<'a> {
    Line::styled(Style::Role, format!("── {role} ──"))
}

/// Each message: a blank line, its role (and finish reason), its parts.
fn messages_block<'a>(out: &mut Vec<Line<'a>>, messages: &'a [Message]) {
    for message in messages {
        out.push(Line::default());
        out.push(role(match &message.finish_reason {
            Some(reason) => format!("{} (finish: {reason})", message.role),
            None => message.role.clone(),
        }));
        parts_block(out, &message.parts);
    }
}

/// Parts whole: text line by line, reasoning under `[reasoning]`, a tool call as
/// `→ call name [id] arguments`, its result under `← result [id]`.
fn parts_block<'a>(out: &mut Vec<Line<'a>>, parts: &'a [Part]) {
    for part in parts {
        match part {
            Part::Text { content } => out.extend(text_lines(Style::Plain, content)),
            Part::Reasoning { content } => {
                out.push(Line::styled(Style::Reasoning, "[reasoning]"));
                out.extend(text_lines(Style::Reasoning, content));
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => out.push(tool_call(id.as_deref(), name, arguments)),
            Part::ToolCallResponse { id, response } => {
                let id = id.as_deref().map(|i| format!(" [{i}]")).unwrap_or_default();
                out.push(Line::styled(Style::Tool, format!("← result{id}")));
                match response {
                    Value::String(text) => out.extend(text_lines(Style::Plain, text)),
                    other => out.push(Line {
                        spans: vec![Span::Json(other)],
                    }),
                }
            }
            Part::Other { kind, value } => out.push(Line {
                spans: vec![
                    Span::Text(Style::Dim, Cow::Owned(format!("[{kind}] "))),
                    Span::Json(value),
                ],
            }),
        }
    }
}

fn text_lines<'a>(style: Style, text: &'a str) -> impl Iterator<Item = Line<'a>> {
    text.lines().map(move |l| Line::styled(style, l))
}

fn tool_call<'a>(id: Option<&str>, name: &'a str, arguments: &'a Value) -> Line<'a> {
    let mut spans = vec![
        Span::Text(Style::Tool, Cow::Borrowed("→ call ")),
        Span::Text(Style::Name, Cow::Borrowed(name)),
    ];
    if let Some(id) = id {
        spans.push(Span::Text(Style::Dim, Cow::Owned(format!(" [{id}]"))));
    }
    spans.push(Span::Text(Style::Plain, Cow::Borrowed(" ")));
    spans.push(Span::Json(arguments));
    Line { spans }
}

#[cfg(test)]
mod tests;
