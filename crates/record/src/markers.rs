//! Collecting the markers the leak finder looks for: what must not travel, gathered when a
//! capture starts. Plain values are recorded as they are; secrets only by fingerprint, and
//! their values are handed to the [`Redactor`](crate::Redactor) so the capture never holds them.
//!
//! The caller reads the machine's facts (home, user and host names, the git identity) into an
//! [`Origin`]; this module decides what of them, of the environment (secrets, and the
//! endpoints the agent was configured with: [`endpoint`]) and of `--sensitive` becomes a
//! marker.

mod endpoint;

use std::path::Path;

use crate::credential::is_credential_env_name;
use crate::record::{Marker, Markers, SecretMarker};
use crate::redact::fingerprint_hex;

/// Shorter values would match ordinary text.
const MIN_SECRET_LEN: usize = 8;

/// Where a capture starts: the working directory and the machine's plain facts.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// The working directory; the git remotes of the repository holding it are markers too.
    pub cwd: &'a Path,
    /// The user's home directory (`HOME`).
    pub home: Option<String>,
    /// The user's name (`USER`, else `LOGNAME`).
    pub user: Option<String>,
    /// The machine's host name.
    pub hostname: Option<String>,
    /// `git config user.name` and `user.email` in the working directory.
    pub git_user: Option<String>,
    pub git_email: Option<String>,
}

/// The markers, and the secret values the redactor must remove wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct CollectedMarkers {
    pub markers: Markers,
    pub secrets: Vec<String>,
}

/// Collects the markers of a capture started at `origin`. `env` is the child's environment
/// (`run`), or none (`proxy`, which does not know its clients' environments); `sensitive` are
/// the `--sensitive` values.
pub fn collect_markers<'a>(
    origin: &Origin<'_>,
    env: impl IntoIterator<Item = (&'a str, &'a str)>,
    sensitive: &[String],
) -> CollectedMarkers {
    let mut collected = CollectedMarkers {
        markers: Markers {
            values: plain_values(origin),
            secrets: Vec::new(),
        },
        secrets: Vec::new(),
    };
    for (name, value) in env {
        if is_credential_env(name, value) && !collected.secrets.iter().any(|s| s == value) {
            collected.push_secret("env", name.to_owned(), value.to_owned());
        } else if endpoint::is_endpoint_env_name(name) {
            if let Some(e) = endpoint::endpoint(value) {
                collected.push_value("llm_endpoint", e.url);
                collected.push_value("llm_host", e.authority);
            }
        }
    }
    for (i, value) in sensitive.iter().enumerate() {
        collected.push_secret("sensitive", format!("sensitive #{}", i + 1), value.clone());
    }
    collected
}

impl CollectedMarkers {
    fn push_value(&mut self, kind: &str, value: String) {
        let values = &mut self.markers.values;
        if value.len() > 1 && !values.iter().any(|m| m.value == value) {
            values.push(Marker {
                kind: kind.to_owned(),
                value,
            });
        }
    }

    fn push_secret(&mut self, kind: &str, name: String, value: String) {
        self.markers.secrets.push(SecretMarker {
            kind: kind.to_owned(),
            name,
            fingerprint: fingerprint_hex(&value),
        });
        self.secrets.push(value);
    }
}

/// The origin's plain values, each once, in order: cwd, home, user, hostname, git user name
/// and email, git remotes.
fn plain_values(origin: &Origin<'_>) -> Vec<Marker> {
    let mut values = Vec::new();
    let mut push = |kind: &str, value: String| {
        if value.len() > 1 && !values.iter().any(|m: &Marker| m.value == value) {
            values.push(Marker {
                kind: kind.to_owned(),
                value,
            });
        }
    };
    push("cwd", origin.cwd.display().to_string());
    let facts = [
        ("home", &origin.home),
        ("user", &origin.user),
        ("hostname", &origin.hostname),
        ("git_user", &origin.git_user),
        ("git_email", &origin.git_email),
    ];
    for (kind, value) in facts {
        if let Some(value) = value {
            push(kind, value.clone());
        }
    }
    for url in git_remotes(origin.cwd) {
        push("git_remote", url);
    }
    values
}

/// A credential-looking variable: its name says so, and its value is not a path.
fn is_credential_env(name: &str, value: &str) -> bool {
    is_credential_env_name(name) && value.len() >= MIN_SECRET_LEN && !value.starts_with('/')
}

/// The remote URLs in the git configuration of the repository holding `dir`.
fn git_remotes(dir: &Path) -> Vec<String> {
    let Some(config) = dir
        .ancestors()
        .map(|d| d.join(".git/config"))
        .find(|c| c.is_file())
    else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(config) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("url"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_variables_are_kept_by_fingerprint_only() {
        let env = [
            ("OPENAI_API_KEY", "sk-test-0123456789"),
            ("GITHUB_TOKEN", "ghp_short"),
            ("SSH_AUTH_SOCK", "/run/user/1000/ssh-agent"),
            ("PATH", "/usr/bin"),
            ("MY_SECRET", "short"),
        ];
        let origin = Origin {
            cwd: Path::new("/work/x"),
            home: None,
            user: None,
            hostname: None,
            git_user: None,
            git_email: None,
        };
        let collected = collect_markers(&origin, env, &["project-aurora".to_owned()]);
        let names: Vec<_> = collected
            .markers
            .secrets
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["OPENAI_API_KEY", "GITHUB_TOKEN", "sensitive #1"]);
        assert_eq!(
            collected.secrets,
            ["sk-test-0123456789", "ghp_short", "project-aurora"]
        );
        assert_eq!(
            collected.markers.secrets[0].fingerprint,
            fingerprint_hex("sk-test-0123456789")
        );
        assert_eq!(collected.markers.values[0].value, "/work/x");
    }

    /// The markers collected, as (kind, value).
    fn kinds_of(collected: &CollectedMarkers) -> Vec<(&str, &str)> {
        collected
            .markers
            .values
            .iter()
            .map(|m| (m.kind.as_str(), m.value.as_str()))
            .collect()
    }

    #[test]
    fn plain_values_are_kept_once_in_order() {
        let origin = Origin {
            cwd: Path::new("/home/ada/src"),
            home: Some("/home/ada".to_owned()),
            user: Some("ada".to_owned()),
            hostname: Some("ada".to_owned()),
            git_user: None,
            git_email: None,
        };
        let collected = collect_markers(&origin, [], &[]);
        let kinds = kinds_of(&collected);
        assert_eq!(
            kinds,
            [
                ("cwd", "/home/ada/src"),
                ("home", "/home/ada"),
                ("user", "ada")
            ]
        );
    }

    #[test]
    fn configured_endpoints_and_git_identity_are_markers() {
        let origin = Origin {
            cwd: Path::new("/w"),
            home: None,
            user: None,
            hostname: None,
            git_user: Some("Ada Lovelace".to_owned()),
            git_email: Some("ada@example.test".to_owned()),
        };
        let env = [
            ("ACME_BASE_URL", "https://u:pw@llm.corp.test:8443/v1"),
            ("OLLAMA_HOST", "127.0.0.1:11434"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.test:4318"),
        ];
        let collected = collect_markers(&origin, env, &[]);
        let kinds = kinds_of(&collected);
        assert_eq!(
            kinds,
            [
                ("cwd", "/w"),
                ("git_user", "Ada Lovelace"),
                ("git_email", "ada@example.test"),
                ("llm_endpoint", "https://llm.corp.test:8443/v1"),
                ("llm_host", "llm.corp.test:8443"),
                ("llm_endpoint", "127.0.0.1:11434"),
            ]
        );
    }
}
