//! The report as Markdown (CommonMark with GitHub tables), for the terminal and for pasting.

use std::fmt::Write as _;

use crate::plural::counted;
use crate::report::Report;

pub(crate) mod catalog;
mod caused;
mod domains;
mod telemetry;

/// Text as one Markdown table cell: `|` escaped, line breaks as spaces (a line break would end
/// the table). The one cell escaper of the crate.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn statuses(map: &std::collections::BTreeMap<u16, u64>) -> String {
    map.iter()
        .map(|(s, n)| {
            if *s == 0 {
                format!("no response ×{n}")
            } else {
                format!("{s} ×{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report's sections, in order.
const SECTIONS: [fn(&mut String, &Report); 22] = [
    setup,
    summary,
    verdict,
    findings,
    domains::domains,
    llm_calls,
    telemetry::telemetry,
    telemetry::identifiers,
    packages,
    downloads,
    model_catalog,
    retry_storms,
    leaks,
    unseen,
    failures,
    blocked,
    processes,
    caused::section,
    fingerprints,
    signatures,
    hardening,
    timeline,
];

/// Renders `report` as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for section in SECTIONS {
        section(&mut out, report);
    }
    out
}

/// The title, and what was captured and how.
fn setup(w: &mut String, report: &Report) {
    let s = &report.setup;
    let _ = writeln!(w, "# phonehome report: {}\n", s.input);
    let _ = writeln!(w, "## Setup\n");
    let agent = s
        .agents
        .first()
        .map(|a| {
            let known = if a.in_catalog {
                ""
            } else {
                ", not in the catalog"
            };
            match &a.version {
                Some(v) => format!("{} {v} (by {}{known})", a.display, a.evidence),
                None => format!("{} (by {}{known})", a.display, a.evidence),
            }
        })
        .unwrap_or_else(|| "not recognised".to_owned());
    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(w, "| Agent | {} |", cell(&agent));
    if !s.command.is_empty() {
        let _ = writeln!(w, "| Command | `{}` |", cell(&s.command.join(" ")));
    }
    let _ = writeln!(w, "| Input | {} ({}) |", cell(&s.input), s.input_format);
    if !s.mode.is_empty() {
        let _ = writeln!(w, "| Mode | {} |", s.mode);
    }
    if !s.policy.is_empty() {
        let _ = writeln!(w, "| Policy | {} |", cell(&s.policy));
    }
    if let Some(started) = &s.started {
        let _ = writeln!(w, "| Started | {started} |");
    }
    if let Some(ended) = &s.ended {
        let _ = writeln!(w, "| Ended | {ended} |");
    }
    if let Some(code) = s.exit_code {
        let _ = writeln!(w, "| Exit code | {code} |");
    }
    if let Some(provider) = &report.provider {
        let _ = writeln!(w, "| LLM provider | {provider} |");
    }
    for warning in &report.warnings {
        let _ = writeln!(w, "\n> Warning: {warning}");
    }
}

/// The counts of everything.
fn summary(w: &mut String, report: &Report) {
    let m = &report.summary;
    let _ = writeln!(w, "\n## Summary\n");
    let _ = writeln!(w, "| Requests | Unique request signatures | Unique domains | Failed connection attempts | Failed requests | Blocked | Sinkholed | LLM calls | Sent | Received |");
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        w,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        m.requests,
        m.unique_signatures,
        m.unique_domains,
        m.failed_connection_attempts,
        m.failed_requests,
        m.blocked,
        m.sinkholed,
        m.llm_calls,
        bytes(m.bytes_up),
        bytes(m.bytes_down)
    );
}

/// The verdict table: the questions a reviewer asks, answered.
fn verdict(w: &mut String, report: &Report) {
    let _ = writeln!(w, "\n## Verdict\n");
    let _ = writeln!(w, "| Question | Answer | Evidence |\n|---|---|---|");
    for v in &report.verdict {
        let _ = writeln!(
            w,
            "| {} | **{}** | {} |",
            v.question,
            v.answer,
            cell(&v.evidence)
        );
    }
}

/// Key findings: what to be aware of, what was respected.
fn findings(w: &mut String, report: &Report) {
    let _ = writeln!(w, "\n## Key findings\n");
    for item in &report.findings.be_aware_of {
        let _ = writeln!(w, "- Be aware of: {item}");
    }
    for item in &report.findings.respected {
        let _ = writeln!(w, "- Respected: {item}");
    }
}

/// Packages fetched at run time.
fn packages(w: &mut String, report: &Report) {
    if report.packages.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Runtime package fetches\n");
    let _ = writeln!(
        w,
        "| Ecosystem | Kind | Package | Host | Requests |\n|---|---|---|---|---:|"
    );
    for p in &report.packages {
        let kind = match p.kind {
            phonehome_catalog::PackageKind::Metadata => "metadata",
            phonehome_catalog::PackageKind::Download => "download",
        };
        let _ = writeln!(
            w,
            "| {} | {kind} | {} | {} | {} |",
            p.ecosystem,
            cell(&p.package),
            cell(&p.host),
            p.requests
        );
    }
}

/// Binaries downloaded.
fn downloads(w: &mut String, report: &Report) {
    if report.downloads.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Binary downloads\n");
    let _ = writeln!(w, "| File | Host | Size |\n|---|---|---:|");
    for d in &report.downloads {
        let _ = writeln!(
            w,
            "| {} | {} | {} |",
            cell(&d.file),
            cell(&d.host),
            bytes(d.bytes)
        );
    }
}

/// Model-catalog fetches.
fn model_catalog(w: &mut String, report: &Report) {
    if report.model_catalog.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Model-catalog fetches\n");
    for f in &report.model_catalog {
        let status = f
            .status
            .map_or_else(|| "no response".to_owned(), |s| s.to_string());
        let _ = writeln!(w, "- {} → {status}", f.url);
    }
}

/// Retry storms.
fn retry_storms(w: &mut String, report: &Report) {
    if report.retry_storms.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Retry storms\n");
    let _ = writeln!(
        w,
        "| Signature | Requests | Failed | Window | Statuses |\n|---|---:|---:|---|---|"
    );
    for s in &report.retry_storms {
        let _ = writeln!(
            w,
            "| `{}` | {} | {} | {:.1} s ({} – {}) | {} |",
            cell(&s.signature),
            s.requests,
            s.failures,
            s.window_s,
            s.first,
            s.last,
            statuses(&s.statuses)
        );
    }
}

/// Failed attempts (connection-level and failed flows).
fn failures(w: &mut String, report: &Report) {
    if report.failures.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Failed attempts\n");
    let _ = writeln!(
        w,
        "| Target | Phase | Message | Count |\n|---|---|---|---:|"
    );
    for f in &report.failures {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} |",
            cell(&f.target),
            f.phase,
            cell(&f.message),
            f.count
        );
    }
}

