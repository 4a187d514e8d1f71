//! The allowlist: the smallest set of hosts a run's successful LLM calls needed, as a policy
//! that denies everything else, and what that policy would deny.

use serde::Serialize;

use phonehome_record::is_loopback;

use crate::report::Report;

/// An allowlist derived from a report.
#[derive(Debug, Clone, Serialize)]
pub struct Allowlist {
    /// Hosts to allow.
    pub allow: Vec<String>,
    /// Hosts the run contacted that the policy would deny.
    pub deny: Vec<Denied>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Denied {
    pub host: String,
    pub purpose: Option<String>,
    pub requests: u64,
}

/// The hosts of successful LLM calls; everything else the run contacted is denied.
pub fn allowlist(report: &Report) -> Allowlist {
    let mut allow: Vec<String> = report
        .llm
        .iter()
        .filter(|l| l.calls > l.errors)
        .map(|l| l.host.clone())
        .collect();
    allow.sort();
    allow.dedup();
    let deny = report
        .domains
        .iter()
        .filter(|d| !allow.contains(&d.domain))
        .map(|d| Denied {
            host: d.domain.clone(),
            purpose: d.purpose.map(|p| p.as_str().to_owned()),
            requests: d.requests + d.failures.saturating_sub(d.requests),
        })
        .collect();
    Allowlist { allow, deny }
}

impl Allowlist {
    /// The policy file (TOML, the format of `phonehome run --policy FILE`).
    pub fn to_policy(&self, source: &str) -> String {
        let mut out = format!(
            "# phonehome policy from {source}: allow only the hosts its successful LLM calls needed.\n"
        );
        if !self.deny.is_empty() {
            out.push_str("# It denies what else the run contacted:\n");
            for d in &self.deny {
                let loopback = if is_loopback(&d.host) {
                    ", loopback"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "#   {} ({}{loopback}, {} requests)\n",
                    d.host,
                    d.purpose.as_deref().unwrap_or("unknown"),
                    d.requests
                ));
            }
        }
        out.push_str("default = \"deny\"\n");
        if !self.allow.is_empty() {
            let hosts: Vec<String> = self.allow.iter().map(|h| format!("{h:?}")).collect();
            out.push_str(&format!(
                "\n[[rule]]\naction = \"allow\"\nhosts = [{}]\n",
                hosts.join(", ")
            ));
        }
        out
    }

    /// One allowed host per line.
    pub fn to_hosts(&self) -> String {
        self.allow.iter().map(|h| format!("{h}\n")).collect()
    }
}
