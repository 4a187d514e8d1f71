//! A message put back together from stream deltas, and the normal form of message parts that
//! makes a streamed answer equal to the same answer sent whole.

use serde_json::Value;

use super::conversation::{Message, Part};
use super::fields::arguments;

/// A message being put together from stream deltas.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub role: String,
    pub parts: Vec<DraftPart>,
    pub finish_reason: Option<String>,
}

#[derive(Debug)]
pub(crate) enum DraftPart {
    Text(String),
    Reasoning(String),
    /// A tool call whose arguments arrive as text pieces; `input` is the value a stream gave
    /// whole (Anthropic's `content_block_start`), used when no piece arrives.
    ToolCall {
        id: Option<String>,
        name: String,
        arguments: String,
        input: Option<Value>,
    },
    Whole(Part),
}

impl Draft {
    pub(crate) fn assistant() -> Self {
        Self {
            role: "assistant".to_owned(),
            ..Self::default()
        }
    }

    pub(crate) fn text(&mut self, delta: &str) {
        if let Some(DraftPart::Text(text)) = self.parts.last_mut() {
            text.push_str(delta);
        } else {
            self.parts.push(DraftPart::Text(delta.to_owned()));
        }
    }

    pub(crate) fn reasoning(&mut self, delta: &str) {
        if let Some(DraftPart::Reasoning(text)) = self.parts.last_mut() {
            text.push_str(delta);
        } else {
            self.parts.push(DraftPart::Reasoning(delta.to_owned()));
        }
    }

    pub(crate) fn finish(self) -> Message {
        let parts = self
            .parts
            .into_iter()
            .map(|p| match p {
                DraftPart::Text(content) => Part::Text { content },
                DraftPart::Reasoning(content) => Part::Reasoning { content },
                DraftPart::ToolCall {
                    id,
                    name,
                    arguments: text,
                    input,
                } => Part::ToolCall {
                    id,
                    name,
                    arguments: match input {
                        Some(input) if text.is_empty() => input,
                        _ => arguments(&text),
                    },
                },
                DraftPart::Whole(part) => part,
            })
            .collect();
        Message {
            role: self.role,
            parts: normalise(parts),
            finish_reason: self.finish_reason,
        }
    }
}

/// Merges adjacent text parts and adjacent reasoning parts and drops empty ones, so an answer
/// reads the same whether it came in one piece or in many.
pub(crate) fn normalise(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::with_capacity(parts.len());
    for part in parts {
        match (out.last_mut(), part) {
            (_, Part::Text { content } | Part::Reasoning { content }) if content.is_empty() => {}
            (Some(Part::Text { content: last }), Part::Text { content }) => {
                last.push_str(&content);
            }
            (Some(Part::Reasoning { content: last }), Part::Reasoning { content }) => {
                last.push_str(&content);
            }
            (_, part) => out.push(part),
        }
    }
    out
}
