//! Where a TOML file people write (a catalog, a policy) is wrong: line, column and the TOML
//! parser's own words, so its errors name the place in the file.

use std::fmt;

/// A TOML syntax or shape error, placed in its text.
///
/// Displays as `line L, column C: message` (`message` alone when the parser gives no place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlSyntax {
    /// 1-based line of the error's start, when the parser gives its place.
    pub line: Option<usize>,
    /// 1-based column (in bytes) of the error's start, with `line`.
    pub column: Option<usize>,
    /// The parser's message, without its excerpt of the file.
    pub message: String,
}

impl TomlSyntax {
    /// Places `e`, an error from parsing `text`, in `text`.
    pub fn new(text: &str, e: &toml::de::Error) -> TomlSyntax {
        let message = e.message().trim().to_owned();
        let Some(span) = e.span() else {
            return TomlSyntax {
                line: None,
                column: None,
                message,
            };
        };
        let before = &text[..span.start.min(text.len())];
        TomlSyntax {
            line: Some(before.matches('\n').count() + 1),
            column: Some(before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1),
            message,
        }
    }
}

impl fmt::Display for TomlSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_the_error_by_line_and_column() {
        let text = "a = 1\nb = \"open\n";
        let e = toml::from_str::<toml::Value>(text).expect_err("unterminated string");
        let syntax = TomlSyntax::new(text, &e);
        assert_eq!(syntax.line, Some(2), "{syntax:?}");
        let column = syntax.column.expect("a column with the line");
        let shown = format!("line 2, column {column}: {}", syntax.message);
        assert_eq!(syntax.to_string(), shown);
        assert!(!syntax.message.contains('\n'), "{syntax:?}");
    }
}
