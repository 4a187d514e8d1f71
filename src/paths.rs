//! Where phonehome keeps its files: `$XDG_DATA_HOME/phonehome` (else `~/.local/share/phonehome`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The phonehome data folder.
pub fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("phonehome"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/phonehome")),
        None => bail!("neither XDG_DATA_HOME nor HOME is set; pass --out and --ca-dir"),
    }
}

/// The CA folder: `--ca-dir`, else `<data dir>/ca`.
pub fn ca_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    match explicit {
        Some(dir) => Ok(dir.to_owned()),
        None => Ok(data_dir()?.join("ca")),
    }
}

/// `<data dir>/captures/<UTC time>-<slug of name>.jsonl`.
pub fn default_capture(name: &str) -> Result<PathBuf> {
    let time = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    Ok(data_dir()?
        .join("captures")
        .join(format!("{time}-{}.jsonl", slug(name))))
}

/// A file-name-safe short form of a command: its program's base name and first arguments.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "capture".to_owned()
    } else {
        out
    }
}

/// The slug source for a command line: the program's base name and the next two arguments.
pub fn command_name(command: &[String]) -> String {
    let mut parts = command.iter().take(3);
    let program = parts
        .next()
        .map(|p| {
            Path::new(p)
                .file_name()
                .map_or(p.clone(), |f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    std::iter::once(program)
        .chain(parts.cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("curl https://x.test/a?b=1"), "curl-https-x-test-a-b-1");
        assert_eq!(slug("///"), "capture");
        let cmd = vec![
            "/usr/bin/opencode".to_owned(),
            "run".into(),
            "hi there".into(),
            "x".into(),
        ];
        assert_eq!(slug(&command_name(&cmd)), "opencode-run-hi-there");
    }
}
