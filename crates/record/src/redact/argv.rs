//! Redaction of a command line (`capture.command`, `conn.process.argv`): one function for
//! both. Every argument goes through the text rules (multi-line ones too: `sh -c "curl -H
//! 'X-My-Service-Key: …'"`), the value of a credential flag is judged by the one rule, and
//! base64 inside an argument is decoded and fingerprinted whole when its content carries a
//! credential.

use std::sync::LazyLock;

use regex::Regex;

use super::{fingerprint, Redactor, TOKEN_PREFIX};
use crate::credential::{is_credential_flag, NameStrength};
use crate::payload::decode_base64_text;
use crate::secret::is_secret_under;

/// A run of base64 (standard or URL-safe alphabet) long enough to hide a credential.
static BASE64_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/_\-]{16,}={0,2}").expect("static regex is valid"));

impl Redactor {
    /// The value to record for a command line (`capture.command`, `conn.process.argv`): each
    /// argument redacted as [`text`](Self::text) (every line of it), the value of a flag
    /// whose name marks a credential redacted when the one rule says it is a secret (a
    /// strong name: anything but a boolean, number, URL, …), in both spellings
    /// (`--api-key VALUE`, `--api-key=VALUE`), and a base64 run (16 characters or more)
    /// whose decoded text the text rules would change fingerprinted whole. Flags named
    /// `--no-…` or `…-file` take no secret and are left alone.
    ///
    /// ```
    /// let r = phonehome_record::Redactor::new();
    /// let argv = ["tool", "--token", "opaque1234", "--name=x", "--max-tokens", "100"].map(String::from);
    /// let out = r.argv(&argv);
    /// assert_eq!(out[2], phonehome_record::fingerprint("opaque1234"));
    /// assert_eq!(out[3], "--name=x");
    /// assert_eq!(out[5], "100");
    /// ```
    pub fn argv(&self, argv: &[String]) -> Vec<String> {
        if self.disabled {
            return argv.to_vec();
        }
        let mut out = Vec::with_capacity(argv.len());
        let mut value_is_secret = false;
        for arg in argv {
            if std::mem::take(&mut value_is_secret) && !arg.starts_with('-') {
                out.push(flag_value(arg));
                continue;
            }
            match credential_flag(arg) {
                Some(CredentialFlag::Joined { name, value }) => {
                    out.push(format!("{name}={}", flag_value(value)));
                }
                Some(CredentialFlag::ValueNext) => {
                    value_is_secret = true;
                    out.push(arg.clone());
                }
                None => out.push(self.argument(arg)),
            }
        }
        out
    }

    /// One argument through the text rules, then its base64 runs.
    fn argument(&self, arg: &str) -> String {
        let text = self.text(arg);
        BASE64_RUN
            .replace_all(&text, |c: &regex::Captures<'_>| {
                let run = &c[0];
                let carries_secret = decode_base64_text(run)
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .is_some_and(|decoded| self.text(&decoded).contains(TOKEN_PREFIX));
                if carries_secret {
                    fingerprint(run)
                } else {
                    run.to_owned()
                }
            })
            .into_owned()
    }
}

/// The value of a credential flag as recorded: fingerprinted when it is a secret under a
/// strong name and not a redaction token already (redacting twice changes nothing).
fn flag_value(value: &str) -> String {
    if value.starts_with(TOKEN_PREFIX) || !is_secret_under(Some(NameStrength::Strong), value) {
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
