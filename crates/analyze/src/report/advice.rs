//! The report's judgements, derived from its tables: key findings ("respected" / "be aware
//! of"), the verdict table, and hardening advice from the catalog's switches (for a host the
//! agent needs, only the switches seen to stop its non-essential requests there).

use std::collections::BTreeSet;

use phonehome_catalog::{Catalog, Disable, Endpoint, Purpose};
use phonehome_record::is_loopback;

use super::model::{Advice, DomainRow, Findings, Report, Verdict};
use crate::leaks::Leak;
use crate::markdown::counted as plural;

/// Fills in the report's hardening advice, findings and verdict, from its tables.
pub(super) fn judge(report: &mut Report, catalog: &Catalog) {
    report.hardening = hardening(report, catalog);
    report.findings = findings(report);
    report.verdict = verdict(report);
}

/// The hosts of a report that are neither the configured provider nor loopback.
fn other_hosts(report: &Report) -> impl Iterator<Item = &DomainRow> {
    report.domains.iter().filter(move |d| {
        Some(d.domain.as_str()) != report.provider.as_deref()
            && !is_loopback(&d.domain)
            && !by_tools_only(d)
    })
}

/// Whether every request to a host was made by commands the model ran (a registry reached by
/// `npm install`): not the agent phoning home.
fn by_tools_only(d: &DomainRow) -> bool {
    d.tool_requests > 0 && d.tool_requests >= d.requests
}

/// What a host was contacted for: what was sent there when the catalog knows it (telemetry
/// on an LLM vendor's host), else the host's purpose.
fn purposes_of(d: &DomainRow) -> Vec<Purpose> {
    if d.sent.is_empty() {
        d.purpose.into_iter().collect()
    } else {
        d.sent.clone()
    }
}

/// Distinct purposes of the hosts contacted besides the provider and loopback.
fn purposes_contacted(report: &Report) -> BTreeSet<Purpose> {
    other_hosts(report).flat_map(purposes_of).collect()
}

/// For every non-essential endpoint contacted, the catalog's switch for each detected agent.
fn hardening(report: &Report, catalog: &Catalog) -> Vec<Advice> {
    let agents: Vec<&str> = report
        .setup
        .agents
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let mut out: Vec<Advice> = Vec::new();
    for row in other_hosts(report) {
        let port = 443;
        let Some(endpoint) = catalog.lookup(&row.domain, port) else {
            continue;
        };
        let Some(purpose) = row.purpose.filter(|p| !p.is_essential()) else {
            essential_host_advice(report, catalog, &agents, row, endpoint, &mut out);
            continue;
        };
        let seen = seen_on(report, &row.domain);
        for switch in endpoint.disable.iter().filter(|d| {
            agents.contains(&d.agent.as_str())
                && !seen_not_to_stop(endpoint, d, version_of(report, &d.agent), &seen)
        }) {
            add_advice(&mut out, catalog, switch, purpose, &row.domain);
        }
    }
    out
}

/// The requests (method, path) the report's signatures show to `host`.
fn seen_on<'a>(report: &'a Report, host: &str) -> Vec<(&'a str, &'a str)> {
    report
        .signatures
        .iter()
        .filter_map(|s| crate::signature::parts(&s.signature))
        .filter(|(_, h, _)| *h == host)
        .map(|(method, _, path)| (method, path))
        .collect()
}

/// The version of `agent` the report detected.
fn version_of<'a>(report: &'a Report, agent: &str) -> Option<&'a str> {
    report
        .setup
        .agents
        .iter()
        .find(|a| a.name == agent)
        .and_then(|a| a.version.as_deref())
}

/// Whether `switch` is the switch named `name` (its env assignment or config snippet).
fn is_switch(switch: &Disable, name: &str) -> bool {
    switch.env.as_deref() == Some(name) || switch.config.as_deref() == Some(name)
}