/// Connections and requests denied by policy.
fn blocked(w: &mut String, report: &Report) {
    if report.blocked.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Blocked\n");
    let _ = writeln!(
        w,
        "| Target | Rule | Attempts | Enforced |\n|---|---|---:|---|"
    );
    for b in &report.blocked {
        let enforced = if b.enforced { "yes" } else { "no (dry run)" };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {enforced} |",
            cell(&b.target),
            cell(&b.rule),
            b.count
        );
    }
}

/// Attempts whose request phonehome never saw, and how to see them.
fn unseen(w: &mut String, report: &Report) {
    if report.unseen.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Unseen attempts\n");
    let _ = writeln!(
        w,
        "Their requests were not read, so the verdict cannot speak for them.\n"
    );
    let _ = writeln!(
        w,
        "| Host | Attempts | Why | To see them |\n|---|---:|---|---|"
    );
    for u in &report.unseen {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} |",
            cell(&u.host),
            u.attempts,
            u.why,
            u.reveal.map_or("—".to_owned(), |flag| format!("`{flag}`"))
        );
    }
}

/// The executables behind the connections, with the hosts each reached.
fn processes(w: &mut String, report: &Report) {
    if report.processes.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Processes\n");
    let _ = writeln!(w, "| Executable | Connections | Hosts |\n|---|---:|---|");
    for p in &report.processes {
        let hosts: Vec<String> = p
            .hosts
            .iter()
            .map(|h| format!("{} ×{}", h.host, h.connections))
            .collect();
        let _ = writeln!(
            w,
            "| {} | {} | {} |",
            cell(&p.exe),
            p.connections,
            cell(&hosts.join(", "))
        );
    }
}

/// TLS client fingerprints per host.
fn fingerprints(w: &mut String, report: &Report) {
    if report.fingerprints.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## TLS client fingerprints\n");
    let _ = writeln!(w, "| Host | JA4 | JA3 | Connections |\n|---|---|---|---:|");
    for f in &report.fingerprints {
        let _ = writeln!(
            w,
            "| {} | `{}` | `{}` | {} |",
            cell(&f.host),
            f.ja4,
            f.ja3,
            f.connections
        );
    }
}

/// Markers, prompts and credentials found where they should not be.
fn leaks(w: &mut String, report: &Report) {
    let _ = writeln!(w, "\n## Leaks\n");
    if report.leaks.is_empty()
        && report.prompt_leaks.is_empty()
        && report.credentials.iter().all(|c| c.elsewhere.is_empty())
    {
        let _ = writeln!(w, "None found.");
    }
    if !report.leaks.is_empty() {
        let _ = writeln!(
            w,
            "| Host | Marker | What | Where | Requests | Expected |\n|---|---|---|---|---:|---|"
        );
        for l in &report.leaks {
            let _ = writeln!(
                w,
                "| {} | {} | `{}` | {} | {} | {} |",
                cell(&l.host),
                l.kind,
                cell(&l.marker),
                cell(&l.place),
                l.requests,
                if l.expected {
                    "yes (provider or loopback)"
                } else {
                    "**no**"
                }
            );
        }
    }
    for p in &report.prompt_leaks {
        let _ = writeln!(
            w,
            "\n- The prompt went to **{}** ({}), not only to the provider.",
            p.host,
            counted(p.requests, "request", "requests")
        );
    }
    for c in report
        .credentials
        .iter()
        .filter(|c| !c.elsewhere.is_empty())
    {
        let _ = writeln!(
            w,
            "\n- Credential `[REDACTED:{}]`{} in `{}`: issuer {}, also sent to **{}**.",
            c.fingerprint,
            c.source
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            c.header,
            c.issuer,
            c.elsewhere.join(", ")
        );
    }
}

