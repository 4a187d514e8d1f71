//! Credential redaction (headers, URL query parameters, text bodies) and the redaction token.
//!
//! A redacted value becomes `[REDACTED:xxxxxxxx]`, where `xxxxxxxx` is the first 8 hex digits of
//! the SHA-256 of the value, so one credential can be followed across requests and captures
//! without being stored. An auth scheme word (`Bearer`, `Basic`, …) is kept in front.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::credential::{is_credential_flag, is_credential_header, is_credential_param};

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
    Regex::new(
        r#"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|x-goog-api-key)(\s*[:=]\s*)((?:bearer|basic|token)\s+)?([^\s'",;\[]{8,})"#,
    )
    .expect("static regex is valid")
});

/// JSON string members whose name says they hold a credential: `"password": "…"`.
static JSON_SECRET_MEMBERS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)("[A-Za-z0-9_\-]*(?:password|passwd|secret|api_?key|access_?token|refresh_?token|id_?token)"\s*:\s*")([^"\\]+)""#,
    )
    .expect("static regex is valid")
});

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

    /// `url` with credential query parameter values and key shapes redacted.
    pub fn url(&self, url: &str) -> String {
        if self.disabled {
            return url.to_owned();
        }
        let (head, fragment) = match url.split_once('#') {
            Some((h, f)) => (h, Some(f)),
            None => (url, None),
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

    /// `text` with known secrets, key shapes, credential headers written out in text and
    /// credential JSON members redacted.
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
        let rules: [(&Regex, Replacement); 3] = [
            (&KEY_SHAPES, |c| fingerprint(&c[0])),
            (&HEADER_IN_TEXT, |c| {
                let scheme = c.get(3).map_or("", |m| m.as_str());
                format!("{}{}{scheme}{}", &c[1], &c[2], fingerprint(&c[4]))
            }),
            (&JSON_SECRET_MEMBERS, |c| {
                format!("{}{}\"", &c[1], fingerprint(&c[2]))
            }),
        ];
        for (pattern, replace) in rules {
            // Most text matches nothing: the plain search is much cheaper than captures.
            if !pattern.is_match(&out) {
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
                if is_credential_param(&decoded) {
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bearer_keeps_scheme() {
        let r = Redactor::new();
        let v = r.header("Authorization", "Bearer sk-abc");
        assert_eq!(v, format!("Bearer {}", fingerprint("sk-abc")));
    }

    #[test]
    fn api_key_header_is_redacted_whole() {
        let r = Redactor::new();
        assert_eq!(r.header("x-api-key", "secret1"), fingerprint("secret1"));
        assert_eq!(r.header("X-Session-Token", "abc"), fingerprint("abc"));
        assert_eq!(r.header("content-type", "text/plain"), "text/plain");
    }

    #[test]
    fn query_key_is_redacted() {
        let r = Redactor::new();
        let url = r.url("https://h.test/v1/models?key=AIzaNOPE&alt=sse#frag");
        assert_eq!(
            url,
            format!(
                "https://h.test/v1/models?key={}&alt=sse#frag",
                fingerprint("AIzaNOPE")
            )
        );
        assert_eq!(
            r.url("https://h.test/a?monkey=1"),
            "https://h.test/a?monkey=1"
        );
    }

    #[test]
    fn key_shapes_in_text() {
        let r = Redactor::new();
        let key = "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA";
        let body = format!(r#"{{"note":"use {key} please"}}"#);
        let out = r.text(&body);
        assert!(!out.contains(key), "{out}");
        assert!(out.contains(&fingerprint(key)));
    }

    #[test]
    fn json_secret_members() {
        let r = Redactor::new();
        let out = r.text(r#"{"user":"a","password":"hunter22","max_tokens":5}"#);
        assert_eq!(
            out,
            format!(
                r#"{{"user":"a","password":"{}","max_tokens":5}}"#,
                fingerprint("hunter22")
            )
        );
    }

    #[test]
    fn literal_secrets() {
        let r = Redactor::new().with_secrets(["my-own-secret-value".to_owned(), "short".into()]);
        let out = r.text("x my-own-secret-value y short");
        assert_eq!(
            out,
            format!("x {} y short", fingerprint("my-own-secret-value"))
        );
    }

    #[test]
    fn credential_headers_written_in_text() {
        let r = Redactor::new();
        let out = r
            .text("curl -H 'Authorization: Bearer abcdefgh12345' -H \"x-api-key: zyxwvut98765\" x");
        assert_eq!(
            out,
            format!(
                "curl -H 'Authorization: Bearer {}' -H \"x-api-key: {}\" x",
                fingerprint("abcdefgh12345"),
                fingerprint("zyxwvut98765")
            )
        );
    }

    #[test]
    fn learned_credentials_are_redacted_everywhere() {
        let mut r = Redactor::new();
        let value = "Bearer opaque-token-value-123";
        let credential = Redactor::credential("Authorization", value).expect("credential");
        assert_eq!(credential, "opaque-token-value-123");
        assert_eq!(Redactor::credential("accept", "x"), None);
        r.learn(credential);
        let out = r.text(r#"{"echo":"Bearer opaque-token-value-123"}"#);
        assert_eq!(
            out,
            format!(r#"{{"echo":"Bearer {}"}}"#, fingerprint(credential))
        );
    }

    #[test]
    fn redaction_tokens_round_trip() {
        let token = fingerprint("sk-test");
        assert_eq!(
            parse_redaction_token(&token),
            Some(fingerprint_hex("sk-test").as_str())
        );
        assert_eq!(parse_redaction_token("[REDACTED:]"), None);
        assert_eq!(parse_redaction_token("[REDACTED:0a1b2c3]"), None);
        assert_eq!(parse_redaction_token("[REDACTED:0a1b2c3g]"), None);
    }

    #[test]
    fn argv_redacts_credential_flags_and_key_shapes() {
        let r = Redactor::new().with_secrets(["known-secret-value".to_owned()]);
        let key = format!("sk-ant-{}", "a".repeat(30));
        let argv = [
            "agent",
            "--api-key",
            "plainvalue",
            "--client-secret=s3cr3tvalue",
            "--no-password",
            "db",
            "--password-file",
            "/run/pw",
            &key,
            "x=known-secret-value",
            "--token",
            "--verbose",
        ]
        .map(String::from);
        let out = r.argv(&argv);
        assert_eq!(
            out,
            [
                "agent".to_owned(),
                "--api-key".into(),
                fingerprint("plainvalue"),
                format!("--client-secret={}", fingerprint("s3cr3tvalue")),
                "--no-password".into(),
                "db".into(),
                "--password-file".into(),
                "/run/pw".into(),
                fingerprint(&key),
                format!("x={}", fingerprint("known-secret-value")),
                "--token".into(),
                "--verbose".into(),
            ]
        );
        assert_eq!(r.argv(&out), out, "redacting twice changes nothing");
        assert_eq!(Redactor::disabled().argv(&argv), argv.to_vec());
    }

    #[test]
    fn disabled_changes_nothing() {
        let r = Redactor::disabled();
        assert_eq!(r.header("authorization", "Bearer x"), "Bearer x");
    }

    proptest! {
        #[test]
        fn planted_keys_never_survive(prefix in "([a-z ]{0,19}[ ,:\"])?", key in "[A-Za-z0-9]{20,40}", suffix in "([ ,:\"][a-z ]{0,19})?") {
            let r = Redactor::new();
            for planted in [format!("sk-{key}"), format!("sk-ant-{key}"), format!("ghp_{key}")] {
                let text = format!("{prefix}{planted}{suffix}");
                let out = r.text(&text);
                prop_assert!(!out.contains(&planted));
                prop_assert!(out.contains(&fingerprint(&planted)));
            }
        }

        #[test]
        fn redaction_is_idempotent(text in ".{0,80}") {
            let r = Redactor::new();
            let once = r.text(&text).into_owned();
            let twice = r.text(&once).into_owned();
            prop_assert_eq!(once, twice);
        }
    }
}
