//! The markers the leak finder looks for: what must not travel, collected when a capture
//! starts. Plain values are recorded as they are; secrets only by fingerprint, and their values
//! are handed to the redactor so the capture never holds them.

use std::path::Path;

use phonehome_record::{fingerprint_hex, Marker, Markers, SecretMarker};

/// Parts of an environment variable name that mark its value as a credential.
const CREDENTIAL_NAME_PARTS: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
];
/// Shorter values would match ordinary text.
const MIN_SECRET_LEN: usize = 8;

/// The markers, and the secret values the redactor must remove wherever they appear.
pub struct Collected {
    pub markers: Markers,
    pub secrets: Vec<String>,
}

/// Collects the markers of a capture started in `cwd`. `env` is the child's environment
/// (`run`), or none (`proxy`, which does not know its clients' environments).
pub fn collect<'a>(
    cwd: &Path,
    env: impl IntoIterator<Item = (&'a str, &'a str)>,
    sensitive: &[String],
) -> Collected {
    let mut values = Vec::new();
    let mut push = |kind: &str, value: String| {
        if value.len() > 1 && !values.iter().any(|m: &Marker| m.value == value) {
            values.push(Marker {
                kind: kind.to_owned(),
                value,
            });
        }
    };
    push("cwd", cwd.display().to_string());
    if let Some(home) = std::env::var_os("HOME") {
        push("home", home.to_string_lossy().into_owned());
    }
    if let Some(user) = std::env::var_os("USER").or_else(|| std::env::var_os("LOGNAME")) {
        push("user", user.to_string_lossy().into_owned());
    }
    if let Ok(host) = nix::unistd::gethostname() {
        push("hostname", host.to_string_lossy().into_owned());
    }
    for url in git_remotes(cwd) {
        push("git_remote", url);
    }

    let mut markers = Markers {
        values,
        secrets: Vec::new(),
    };
    let mut secrets = Vec::new();
    for (name, value) in env {
        if is_credential(name, value) && !secrets.iter().any(|s| s == value) {
            markers.secrets.push(SecretMarker {
                kind: "env".to_owned(),
                name: name.to_owned(),
                fingerprint: fingerprint_hex(value),
            });
            secrets.push(value.to_owned());
        }
    }
    for (i, value) in sensitive.iter().enumerate() {
        markers.secrets.push(SecretMarker {
            kind: "sensitive".to_owned(),
            name: format!("sensitive #{}", i + 1),
            fingerprint: fingerprint_hex(value),
        });
        secrets.push(value.clone());
    }
    Collected { markers, secrets }
}

/// A credential-looking variable: its name says so, and its value is not a path.
fn is_credential(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    CREDENTIAL_NAME_PARTS.iter().any(|p| upper.contains(p))
        && !upper.ends_with("_SOCK")
        && value.len() >= MIN_SECRET_LEN
        && !value.starts_with('/')
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
        let collected = collect(Path::new("/work/x"), env, &["project-aurora".to_owned()]);
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
}
