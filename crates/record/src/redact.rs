//! Credential redaction (headers, URL query parameters, text bodies) and the redaction token.
//!
//! A redacted value becomes `[REDACTED:xxxxxxxx]`, where `xxxxxxxx` is the first 8 hex digits of
//! the SHA-256 of the value, so one credential can be followed across requests and captures
//! without being stored. An auth scheme word (`Bearer`, `Basic`, …) is kept in front.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use sha2::{Digest, Sha256};

use crate::credential::{credential_name_pieces, is_credential_header, CREDENTIAL_HEADERS_IN_TEXT};
use crate::secret::{is_secret, KEY_SHAPES};

mod argv;

/// What every redaction token starts with.
const TOKEN_PREFIX: &str = "[REDACTED:";
/// What every redaction token ends with.
const TOKEN_SUFFIX: &str = "]";
/// Hex digits in a fingerprint.
const FINGERPRINT_LEN: usize = 8;

/// A credential header written out in text (a curl command line, an argument of `sh -c`, a
/// prompt): `Authorization: Bearer …`, `X-My-Service-Key: …`, `x-api-key=…`, `--token=…`.
/// The name is one of [`CREDENTIAL_HEADERS_IN_TEXT`] or has a `-` in it (header and flag
/// names do, code identifiers seldom); [`is_secret`] decides.
/// Values shorter than 8 characters are left alone in text.
static HEADER_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    let pieces = alternation(credential_name_pieces());
    Regex::new(&format!(
        r#"(?i)\b([A-Za-z0-9_\-]*(?:{pieces})[A-Za-z0-9_\-]*)(\s*[:=]\s*)((?:bearer|basic|token)\s+)?([^\s'",;\[]{{8,}})"#
    ))
    .expect("static regex is valid")
});

/// A name/value pair written as two JSON members: an OTLP attribute
/// (`{"key": NAME, "value": {"stringValue": VALUE}}`, or the first of an `arrayValue`'s
/// strings, as OpenTelemetry's `http.request.header.<name>` attributes are) or a `{"name": NAME, "value": VALUE}`
/// list item (HAR headers, cookies, query strings). The name is never the secret: the value is
/// judged under it. The name, then the text up to the value, then the value as written.
static PAIR: LazyLock<Regex> = LazyLock::new(|| {
    let pieces = alternation(credential_name_pieces());
    Regex::new(&format!(
        r#"(?i)"(?:key|name)"\s*:\s*"([^"\\]*(?:{pieces})[^"\\]*)("\s*,\s*"value"\s*:\s*(?:\{{\s*(?:"arrayValue"\s*:\s*\{{\s*"values"\s*:\s*\[\s*\{{\s*)?"stringValue"\s*:\s*)?")((?:[^"\\]|\\.)+)""#
    ))
    .expect("static regex is valid")
});

/// A header written as a JSON array of two strings, `["authorization", "Bearer …"]`, as
/// header lists are (the capture's own, fetch's `headers` init): the value is judged under
/// the name.
static HEADER_ARRAY: LazyLock<Regex> = LazyLock::new(|| {
    let pieces = alternation(credential_name_pieces());
    Regex::new(&format!(
        r#"(?i)\[\s*"([^"\\]*(?:{pieces})[^"\\]*)("\s*,\s*")((?:[^"\\]|\\.)+)"\s*\]"#
    ))
    .expect("static regex is valid")
});

/// JSON string members whose name may be a credential's (`"password": "…"`,
/// `"client_secret": "…"`); [`is_secret`] decides. The name, then `:` with its spacing and
/// the opening quote, then the value as written (escapes included), then, when a `"value"`
/// member follows, that member's name: a `"key"` followed by a `"value"` is the name of a
/// [`PAIR`], not a credential.
static JSON_MEMBER: LazyLock<Regex> = LazyLock::new(|| {
    let pieces = alternation(credential_name_pieces());
    Regex::new(&format!(
        r#"(?i)("[^"\\]*(?:{pieces})[^"\\]*")(\s*:\s*")((?:[^"\\]|\\.)+)"(\s*,\s*"value"\s*:)?"#
    ))
    .expect("static regex is valid")
});

