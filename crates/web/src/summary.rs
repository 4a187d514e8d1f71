//! The page's summary: the report (`report --format json`'s object, from the same builder),
//! and from one more pass the LLM conversations, the join of their tool calls to the
//! connections they caused (the analysis's causes), and the process tree; with `--diff`, the
//! analysis's diff of the two inputs.

use std::path::Path;

use phonehome_analyze::causes::{self, Causes, Tap, ToolLog};
use phonehome_analyze::llm::{Calls, Conversation};
use phonehome_analyze::Diff;
use phonehome_catalog::Catalog;
use serde::Serialize;
use serde_json::Value;

use crate::processes::{ProcessTree, TreeBuilder};
use crate::WebError;

/// At most this many conversations are sent to the page; the rest are counted.
pub(crate) const MAX_CONVERSATIONS: usize = 5000;

/// Tool calls sent to the page at most (with what they caused); the rest are counted.
pub(crate) const MAX_TOOL_CALLS: usize = 5000;

/// What `/api/summary` answers once built, and what the exported file embeds.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    /// The input's file name.
    pub(crate) input: String,
    /// `report --format json`'s object.
    pub(crate) report: Value,
    pub(crate) conversations: Vec<Conversation>,
    /// Conversations left out past [`MAX_CONVERSATIONS`].
    pub(crate) conversations_left_out: usize,
    /// Problems with the input that did not stop the report (a torn last line), as `report`
    /// prints them.
    pub(crate) warnings: Vec<String>,
    /// Each tool call and the connections (processes, flows) it caused: the analysis's join.
    pub(crate) causes: Causes,
    /// Tool calls left out past [`MAX_TOOL_CALLS`].
    pub(crate) tool_calls_left_out: usize,
    pub(crate) processes: ProcessTree,
    /// `phonehome diff INPUT OTHER`, when the page was asked for one (`--diff`).
    pub(crate) diff: Option<Diff>,
}

impl Summary {
    /// Builds the report and decodes the conversations of `path`.
    ///
    /// # Errors
    /// [`WebError::Input`] with `report`'s message when the input cannot be read as a capture
    /// or a HAR file.
    /// A `live` capture is still being written: its missing `end` record is no warning.
    /// With `diff`, also the diff of `path` (A) against that input (B).
    pub(crate) fn build(
        path: &Path,
        catalog: &Catalog,
        live: bool,
        diff: Option<&Path>,
    ) -> Result<Summary, WebError> {
        let report = phonehome_analyze::build_report(path, catalog)?;
        let warnings = report
            .warnings
            .iter()
            .filter(|w| !(live && w.as_str() == phonehome_analyze::INCOMPLETE))
            .map(|w| format!("{}: {w}", path.display()))
            .collect();
        let mut conversations = Vec::new();
        let mut left_out = 0;
        let mut tree = TreeBuilder::default();
        let mut tools = ToolLog::default();
        let events = phonehome_analyze::open(path)?.inspect(|event| {
            if let Ok(event) = event {
                tree.event(event);
            }
        });
        let mut calls = Calls::new(Tap::new(events));
        for call in &mut calls {
            let call = call?;
            tools.call(&call);
            if conversations.len() < MAX_CONVERSATIONS {
                conversations.push(call);
            } else {
                left_out += 1;
            }
        }
        let mut causes = causes::join(calls.into_events().into_connections(), tools);
        let tool_calls_left_out = causes.tool_calls.len().saturating_sub(MAX_TOOL_CALLS);
        causes.tool_calls.truncate(MAX_TOOL_CALLS);
        let diff = diff.map(|b| phonehome_analyze::diff(path, b)).transpose()?;
        Ok(Summary {
            input: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            report: serde_json::to_value(&report)?,
            conversations,
            conversations_left_out: left_out,
            warnings,
            causes,
            tool_calls_left_out,
            processes: tree.finish(),
            diff,
        })
    }
}
