//! `llm`: the decoded LLM conversations of a capture, as text for people or JSON Lines for
//! scripts, each with the tool calls its answer asked for and what they caused (the join of
//! [`phonehome_analyze::causes`]). Calls are decoded in flow order and kept in a temporary
//! file; once the whole input is read (what a tool call caused is known only then) they are
//! written out, the text grouped by session through [`Listing`].

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Seek as _, Write};

use anyhow::{Context as _, Result};
use phonehome_analyze::causes::{self, Causes, Tap, ToolLog};
use phonehome_analyze::llm::{Calls, Conversation, Listing};
use phonehome_analyze::Events;

use phonehome_record::FlowId;

use crate::cli::LlmArgs;

/// Where the calls go: JSON Lines kept in a temporary file with each line's flow, or the
/// listing; both written at the end.
enum Output {
    Json {
        spill: BufWriter<File>,
        flows: Vec<FlowId>,
    },
    Text(Listing),
}

/// What the calls read so far say, for the messages at the end.
#[derive(Default)]
struct Seen {
    /// Session ids in order of first flow (for when `--session` matches none).
    sessions: Vec<String>,
    known: HashSet<String>,
    /// Calls of the chosen session (all calls without `--session`).
    matched: usize,
    /// Side calls left out.
    hidden: usize,
}

pub fn llm(args: &LlmArgs) -> Result<u8> {
    let path = &args.capture;
    let mut calls = Calls::new(Tap::new(phonehome_analyze::open(path)?));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut output = if args.json {
        Output::Json {
            spill: BufWriter::new(
                tempfile::tempfile().context("cannot create a temporary file for the calls")?,
            ),
            flows: Vec::new(),
        }
    } else {
        Output::Text(Listing::new().context("cannot create a temporary file for the listing")?)
    };
    let mut seen = Seen::default();
    let mut tools = ToolLog::default();
    for call in &mut calls {
        let call = call?;
        tools.call(&call);
        if seen.keep(&call, args) {
            output.add(&call)?;
        }
    }
    if let Events::Capture(capture) = calls.events().events() {
        crate::analysis_cmd::warn(path, &capture.warnings());
    }
    if let Some(session) = &args.session {
        if seen.matched == 0 {
            anyhow::bail!(
                "{}: no LLM call of session {session:?}; sessions in the capture: {}",
                path.display(),
                if seen.sessions.is_empty() {
                    "none".to_owned()
                } else {
                    seen.sessions.join(", ")
                }
            );
        }
    }
    let causes = causes::join(calls.into_events().into_connections(), tools);
    output.finish(&causes, &mut out)?;
    seen.report_hidden();
    Ok(0)
}

impl Seen {
    /// Notes `call`; whether it is shown (its session is the one asked for, and it is not a
    /// side call unless those are asked for).
    fn keep(&mut self, call: &Conversation, args: &LlmArgs) -> bool {
        if let Some(session) = &call.session {
            if self.known.insert(session.clone()) {
                self.sessions.push(session.clone());
            }
        }
        if args.session.is_some() && call.session != args.session {
            return false;
        }
        self.matched += 1;
        if call.meta && !args.include_meta {
            self.hidden += 1;
            return false;
        }
        true
    }

    fn report_hidden(&self) {
        let hidden = self.hidden;
        if hidden > 0 {
            eprintln!(
                "phonehome: {hidden} side call{} (title generation, summaries) hidden; --include-meta shows {}",
                if hidden == 1 { "" } else { "s" },
                if hidden == 1 { "it" } else { "them" }
            );
        }
    }
}

impl Output {
    fn add(&mut self, call: &Conversation) -> Result<()> {
        match self {
            Output::Json { spill, flows } => {
                serde_json::to_writer(&mut *spill, call)
                    .context("cannot write the calls' temporary file")?;
                spill
                    .write_all(b"\n")
                    .context("cannot write the calls' temporary file")?;
                flows.push(call.flow);
                Ok(())
            }
            Output::Text(listing) => listing
                .push(call)
                .context("cannot write the listing's temporary file"),
        }
    }

    fn finish(self, causes: &Causes, out: &mut impl Write) -> Result<()> {
        match self {
            Output::Text(listing) => listing
                .write_annotated(out, |flow| causes::under_call(causes, flow))
                .context("cannot write the listing to standard output")?,
            Output::Json { spill, flows } => json_lines(spill, &flows, causes, out)?,
        }
        out.flush().context("cannot write to standard output")
    }
}

/// The kept JSON lines, each call given `tool_calls`: what its answer asked for, each with
/// `caused`.
fn json_lines(
    spill: BufWriter<File>,
    flows: &[FlowId],
    causes: &Causes,
    out: &mut impl Write,
) -> Result<()> {
    let mut file = spill
        .into_inner()
        .map_err(|e| e.into_error())
        .context("cannot write the calls' temporary file")?;
    file.rewind()
        .context("cannot read the calls' temporary file")?;
    let lines = BufReader::new(file).lines();
    for (line, &flow) in lines.zip(flows) {
        let line = line.context("cannot read the calls' temporary file")?;
        // Each line is one object, `{…}`, as written above: the field goes before its end.
        let body = line
            .strip_suffix('}')
            .context("the calls' temporary file is damaged")?;
        let tool_calls =
            serde_json::to_string(causes.of_flow(flow)).context("cannot write a tool call")?;
        writeln!(out, "{body},\"tool_calls\":{tool_calls}}}")
            .context("cannot write to standard output")?;
    }
    Ok(())
}