/// `name=value` pairs whose name may be a credential's, at the start of text or a line, after
/// white space, `?`, `&` or `;`, or after an escaped line break (`\n` in JSON text): form
/// bodies (`client_secret=…&grant_type=…`), query strings and `.env` lines written in text
/// (`API_KEY=…`). [`is_secret`] decides.
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
        &*PAIR,
        &*HEADER_ARRAY,
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
    /// Returns whether `secret` is new to this redactor: only then does what it redacts change.
    pub fn learn(&mut self, secret: &str) -> bool {
        if self.disabled || secret.len() < 8 || self.secrets.iter().any(|s| s == secret) {
            return false;
        }
        self.secrets.push(secret.to_owned());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        true
    }

    /// The credential carried by header `name`, without its auth scheme word; `None` for a
    /// header that carries no credential (its name is not a credential's, or [`is_secret`]
    /// says its value is none; a redaction token, as captures hold them, is one).
    pub fn credential<'v>(name: &str, value: &'v str) -> Option<&'v str> {
        if !is_credential_header(name) {
            return None;
        }
        let credential = match split_scheme(value) {
            Some((_, credential)) => credential,
            None => value.trim(),
        };
        // A recorded capture holds the redaction token, which is one still.
        (parse_redaction_token(credential).is_some() || is_secret(name, value))
            .then_some(credential)
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
        if is_credential_header(name) && is_secret(name, value) {
            return redact_keeping_scheme(value);
        }
        self.text(value).into_owned()
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
        let rules: [(&Regex, Replacement); 7] = [
            (&KEY_SHAPES, |c| fingerprint(&c[0])),
            (&PAIR, redact_pair),
            (&HEADER_ARRAY, redact_pair),
            (&HEADER_IN_TEXT, |c| {
                let (name, scheme) = (&c[1], c.get(3).map_or("", |m| m.as_str()));
                let header_like = name.contains('-')
                    || CREDENTIAL_HEADERS_IN_TEXT.contains(&&*name.to_ascii_lowercase());
                if !header_like || !is_secret(name, &c[4]) {
                    return c[0].to_owned();
                }
                format!("{name}{}{scheme}{}", &c[2], fingerprint(&c[4]))
            }),
            (&JSON_MEMBER, |c| {
                let name = c[1].trim_matches('"');
                let pair_name = c.get(4).is_some() && name.eq_ignore_ascii_case("key");
                if pair_name || !is_secret(name, &c[3]) {
                    return c[0].to_owned();
                }
                let tail = c.get(4).map_or("", |m| m.as_str());
                format!("{}{}{}\"{tail}", &c[1], &c[2], fingerprint(&c[3]))
            }),
            (&NAME_VALUE, |c| {
                let name = percent_encoding::percent_decode_str(&c[2]).decode_utf8_lossy();
                let value = percent_encoding::percent_decode_str(&c[3]).decode_utf8_lossy();
                if !is_secret(&name, &value) {
                    return c[0].to_owned();
                }
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
        // Most text matches no rule at all: a search that stops at the first match (and, when
        // there is none, walks a smaller automaton than the search for every rule's matches)
        // settles it.
        if !TEXT_RULES.is_match(&out) {
            return out;
        }
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

/// A [`PAIR`] or [`HEADER_ARRAY`] match with its value redacted (auth scheme word kept) when
/// [`is_secret`] says so under its name (group 1); group 3 is the value.
fn redact_pair(c: &regex::Captures<'_>) -> String {
    let (whole, value) = (c.get(0).expect("match"), c.get(3).expect("value group"));
    if !is_secret(&c[1], value.as_str()) {
        return whole.as_str().to_owned();
    }
    let (start, end) = (value.start() - whole.start(), value.end() - whole.start());
    let text = whole.as_str();
    format!(
        "{}{}{}",
        &text[..start],
        redact_keeping_scheme(value.as_str()),
        &text[end..]
    )
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
                let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                if is_secret(&decoded, &value) {
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