/// Whether the catalog saw `switch` not stop every one of the requests `seen` on this
/// endpoint, with the agent's `version`: then advising it would stop nothing seen.
fn seen_not_to_stop(
    endpoint: &Endpoint,
    switch: &Disable,
    version: Option<&str>,
    seen: &[(&str, &str)],
) -> bool {
    let useless: Vec<_> = endpoint
        .observed
        .iter()
        .filter(|o| {
            o.agent == switch.agent
                && Some(o.version.as_str()) == version
                && o.not_stopped_by.iter().any(|s| is_switch(switch, s))
        })
        .collect();
    !useless.is_empty()
        && !seen.is_empty()
        && seen
            .iter()
            .all(|(method, path)| useless.iter().any(|o| o.matches(method, path)))
}

/// On a host the agent needs (its LLM API), the switches the catalog saw stop the
/// non-essential requests it also sends there (`observed`), for those the capture shows: the
/// host stays, the telemetry goes.
fn essential_host_advice(
    report: &Report,
    catalog: &Catalog,
    agents: &[&str],
    row: &DomainRow,
    endpoint: &Endpoint,
    out: &mut Vec<Advice>,
) {
    let seen = seen_on(report, &row.domain);
    for observed in endpoint.observed.iter().filter(|o| {
        agents.contains(&o.agent.as_str())
            && !o.purpose.is_essential()
            && seen.iter().any(|(method, path)| o.matches(method, path))
    }) {
        let switches = endpoint.disable.iter().filter(|d| {
            d.agent == observed.agent && observed.stopped_by.iter().any(|s| is_switch(d, s))
        });
        for switch in switches {
            add_advice(out, catalog, switch, observed.purpose, &row.domain);
        }
    }
}

/// Adds `switch` for `host`, or `host` to the advice that already gives that switch.
fn add_advice(
    out: &mut Vec<Advice>,
    catalog: &Catalog,
    switch: &Disable,
    purpose: Purpose,
    host: &str,
) {
    if let Some(existing) = out
        .iter_mut()
        .find(|a| a.agent == switch.agent && a.env == switch.env && a.config == switch.config)
    {
        if !existing.hosts.iter().any(|h| h == host) {
            existing.hosts.push(host.to_owned());
        }
        return;
    }
    out.push(Advice {
        agent: switch.agent.clone(),
        purpose,
        hosts: vec![host.to_owned()],
        env: switch.env.clone(),
        config: switch.config.clone(),
        config_file: catalog.agent(&switch.agent).and_then(|a| a.config.clone()),
        docs: switch.docs.clone(),
    });
}

