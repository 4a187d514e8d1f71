//! Which names mark a value as a credential: header names, URL query parameters, form fields
//! and JSON members (one rule for all four), environment variable names and command-line flags.
//! The one place these lists live; the redactor (headers, parameters, form fields, JSON
//! members, credential headers written out in text) and the marker collection (environment
//! variables) both ask here.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

/// Words that mark a header, parameter, form field or JSON member name as a credential's:
/// a name is split into words at every character that is not a letter or digit and at every
/// lower-to-upper case change (`X-My-Service-Key`, `client_secret`, `accessToken`), and
/// compared lowercase. `session` is not here: a session *identifier* (`X-Session-Id`,
/// `session_id`, `x-opencode-session`) names a conversation, which `phonehome llm` groups calls
/// by; a session *credential* is named with one of these words (`X-Session-Token`,
/// `session_key`) or glued to `id` as cookies name it (see [`CREDENTIAL_WORD_ENDINGS`]).
const CREDENTIAL_WORDS: &[&str] = &[
    "key",
    "apikey",
    "auth",
    "authorization",
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "credential",
    "credentials",
    "signature",
    "sig",
    "cookie",
];

/// Endings that mark one word as a credential's even when glued to other letters:
/// `accesstoken`, `clientsecret`, `xapikey`, `awscredentials`, and the session cookies
/// `sessionid`, `JSESSIONID`, `PHPSESSID`. A word that only *contains* one (`tokens`, a
/// count; `monkey`; `authority`) is not.
const CREDENTIAL_WORD_ENDINGS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "credentials",
    "signature",
    "apikey",
    "accesskey",
    "privatekey",
    "sessionid",
    "sessid",
];

/// Names made of credential words that carry no credential (compared lowercase): the
/// WebSocket handshake nonce, a CORS flag, a retry id.
const NOT_CREDENTIALS: &[&str] = &[
    "sec-websocket-key",
    "access-control-allow-credentials",
    "idempotency-key",
];

/// Credential headers whose names are recognised also when written out in text (a curl
/// command line in a prompt) although they have no `-` in them: `Authorization: Bearer …`,
/// `Cookie: …`. Names with a `-` (`x-api-key`, `X-My-Service-Key`) are recognised by
/// [`is_credential_name`].
pub(crate) const CREDENTIAL_HEADERS_IN_TEXT: &[&str] = &[
    "proxy-authorization",
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
];

/// How surely a credential-like name marks its value as a credential: what the value rule
/// ([`crate::is_secret`]) asks of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStrength {
    /// A name that says "credential" outright: one of its words is [`STRONG_WORDS`], ends in
    /// a [`CREDENTIAL_WORD_ENDINGS`] ending, or is `key` after `api`, `access` or `private`
    /// (`Authorization`, `Cookie`, `x-api-key`, `X-Session-Token`, `password`). Any value but
    /// a plainly harmless one (boolean, number, URL without userinfo, …) is a credential.
    Strong,
    /// A name that only may (`key`, `auth`, `sig`, `X-My-Service-Key`): the value must also
    /// look like a secret (length and entropy).
    Weak,
}

/// The [`CREDENTIAL_WORDS`] that make a name [`NameStrength::Strong`].
const STRONG_WORDS: &[&str] = &[
    "apikey",
    "authorization",
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "credential",
    "credentials",
    "cookie",
];

/// Words that make `key` before them a strong credential name: `api_key`, `X-Access-Key`.
const STRONG_KEY_QUALIFIERS: &[&str] = &["api", "access", "private", "secret"];

/// Last words that name the *form* of the credential before them rather than something
/// else about it: `token_value`, `auth_header`, `private_key_pem`, `api_key_b64`. A number
/// (`api_key_2`) counts as one too.
const CARRIER_WORDS: &[&str] = &[
    "value",
    "val",
    "string",
    "str",
    "header",
    "data",
    "raw",
    "b64",
    "base64",
    "encoded",
    "pem",
    "der",
    "json",
    "text",
    "plain",
    "plaintext",
];

