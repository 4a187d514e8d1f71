//! Which rows the flow list keeps: the command-line choices ([`Options`]), the row kinds a
//! filter key picks ([`Kind`]), and the whole [`Filter`] as the list applies it.

use std::collections::HashSet;

use phonehome_record::Sinkhole;

use crate::index::{RowKind, RowRef};

/// Command-line choices.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Do not follow captures that are still being written.
    pub static_view: bool,
    /// Only flows of this agent session.
    pub session: Option<String>,
    /// Show side calls (title generation, summaries).
    pub include_meta: bool,
}

/// Which rows the flow list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    All,
    Requests,
    Responses,
    Errors,
    Blocked,
    Llm,
}

impl Kind {
    /// The order `f` cycles through; `1`–`6` pick by position.
    pub(crate) const ORDER: [Kind; 6] = [
        Kind::All,
        Kind::Requests,
        Kind::Responses,
        Kind::Errors,
        Kind::Blocked,
        Kind::Llm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::All => "all",
            Kind::Requests => "requests",
            Kind::Responses => "responses",
            Kind::Errors => "errors",
            Kind::Blocked => "blocked",
            Kind::Llm => "LLM",
        }
    }

    fn keeps(self, row: RowRef<'_>) -> bool {
        match self {
            Kind::All => true,
            Kind::Requests => row.kind() == RowKind::Flow,
            Kind::Responses => row.kind() == RowKind::Flow && row.has_response(),
            Kind::Errors => row.failed(),
            Kind::Blocked => {
                row.kind() == RowKind::Blocked || row.sinkhole() == Some(Sinkhole::Denied)
            }
            Kind::Llm => row.llm(),
        }
    }
}

/// Every filter of the flow list at once.
pub(crate) struct Filter<'a> {
    pub(crate) kind: Kind,
    pub(crate) include_meta: bool,
    /// Only rows of this agent session.
    pub(crate) session: Option<&'a str>,
    /// Only rows of this host.
    pub(crate) host: Option<&'a str>,
    /// Only rows of connections of this process (the executable's file name).
    pub(crate) process: Option<&'a str>,
    /// The search, lowercase; empty for none.
    pub(crate) needle: String,
    /// The offsets of the records whose text contains the search (headers and bodies), once
    /// the body search is done.
    pub(crate) in_bodies: Option<&'a HashSet<u64>>,
}

impl Filter<'_> {
    pub(crate) fn keeps(&self, row: RowRef<'_>) -> bool {
        self.kind.keeps(row)
            && (self.include_meta || !row.meta())
            && self.session.is_none_or(|s| row.session() == Some(s))
            && self.host.is_none_or(|h| row.host() == h)
            && self.process.is_none_or(|p| row.process() == Some(p))
            && (self.needle.is_empty()
                || row.contains(&self.needle)
                || self.in_bodies.is_some_and(|o| row.recorded_at(o)))
    }
}
