//! `llm`: the decoded LLM conversations of a capture, as text for people or JSON Lines for
//! scripts.

use std::io::Write as _;

use anyhow::{Context as _, Result};
use phonehome_analyze::llm;
use phonehome_analyze::{Event, Events};

use crate::cli::LlmArgs;

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
        out.write_all(llm::text::listing_of(&all).as_bytes())
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