/// Whether a header, URL query parameter (percent-decoded), form field or JSON member named
/// `name` may carry a credential: its last word (after any [`CARRIER_WORDS`] and numbers) is
/// a [`CREDENTIAL_WORDS`] word or ends in a [`CREDENTIAL_WORD_ENDINGS`] ending, and it is not
/// one of the [`NOT_CREDENTIALS`]. The last word names what the value is: `access_token` and
/// `X-Api-Key` carry one, `auth_provider`, `token_type`, `password_strength` and
/// `api_key_source` say something about one. Whether the value *is* one: [`crate::is_secret`].
///
/// ```
/// use phonehome_record::is_credential_name;
/// for name in ["X-My-Service-Key", "X-Auth", "client_secret", "accessToken", "sessionid"] {
///     assert!(is_credential_name(name), "{name}");
/// }
/// for name in ["Sec-WebSocket-Key", "X-Session-Id", "x-ratelimit-remaining-tokens", "monkey"] {
///     assert!(!is_credential_name(name), "{name}");
/// }
/// assert!(!is_credential_name("auth_provider"), "says something about one");
/// ```
pub fn is_credential_name(name: &str) -> bool {
    credential_name_strength(name).is_some()
}

/// How surely `name` marks a credential ([`NameStrength`]); `None` when it does not
/// ([`is_credential_name`]).
///
/// ```
/// use phonehome_record::{credential_name_strength, NameStrength};
/// assert_eq!(credential_name_strength("X-Api-Key"), Some(NameStrength::Strong));
/// assert_eq!(credential_name_strength("X-My-Service-Key"), Some(NameStrength::Weak));
/// assert_eq!(credential_name_strength("token_value"), Some(NameStrength::Strong));
/// assert_eq!(credential_name_strength("token_type"), None);
/// ```
pub fn credential_name_strength(name: &str) -> Option<NameStrength> {
    // Compared in any ASCII case, word by word, without copying the name (this runs for
    // every header of every request an analysis reads). Most names hold no credential word
    // at all: one pass over the name tells them.
    if !has_credential_piece(name) || is_one_of(NOT_CREDENTIALS, name) {
        return None;
    }
    let (last, before) = last_words(name)?;
    let qualified_key = last.eq_ignore_ascii_case("key")
        && before.is_some_and(|b| is_one_of(STRONG_KEY_QUALIFIERS, b));
    if qualified_key
        || is_one_of(STRONG_WORDS, last)
        || CREDENTIAL_WORD_ENDINGS
            .iter()
            .any(|e| ends_with_ignore_ascii_case(last, e))
    {
        Some(NameStrength::Strong)
    } else if is_one_of(CREDENTIAL_WORDS, last) {
        Some(NameStrength::Weak)
    } else {
        None
    }
}

/// The last word of a name once trailing [`CARRIER_WORDS`] and numbers are left out (the
/// first word stays, whatever it is), and the word before it.
fn last_words(name: &str) -> Option<(&str, Option<&str>)> {
    let mut found = None;
    let mut previous = None;
    for word in words(name) {
        if found.is_none() || !is_carrier(word) {
            found = Some((word, previous));
        }
        previous = Some(word);
    }
    found
}

/// Whether `word` equals one of `list` (lowercase) in any ASCII case.
fn is_one_of(list: &[&str], word: &str) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Whether `word` ends with `ending` (lowercase) in any ASCII case.
fn ends_with_ignore_ascii_case(word: &str, ending: &str) -> bool {
    word.len() >= ending.len()
        && word.as_bytes()[word.len() - ending.len()..].eq_ignore_ascii_case(ending.as_bytes())
}

/// Whether `word` (any ASCII case) is one of the [`CARRIER_WORDS`] or a number.
fn is_carrier(word: &str) -> bool {
    is_one_of(CARRIER_WORDS, word) || word.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `name` holds one of [`credential_name_pieces`] in any ASCII case: a name without
/// one is no credential's (its last word would have to be or end in one).
fn has_credential_piece(name: &str) -> bool {
    static PIECES: OnceLock<AhoCorasick> = OnceLock::new();
    PIECES
        .get_or_init(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(credential_name_pieces())
                .expect("a few short literal words build an automaton")
        })
        .is_match(name)
}

