//! The report's judgements, derived from its tables: key findings ("respected" / "be aware
//! of"), the verdict table, and hardening advice from the catalog's switches (for a host the
//! agent needs, only the switches seen to stop its non-essential requests there).

use phonehome_catalog::{Catalog, Disable, Endpoint, Purpose};

use super::hosts::{other_hosts, purposes_of};
use super::model::{Advice, DomainRow, Findings, Report};
use super::verdict::verdict;
use crate::leaks::{CredentialUse, Leak};
use crate::markdown::counted as plural;

/// Fills in the report's hardening advice, findings and verdict, from its tables.
pub(super) fn judge(report: &mut Report, catalog: &Catalog) {
    report.hardening = hardening(report, catalog);
    report.findings = findings(report);
    report.verdict = verdict(report);
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
    let leaks: Vec<_> = report.leaks.iter().filter(|l| !l.expected).collect();
    let reused: Vec<_> = report
        .credentials
        .iter()
        .filter(|c| !c.elsewhere.is_empty())
        .collect();
    let others: Vec<_> = other_hosts(report).collect();
    let mut be_aware_of = leak_findings(report, &leaks, &reused);
    be_aware_of.extend(host_findings(&others));
    be_aware_of.extend(traffic_findings(report));
    Findings {
        respected: respected(report, &leaks, &reused, &others),
        be_aware_of,
    }
}

/// What the agent was seen to respect: nothing leaked, credentials kept to their site,
/// requests kept to the provider, the policy's denials.
fn respected(
    report: &Report,
    leaks: &[&Leak],
    reused: &[&CredentialUse],
    others: &[&DomainRow],
) -> Vec<String> {
    let mut respected = Vec::new();
    if leaks.is_empty() && report.prompt_leaks.is_empty() {
        respected.push(
            "No workspace path, user or host name, git remote, secret or prompt was found in requests to hosts other than the LLM provider."
                .to_owned(),
        );
    }
    if reused.is_empty() && !report.credentials.is_empty() {
        respected.push(match report.credentials.len() {
            1 => "The one credential seen went to one site only.".to_owned(),
            n => format!("Each of the {n} credentials seen went to one site only."),
        });
    }
    if others.is_empty() {
        respected
            .push("Every request went to the configured LLM provider or to loopback.".to_owned());
    }
    if report.summary.blocked > 0 {
        respected.push(format!(
            "The policy `{}` denied {}.",
            report.setup.policy,
            plural(
                report.summary.blocked,
                "connection or request",
                "connections or requests"
            )
        ));
    }
    respected
}

/// What went where it should not: markers, the prompt, credentials beyond their issuer.
fn leak_findings(report: &Report, leaks: &[&Leak], reused: &[&CredentialUse]) -> Vec<String> {
    let mut out = Vec::new();
    for leak in leaks {
        match endpoint_finding(leak, leaks) {
            Some(finding) => out.extend(finding),
            None => out.push(marker_finding(leak)),
        }
    }
    for leak in &report.prompt_leaks {
        out.push(format!(
            "The prompt of the LLM conversation was sent to {} ({}), not only to the configured provider{}.",
            leak.host,
            plural(leak.requests, "request", "requests"),
            report.provider.as_deref().map(|p| format!(" {p}")).unwrap_or_default()
        ));
    }
    for credential in reused {
        out.push(format!(
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
    out
}

/// The finding for a workspace or environment marker sent to another host.
fn marker_finding(leak: &Leak) -> String {
    format!(
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
    )
}

/// Hosts beyond the provider: the non-essential services, and those the catalog does not know.
fn host_findings(others: &[&DomainRow]) -> Vec<String> {
    let mut out = Vec::new();
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
        out.push(format!(
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
        out.push(format!("Hosts not in the catalog: {}.", unknown.join(", ")));
    }
    out
}

/// How the agent behaved on the wire: retries after a denial, retry storms, packages and
/// binaries fetched, connections that failed.
fn traffic_findings(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    for b in report.blocked.iter().filter(|b| b.count > 1 && b.enforced) {
        out.push(format!(
            "The agent retried blocked {} {} times after the first denial.",
            b.target,
            b.count - 1
        ));
    }
    for storm in &report.retry_storms {
        out.push(format!(
            "Retry storm: {} requests of `{}` in {:.1} s, {} failed.",
            storm.requests, storm.signature, storm.window_s, storm.failures
        ));
    }
    out.extend(download_findings(report));
    if report.summary.failed_connection_attempts > 0 {
        let mut targets: Vec<&str> = report.failures.iter().map(|r| r.target.as_str()).collect();
        targets.dedup();
        out.push(format!(
            "{} (unreachable or refused): {}.",
            plural(
                report.summary.failed_connection_attempts,
                "failed connection attempt",
                "failed connection attempts"
            ),
            targets.join(", ")
        ));
    }
    out
}

/// Packages and binaries fetched while the agent ran.
fn download_findings(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if !report.packages.is_empty() {
        let downloads = report
            .packages
            .iter()
            .filter(|p| p.kind == phonehome_catalog::PackageKind::Download)
            .count();
        out.push(format!(
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
        out.push(format!("Binaries downloaded: {}.", files.join(", ")));
    }
    out
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

#[cfg(test)]
#[path = "advice_tests.rs"]
mod tests;
