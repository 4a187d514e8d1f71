//! The one rule that decides whether a value is a secret: by its shape (a known token
//! format, anywhere), or by its name *and* what the value looks like. Every redaction place
//! asks here: headers, URL query parameters, form fields, JSON members, name/value pairs
//! (OTLP attributes, `{"name","value"}` lists, header arrays), command-line flags and
//! credential lines written in text.
//!
//! The value half follows gitleaks' keyword + entropy rules (`generic-api-key`: a keyword
//! near a value of 10–150 word characters with Shannon entropy ≥ 3.5,
//! <https://github.com/gitleaks/gitleaks/blob/master/config/gitleaks.toml>) and Yelp
//! detect-secrets' entropy plugins (Shannon entropy per character, hex strings held to a lower
//! limit, 3.0, than base64 ones; its keyword plugin's filters drop indirect references and
//! templates, <https://github.com/Yelp/detect-secrets/blob/master/docs/filters.md>). The
//! thresholds here were measured on the telemetry fixtures of `tests/it/redaction/fixtures`.

use std::sync::LazyLock;

use regex::Regex;

use crate::credential::{credential_name_strength, NameStrength};

/// Known token formats, recognised anywhere in text whatever their name: provider API keys
/// (Anthropic, OpenAI, Google, Stripe, Hugging Face), code-host tokens (GitHub, GitLab),
/// package registry tokens, chat tokens (Slack), AWS access key ids, JWTs and PEM private keys
/// (line breaks as written or escaped in JSON).
pub(crate) static KEY_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"sk-ant-[A-Za-z0-9_\-]{16,}",
        r"|sk-[A-Za-z0-9_\-]{16,}",
        r"|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
        r"|\bhf_[A-Za-z0-9]{30,}",
        r"|\bglpat-[A-Za-z0-9_\-]{20,}",
        r"|\bnpm_[A-Za-z0-9]{36}\b",
        r"|-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----[A-Za-z0-9+/=\s\\]{16,}?-----END [A-Z ]{0,20}PRIVATE KEY-----",
        r"|AIza[0-9A-Za-z_\-]{35}",
        r"|gh[pousr]_[A-Za-z0-9]{20,}",
        r"|github_pat_[A-Za-z0-9_]{20,}",
        r"|xox[abposr]-[A-Za-z0-9\-]{10,}",
        r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    ))
    .expect("static regex is valid")
});

/// Values shorter than this (in characters) under a [`NameStrength::Weak`] name are not
/// secrets: `k1`, `Enter`, `oauth`.
pub(crate) const MIN_WEAK_SECRET_LEN: usize = 8;
/// The share of the highest entropy a value of its length can have (log2 of the length)
/// that a value under a weak name must reach.
const ENTROPY_SHARE: f64 = 0.7;
/// Bits per character that always suffice: gitleaks' `generic-api-key` threshold.
const ENTROPY_CAP: f64 = 3.5;
/// The same for a value of hex digits (and dashes, as UUIDs are written) only:
/// detect-secrets' `HexHighEntropyString` limit.
const HEX_ENTROPY_CAP: f64 = 3.0;

/// Values that are plainly no secret whatever their name: booleans and empty-ish literals,
/// numbers, versions, templates and redaction tokens (masks, one character repeated, are
/// checked apart: the regex crate has no back-references).
static PLAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^(?:true|false|yes|no|on|off|null|nil|none|undefined|n/a",
        r"|[+-]?[0-9]{1,15}(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?",
        r"|v?[0-9]+(?:\.[0-9]+){1,3}(?:[-+][0-9a-z.\-]+)?",
        r"|<[^<>]*>|\{\{[^{}]*\}\}|\$\{[^{}]*\}|\$[A-Z_][A-Z0-9_]*",
        r"|\[REDACTED:[0-9a-f]{8}\])$",
    ))
    .expect("static regex is valid")
});

/// Values shorter than this that are CamelCase words (`ArrowDown`, `PageUp`, `Backspace`) read
/// as names (a key's name, an enum) under a weak name. Longer letter-only values are judged by
/// entropy: a random 12-character string of letters is CamelCase-shaped about once in 1,300.
const CAMEL_WORD_MAX_LEN: usize = 12;

/// CamelCase words: `ArrowDown`, `controlLeft`.
static CAMEL_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z][a-z]+(?:[A-Z][a-z]+)*$").expect("static regex is valid")
});

/// A URL without userinfo: a link, not a credential (its query is judged on its own).
static URL_WITHOUT_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[a-z][a-z0-9+.\-]*://[^@\s/?#]+(?:[/?#][^\s]*)?$")
        .expect("static regex is valid")
});

