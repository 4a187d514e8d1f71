//! Credential redaction (headers, URL query parameters, text bodies) and the redaction token.
//!
//! A redacted value becomes `[REDACTED:xxxxxxxx]`, where `xxxxxxxx` is the first 8 hex digits of
//! the SHA-256 of the value, so one credential can be followed across requests and captures
//! without being stored. An auth scheme word (`Bearer`, `Basic`, …) is kept in front.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use sha2::{Digest, Sha256};

use crate::credential::{
    credential_name_pieces, is_credential_flag, is_credential_header, is_credential_name,
    CREDENTIAL_HEADERS_IN_TEXT,
};

/// What every redaction token starts with.
const TOKEN_PREFIX: &str = "[REDACTED:";
/// What every redaction token ends with.
const TOKEN_SUFFIX: &str = "]";
/// Hex digits in a fingerprint.
const FINGERPRINT_LEN: usize = 8;

/// Key shapes recognised anywhere in text: provider API keys, cloud keys, chat tokens, JWTs.
static KEY_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"sk-ant-[A-Za-z0-9_\-]{16,}",
        r"|sk-[A-Za-z0-9_\-]{16,}",
        r"|AIza[0-9A-Za-z_\-]{35}",
        r"|gh[pousr]_[A-Za-z0-9]{20,}",
        r"|github_pat_[A-Za-z0-9_]{20,}",
        r"|xox[abposr]-[A-Za-z0-9\-]{10,}",
        r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    ))
    .expect("static regex is valid")
});

/// A credential header written out in text (a curl command line, a prompt):
/// `Authorization: Bearer …`, `x-api-key=…`.
static HEADER_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    let names = alternation(CREDENTIAL_HEADERS_IN_TEXT.iter().copied());
    Regex::new(&format!(
        r#"(?i)\b({names})(\s*[:=]\s*)((?:bearer|basic|token)\s+)?([^\s'",;\[]{{8,}})"#
    ))
    .expect("static regex is valid")
});

/// JSON string members whose name may be a credential's (`"password": "…"`,
/// `"client_secret": "…"`); [`is_credential_name`] decides. The name, then `:` with its
/// spacing and the opening quote, then the value as written (escapes included).
static JSON_MEMBER: LazyLock<Regex> = LazyLock::new(|| {
    let pieces = alternation(credential_name_pieces());
    Regex::new(&format!(
        r#"(?i)("[^"\\]*(?:{pieces})[^"\\]*")(\s*:\s*")((?:[^"\\]|\\.)+)""#
    ))
    .expect("static regex is valid")
});

/// `name=value` pairs whose name may be a credential's, at the start of text or a line, after
/// white space, `?`, `&` or `;`, or after an escaped line break (`\n` in JSON text): form
/// bodies (`client_secret=…&grant_type=…`), query strings and `.env` lines written in text
/// (`API_KEY=…`). [`is_credential_name`] decides.
static NAME_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    let pieces = alternation(credential_name_pieces());
    let name = r"[A-Za-z0-9_.\-\[\]%]";
    Regex::new(&format!(
        r#"(?im)(^|[?&;\s]|\\[nrt])({name}*(?:{pieces}){name}*)=([^&\s"'<>#;\\]+)"#
    ))
    .expect("static regex is valid")
});

/// A password in the userinfo of a URL written in text: `https://user:PASS@host/`.
static USERINFO_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/?#@:"'\\]+:)([^\s/?#@"'\\]+)@"#)
        .expect("static regex is valid")
});

/// The text rules of [`Redactor::text`], in its order, searched for in one pass.
static TEXT_RULES: LazyLock<RegexSet> = LazyLock::new(|| {
    let rules = [
        &*KEY_SHAPES,
        &*HEADER_IN_TEXT,
        &*JSON_MEMBER,
        &*NAME_VALUE,
        &*USERINFO_IN_TEXT,
    ];
    RegexSet::new(rules.iter().map(|r| r.as_str())).expect("the rules are valid regexes")
});

