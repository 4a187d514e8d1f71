//! The allowlist in the formats of the enforcers people already run. Each follows the
//! enforcer's documentation as of 2026-12 (cited per format below); none copies its code.
//!
//! What phonehome's own policy can say that they cannot, and the reverse:
//! - phonehome policy: host globs, catalog purposes, methods, paths; a package registry is
//!   allowed only for registry requests (recognised by protocol). No ports.
//! - srt and Claude Code: domain names and `*.domain` wildcards, with an optional `:port`; no
//!   methods, no paths (they see only the CONNECT unless TLS is terminated).
//! - Codex: domain names, `*.domain` (one label) and `**.domain` (any depth); `mode = "limited"`
//!   allows only GET, HEAD and OPTIONS, `"full"` every method; no paths, no ports.
//! - firewall: IPv4 addresses resolved once (and refreshed by a timer at best), any port
//!   could be added; no names (hosts sharing a CDN address are all let through), no methods,
//!   no paths.

use serde::Serialize;

use phonehome_record::is_loopback;

use super::{Allowlist, Denied};

/// An output format of `phonehome allowlist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// A phonehome policy file (TOML).
    Policy,
    /// One allowed host per line.
    Hosts,
    /// The allowlist as JSON.
    Json,
    /// An Anthropic sandbox-runtime (`srt --settings`) settings file.
    Srt,
    /// The `sandbox` section of Claude Code's `settings.json`.
    ClaudeCode,
    /// A permission profile for Codex's `config.toml`.
    Codex,
    /// A devcontainer firewall fragment (ipset + iptables).
    Firewall,
}

impl Format {
    /// The name `--format` takes: `policy`, `hosts`, `json`, `srt`, `claude-code`, `codex`,
    /// `firewall`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Policy => "policy",
            Format::Hosts => "hosts",
            Format::Json => "json",
            Format::Srt => "srt",
            Format::ClaudeCode => "claude-code",
            Format::Codex => "codex",
            Format::Firewall => "firewall",
        }
    }
}

pub(super) fn render(list: &Allowlist, format: Format) -> String {
    match format {
        Format::Policy => policy(list),
        Format::Hosts => list.hosts().map(|h| format!("{h}\n")).collect(),
        Format::Json => json(list),
        Format::Srt => json_of(&srt(list)),
        Format::ClaudeCode => json_of(&claude_code(list)),
        Format::Codex => codex(list),
        Format::Firewall => firewall(list),
    }
}

fn json(list: &Allowlist) -> String {
    json_of(list)
}

fn json_of(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).expect("plain data serialises") + "\n"
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// `# …` comment text on one line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn policy(list: &Allowlist) -> String {
    let mut out = format!(
        "# phonehome policy from {}: allow only what its successful run needed.\n",
        one_line(&list.source)
    );
    for a in &list.allow {
        out.push_str(&format!("# allows {} ({}): {}\n", a.host, a.purpose, a.why));
    }
    if !list.deny.is_empty() {
        out.push_str("# It denies what else the run contacted:\n");
        for d in &list.deny {
            out.push_str(&format!("#   {} ({})\n", d.host, one_line(&d.comment())));
        }
    }
    out.push_str("default = \"deny\"\n");
    let quoted = |registry: bool| -> Vec<String> {
        list.allow
            .iter()
            .filter(|a| (a.purpose == "package-registry") == registry)
            .map(|a| toml_string(&a.host))
            .collect()
    };
    let hosts = quoted(false);
    if !hosts.is_empty() {
        out.push_str(&format!(
            "\n[[rule]]\naction = \"allow\"\nhosts = [{}]\n",
            hosts.join(", ")
        ));
    }
    let registries = quoted(true);
    if !registries.is_empty() {
        out.push_str(&format!(
            "\n# Package registries: registry requests only (recognised by protocol).\n[[rule]]\naction = \"allow\"\nhosts = [{}]\npurposes = [\"package-registry\"]\n",
            registries.join(", ")
        ));
    }
    out
}

