//! JSON as highlighted, folded lines: containers deeper than the fold depth show as
//! `{…3 keys}` / `[…5 items]` until the depth is raised.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use serde_json::Value;

const INDENT: usize = 2;

pub fn key_style() -> Style {
    Style::new().fg(Color::Cyan)
}

fn string_style() -> Style {
    Style::new().fg(Color::Green)
}

fn number_style() -> Style {
    Style::new().fg(Color::Magenta)
}

fn literal_style() -> Style {
    Style::new().fg(Color::Yellow)
}

fn folded_style() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

/// Lines of `value`, pretty-printed, with containers at `fold_depth` and deeper folded.
pub fn lines(value: &Value, fold_depth: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    render(value, 0, fold_depth, &mut current, &mut out, false);
    if !current.is_empty() {
        out.push(Line::from(current));
    }
    out
}

/// One line of `value`, compact (for SSE events and NDJSON lines).
pub fn compact_line(value: &Value) -> Line<'static> {
    let mut spans = Vec::new();
    compact(value, &mut spans);
    Line::from(spans)
}

fn compact(value: &Value, spans: &mut Vec<Span<'static>>) {
    match value {
        Value::Object(map) => {
            spans.push(Span::raw("{"));
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    spans.push(Span::raw(","));
                }
                spans.push(Span::styled(quoted(key), key_style()));
                spans.push(Span::raw(":"));
                compact(item, spans);
            }
            spans.push(Span::raw("}"));
        }
        Value::Array(items) => {
            spans.push(Span::raw("["));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    spans.push(Span::raw(","));
                }
                compact(item, spans);
            }
            spans.push(Span::raw("]"));
        }
        scalar => spans.push(scalar_span(scalar)),
    }
}

fn scalar_span(value: &Value) -> Span<'static> {
    match value {
        Value::String(s) => Span::styled(quoted(s), string_style()),
        Value::Number(n) => Span::styled(n.to_string(), number_style()),
        Value::Bool(b) => Span::styled(b.to_string(), literal_style()),
        Value::Null => Span::styled("null", literal_style()),
        Value::Object(_) | Value::Array(_) => Span::raw(value.to_string()),
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// Renders `value` continuing the line in `current`; `comma` ends it with a comma.
fn render(
    value: &Value,
    depth: usize,
    fold_depth: usize,
    current: &mut Vec<Span<'static>>,
    out: &mut Vec<Line<'static>>,
    comma: bool,
) {
    let tail = if comma { "," } else { "" };
    let (open, close, len, noun) = match value {
        Value::Object(map) => ("{", "}", map.len(), "key"),
        Value::Array(items) => ("[", "]", items.len(), "item"),
        scalar => {
            current.push(scalar_span(scalar));
            current.push(Span::raw(tail));
            out.push(Line::from(std::mem::take(current)));
            return;
        }
    };
    if len == 0 {
        current.push(Span::raw(format!("{open}{close}{tail}")));
        out.push(Line::from(std::mem::take(current)));
        return;
    }
    if depth >= fold_depth {
        let plural = if len == 1 { "" } else { "s" };
        current.push(Span::styled(
            format!("{open}…{len} {noun}{plural}{close}"),
            folded_style(),
        ));
        current.push(Span::raw(tail));
        out.push(Line::from(std::mem::take(current)));
        return;
    }
    current.push(Span::raw(open));
    out.push(Line::from(std::mem::take(current)));
    let pad = " ".repeat((depth + 1) * INDENT);
    match value {
        Value::Object(map) => {
            for (i, (key, item)) in map.iter().enumerate() {
                current.push(Span::raw(pad.clone()));
                current.push(Span::styled(quoted(key), key_style()));
                current.push(Span::raw(": "));
                render(item, depth + 1, fold_depth, current, out, i + 1 < len);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                current.push(Span::raw(pad.clone()));
                render(item, depth + 1, fold_depth, current, out, i + 1 < len);
            }
        }
        _ => {}
    }
    current.push(Span::raw(format!(
        "{}{close}{tail}",
        " ".repeat(depth * INDENT)
    )));
    out.push(Line::from(std::mem::take(current)));
}

/// The text of a line, without styles.
pub fn plain(line: &Line<'_>) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(plain).collect()
    }

    #[test]
    fn folds_below_the_depth() {
        let value: Value =
            serde_json::from_str(r#"{"a":1,"b":{"c":[1,2],"d":{}},"e":"x"}"#).expect("json");
        assert_eq!(
            text(&lines(&value, 1)),
            [
                "{",
                r#"  "a": 1,"#,
                r#"  "b": {…2 keys},"#,
                r#"  "e": "x""#,
                "}"
            ]
        );
        assert_eq!(
            text(&lines(&value, 9)),
            [
                "{",
                r#"  "a": 1,"#,
                r#"  "b": {"#,
                r#"    "c": ["#,
                "      1,",
                "      2",
                "    ],",
                r#"    "d": {}"#,
                "  },",
                r#"  "e": "x""#,
                "}"
            ]
        );
        assert_eq!(text(&lines(&value, 0)), ["{…3 keys}"]);
    }

    #[test]
    fn compact_matches_serde() {
        let value: Value = serde_json::from_str(r#"{"a":[1,true,null,"s"]}"#).expect("json");
        assert_eq!(plain(&compact_line(&value)), value.to_string());
    }
}