/// `a|b|c`, each escaped.
fn alternation<'a>(words: impl Iterator<Item = &'a str>) -> String {
    words.map(regex::escape).collect::<Vec<_>>().join("|")
}

/// The redaction fingerprint of a credential: `[REDACTED:` + first 8 hex digits of SHA-256 + `]`.
///
/// ```
/// let a = phonehome_record::fingerprint("sk-test");
/// assert!(a.starts_with("[REDACTED:") && a.len() == "[REDACTED:]".len() + 8);
/// assert_eq!(a, phonehome_record::fingerprint("sk-test"));
/// ```
pub fn fingerprint(value: &str) -> String {
    redaction_token(&fingerprint_hex(value))
}

/// The token that stands for a redacted value with this fingerprint: `[REDACTED:<fingerprint>]`.
///
/// ```
/// assert_eq!(phonehome_record::redaction_token("0a1b2c3d"), "[REDACTED:0a1b2c3d]");
/// ```
pub fn redaction_token(fingerprint: &str) -> String {
    format!("{TOKEN_PREFIX}{fingerprint}{TOKEN_SUFFIX}")
}

/// The fingerprint in `text` when `text` is a whole redaction token (`[REDACTED:` + 8 hex
/// digits + `]`), as [`redaction_token`] builds it.
///
/// ```
/// use phonehome_record::parse_redaction_token;
/// assert_eq!(parse_redaction_token("[REDACTED:0a1b2c3d]"), Some("0a1b2c3d"));
/// assert_eq!(parse_redaction_token("Bearer [REDACTED:0a1b2c3d]"), None);
/// ```
pub fn parse_redaction_token(text: &str) -> Option<&str> {
    let fingerprint = text
        .strip_prefix(TOKEN_PREFIX)?
        .strip_suffix(TOKEN_SUFFIX)?;
    (fingerprint.len() == FINGERPRINT_LEN && fingerprint.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(fingerprint)
}

/// The 8 hex digits of a [`fingerprint`]: the first 4 bytes of the value's SHA-256.
pub fn fingerprint_hex(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    hex::encode(&digest[..FINGERPRINT_LEN / 2])
}

/// Redacts credentials from headers, URLs and text.
///
/// Besides the built-in rules, it can be given literal secret values (for example the values of
/// the child's credential-looking environment variables) to redact wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    disabled: bool,
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor with the built-in rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// A redactor that changes nothing (`--no-redact`).
    pub fn disabled() -> Self {
        Self {
            disabled: true,
            secrets: Vec::new(),
        }
    }

    /// Also redact these literal values wherever they appear. Values shorter than 8 bytes are
    /// ignored: they would match ordinary text.
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = String>) -> Self {
        self.secrets
            .extend(secrets.into_iter().filter(|s| s.len() >= 8));
        // Longest first, so a secret that contains another is replaced whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self
    }

    /// Also redact `secret` wherever it appears from now on (a credential seen in a credential
    /// header, which a server may echo elsewhere). Values shorter than 8 bytes are ignored.
    pub fn learn(&mut self, secret: &str) {
        if self.disabled || secret.len() < 8 || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        self.secrets.push(secret.to_owned());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// The credential carried by header `name`, without its auth scheme word; `None` for a
    /// header that carries no credential.
    pub fn credential<'v>(name: &str, value: &'v str) -> Option<&'v str> {
        if !is_credential_header(name) {
            return None;
        }
        Some(match split_scheme(value) {
            Some((_, credential)) => credential,
            None => value.trim(),
        })
    }

    /// Whether this redactor changes anything.
    pub fn is_enabled(&self) -> bool {
        !self.disabled
    }

    /// The value to record for header `name` (any case).
    pub fn header(&self, name: &str, value: &str) -> String {
        if self.disabled {
            return value.to_owned();
        }
        if is_credential_header(name) {
            return redact_keeping_scheme(value);
        }
        self.text(value).into_owned()
    }

    /// The value to record for a command line (`capture.command`, `conn.process.argv`): each
    /// argument redacted as [`text`](Self::text), and the value of a flag whose name marks a
    /// credential redacted whole, in both spellings (`--api-key VALUE`, `--api-key=VALUE`).
    /// Flags named `--no-…` or `…-file` take no secret and are left alone.
    ///
    /// ```
    /// let r = phonehome_record::Redactor::new();
    /// let argv = ["tool", "--token", "opaque1234", "--name=x"].map(String::from);
    /// let out = r.argv(&argv);
    /// assert_eq!(out[2], phonehome_record::fingerprint("opaque1234"));
    /// assert_eq!(out[3], "--name=x");
    /// ```
    pub fn argv(&self, argv: &[String]) -> Vec<String> {
        if self.disabled {
            return argv.to_vec();
        }
        let mut out = Vec::with_capacity(argv.len());
        let mut value_is_secret = false;
        for arg in argv {
            if std::mem::take(&mut value_is_secret) && !arg.starts_with('-') {
                out.push(fingerprint_once(arg));
                continue;
            }
            match credential_flag(arg) {
                Some(CredentialFlag::Joined { name, value }) => {
                    out.push(format!("{name}={}", fingerprint_once(value)));
                }
                Some(CredentialFlag::ValueNext) => {
                    value_is_secret = true;
                    out.push(arg.clone());
                }
                None => out.push(self.text(arg).into_owned()),
            }
        }
        out
    }

    /// `url` with the userinfo's password (or a userinfo without one, whole), credential query
    /// parameter values and everything [`text`](Self::text) redacts redacted.
    ///
    /// ```
    /// let r = phonehome_record::Redactor::new();
    /// let url = r.url("http://me:hunter22@h.test/a?token=t0k3n&page=2");
    /// let (pass, token) = (phonehome_record::fingerprint("hunter22"), phonehome_record::fingerprint("t0k3n"));
    /// assert_eq!(url, format!("http://me:{pass}@h.test/a?token={token}&page=2"));
    /// ```
    pub fn url(&self, url: &str) -> String {
        if self.disabled {
            return url.to_owned();
        }
        let url = redact_userinfo(url);
        let (head, fragment) = match url.split_once('#') {
            Some((h, f)) => (h, Some(f)),
            None => (url.as_ref(), None),
        };
        let mut out = match head.split_once('?') {
            Some((path, query)) => format!("{path}?{}", redact_query(query)),
            None => head.to_owned(),
        };
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
        self.text(&out).into_owned()
    }

    /// `text` with known secrets, key shapes, credential headers written out in text,
    /// credential JSON members, credential `name=value` pairs (form bodies, query strings,
    /// `.env` lines) and passwords in URLs redacted.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.disabled {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), &fingerprint(secret)));
            }
        }
        let rules: [(&Regex, Replacement); 5] = [
            (&KEY_SHAPES, |c| fingerprint(&c[0])),
            (&HEADER_IN_TEXT, |c| {
                let scheme = c.get(3).map_or("", |m| m.as_str());
                format!("{}{}{scheme}{}", &c[1], &c[2], fingerprint(&c[4]))
            }),
            (&JSON_MEMBER, |c| {
                let name = c[1].trim_matches('"');
                if !is_credential_name(name) {
                    return c[0].to_owned();
                }
                format!("{}{}{}\"", &c[1], &c[2], fingerprint(&c[3]))
            }),
            (&NAME_VALUE, |c| {
                let name = percent_encoding::percent_decode_str(&c[2]).decode_utf8_lossy();
                if !is_credential_name(&name) {
                    return c[0].to_owned();
                }
                let value = percent_encoding::percent_decode_str(&c[3]).decode_utf8_lossy();
                format!("{}{}={}", &c[1], &c[2], fingerprint(&value))
            }),
            (&USERINFO_IN_TEXT, |c| {
                let password = percent_encoding::percent_decode_str(&c[2]).decode_utf8_lossy();
                format!("{}{}@", &c[1], fingerprint(&password))
            }),
        ];
        // Most text matches nothing: one search for all rules at once is much cheaper than a
        // search per rule, let alone captures. What a rule may match is decided on the text
        // before any replacement: a replacement only inserts redaction tokens, which every rule
        // leaves alone.
        let may_match = TEXT_RULES.matches(&out);
        for (i, (pattern, replace)) in rules.into_iter().enumerate() {
            if !may_match.matched(i) {
                continue;
            }
            if let Cow::Owned(replaced) = pattern.replace_all(&out, |c: &regex::Captures<'_>| {
                if c[0].contains(TOKEN_PREFIX) {
                    c[0].to_owned()
                } else {
                    replace(c)
                }
            }) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }
}