/// A host as a domain entry srt, Claude Code and Codex accept: a name with a dot (or
/// `localhost`), an IPv4 literal, or a bracketed IPv6 literal; `None` for anything else (a
/// single-label name, which srt's validation rejects and which would stop it starting).
pub(super) fn domain_entry(host: &str) -> Option<String> {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(format!("[{host}]"));
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    let named = host == "localhost" || (host.contains('.') && !host.starts_with('.'));
    (valid && named && !host.ends_with('.')).then(|| host.to_ascii_lowercase())
}

/// Allowed hosts for srt and Claude Code: loopback is left out, as the README says (the
/// sandbox has a loopback of its own on Linux, and the host's is refused anyway).
fn allowed_domains(list: &Allowlist) -> Vec<String> {
    list.hosts()
        .filter(|host| !is_loopback(host))
        .filter_map(domain_entry)
        .collect()
}

/// Denied hosts worth naming to an enforcer: loopback is left out (under srt and Claude Code
/// on Linux the sandbox has a loopback of its own; the host's is refused anyway).
fn denied(list: &Allowlist) -> impl Iterator<Item = (&Denied, String)> {
    list.deny
        .iter()
        .filter(|d| !is_loopback(&d.host))
        .filter_map(|d| Some((d, domain_entry(&d.host)?)))
}

