//! The one plural rule of the crate's prose: a count and the noun that agrees with it. Below
//! both the report (its verdict and advice) and the renderers (Markdown, allowlist comments).

/// `n` and the noun that agrees with it: `1 request`, `2 requests`.
pub(crate) fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