/// `scheme://user:PASS@host…` → `scheme://user:[REDACTED:…]@host…`; a userinfo without a
/// password (`https://TOKEN@host/`, as git remotes carry tokens) is fingerprinted whole. The
/// fingerprint is of the percent-decoded value.
fn redact_userinfo(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(url);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return Cow::Borrowed(url);
    };
    let userinfo = &rest[..at];
    if userinfo.is_empty() || userinfo.contains(TOKEN_PREFIX) {
        return Cow::Borrowed(url);
    }
    let decoded = |v: &str| {
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    };
    let redacted = match userinfo.split_once(':') {
        Some((_, "")) => return Cow::Borrowed(url),
        Some((user, password)) => format!("{user}:{}", fingerprint(&decoded(password))),
        None => fingerprint(&decoded(userinfo)),
    };
    Cow::Owned(format!("{}{redacted}{}", &url[..scheme_end], &rest[at..]))
}

/// [`fingerprint`] of a value that is not one already, so that redacting twice changes nothing.
fn fingerprint_once(value: &str) -> String {
    if value.starts_with("[REDACTED:") {
        value.to_owned()
    } else {
        fingerprint(value)
    }
}

/// A command-line flag whose value is a credential.
enum CredentialFlag<'a> {
    /// `--token=VALUE`: the flag with its `=`-joined value.
    Joined { name: &'a str, value: &'a str },
    /// `--token`: the value is the next argument.
    ValueNext,
}

