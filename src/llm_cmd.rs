//! `llm`: the decoded LLM conversations of a capture, as text for people or JSON Lines for
//! scripts. Calls are written as they are decoded, in flow order; the text groups them by
//! session through [`Listing`].

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Context as _, Result};
use phonehome_analyze::llm::{Calls, Conversation, Listing};
use phonehome_analyze::Events;

use crate::cli::LlmArgs;

/// Where the calls go: JSON Lines as they come, or the listing, written at the end.
enum Output {
    Json,
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
    let mut calls = Calls::new(phonehome_analyze::open(path)?);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut output = if args.json {
        Output::Json
    } else {
        Output::Text(Listing::new().context("cannot create a temporary file for the listing")?)
    };
    let mut seen = Seen::default();
    for call in &mut calls {
        let call = call?;
        if seen.keep(&call, args) {
            output.add(&call, &mut out)?;
        }
    }
    if let Events::Capture(capture) = calls.events() {
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
    output.finish(&mut out)?;
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
    fn add(&mut self, call: &Conversation, out: &mut impl Write) -> Result<()> {
        match self {
            Output::Json => {
                serde_json::to_writer(&mut *out, call)
                    .context("cannot write to standard output")?;
                out.write_all(b"\n")
                    .context("cannot write to standard output")
            }
            Output::Text(listing) => listing
                .push(call)
                .context("cannot write the listing's temporary file"),
        }
    }

    fn finish(self, out: &mut impl Write) -> Result<()> {
        if let Output::Text(listing) = self {
            listing
                .write_to(out)
                .context("cannot write the listing to standard output")?;
        }
        out.flush().context("cannot write to standard output")
    }
}
