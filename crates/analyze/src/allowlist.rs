//! The allowlist: the smallest set of hosts a successful run needed (its successful LLM calls,
//! the sign-in hosts that answered, the package registries it really fetched from, recognised
//! by protocol), what everything else it contacted is and why it is left out; rendered as a
//! phonehome policy, a host list, or the settings of another enforcer ([`Format`]).

mod formats;
mod read;

use crate::plural::counted;

use serde::Serialize;

use phonehome_catalog::{Catalog, Purpose};
use phonehome_record::is_loopback;

use crate::report::{DomainRow, Report};

pub use formats::Format;
pub use read::{read_back, ReadBack, ReadBackError};

/// An allowlist derived from a report.
#[derive(Debug, Clone, Serialize)]
pub struct Allowlist {
    /// The capture it was derived from.
    pub source: String,
    /// Hosts to allow, sorted.
    pub allow: Vec<Allowed>,
    /// Hosts the run contacted that the allowlist leaves out.
    pub deny: Vec<Denied>,
}

/// A host the run needed.
#[derive(Debug, Clone, Serialize)]
pub struct Allowed {
    pub host: String,
    /// `llm-api`, `auth` or `package-registry`.
    pub purpose: String,
    /// Requests the run made to it.
    pub requests: u64,
    /// Why it is needed, one line.
    pub why: String,
}

/// A host the run contacted and did not need.
#[derive(Debug, Clone, Serialize)]
pub struct Denied {
    pub host: String,
    /// The catalog's purpose; `None` for a host the catalog does not know.
    pub purpose: Option<String>,
    /// Requests and failed connection attempts.
    pub requests: u64,
    /// What it is and why it is left out, one line.
    pub why: String,
    /// The environment setting that switches it off, when the catalog knows one.
    pub switch: Option<String>,
}

/// The hosts of successful LLM calls, of sign-in hosts that answered and of package
/// registries the run fetched from; everything else the run contacted is denied.
pub fn allowlist(report: &Report, catalog: &Catalog) -> Allowlist {
    let mut allow = llm_hosts(report);
    let others: Vec<Allowed> = report
        .domains
        .iter()
        .filter(|d| !allow.iter().any(|a| a.host == d.domain))
        .filter_map(|d| needed(d, report))
        .collect();
    allow.extend(others);
    allow.sort_by(|a, b| a.host.cmp(&b.host));
    let agent = report.setup.agents.first().map(|a| a.name.as_str());
    let deny = report
        .domains
        .iter()
        .filter(|d| !allow.iter().any(|a| a.host == d.domain))
        .map(|d| Denied {
            host: d.domain.clone(),
            purpose: d.purpose.map(|p| p.as_str().to_owned()),
            requests: d.requests + d.failures.saturating_sub(d.requests),
            why: denied_why(d, report.llm.iter().any(|l| l.host == d.domain)),
            switch: catalog
                .lookup(&d.domain, 443)
                .and_then(|e| e.switch(agent))
                .and_then(|s| s.env.clone()),
        })
        .collect();
    Allowlist {
        source: report.setup.input.clone(),
        allow,
        deny,
    }
}

/// The hosts of successful LLM calls, with how many succeeded.
fn llm_hosts(report: &Report) -> Vec<Allowed> {
    let mut hosts: Vec<Allowed> = Vec::new();
    for l in report.llm.iter().filter(|l| l.calls > l.errors) {
        let ok = l.calls - l.errors;
        match hosts.iter_mut().find(|a| a.host == l.host) {
            Some(a) => a.requests += ok,
            None => hosts.push(Allowed {
                host: l.host.clone(),
                purpose: Purpose::LlmApi.as_str().to_owned(),
                requests: ok,
                why: String::new(),
            }),
        }
    }
    for a in &mut hosts {
        a.why = counted(a.requests, "successful LLM call", "successful LLM calls");
    }
    hosts
}

/// A sign-in host or a package registry (recognised by protocol) that answered.
fn needed(d: &DomainRow, report: &Report) -> Option<Allowed> {
    let purpose = d
        .purpose
        .filter(|p| matches!(p, Purpose::Auth | Purpose::PackageRegistry))?;
    if d.requests <= d.failures {
        return None;
    }
    let why = match purpose {
        Purpose::PackageRegistry => {
            let packages = report
                .packages
                .iter()
                .filter(|p| p.host == d.domain)
                .count();
            format!(
                "package registry (recognised by protocol): {} fetched",
                counted(packages as u64, "package", "packages")
            )
        }
        _ => format!(
            "sign-in ({}): {} answered",
            d.owner.as_deref().unwrap_or("unknown owner"),
            counted(d.requests - d.failures, "request", "requests")
        ),
    };
    Some(Allowed {
        host: d.domain.clone(),
        purpose: purpose.as_str().to_owned(),
        requests: d.requests,
        why,
    })
}

/// What a denied host is and why it is left out; `llm_calls`: whether LLM calls went there.
fn denied_why(d: &DomainRow, llm_calls: bool) -> String {
    if is_loopback(&d.domain) {
        return "loopback: on this machine; allow it in the enforcer if a local server is needed"
            .to_owned();
    }
    let what = match (d.purpose, d.owner.as_deref()) {
        (Some(p), Some(o)) => format!("{p} ({o})"),
        (Some(p), None) => p.to_string(),
        (None, _) => "not in the catalog".to_owned(),
    };
    let reason = match d.purpose {
        Some(Purpose::LlmApi) if llm_calls => "its LLM calls all failed",
        Some(Purpose::Auth | Purpose::PackageRegistry) => "every request to it failed",
        _ => "the successful run did not need it",
    };
    format!("{what}: {reason}")
}

impl Denied {
    /// `N requests: why; switch it off with ENV` on one line, for comments.
    pub fn comment(&self) -> String {
        let s = if self.requests == 1 { "" } else { "s" };
        let mut line = format!("{} request{s}: {}", self.requests, self.why);
        if let Some(switch) = &self.switch {
            line.push_str(&format!("; switch it off with {switch}"));
        }
        line
    }
}

impl Allowlist {
    /// Renders the allowlist in `format`.
    pub fn render(&self, format: Format) -> String {
        formats::render(self, format)
    }

    /// The policy file (TOML, the format of `phonehome run --policy FILE`).
    pub fn to_policy(&self) -> String {
        formats::render(self, Format::Policy)
    }

    /// One allowed host per line.
    pub fn to_hosts(&self) -> String {
        formats::render(self, Format::Hosts)
    }

    /// The allowed hosts.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.allow.iter().map(|a| a.host.as_str())
    }
}
