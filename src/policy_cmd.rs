//! `policy check` and `policy test`: a policy (phonehome's, a preset, or any allowlist format
//! read back) checked, asked about one URL, or replayed against a capture's attempts.

use std::path::Path;

use anyhow::{Context as _, Result};
use phonehome_analyze::{read_back, Replay};
use phonehome_catalog::Catalog;
use phonehome_policy::{HostDecision, Policy, RequestInfo};

use crate::analysis_cmd::load_catalog;
use crate::cli::{AllowlistFormat, PolicyCommand};

/// Exit code of `policy test --capture` when the policy would deny a successful LLM call.
const WOULD_BREAK: u8 = 3;

pub fn policy(command: &PolicyCommand) -> Result<u8> {
    match command {
        PolicyCommand::Check { file } => {
            let policy = Policy::load(file)?;
            println!(
                "{file}: ok: {} rule{}, default {}",
                policy.rules(),
                if policy.rules() == 1 { "" } else { "s" },
                policy.default_action().as_str()
            );
            Ok(0)
        }
        PolicyCommand::Test {
            file,
            url,
            capture,
            format,
            json,
            method,
            catalog,
        } => {
            let policy = load(file, *format)?;
            let catalog = load_catalog(catalog)?;
            match (capture, url) {
                (Some(capture), _) => test_capture(&policy, capture, &catalog, *json),
                (None, Some(url)) => test_url(&policy, url, method, &catalog),
                (None, None) => anyhow::bail!("give a URL or --capture CAPTURE"),
            }
        }
    }
}

/// A preset, a phonehome policy file, or a file in any format `phonehome allowlist` writes
/// (read back as the phonehome policy that decides the same; what it cannot keep is warned).
fn load(name: &str, format: Option<AllowlistFormat>) -> Result<Policy> {
    if format.is_none() {
        if let Some(preset) = Policy::preset(name) {
            return Ok(preset);
        }
    }
    let path = Path::new(name);
    if !path.exists() {
        // The preset error lists the presets.
        return Ok(Policy::load(name)?);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the policy {name}"))?;
    let read = read_back(&text, format.map(AllowlistFormat::analyze))
        .with_context(|| format!("cannot read the policy {name}"))?;
    if read.format == phonehome_analyze::AllowlistFormat::Policy {
        return Ok(Policy::parse(&text, name)?);
    }
    for note in &read.notes {
        eprintln!("phonehome: warning: {name}: {note}");
    }
    let origin = format!("{name} (read as {})", read.format.name());
    Ok(Policy::parse(&read.policy, &origin)?)
}

fn test_url(policy: &Policy, url: &str, method: &str, catalog: &Catalog) -> Result<u8> {
    let parsed: http::Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL"))?;
    let default_port = if parsed.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let (host, port) = parsed
        .authority()
        .map(|a| phonehome_record::split_authority(a.as_str(), default_port))
        .filter(|(host, _)| !host.is_empty())
        .with_context(|| format!("{url:?} has no host"))?;
    let purpose = catalog.lookup(host, port).map_or_else(
        || "not in the catalog".to_owned(),
        |e| format!("{} ({})", e.purpose, e.owner),
    );
    let unknown = phonehome_policy::Connecting::unknown();
    let at_connect = match policy.decide_host(host, port, &unknown, catalog) {
        HostDecision::Decided(d) => format!("{} by {}", d.action.as_str(), d.rule),
        HostDecision::PerRequest => "decided per request (a rule has methods or paths)".to_owned(),
    };
    let request = policy.decide_request(
        &RequestInfo {
            host,
            port,
            method,
            path: parsed.path(),
            package_registry: phonehome_catalog::recognise_package(method, parsed.path(), &[])
                .is_some(),
            process: &unknown,
        },
        catalog,
    );
    println!("{method} {url}");
    println!("  host {host}:{port}: {purpose}");
    println!("  at CONNECT: {at_connect}");
    println!("  request: {} by {}", request.action.as_str(), request.rule);
    Ok(0)
}

fn test_capture(policy: &Policy, capture: &Path, catalog: &Catalog, json: bool) -> Result<u8> {
    let replay = phonehome_analyze::replay(capture, policy, catalog)?;
    for warning in &replay.warnings {
        eprintln!("phonehome: warning: {}: {warning}", capture.display());
    }
    let text = if json {
        serde_json::to_string_pretty(&replay)? + "\n"
    } else {
        render(&replay, capture)
    };
    crate::analysis_cmd::emit(None, &text)?;
    Ok(if replay.llm_broken > 0 {
        WOULD_BREAK
    } else {
        0
    })
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The text form: totals, then the allowed and the denied hosts, then the LLM verdict.
fn render(replay: &Replay, capture: &Path) -> String {
    let mut out = format!(
        "policy {} on {}: {}, {} allowed, {} denied\n",
        replay.policy,
        capture.display(),
        plural(replay.attempts, "attempt"),
        replay.allowed,
        replay.denied
    );
    let purpose = |p: &Option<String>| p.clone().unwrap_or_else(|| "unknown".to_owned());
    for (title, allowed) in [("allowed", true), ("denied", false)] {
        let rows: Vec<_> = replay
            .hosts
            .iter()
            .filter(|h| if allowed { h.allowed > 0 } else { h.denied > 0 })
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}:\n"));
        for h in rows {
            let (n, by) = if allowed {
                (h.allowed, &h.allowed_by)
            } else {
                (h.denied, &h.denied_by)
            };
            out.push_str(&format!(
                "  {}:{} ({}): {} by {}\n",
                h.host,
                h.port,
                purpose(&h.purpose),
                plural(n, "attempt"),
                by.as_deref().unwrap_or("?")
            ));
        }
    }
    out.push_str(&format!(
        "\nLLM calls: {} successful in the capture; ",
        replay.llm_successful
    ));
    if replay.llm_broken == 0 {
        out.push_str("the policy allows every one.\n");
        return out;
    }
    out.push_str(&format!("the policy would break {}:\n", replay.llm_broken));
    for h in replay.hosts.iter().filter(|h| h.llm_broken > 0) {
        out.push_str(&format!(
            "  {}:{}: {} denied by {}\n",
            h.host,
            h.port,
            plural(h.llm_broken, "call"),
            h.denied_by.as_deref().unwrap_or("?")
        ));
    }
    out
}