/// sandbox-runtime settings, after the README of `@anthropic-ai/sandbox-runtime` 0.0.83
/// ("Complete Configuration Example", "Network Configuration"): `network.allowedDomains`
/// (all else denied), `network.deniedDomains` (checked first) and
/// `network.deniedDomainReasons` (the model-facing reason srt reports for a denied entry).
/// `network` and `filesystem` are both required: the filesystem lists are left empty (reads
/// allowed, writes denied) for the user to fill in.
#[derive(Serialize)]
struct SrtSettings {
    network: SrtNetwork,
    filesystem: SrtFilesystem,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SrtNetwork {
    allowed_domains: Vec<String>,
    denied_domains: Vec<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    denied_domain_reasons: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SrtFilesystem {
    deny_read: Vec<String>,
    allow_write: Vec<String>,
    deny_write: Vec<String>,
}

fn srt(list: &Allowlist) -> SrtSettings {
    let mut denied_domains = Vec::new();
    let mut reasons = std::collections::BTreeMap::new();
    for (d, entry) in denied(list) {
        let mut reason = format!("phonehome allowlist: {}", d.why);
        if let Some(switch) = &d.switch {
            reason.push_str(&format!("; switch it off with {switch}"));
        }
        reasons.insert(entry.clone(), reason);
        denied_domains.push(entry);
    }
    SrtSettings {
        network: SrtNetwork {
            allowed_domains: allowed_domains(list),
            denied_domains,
            denied_domain_reasons: reasons,
        },
        filesystem: SrtFilesystem {
            deny_read: Vec::new(),
            allow_write: Vec::new(),
            deny_write: Vec::new(),
        },
    }
}

/// Claude Code's `sandbox` settings, after https://code.claude.com/docs/en/settings
/// ("Sandbox settings": `sandbox.enabled`, `sandbox.network.allowedDomains`,
/// `sandbox.network.deniedDomains`) as of Claude Code 2.1. JSON has no comments: the reasons
/// are in the README and in `--format json`.
#[derive(Serialize)]
struct ClaudeCodeSettings {
    sandbox: ClaudeCodeSandbox,
}

#[derive(Serialize)]
struct ClaudeCodeSandbox {
    enabled: bool,
    network: ClaudeCodeNetwork,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaudeCodeNetwork {
    allowed_domains: Vec<String>,
    denied_domains: Vec<String>,
}

fn claude_code(list: &Allowlist) -> ClaudeCodeSettings {
    ClaudeCodeSettings {
        sandbox: ClaudeCodeSandbox {
            enabled: true,
            network: ClaudeCodeNetwork {
                allowed_domains: allowed_domains(list),
                denied_domains: denied(list).map(|(_, entry)| entry).collect(),
            },
        },
    }
}

/// The Codex profile name phonehome writes.
pub(super) const CODEX_PROFILE: &str = "phonehome";

/// A Codex permission profile, after https://developers.openai.com/codex/permissions (beta,
/// Codex 0.138.0 or later) and the `[permissions.<name>.network.domains]` table of the
/// configuration reference: `"host" = "allow" | "deny"`, deny winning; the domain rules are
/// enforced only by Codex's network proxy (`[features] network_proxy = true`).
fn codex(list: &Allowlist) -> String {
    let p = CODEX_PROFILE;
    let mut out = format!(
        "# Codex permission profile from the phonehome allowlist of {}.\n\
         # Merge into ~/.codex/config.toml, and add a [permissions.{p}.filesystem] table for\n\
         # your workspace (see https://developers.openai.com/codex/permissions).\n\
         # It governs the commands Codex runs, not Codex's own calls to its model API.\n\
         # Codex cannot say which paths or ports; phonehome's own policy can limit paths and\n\
         # methods (its package-registry rule allows registry requests only).\n\
         default_permissions = \"{p}\"\n\n\
         [permissions.{p}.network]\n\
         enabled = true\n\
         # \"full\": LLM APIs need POST; \"limited\" allows only GET, HEAD and OPTIONS.\n\
         mode = \"full\"\n\n\
         [permissions.{p}.network.domains]\n",
        one_line(&list.source)
    );
    for a in &list.allow {
        if let Some(entry) = domain_entry(&a.host) {
            out.push_str(&format!(
                "{} = \"allow\" # {}: {}\n",
                toml_string(&entry),
                a.purpose,
                one_line(&a.why)
            ));
        }
    }
    for (d, entry) in denied(list) {
        out.push_str(&format!(
            "{} = \"deny\" # {}\n",
            toml_string(&entry),
            one_line(&d.comment())
        ));
    }
    out.push_str("\n[features]\n# Starts the proxy that enforces the domain rules above.\nnetwork_proxy = true\n");
    out
}

/// The name of the bash array the firewall fragment lists its domains in.
pub(super) const FIREWALL_ARRAY: &str = "PHONEHOME_ALLOWED_DOMAINS";

/// A fragment in the shape of devcontainer firewalls such as Claude Code's
/// `.devcontainer/init-firewall.sh` (anthropics/claude-code): a domain list, an ipset of the
/// addresses they resolve to, and an iptables rule accepting them; the script around it owns
/// the DROP policy, DNS and loopback.
fn firewall(list: &Allowlist) -> String {
    let mut out = format!(
        "# Devcontainer firewall fragment from the phonehome allowlist of {}.\n\
         # Paste it into a script that already sets `iptables -P OUTPUT DROP` and allows DNS\n\
         # and loopback (as init-firewall.sh in anthropics/claude-code does).\n\
         # WARNING: addresses are resolved when this runs. CDN and cloud addresses change and\n\
         # are shared: re-run it (a timer) or connections fail, and every other site on a\n\
         # shared address is let through too. No methods, paths or names: addresses only.\n",
        one_line(&list.source)
    );
    if !list.deny.is_empty() {
        out.push_str("# Left out (denied by the DROP policy):\n");
        for d in &list.deny {
            out.push_str(&format!("#   {}: {}\n", d.host, one_line(&d.comment())));
        }
    }
    out.push_str(&format!("{FIREWALL_ARRAY}=(\n"));
    for a in &list.allow {
        let Some(entry) = domain_entry(&a.host).filter(|e| !e.starts_with('[')) else {
            continue;
        };
        out.push_str(&format!(
            "    \"{entry}\" # {}: {}\n",
            a.purpose,
            one_line(&a.why)
        ));
    }
    out.push_str(&format!(
        ")\n\
         ipset create phonehome-allowed hash:ip timeout 600 -exist\n\
         for domain in \"${{{FIREWALL_ARRAY}[@]}}\"; do\n\
         \x20   addresses=$(dig +short A \"$domain\" | grep -E '^[0-9]+(\\.[0-9]+){{3}}$' || true)\n\
         \x20   if [ -z \"$addresses\" ]; then echo \"cannot resolve $domain\" >&2; exit 1; fi\n\
         \x20   for address in $addresses; do\n\
         \x20       ipset add phonehome-allowed \"$address\" timeout 600 -exist\n\
         \x20   done\n\
         done\n\
         iptables -A OUTPUT -m set --match-set phonehome-allowed dst -j ACCEPT\n"
    ));
    out
}
