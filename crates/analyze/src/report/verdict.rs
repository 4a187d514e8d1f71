//! The report's verdict table: does the agent send workspace content or the prompt to
//! unexpected services, contact services beyond the configured provider (the agent's own
//! traffic apart from what commands the model ran reached), send credentials elsewhere, and
//! was the policy honoured.

use std::collections::BTreeSet;

use phonehome_catalog::Purpose;
use phonehome_record::is_loopback;

use super::hosts::{by_tools_only, other_hosts, purposes_contacted};
use super::model::{Report, Verdict};
use crate::leaks::Leak;
use crate::plural::counted as plural;

/// The content verdict when no leak was found but some attempts ended before their request
/// was seen: **unknown** for those hosts, with the flag that would have shown them. Never
/// "no" about bytes phonehome did not read.
fn unseen_content(report: &Report) -> Option<(&'static str, String)> {
    let attempts: u64 = report.unseen.iter().map(|u| u.attempts).sum();
    if attempts == 0 {
        return None;
    }
    let mut hosts: Vec<&str> = report.unseen.iter().map(|u| u.host.as_str()).collect();
    hosts.dedup();
    let mut reveal: Vec<&str> = report.unseen.iter().filter_map(|u| u.reveal).collect();
    reveal.sort_unstable();
    reveal.dedup();
    let them = if attempts == 1 { "it" } else { "them" };
    let how = if reveal.is_empty() {
        format!("phonehome cannot read {them} (not HTTP, or TLS it does not decrypt)")
    } else {
        format!("rerun with {} to read {them}", reveal.join(" and "))
    };
    Some((
        "unknown",
        format!(
            "{attempts} {} to {} ended before {} request was seen; {how}",
            if attempts == 1 { "attempt" } else { "attempts" },
            hosts.join(", "),
            if attempts == 1 { "its" } else { "their" },
        ),
    ))
}

/// Sends workspace content or the prompt to unexpected services?
fn content_verdict(report: &Report) -> (&'static str, String) {
    let leaks: Vec<_> = report
        .leaks
        .iter()
        .filter(|l| {
            !l.expected
                && matches!(
                    l.kind.as_str(),
                    "cwd"
                        | "home"
                        | "git_remote"
                        | "git_user"
                        | "git_email"
                        | "llm_endpoint"
                        | "llm_host"
                        | "sensitive"
                )
        })
        .collect();
    if leaks.is_empty() && report.prompt_leaks.is_empty() {
        unseen_content(report).unwrap_or((
            "no",
            "no marker or prompt found beyond the provider".to_owned(),
        ))
    } else {
        let mut hosts: Vec<&str> = leaks.iter().map(|l| l.host.as_str()).collect();
        hosts.extend(report.prompt_leaks.iter().map(|l| l.host.as_str()));
        hosts.sort_unstable();
        hosts.dedup();
        let endpoints: Vec<&&Leak> = leaks.iter().filter(|l| l.kind == "llm_endpoint").collect();
        let mut said: Vec<String> = endpoints
            .iter()
            .map(|l| {
                format!(
                    "the configured LLM endpoint {} was sent to {}",
                    l.marker, l.host
                )
            })
            .collect();
        said.dedup();
        let rest: Vec<String> = hosts
            .into_iter()
            .filter_map(|h| {
                let mut what: BTreeSet<&str> = leaks
                    .iter()
                    .filter(|l| l.host == h && l.kind != "llm_endpoint")
                    .filter(|l| l.kind != "llm_host" || !endpoints.iter().any(|e| e.host == h))
                    .map(|l| l.kind.as_str())
                    .collect();
                if report.prompt_leaks.iter().any(|p| p.host == h) {
                    what.insert("prompt");
                }
                let what: Vec<&str> = what.into_iter().collect();
                (!what.is_empty()).then(|| format!("{h} ({})", what.join(", ")))
            })
            .collect();
        if !rest.is_empty() {
            said.push(format!("sent to {}", rest.join(", ")));
        }
        ("yes", said.join("; "))
    }
}