/// Every word and ending that can mark a credential's name: a name [`is_credential_name`]
/// accepts contains one of them (any case). For a cheap first search in text.
pub(crate) fn credential_name_pieces() -> impl Iterator<Item = &'static str> {
    CREDENTIAL_WORDS
        .iter()
        .chain(CREDENTIAL_WORD_ENDINGS)
        .copied()
}

/// The words of a name: split at every non-alphanumeric character and at lower-to-upper
/// case changes (`accessToken` → `access`, `Token`).
fn words(name: &str) -> impl Iterator<Item = &str> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .flat_map(split_camel_case)
        .filter(|w| !w.is_empty())
}

fn split_camel_case(word: &str) -> impl Iterator<Item = &str> {
    let bytes = word.as_bytes();
    let mut start = 0;
    let mut i = 1;
    std::iter::from_fn(move || {
        if start > bytes.len() {
            return None;
        }
        while i < bytes.len() {
            let at = i;
            i += 1;
            if bytes[at - 1].is_ascii_lowercase() && bytes[at].is_ascii_uppercase() {
                let piece = &word[start..at];
                start = at;
                return Some(piece);
            }
        }
        let rest = &word[start..];
        start = bytes.len() + 1;
        Some(rest)
    })
}

/// Whether header `name` (any case) carries a credential: [`is_credential_name`].
///
/// ```
/// assert!(phonehome_record::is_credential_header("X-Session-Token"));
/// assert!(!phonehome_record::is_credential_header("Sec-WebSocket-Key"));
/// ```
pub fn is_credential_header(name: &str) -> bool {
    is_credential_name(name)
}

/// Whether environment variable `name` (any case) names a credential. A socket path
/// (`SSH_AUTH_SOCK`) does not.
///
/// ```
/// assert!(phonehome_record::is_credential_env_name("OPENAI_API_KEY"));
/// assert!(!phonehome_record::is_credential_env_name("SSH_AUTH_SOCK"));
/// ```
pub fn is_credential_env_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.ends_with("_sock")
        && (has_part(&lower, CREDENTIAL_NAME_PARTS) || has_part(&lower, ENV_ONLY_NAME_PARTS))
}

/// Further parts that mark a command-line flag's value as a credential: `--api-key VALUE`.
const FLAG_ONLY_NAME_PARTS: &[&str] = &["api-key", "api_key", "apikey"];

/// Whether command-line flag `name` (`--api-key`, `--client-secret`, any case) takes a
/// credential as its value. Flags that take no secret do not: `--no-password`,
/// `--password-file`.
pub(crate) fn is_credential_flag(name: &str) -> bool {
    let lower = name.trim_start_matches('-').to_ascii_lowercase();
    let takes_no_secret =
        lower.starts_with("no-") || lower.ends_with("-file") || lower.ends_with("_file");
    !takes_no_secret
        && (has_part(&lower, CREDENTIAL_NAME_PARTS) || has_part(&lower, FLAG_ONLY_NAME_PARTS))
}

/// Parts of a name (lowercase) that mark an environment variable's or a flag's value as a
/// credential wherever they appear in the name.
const CREDENTIAL_NAME_PARTS: &[&str] = &["token", "secret", "password", "passwd"];

/// Further parts that mark only an environment variable's value as a credential
/// (`OPENAI_API_KEY`, `AWS_CREDENTIALS`, `GH_AUTH`).
const ENV_ONLY_NAME_PARTS: &[&str] = &["key", "credential", "auth"];