/// Whether `arg` is a flag (`-x`, `--name`, `--name=value`) whose name marks a credential.
fn credential_flag(arg: &str) -> Option<CredentialFlag<'_>> {
    if !arg.starts_with('-') {
        return None;
    }
    let (name, value) = match arg.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (arg, None),
    };
    if !is_credential_flag(name) {
        return None;
    }
    match value {
        Some("") => None,
        Some(value) => Some(CredentialFlag::Joined { name, value }),
        None => Some(CredentialFlag::ValueNext),
    }
}

/// Builds the redacted text of one regex match.
type Replacement = fn(&regex::Captures<'_>) -> String;

/// `Bearer abc` → `Some(("Bearer", "abc"))`: a leading word of letters, then the credential.
fn split_scheme(value: &str) -> Option<(&str, &str)> {
    let (scheme, credential) = value.split_once(' ')?;
    (!scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| (scheme, credential.trim()))
}

/// `Bearer abc` → `Bearer [REDACTED:…]`; a value with no scheme word is redacted whole.
fn redact_keeping_scheme(value: &str) -> String {
    match split_scheme(value) {
        Some((scheme, credential)) => format!("{scheme} {}", fingerprint(credential)),
        None => fingerprint(value),
    }
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => {
                let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
                if is_credential_name(&decoded) {
                    let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                    format!("{name}={}", fingerprint(&value))
                } else {
                    pair.to_owned()
                }
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests;
