//! phonehome policies: which connections and requests an agent may make. Pure: shared by the
//! proxy (which enforces) and by analysis (which explains).
//!
//! ```toml
//! default = "deny"              # or "allow"
//! [[rule]]
//! action = "allow"              # allow | deny
//! hosts = ["api.openai.com", "*.anthropic.com"]   # globs on the host; optional
//! purposes = ["llm-api"]        # catalog purposes; optional
//! methods = ["POST"]            # optional
//! paths = ["/v1/*"]             # globs on the path; optional
//! exe = ["*/git", "*/npm"]      # globs on the connecting process's executable; optional
//! own = false                   # the agent's own process (see `process`); optional
//! ```
//!
//! The first rule whose conditions all hold decides; else `default`. Rules with only `hosts`
//! and `purposes` decide at CONNECT, before any TLS; rules with `methods` or `paths` (or the
//! `package-registry` purpose, recognised by protocol) decide per request, after interception.
//! `exe` and `own` are decided from the connecting process ([`Connecting`]) at CONNECT; a
//! connection whose process is not known matches no rule that has them.
//! Presets: `observe` (allow all), `llm-only` (LLM API hosts of the catalog, and loopback),
//! `offline` (loopback only).
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod parse;
mod process;

use std::collections::HashMap;
use std::sync::Mutex;

use globset::GlobSet;
use phonehome_catalog::{Catalog, Purpose, TomlSyntax};
use serde::Deserialize;

pub use process::Connecting;

/// The presets, for messages.
pub const PRESETS: [&str; 3] = ["observe", "llm-only", "offline"];
/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// Why a policy cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("{name:?} is neither a policy file nor a preset; presets: {}", PRESETS.join(", "))]
    UnknownPreset { name: String },
    #[error("{origin}: cannot read")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or not a policy's shape (an unknown field, action or purpose).
    #[error("{origin}: {detail}")]
    Syntax { origin: String, detail: TomlSyntax },
    /// The rules' host patterns, each valid, cannot be compiled together.
    #[error("{origin}: cannot compile the host patterns")]
    Hosts {
        origin: String,
        #[source]
        source: globset::Error,
    },
    #[error("{origin}: rule {rule} (line {line}): {message}")]
    Rule {
        origin: String,
        rule: usize,
        line: usize,
        message: String,
    },
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    action: Action,
    /// Indices into the policy's host glob set; empty means any host.
    any_host: bool,
    purposes: Vec<Purpose>,
    methods: Vec<String>,
    paths: Option<GlobSet>,
    /// Globs on the connecting process's executable.
    exe: Option<GlobSet>,
    /// Whether the connecting process must be (or must not be) the agent's own.
    own: Option<bool>,
    /// Needs the request (method, path, or registry recognition).
    per_request: bool,
    label: String,
}

/// A decision and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// `rule 2 (policy.toml line 7: deny hosts ["*.posthog.com"])`, `default deny`, or a preset's.
    pub rule: String,
}

/// The outcome of a host-level check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostDecision {
    Decided(Decision),
    /// A rule about methods or paths may apply: decide per request.
    PerRequest,
}

/// A compiled policy.
pub struct Policy {
    name: String,
    default: Action,
    rules: Vec<Rule>,
    /// Every rule's host globs; `owners[i]` is the rule of glob `i`.
    hosts: GlobSet,
    owners: Vec<usize>,
    /// Rules without `hosts`, which apply to every host.
    hostless: Vec<usize>,
    /// Whether a rule has `exe` or `own`: host decisions then depend on the process and are
    /// not cached.
    process_rules: bool,
    /// Host decisions already made, per (host, port).
    cache: Mutex<HashMap<(String, u16), HostDecision>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("rules", &self.rules.len())
            .finish()
    }
}

/// A request as a per-request rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    pub host: &'a str,
    pub port: u16,
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// Whether the request is a package registry request (recognised by protocol).
    pub package_registry: bool,
    /// The process whose connection carried it.
    pub process: &'a Connecting,
}

impl Policy {
    /// A preset (`observe`, `llm-only`, `offline`) or a policy file's path.
    ///
    /// # Errors
    /// [`PolicyError`]: an unknown preset (listing the presets), an unreadable file, bad TOML
    /// (with line and column), an unknown purpose (listing them), a bad glob (naming the rule).
    pub fn load(name: &str) -> Result<Policy, PolicyError> {
        if let Some(policy) = Policy::preset(name) {
            return Ok(policy);
        }
        let path = std::path::Path::new(name);
        if !path.exists() {
            return Err(PolicyError::UnknownPreset {
                name: name.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            origin: name.to_owned(),
            source,
        })?;
        Policy::parse(&text, name)
    }

    /// A preset by name.
    pub fn preset(name: &str) -> Option<Policy> {
        let loopback = format!(
            "[[rule]]\naction = \"allow\"\nhosts = [{}]\n",
            phonehome_record::LOOPBACK_HOSTS
                .map(|h| format!("{h:?}"))
                .join(", ")
        );
        let text = match name {
            "observe" => "default = \"allow\"\n".to_owned(),
            "llm-only" => format!(
                "default = \"deny\"\n[[rule]]\naction = \"allow\"\npurposes = [\"llm-api\", \"local\"]\n{loopback}"
            ),
            "offline" => format!("default = \"deny\"\n{loopback}"),
            _ => return None,
        };
        let mut policy = Policy::parse(&text, name).expect("presets are valid");
        for rule in &mut policy.rules {
            let what = rule.label.split_once(": ").map_or("", |(_, l)| l);
            rule.label = format!("preset {name}: {}", what.strip_suffix(')').unwrap_or(what));
        }
        Some(policy)
    }

    /// Parses a policy file; `origin` names it in errors and rule labels.
    ///
    /// # Errors
    /// As [`Policy::load`].
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        parse::parse(text, origin)
    }