/// Contacts services beyond the configured LLM provider?
fn beyond_verdict(report: &Report) -> (&'static str, String) {
    let mut beyond = beyond_agent(report);
    let by_tools: Vec<&str> = report
        .domains
        .iter()
        .filter(|d| by_tools_only(d) && !is_loopback(&d.domain))
        .map(|d| d.domain.as_str())
        .collect();
    if !by_tools.is_empty() {
        beyond.1.push_str(&format!(
            "; by commands the model ran, not the agent itself: {}",
            by_tools.join(", ")
        ));
    }
    beyond
}

/// The agent's own side of [`beyond_verdict`]: hosts other than the provider, loopback and
/// those reached only by commands the model ran.
fn beyond_agent(report: &Report) -> (&'static str, String) {
    let others: Vec<&str> = other_hosts(report).map(|d| d.domain.as_str()).collect();
    let reached = other_hosts(report).any(|d| d.requests > 0);
    if report.provider.is_none() && !reached {
        let attempts = match others.len() {
            0 => "no other host was tried".to_owned(),
            n => format!(
                "{} tried, none reached: {}",
                plural(n as u64, "host", "hosts"),
                others.join(", ")
            ),
        };
        ("n/a", format!("no LLM provider seen; {attempts}"))
    } else if others.is_empty() {
        ("no", "only the provider and loopback".to_owned())
    } else {
        let purposes: Vec<&str> = purposes_contacted(report)
            .into_iter()
            .map(Purpose::as_str)
            .collect();
        (
            "yes",
            format!(
                "{} other {} ({})",
                others.len(),
                if others.len() == 1 { "host" } else { "hosts" },
                if purposes.is_empty() {
                    "unknown purpose".to_owned()
                } else {
                    purposes.join(", ")
                }
            ),
        )
    }
}

/// The verdict table: content, services beyond the provider, credentials, policy.
pub(super) fn verdict(report: &Report) -> Vec<Verdict> {
    let content = content_verdict(report);
    let beyond = beyond_verdict(report);
    let reused: Vec<_> = report
        .credentials
        .iter()
        .filter(|c| !c.elsewhere.is_empty())
        .collect();
    let credentials = if report.credentials.is_empty() {
        ("n/a", "no credential headers seen".to_owned())
    } else if reused.is_empty() {
        let n = report.credentials.len();
        (
            "no",
            if n == 1 {
                "1 credential, to one site".to_owned()
            } else {
                format!("{n} credentials, each to one site")
            },
        )
    } else {
        let hosts: Vec<String> = reused.iter().flat_map(|c| c.elsewhere.clone()).collect();
        ("yes", format!("also sent to {}", hosts.join(", ")))
    };
    let not_enforced: u64 = report
        .blocked
        .iter()
        .filter(|b| !b.enforced)
        .map(|b| b.count)
        .sum();
    let policy = match (report.setup.policy.as_str(), report.summary.blocked) {
        ("" | "observe", 0) => ("n/a", "observe: nothing was to be denied".to_owned()),
        (_, 0) => (
            "yes",
            format!("policy `{}`: nothing needed denying", report.setup.policy),
        ),
        (_, n) if not_enforced > 0 => (
            "no",
            format!(
                "policy `{}` in dry run: {not_enforced} of {n} denials were only recorded",
                report.setup.policy
            ),
        ),
        (_, n) => (
            "yes",
            format!(
                "policy `{}`: {n} denied before anything was sent",
                report.setup.policy
            ),
        ),
    };
    vec![
        Verdict {
            question: "Sends workspace content or the prompt to unexpected services?",
            answer: content.0,
            evidence: content.1,
        },
        Verdict {
            question: "Contacts services beyond the configured LLM provider?",
            answer: beyond.0,
            evidence: beyond.1,
        },
        Verdict {
            question: "Credentials sent to a host other than their issuer?",
            answer: credentials.0,
            evidence: credentials.1,
        },
        Verdict {
            question: "Policy honoured?",
            answer: policy.0,
            evidence: policy.1,
        },
    ]
}