/// The most frequent request signatures.
fn signatures(w: &mut String, report: &Report) {
    if report.signatures.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Request signatures\n");
    let _ = writeln!(
        w,
        "| Signature | Requests | Failed | Statuses |\n|---|---:|---:|---|"
    );
    for sig in &report.signatures {
        let _ = writeln!(
            w,
            "| `{}` | {} | {} | {} |",
            cell(&sig.signature),
            sig.requests,
            sig.failures,
            statuses(&sig.statuses)
        );
    }
    if report.summary.unique_signatures as usize > report.signatures.len() {
        let _ = writeln!(
            w,
            "\n{} more signatures not shown.",
            report.summary.unique_signatures as usize - report.signatures.len()
        );
    }
}

/// Switches to turn off what the agent need not contact.
fn hardening(w: &mut String, report: &Report) {
    let _ = writeln!(w, "\n## Hardening\n");
    if report.hardening.is_empty() {
        let _ = writeln!(
            w,
            "Nothing to switch off that the catalog knows a switch for."
        );
    }
    let env: Vec<&str> = report
        .hardening
        .iter()
        .filter_map(|a| a.env.as_deref())
        .collect();
    if !env.is_empty() {
        let _ = writeln!(w, "Environment:\n\n```sh");
        for line in env {
            let _ = writeln!(w, "export {line}");
        }
        let _ = writeln!(w, "```");
    }
    for a in report.hardening.iter().filter(|a| a.config.is_some()) {
        let _ = writeln!(
            w,
            "\nIn {} ({}, for {}):\n\n```\n{}\n```",
            a.config_file
                .as_deref()
                .unwrap_or("the agent's configuration"),
            a.purpose,
            a.hosts.join(", "),
            a.config.as_deref().unwrap_or_default()
        );
    }
    let mut documented: Vec<(String, &str)> = Vec::new();
    for a in &report.hardening {
        let line = (
            format!("{} ({})", a.hosts.join(", "), a.purpose),
            a.docs.as_str(),
        );
        if !documented.iter().any(|d| d.1 == line.1) {
            documented.push(line);
        }
    }
    if !documented.is_empty() {
        let _ = writeln!(w, "\nDocumentation:\n");
    }
    for (what, docs) in documented {
        let _ = writeln!(w, "- {what}: {docs}");
    }
}

/// The first requests in order.
fn timeline(w: &mut String, report: &Report) {
    if report.timeline.first.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Timeline\n");
    if let (Some(start), end) = (&report.timeline.start, &report.timeline.end) {
        let _ = writeln!(w, "From {start} to {}.\n", end.as_deref().unwrap_or("?"));
    }
    let _ = writeln!(
        w,
        "| +ms | Method | Host | Path | Status |\n|---:|---|---|---|---|"
    );
    for e in &report.timeline.first {
        let status = e.status.map_or_else(|| "—".to_owned(), |s| s.to_string());
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {status} |",
            e.offset_ms,
            e.method,
            cell(&e.host),
            cell(&e.path)
        );
    }
    if report.summary.requests as usize > report.timeline.first.len() {
        let _ = writeln!(
            w,
            "\n… and {} more requests.",
            report.summary.requests as usize - report.timeline.first.len()
        );
    }
}

/// LLM calls per host, API and model: counts, tokens, time to first token, errors by kind.
fn llm_calls(w: &mut String, report: &Report) {
    if report.llm.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## LLM calls\n");
    let _ = writeln!(w, "| Host | API | Model | Calls | Side calls | Streaming | Errors | Retries | Input tokens | Output tokens | Cache read | Cache write | TTFT median | TTFT max |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ms = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v} ms"));
    for l in &report.llm {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&l.host),
            l.api,
            cell(&l.model),
            l.calls,
            l.meta,
            l.streaming,
            l.errors,
            l.retries,
            l.input_tokens,
            l.output_tokens,
            l.cache_read_input_tokens,
            l.cache_creation_input_tokens,
            ms(l.ttft_median_ms),
            ms(l.ttft_max_ms),
        );
    }
    let with_errors: Vec<_> = report
        .llm
        .iter()
        .filter(|l| !l.error_kinds.is_empty())
        .collect();
    if with_errors.is_empty() {
        return;
    }
    let _ = writeln!(w, "\nErrors by kind:\n");
    for l in with_errors {
        let kinds: Vec<String> = l
            .error_kinds
            .iter()
            .map(|(kind, n)| format!("`{kind}` ×{n}"))
            .collect();
        let _ = writeln!(
            w,
            "- {} ({}): {}",
            cell(&l.model),
            cell(&l.host),
            kinds.join(", ")
        );
    }
}
