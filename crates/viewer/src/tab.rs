//! One tab of the detail pane ([`Tab`]) and the line styles every tab shares: headings and
//! notes. The detail pane and the telemetry tab both build on it.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// One tab of the detail pane.
pub struct Tab {
    pub name: &'static str,
    pub lines: Vec<Line<'static>>,
    /// What `c` copies: the whole payload of the tab.
    pub payload: Vec<u8>,
}

/// A section's heading, in the detail pane's heading style.
pub(crate) fn heading(text: impl Into<String>) -> Line<'static> {
    Line::from(Span::styled(
        text.into(),
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    ))
}

/// A line saying what could not be shown or decoded, in red.
pub(crate) fn note(text: &str) -> Line<'static> {
    Line::from(Span::styled(
        format!("note: {text}"),
        Style::new().fg(Color::Red),
    ))
}
