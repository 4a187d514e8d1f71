//! The page's summary: the report (`report --format json`'s object, from the same builder) and
//! the LLM conversations, both read from the capture in one pass each.

use std::path::Path;

use phonehome_analyze::llm::{Calls, Conversation};
use phonehome_catalog::Catalog;
use serde::Serialize;
use serde_json::Value;

use crate::WebError;

/// At most this many conversations are sent to the page; the rest are counted.
pub(crate) const MAX_CONVERSATIONS: usize = 5000;

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
}

impl Summary {
    /// Builds the report and decodes the conversations of `path`.
    ///
    /// # Errors
    /// [`WebError::Input`] with `report`'s message when the input cannot be read as a capture
    /// or a HAR file.
    /// A `live` capture is still being written: its missing `end` record is no warning.
    pub(crate) fn build(path: &Path, catalog: &Catalog, live: bool) -> Result<Summary, WebError> {
        let report = phonehome_analyze::build_report(path, catalog)?;
        let warnings = report
            .warnings
            .iter()
            .filter(|w| !(live && w.as_str() == phonehome_analyze::INCOMPLETE))
            .map(|w| format!("{}: {w}", path.display()))
            .collect();
        let mut conversations = Vec::new();
        let mut left_out = 0;
        for call in Calls::new(phonehome_analyze::open(path)?) {
            let call = call?;
            if conversations.len() < MAX_CONVERSATIONS {
                conversations.push(call);
            } else {
                left_out += 1;
            }
        }
        Ok(Summary {
            input: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            report: serde_json::to_value(&report)?,
            conversations,
            conversations_left_out: left_out,
            warnings,
        })
    }
}