/// What reads as a name rather than a secret: lowercase words (`anthropic`, `api-key`,
/// `claude_code`), `UPPER_SNAKE` names (`ANTHROPIC_API_KEY`), dotted attribute names (`gen_ai.system`),
/// file paths, and prose (white space inside).
static NAME_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[a-z]+(?:[-_./:][a-z]+)*",
        r"|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+",
        r"|[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_][A-Za-z0-9_\-]*)+",
        r"|(?:~|\.{1,2})?/[^\s]*",
        r"|\S+(?:\s+\S+)+)$",
    ))
    .expect("static regex is valid")
});

/// Whether the value of the field `name` (a header, parameter, form field, JSON member,
/// attribute) is a secret: the value (after an auth scheme word, `Bearer …`) is a known
/// token format, or `name` is credential-like and the value could be a secret:
///
/// - under a [`NameStrength::Strong`] name (`Authorization`, `Cookie`, `x-api-key`,
///   `*token*`, `password`, …): any value that is not plainly harmless: empty, a boolean or
///   `null`-like word, a number, a version, one repeated character (`***`), a template
///   (`${VAR}`, `{{var}}`, `<token>`), a redaction token, a URL without userinfo;
/// - under a [`NameStrength::Weak`] name (`key`, `auth`, `sig`, `X-My-Service-Key`): also not
///   name-like (lowercase words, `UPPER_SNAKE`, a dotted
///   attribute name, a file path, prose, CamelCase words under 12 characters such as
///   `ArrowDown`), at least [`MIN_WEAK_SECRET_LEN`] characters, and of
///   Shannon entropy (bits per character) at least `min(0.7 × log2(length), 3.5)`, or
///   `min(0.7 × log2(length), 3.0)` for hex digits (and dashes) only.
///
/// ```
/// use phonehome_record::is_secret;
/// assert!(is_secret("Authorization", "Bearer abc"));
/// assert!(is_secret("note", "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA"));
/// assert!(is_secret("key", "f3A9kQ2xLm8ZpR4t"));
/// assert!(!is_secret("key", "gen_ai.request.model"));
/// assert!(!is_secret("x-api-key-enabled", "true"));
/// assert!(!is_secret("auth", "anthropic"));
/// assert!(!is_secret("model", "f3A9kQ2xLm8ZpR4t"));
/// ```
pub fn is_secret(name: &str, value: &str) -> bool {
    is_secret_under(credential_name_strength(name), value)
}

/// [`is_secret`] for a name whose strength is already known (`None`: not a credential name).
pub(crate) fn is_secret_under(strength: Option<NameStrength>, value: &str) -> bool {
    let value = without_scheme(value.trim());
    if is_token_format(value) {
        return true;
    }
    let Some(strength) = strength else {
        return false;
    };
    if value.is_empty()
        || is_mask(value)
        || PLAIN.is_match(value)
        || URL_WITHOUT_USERINFO.is_match(value)
    {
        return false;
    }
    strength == NameStrength::Strong || looks_random(value)
}

/// Whether `value` is one character repeated: a mask (`***`, `xxxxxxxx`).
fn is_mask(value: &str) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|first| chars.all(|c| c == first))
}

/// Whether the whole of `value` is a known token format ([`KEY_SHAPES`]).
fn is_token_format(value: &str) -> bool {
    KEY_SHAPES
        .find(value)
        .is_some_and(|m| m.len() == value.len())
}

/// `Bearer abc` → `abc`: the value after a leading word of letters and a space.
fn without_scheme(value: &str) -> &str {
    match value.split_once(' ') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme.chars().all(|c| c.is_ascii_alphabetic())
                && !rest.trim().contains(char::is_whitespace) =>
        {
            rest.trim()
        }
        _ => value,
    }
}

/// Whether `value` could be a random secret: not name-like, long enough, and of enough
/// entropy for its length (see [`is_secret`]).
fn looks_random(value: &str) -> bool {
    let len = value.chars().count();
    if len < MIN_WEAK_SECRET_LEN
        || NAME_LIKE.is_match(value)
        || (len < CAMEL_WORD_MAX_LEN && CAMEL_WORDS.is_match(value))
    {
        return false;
    }
    let cap = if value.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        HEX_ENTROPY_CAP
    } else {
        ENTROPY_CAP
    };
    shannon_entropy(value) >= (ENTROPY_SHARE * (len as f64).log2()).min(cap)
}

/// Shannon entropy of `value`'s characters, in bits per character.
pub(crate) fn shannon_entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::<char, usize>::new();
    let mut len = 0usize;
    for c in value.chars() {
        *counts.entry(c).or_default() += 1;
        len += 1;
    }
    let len = len as f64;
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests;