fn findings(report: &Report) -> Findings {
    let mut f = Findings::default();
    let leaks: Vec<_> = report.leaks.iter().filter(|l| !l.expected).collect();
    let reused: Vec<_> = report
        .credentials
        .iter()
        .filter(|c| !c.elsewhere.is_empty())
        .collect();
    let others: Vec<_> = other_hosts(report).collect();

    if leaks.is_empty() && report.prompt_leaks.is_empty() {
        f.respected.push(
            "No workspace path, user or host name, git remote, secret or prompt was found in requests to hosts other than the LLM provider."
                .to_owned(),
        );
    }
    if reused.is_empty() && !report.credentials.is_empty() {
        f.respected.push(match report.credentials.len() {
            1 => "The one credential seen went to one site only.".to_owned(),
            n => format!("Each of the {n} credentials seen went to one site only."),
        });
    }
    if others.is_empty() {
        f.respected
            .push("Every request went to the configured LLM provider or to loopback.".to_owned());
    }
    if report.summary.blocked > 0 {
        f.respected.push(format!(
            "The policy `{}` denied {}.",
            report.setup.policy,
            plural(
                report.summary.blocked,
                "connection or request",
                "connections or requests"
            )
        ));
    }

    for leak in &leaks {
        if let Some(finding) = endpoint_finding(leak, &leaks) {
            f.be_aware_of.extend(finding);
            continue;
        }
        f.be_aware_of.push(format!(
            "{} {} `{}` was sent to {} ({}, {}).",
            match leak.kind.as_str() {
                "env" => "The credential from",
                "sensitive" => "The sensitive value",
                _ => "The",
            },
            match leak.kind.as_str() {
                "cwd" => "working directory",
                "home" => "home directory",
                "user" => "user name",
                "hostname" => "host name",
                "git_remote" => "git remote",
                "git_user" => "git user name",
                "git_email" => "git user email",
                "env" => "environment variable",
                other => other,
            },
            leak.marker,
            leak.host,
            leak.place,
            plural(leak.requests, "request", "requests")
        ));
    }
    for leak in &report.prompt_leaks {
        f.be_aware_of.push(format!(
            "The prompt of the LLM conversation was sent to {} ({}), not only to the configured provider{}.",
            leak.host,
            plural(leak.requests, "request", "requests"),
            report.provider.as_deref().map(|p| format!(" {p}")).unwrap_or_default()
        ));
    }
    for credential in &reused {
        f.be_aware_of.push(format!(
            "Credential [REDACTED:{}]{} was sent to {} besides its issuer {}.",
            credential.fingerprint,
            credential
                .source
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            credential.elsewhere.join(", "),
            credential.issuer
        ));
    }
    let non_essential: Vec<String> = others
        .iter()
        .map(|d| (d, purposes_of(d)))
        .filter(|(_, p)| !p.is_empty() && p.iter().all(|p| !p.is_essential()))
        .map(|(d, p)| {
            let p: Vec<&str> = p.into_iter().map(Purpose::as_str).collect();
            format!("{} ({})", d.domain, p.join(", "))
        })
        .collect();
    if !non_essential.is_empty() {
        f.be_aware_of.push(format!(
            "{} beyond the LLM provider: {}.",
            plural(
                non_essential.len() as u64,
                "non-essential service contacted",
                "non-essential services contacted"
            ),
            non_essential.join(", ")
        ));
    }
    let unknown: Vec<&str> = others
        .iter()
        .filter(|d| d.purpose.is_none())
        .map(|d| d.domain.as_str())
        .collect();
    if !unknown.is_empty() {
        f.be_aware_of
            .push(format!("Hosts not in the catalog: {}.", unknown.join(", ")));
    }
    for b in report.blocked.iter().filter(|b| b.count > 1 && b.enforced) {
        f.be_aware_of.push(format!(
            "The agent retried blocked {} {} times after the first denial.",
            b.target,
            b.count - 1
        ));
    }
    for storm in &report.retry_storms {
        f.be_aware_of.push(format!(
            "Retry storm: {} requests of `{}` in {:.1} s, {} failed.",
            storm.requests, storm.signature, storm.window_s, storm.failures
        ));
    }
    let downloads = report
        .packages
        .iter()
        .filter(|p| p.kind == phonehome_catalog::PackageKind::Download)
        .count();
    if !report.packages.is_empty() {
        f.be_aware_of.push(format!(
            "Packages fetched at run time: {} ({} archive downloads).",
            plural(
                report.packages.len() as u64,
                "package request",
                "package requests"
            ),
            downloads
        ));
    }
    if !report.downloads.is_empty() {
        let files: Vec<&str> = report.downloads.iter().map(|d| d.file.as_str()).collect();
        f.be_aware_of
            .push(format!("Binaries downloaded: {}.", files.join(", ")));
    }
    if report.summary.failed_connection_attempts > 0 {
        let mut targets: Vec<&str> = report.failures.iter().map(|r| r.target.as_str()).collect();
        targets.dedup();
        f.be_aware_of.push(format!(
            "{} (unreachable or refused): {}.",
            plural(
                report.summary.failed_connection_attempts,
                "failed connection attempt",
                "failed connection attempts"
            ),
            targets.join(", ")
        ));
    }
    f
}

/// The finding for a configured LLM endpoint sent elsewhere, named as such (its host alone
/// only where its URL was not found); `None` for other markers.
fn endpoint_finding(leak: &Leak, leaks: &[&Leak]) -> Option<Option<String>> {
    let what = match leak.kind.as_str() {
        "llm_endpoint" => "The configured LLM endpoint",
        "llm_host" => "The LLM endpoint's host",
        _ => return None,
    };
    let url_too = leak.kind == "llm_host"
        && leaks
            .iter()
            .any(|l| l.kind == "llm_endpoint" && l.host == leak.host);
    Some((!url_too).then(|| {
        format!(
            "{what} `{}` was sent to {} ({}, {}).",
            leak.marker,
            leak.host,
            leak.place,
            plural(leak.requests, "request", "requests")
        )
    }))
}

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

fn verdict(report: &Report) -> Vec<Verdict> {
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

#[cfg(test)]
#[path = "advice_tests.rs"]
mod tests;
