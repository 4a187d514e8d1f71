//! `llm`: the decoded LLM conversations of a capture, as text for people or JSON Lines for
//! scripts.

use std::io::Write as _;

use anyhow::{Context as _, Result};
use phonehome_analyze::llm::{self, Conversation, Message, Part};
use phonehome_analyze::{Event, Events};

use crate::cli::LlmArgs;

/// Characters of the system instructions shown in text output.
const SYSTEM_CHARS: usize = 300;
/// Characters of each input message part shown.
const INPUT_CHARS: usize = 400;
/// Characters of each answer part shown.
const OUTPUT_CHARS: usize = 4_000;
/// Input messages shown (the last ones: each call resends the history before them).
const LAST_INPUTS: usize = 3;

pub fn llm(args: &LlmArgs) -> Result<u8> {
    let path = &args.capture;
    let mut events = phonehome_analyze::open(path)?;
    let mut all = Vec::new();
    for event in &mut events {
        if let Event::Exchange(exchange) = event? {
            all.extend(llm::decode(&exchange));
        }
    }
    if let Events::Capture(capture) = &events {
        if let Some(line) = capture.torn_tail() {
            eprintln!(
                "phonehome: warning: {}: line {line}: the last line is incomplete (the capture was cut off) and was skipped",
                path.display()
            );
        }
    }
    all.sort_by_key(|c| c.flow);
    if let Some(session) = &args.session {
        if !all.iter().any(|c| c.session.as_deref() == Some(session)) {
            let known: Vec<&str> = llm::sessions(&all)
                .into_iter()
                .filter_map(|(id, _)| id)
                .collect();
            anyhow::bail!(
                "{}: no LLM call of session {session:?}; sessions in the capture: {}",
                path.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
        }
        all.retain(|c| c.session.as_deref() == Some(session));
    }
    let hidden = if args.include_meta {
        0
    } else {
        let before = all.len();
        all.retain(|c| !c.meta);
        before - all.len()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        for c in &all {
            serde_json::to_writer(&mut out, c).context("cannot write to standard output")?;
            out.write_all(b"\n")
                .context("cannot write to standard output")?;
        }
    } else {
        out.write_all(text(&all).as_bytes())
            .context("cannot write to standard output")?;
    }
    out.flush().context("cannot write to standard output")?;
    if hidden > 0 {
        eprintln!(
            "phonehome: {hidden} side call{} (title generation, summaries) hidden; --include-meta shows {}",
            if hidden == 1 { "" } else { "s" },
            if hidden == 1 { "it" } else { "them" }
        );
    }
    Ok(0)
}

/// The conversations as text, grouped by session.
fn text(all: &[Conversation]) -> String {
    if all.is_empty() {
        return "No LLM call.\n".to_owned();
    }
    let mut out = String::new();
    for (session, calls) in llm::sessions(all) {
        let n = calls.len();
        let plural = if n == 1 { "" } else { "s" };
        match session {
            Some(id) => out.push_str(&format!("=== session {id}: {n} call{plural}\n")),
            None => out.push_str(&format!("=== no session id: {n} call{plural}\n")),
        }
        for c in calls {
            out.push('\n');
            conversation(&mut out, c);
        }
        out.push('\n');
    }
    out
}

fn conversation(out: &mut String, c: &Conversation) {
    let model = c.model_label();
    let mut head = format!(
        "flow {} · {} · {} · {} · {model}",
        c.flow, c.ts, c.host, c.api
    );
    if c.streaming {
        head.push_str(" · streamed");
    }
    if c.meta {
        head.push_str(" · side call");
    }
    out.push_str(&format!("--- {head}\n"));
    out.push_str(&format!("  {}\n", c.timing().join(" · ")));
    if let Some(e) = &c.error {
        let mut label = Vec::new();
        if let Some(status) = e.status {
            label.push(status.to_string());
        }
        if let Some(kind) = &e.kind {
            label.push(kind.clone());
        }
        out.push_str(&format!("  error: {}: {}\n", label.join(" "), e.message));
    }
    for note in &c.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    if !c.system_instructions.is_empty() {
        let system: Vec<String> = c.system_instructions.iter().map(part_text).collect();
        line(out, "system", &system.join("\n"), SYSTEM_CHARS);
    }
    if !c.tool_definitions.is_empty() {
        let names: Vec<&str> = c.tool_definitions.iter().map(|t| t.name.as_str()).collect();
        out.push_str(&format!(
            "  tools ({}): {}\n",
            names.len(),
            abbreviate(&names.join(", "), INPUT_CHARS)
        ));
    }
    if !c.parameters.is_empty() {
        let params: Vec<String> = c
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        line(out, "parameters", &params.join(", "), INPUT_CHARS);
    }
    let earlier = c.input_messages.len().saturating_sub(LAST_INPUTS);
    if earlier > 0 {
        out.push_str(&format!("  … {earlier} earlier messages\n"));
    }
    for m in &c.input_messages[earlier..] {
        message(out, m, INPUT_CHARS);
    }
    if !c.output_messages.is_empty() {
        out.push_str("  === answer\n");
        for m in &c.output_messages {
            message(out, m, OUTPUT_CHARS);
        }
    }
}

/// `1830 in (1536 cached), 61 out (0 reasoning)`, or `no usage reported`.
fn message(out: &mut String, m: &Message, max: usize) {
    for part in &m.parts {
        let label = match part {
            Part::Reasoning { .. } => format!("{} (reasoning)", m.role),
            _ => m.role.clone(),
        };
        line(out, &label, &part_text(part), max);
    }
    if m.parts.is_empty() {
        out.push_str(&format!("  {}: (empty)\n", m.role));
    }
}

/// A part in one string: text as is, a tool call as `→ name(arguments)`.
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
                .map_or_else(String::new, |id| format!(" [{id}]"));
            format!("→ {name}({arguments}){id}")
        }
        Part::ToolCallResponse { id, response } => {
            let id = id
                .as_deref()
                .map_or_else(String::new, |id| format!("[{id}] "));
            let text = response
                .as_str()
                .map_or_else(|| response.to_string(), str::to_owned);
            format!("← {id}{text}")
        }
        Part::Other { kind, value } => format!("({kind}) {value}"),
    }
}

/// `  label: text`, abbreviated to `max` characters, continuation lines indented.
fn line(out: &mut String, label: &str, text: &str, max: usize) {
    let text = abbreviate(text, max).replace('\n', "\n    ");
    out.push_str(&format!("  {label}: {text}\n"));
}

fn abbreviate(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}… (+{} chars)", total - max)
}