    /// The preset's name or the file's path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a rule has `exe` or `own`: decisions then depend on the connecting process.
    pub fn has_process_rules(&self) -> bool {
        self.process_rules
    }

    /// Whether this policy can deny anything.
    pub fn can_deny(&self) -> bool {
        self.default == Action::Deny || self.rules.iter().any(|r| r.action == Action::Deny)
    }

    pub fn rules(&self) -> usize {
        self.rules.len()
    }

    pub fn default_action(&self) -> Action {
        self.default
    }

    fn default_decision(&self) -> Decision {
        Decision {
            action: self.default,
            rule: format!("default {} ({})", self.default.as_str(), self.name),
        }
    }

    /// The rules that may apply to `host`, in rule order: those whose host globs match,
    /// merged with those without hosts (both lists are already in rule order).
    fn candidates(&self, host: &str) -> impl Iterator<Item = usize> + '_ {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let mut matched: Vec<usize> = if self.hosts.is_empty() {
            Vec::new()
        } else {
            self.hosts
                .matches(&host)
                .into_iter()
                .map(|g| self.owners[g])
                .collect()
        };
        matched.dedup();
        let mut hostless = self.hostless.iter().copied().peekable();
        let mut matched = matched.into_iter().peekable();
        std::iter::from_fn(move || match (matched.peek(), hostless.peek()) {
            (Some(m), Some(h)) if m <= h => matched.next(),
            (Some(_), Some(_)) | (None, Some(_)) => hostless.next(),
            (Some(_), None) => matched.next(),
            (None, None) => None,
        })
    }

    /// Whether `rule`'s purposes hold; `purpose` looks the host up in the catalog (once, and
    /// only for rules that name purposes).
    fn purposes_hold(
        rule: &Rule,
        purpose: &mut impl FnMut() -> Option<Purpose>,
        registry: bool,
    ) -> bool {
        if rule.purposes.is_empty()
            || (registry && rule.purposes.contains(&Purpose::PackageRegistry))
        {
            return true;
        }
        purpose().is_some_and(|p| rule.purposes.contains(&p))
    }

    /// Whether `rule`'s `exe` and `own` conditions hold for `process`.
    fn process_holds(rule: &Rule, process: &Connecting) -> bool {
        let exe = rule.exe.as_ref().is_none_or(|globs| {
            process
                .exe
                .as_deref()
                .is_some_and(|exe| globs.is_match(exe))
        });
        exe && rule.own.is_none_or(|own| process.own == Some(own))
    }

    /// Decides a connection to `host:port` by `process` before any byte of it is read
    /// (CONNECT).
    pub fn decide_host(
        &self,
        host: &str,
        port: u16,
        process: &Connecting,
        catalog: &Catalog,
    ) -> HostDecision {
        let key = (host.to_owned(), port);
        if !self.process_rules {
            if let Some(cached) = self.lock_cache().get(&key) {
                return cached.clone();
            }
        }
        let mut looked_up = None;
        let mut purpose =
            || *looked_up.get_or_insert_with(|| catalog.lookup(host, port).map(|e| e.purpose));
        let mut decision = HostDecision::Decided(self.default_decision());
        for i in self.candidates(host) {
            let rule = &self.rules[i];
            if !Self::process_holds(rule, process) {
                continue;
            }
            if rule.per_request {
                decision = HostDecision::PerRequest;
                break;
            }
            if Self::purposes_hold(rule, &mut purpose, false) {
                decision = HostDecision::Decided(Decision {
                    action: rule.action,
                    rule: rule.label.clone(),
                });
                break;
            }
        }
        if !self.process_rules {
            self.lock_cache().insert(key, decision.clone());
        }
        decision
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u16), HostDecision>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides one request.
    pub fn decide_request(&self, request: &RequestInfo<'_>, catalog: &Catalog) -> Decision {
        let mut looked_up = None;
        let mut purpose = || {
            *looked_up.get_or_insert_with(|| {
                catalog
                    .lookup(request.host, request.port)
                    .map(|e| e.purpose)
            })
        };
        for i in self.candidates(request.host) {
            let rule = &self.rules[i];
            let method = rule.methods.is_empty()
                || rule
                    .methods
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(request.method));
            let path = rule.paths.as_ref().is_none_or(|p| p.is_match(request.path));
            if method
                && path
                && Self::process_holds(rule, request.process)
                && Self::purposes_hold(rule, &mut purpose, request.package_registry)
            {
                return Decision {
                    action: rule.action,
                    rule: rule.label.clone(),
                };
            }
        }
        self.default_decision()
    }
}

#[cfg(test)]
mod tests;
