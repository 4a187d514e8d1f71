//! Reading an allowlist back from any format `phonehome allowlist` writes (and from files in
//! those enforcers' formats written by hand), as the phonehome policy that decides the same:
//! deny entries first, then allow entries, then deny by default. Detected by content.

use serde_json::Value;

use super::formats::{CODEX_PROFILE, FIREWALL_ARRAY};
use super::Format;

/// A file read back as a phonehome policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    /// The format it was read as.
    pub format: Format,
    /// The phonehome policy (TOML) that decides as the file does.
    pub policy: String,
    /// What the conversion could not keep (ports, one-label wildcards), one line each.
    pub notes: Vec<String>,
}

/// Why a file cannot be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadBackError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("{0}")]
    Shape(String),
}

/// Reads `text` as `format`, or as the format its content shows when `None`.
///
/// # Errors
/// [`ReadBackError`] when the text is not in the format, or lacks the lists it needs.
pub fn read_back(text: &str, format: Option<Format>) -> Result<ReadBack, ReadBackError> {
    let format = format.unwrap_or_else(|| detect(text));
    let mut lists = Lists::default();
    match format {
        Format::Policy => {
            return Ok(ReadBack {
                format,
                policy: text.to_owned(),
                notes: Vec::new(),
            })
        }
        Format::Hosts => lists.allow = hosts(text),
        Format::Json => lists.json(&serde_json::from_str(text)?)?,
        Format::Srt => lists.srt(&serde_json::from_str::<Value>(text)?, "network")?,
        Format::ClaudeCode => {
            let value: Value = serde_json::from_str(text)?;
            let sandbox = value.get("sandbox").cloned().unwrap_or(Value::Null);
            lists.srt(&sandbox, "sandbox.network")?;
        }
        Format::Codex => lists.codex(&toml::from_str(text)?)?,
        Format::Firewall => lists.allow = firewall(text)?,
    }
    Ok(lists.into_policy(format))
}

fn detect(text: &str) -> Format {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        if value.get("sandbox").is_some() {
            return Format::ClaudeCode;
        }
        if value.get("network").is_some() {
            return Format::Srt;
        }
        return Format::Json;
    }
    if text.contains(&format!("{FIREWALL_ARRAY}=(")) {
        return Format::Firewall;
    }
    // A host list is not TOML (a bare name is a key without a value); an empty file is
    // phonehome's policy, as `run --policy` reads it.
    match toml::from_str::<toml::Table>(text) {
        Ok(table) if table.contains_key("permissions") => Format::Codex,
        Ok(_) => Format::Policy,
        Err(_) => Format::Hosts,
    }
}

#[derive(Default)]
struct Lists {
    allow: Vec<String>,
    deny: Vec<String>,
    notes: Vec<String>,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

impl Lists {
    fn json(&mut self, value: &Value) -> Result<(), ReadBackError> {
        let host = |v: &Value| v.get("host").and_then(Value::as_str).map(str::to_owned);
        let list = |key: &str| -> Option<Vec<String>> {
            Some(
                value
                    .get(key)?
                    .as_array()?
                    .iter()
                    .filter_map(host)
                    .collect(),
            )
        };
        self.allow = list("allow").ok_or_else(|| {
            ReadBackError::Shape("no \"allow\" list of {\"host\": …} objects".to_owned())
        })?;
        self.deny = list("deny").unwrap_or_default();
        Ok(())
    }

    /// srt's `network` object, or Claude Code's `sandbox` object (whose `network` is the same
    /// shape).
    fn srt(&mut self, value: &Value, path: &str) -> Result<(), ReadBackError> {
        let network = value
            .get("network")
            .ok_or_else(|| ReadBackError::Shape(format!("no {path} object")))?;
        self.allow = strings(network.get("allowedDomains"));
        self.deny = strings(network.get("deniedDomains"));
        Ok(())
    }

    fn codex(&mut self, table: &toml::Table) -> Result<(), ReadBackError> {
        let profile = table
            .get("default_permissions")
            .and_then(toml::Value::as_str)
            .unwrap_or(CODEX_PROFILE);
        let domains = table
            .get("permissions")
            .and_then(|p| p.get(profile))
            .and_then(|p| p.get("network"))
            .and_then(|n| n.get("domains"))
            .and_then(toml::Value::as_table)
            .ok_or_else(|| {
                ReadBackError::Shape(format!("no [permissions.{profile}.network.domains] table"))
            })?;
        for (domain, action) in domains {
            match action.as_str() {
                Some("allow") => self.allow.push(domain.clone()),
                Some("deny") => self.deny.push(domain.clone()),
                _ => self
                    .notes
                    .push(format!("{domain}: neither \"allow\" nor \"deny\"")),
            }
        }
        Ok(())
    }

    fn into_policy(mut self, format: Format) -> ReadBack {
        let deny = self.globs(&self.deny.clone(), format);
        let allow = self.globs(&self.allow.clone(), format);
        let mut policy = "default = \"deny\"\n".to_owned();
        for (action, hosts) in [("deny", deny), ("allow", allow)] {
            if hosts.is_empty() {
                continue;
            }
            let quoted: Vec<String> = hosts
                .iter()
                .map(|h| toml::Value::String(h.clone()).to_string())
                .collect();
            policy.push_str(&format!(
                "\n[[rule]]\naction = \"{action}\"\nhosts = [{}]\n",
                quoted.join(", ")
            ));
        }
        ReadBack {
            format,
            policy,
            notes: self.notes,
        }
    }

    /// Domain entries as phonehome host globs.
    fn globs(&mut self, entries: &[String], format: Format) -> Vec<String> {
        let mut out: Vec<String> = entries
            .iter()
            .map(|e| self.glob(e.trim(), format))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn glob(&mut self, entry: &str, format: Format) -> String {
        let mut host = entry;
        if let Some(v6) = host.strip_prefix('[') {
            let (inner, port) = v6.split_once(']').unwrap_or((v6, ""));
            if !port.is_empty() {
                self.notes
                    .push(format!("{entry}: the port is dropped (any port)"));
            }
            return inner.to_ascii_lowercase();
        }
        if let Some((name, _port)) = host.rsplit_once(':') {
            self.notes
                .push(format!("{entry}: the port is dropped (any port)"));
            host = name;
        }
        if format == Format::Codex {
            if let Some(rest) = host.strip_prefix("**.") {
                return format!("*.{}", rest.to_ascii_lowercase());
            }
            if host.starts_with("*.") {
                self.notes.push(format!(
                    "{entry}: one label in Codex, any depth of subdomains here"
                ));
            }
        }
        host.to_ascii_lowercase()
    }
}

fn hosts(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The quoted entries of the `PHONEHOME_ALLOWED_DOMAINS=( … )` array.
fn firewall(text: &str) -> Result<Vec<String>, ReadBackError> {
    let start = text
        .find(&format!("{FIREWALL_ARRAY}=("))
        .ok_or_else(|| ReadBackError::Shape(format!("no {FIREWALL_ARRAY}=( … ) list")))?;
    let body = &text[start + FIREWALL_ARRAY.len() + 2..];
    let end = body
        .lines()
        .position(|l| l.trim_start().starts_with(')'))
        .ok_or_else(|| ReadBackError::Shape(format!("{FIREWALL_ARRAY} is not closed")))?;
    Ok(body
        .lines()
        .take(end)
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .map(|l| l.trim_matches(['"', '\'']).to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