fn has_part(lower: &str, parts: &[&str]) -> bool {
    parts.iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rule as first written: the name lowercased, split into owned words, carriers
    /// popped. [`credential_name_strength`] must say the same without copying.
    fn strength_by_copies(name: &str) -> Option<NameStrength> {
        let lower = name.to_ascii_lowercase();
        if NOT_CREDENTIALS.contains(&lower.as_str()) {
            return None;
        }
        let mut words: Vec<String> = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .flat_map(|w| {
                let mut out = Vec::new();
                let mut start = 0;
                for i in 1..w.len() {
                    let b = w.as_bytes();
                    if b[i - 1].is_ascii_lowercase() && b[i].is_ascii_uppercase() {
                        out.push(w[start..i].to_ascii_lowercase());
                        start = i;
                    }
                }
                out.push(w[start..].to_ascii_lowercase());
                out
            })
            .filter(|w| !w.is_empty())
            .collect();
        while words.len() > 1 && words.last().is_some_and(|w| is_carrier(w)) {
            words.pop();
        }
        let (last, before) = match words.as_slice() {
            [.., before, last] => (last.as_str(), Some(before.as_str())),
            [last] => (last.as_str(), None),
            [] => return None,
        };
        let qualified_key =
            last == "key" && before.is_some_and(|b| STRONG_KEY_QUALIFIERS.contains(&b));
        if qualified_key
            || STRONG_WORDS.contains(&last)
            || CREDENTIAL_WORD_ENDINGS.iter().any(|e| last.ends_with(e))
        {
            Some(NameStrength::Strong)
        } else if CREDENTIAL_WORDS.contains(&last) {
            Some(NameStrength::Weak)
        } else {
            None
        }
    }

    proptest! {
        #[test]
        fn strength_without_copies_agrees(
            parts in prop::collection::vec(
                prop_oneof![
                    prop::sample::select(vec![
                        "api", "Key", "key", "ACCESS", "token", "Token", "value", "B64", "2",
                        "session", "Id", "auth", "Authorization", "x", "sec", "websocket",
                        "secret", "privateKey", "monkey", "é", "",
                    ]).prop_map(str::to_owned),
                    "[a-zA-Z0-9]{0,6}",
                ],
                0..6,
            ),
            seps in prop::collection::vec(prop::sample::select(vec!["-", "_", ".", "", " "]), 6),
        ) {
            let name: String = parts
                .iter()
                .zip(&seps)
                .flat_map(|(p, s)| [p.as_str(), *s])
                .collect();
            prop_assert_eq!(credential_name_strength(&name), strength_by_copies(&name), "{}", name);
        }
    }

    #[test]
    fn headers() {
        for name in [
            "Authorization",
            "Proxy-Authorization",
            "x-api-key",
            "X-Goog-Api-Key",
            "Cookie",
            "set-cookie",
            "x-refresh-token",
            "X-My-Service-Key",
            "X-Auth",
            "X-Access-Key",
            "X-Session-Token",
            "x-amz-security-token",
            "X-Client-Secret",
            "X-Signature",
            "XApiKey",
        ] {
            assert!(is_credential_header(name), "{name}");
        }
        for name in [
            "WWW-Authenticate",
            "Proxy-Authenticate",
            "Access-Control-Allow-Credentials",
            "Access-Control-Allow-Headers",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Accept",
            "Idempotency-Key",
            "Keep-Alive",
            "x-ratelimit-remaining-tokens",
            "anthropic-ratelimit-tokens-remaining",
            "X-Session-Id",
            "session_id",
            "x-opencode-session",
            "X-Claude-Code-Session-Id",
            "x-session-affinity",
            "content-type",
            "user-agent",
        ] {
            assert!(!is_credential_header(name), "{name}");
        }
    }

    #[test]
    fn params_form_fields_and_json_members() {
        for name in [
            "KEY",
            "apikey",
            "api_key",
            "api-key",
            "auth",
            "sig",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "client_secret",
            "id_token",
            "accessToken",
            "refresh_token",
            "password",
            "user.password",
            "passwd",
            "sessionid",
            "JSESSIONID",
            "PHPSESSID",
            "session_key",
        ] {
            assert!(is_credential_name(name), "{name}");
        }
        for name in [
            "monkey",
            "authuser",
            "author",
            "max_tokens",
            "input_tokens",
            "session_id",
            "sessionId",
            "session",
            "user_id",
            "model",
            "keyboard",
        ] {
            assert!(!is_credential_name(name), "{name}");
        }
    }

    #[test]
    fn environment_variables() {
        for name in [
            "GITHUB_TOKEN",
            "my_secret",
            "DB_PASSWD",
            "AWS_CREDENTIALS",
            "GH_AUTH",
        ] {
            assert!(is_credential_env_name(name), "{name}");
        }
        for name in ["PATH", "SSH_AUTH_SOCK", "HOME"] {
            assert!(!is_credential_env_name(name), "{name}");
        }
    }
}
