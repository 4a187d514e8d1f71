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
//! ```
//!
//! The first rule whose conditions all hold decides; else `default`. Rules with only `hosts`
//! and `purposes` decide at CONNECT, before any TLS; rules with `methods` or `paths` (or the
//! `package-registry` purpose, recognised by protocol) decide per request, after interception.
//! Presets: `observe` (allow all), `llm-only` (LLM API hosts of the catalog, and loopback),
//! `offline` (loopback only).
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

use std::collections::HashMap;
use std::sync::Mutex;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use phonehome_catalog::{Catalog, Purpose, TomlSyntax};
use serde::Deserialize;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default = "allow")]
    default: Action,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleFile>>,
}

fn allow() -> Action {
    Action::Allow
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    action: Action,
    hosts: Option<Vec<String>>,
    purposes: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    paths: Option<Vec<String>>,
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
    // Split in another helper's branch (issue 23, policy `parse`): the integrator removes this
    // allow at merge.
    #[allow(clippy::too_many_lines)]
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            origin: origin.to_owned(),
            detail: TomlSyntax::new(text, &e),
        })?;
        let mut globs = GlobSetBuilder::new();
        let mut owners = Vec::new();
        let mut rules = Vec::new();
        for (index, spanned) in file.rule.iter().enumerate() {
            let line = text[..spanned.span().start.min(text.len())]
                .matches('\n')
                .count()
                + 1;
            let bad = |message: String| PolicyError::Rule {
                origin: origin.to_owned(),
                rule: index + 1,
                line,
                message,
            };
            let rule = spanned.get_ref();
            for host in rule.hosts.iter().flatten() {
                globs.add(glob(&host.to_ascii_lowercase()).map_err(&bad)?);
                owners.push(index);
            }
            let purposes = rule
                .purposes
                .iter()
                .flatten()
                .map(|p| Purpose::parse(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            let paths = match &rule.paths {
                None => None,
                Some(paths) => {
                    let mut set = GlobSetBuilder::new();
                    for path in paths {
                        set.add(glob(path).map_err(&bad)?);
                    }
                    Some(set.build().map_err(|e| bad(e.to_string()))?)
                }
            };
            let methods: Vec<String> = rule
                .methods
                .iter()
                .flatten()
                .map(|m| m.to_ascii_uppercase())
                .collect();
            let per_request = !methods.is_empty()
                || paths.is_some()
                || purposes.contains(&Purpose::PackageRegistry);
            rules.push(Rule {
                action: rule.action,
                any_host: rule.hosts.is_none(),
                purposes,
                methods,
                paths,
                per_request,
                label: format!(
                    "rule {} ({origin} line {line}: {})",
                    index + 1,
                    describe(rule)
                ),
            });
        }
        let hosts = globs.build().map_err(|source| PolicyError::Hosts {
            origin: origin.to_owned(),
            source,
        })?;
        let hostless = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.any_host)
            .map(|(i, _)| i)
            .collect();
        Ok(Policy {
            hostless,
            name: origin.to_owned(),
            default: file.default,
            rules,
            hosts,
            owners,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The preset's name or the file's path.
    pub fn name(&self) -> &str {
        &self.name
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

    /// Decides a connection to `host:port` before any byte of it is read (CONNECT).
    pub fn decide_host(&self, host: &str, port: u16, catalog: &Catalog) -> HostDecision {
        let key = (host.to_owned(), port);
        if let Some(cached) = self.lock_cache().get(&key) {
            return cached.clone();
        }
        let mut looked_up = None;
        let mut purpose =
            || *looked_up.get_or_insert_with(|| catalog.lookup(host, port).map(|e| e.purpose));
        let mut decision = HostDecision::Decided(self.default_decision());
        for i in self.candidates(host) {
            let rule = &self.rules[i];
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
        self.lock_cache().insert(key, decision.clone());
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
            if method && path && Self::purposes_hold(rule, &mut purpose, request.package_registry) {
                return Decision {
                    action: rule.action,
                    rule: rule.label.clone(),
                };
            }
        }
        self.default_decision()
    }
}

fn glob(pattern: &str) -> Result<globset::Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map_err(|e| format!("invalid pattern {pattern:?}: {}", e.kind()))
}

fn describe(rule: &RuleFile) -> String {
    let mut parts = vec![rule.action.as_str().to_owned()];
    let list = |name: &str, values: &Option<Vec<String>>| {
        values.as_ref().map(|v| format!("{name} {:?}", v))
    };
    parts.extend(list("hosts", &rule.hosts));
    parts.extend(list("purposes", &rule.purposes));
    parts.extend(list("methods", &rule.methods));
    parts.extend(list("paths", &rule.paths));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::builtin()
    }

    fn decide(policy: &Policy, host: &str) -> Action {
        match policy.decide_host(host, 443, &catalog()) {
            HostDecision::Decided(d) => d.action,
            HostDecision::PerRequest => panic!("per request"),
        }
    }

    #[test]
    fn presets() {
        let offline = Policy::preset("offline").expect("preset");
        assert_eq!(decide(&offline, "127.0.0.1"), Action::Allow);
        assert_eq!(decide(&offline, "localhost"), Action::Allow);
        assert_eq!(decide(&offline, "api.openai.com"), Action::Deny);
        let llm = Policy::preset("llm-only").expect("preset");
        assert_eq!(decide(&llm, "api.openai.com"), Action::Allow);
        assert_eq!(decide(&llm, "us.i.posthog.com"), Action::Deny);
        assert_eq!(decide(&llm, "::1"), Action::Allow);
        let observe = Policy::preset("observe").expect("preset");
        assert_eq!(decide(&observe, "anything.test"), Action::Allow);
        assert!(!observe.can_deny());
    }

    #[test]
    fn first_match_wins_and_labels_name_the_rule() {
        let text = "default = \"deny\"\n[[rule]]\naction = \"deny\"\nhosts = [\"*.posthog.com\"]\n\n[[rule]]\naction = \"allow\"\npurposes = [\"telemetry\"]\n";
        let policy = Policy::parse(text, "p.toml").expect("parses");
        match policy.decide_host("us.i.posthog.com", 443, &catalog()) {
            HostDecision::Decided(d) => {
                assert_eq!(d.action, Action::Deny);
                assert_eq!(
                    d.rule,
                    "rule 1 (p.toml line 2: deny hosts [\"*.posthog.com\"])"
                );
            }
            other => panic!("{other:?}"),
        }
        match policy.decide_host("unknown.test", 443, &catalog()) {
            HostDecision::Decided(d) => assert_eq!(d.rule, "default deny (p.toml)"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn method_and_path_rules_decide_per_request() {
        let text = "[[rule]]\naction = \"deny\"\nhosts = [\"api.test\"]\nmethods = [\"post\"]\npaths = [\"/v1/*\"]\n";
        let policy = Policy::parse(text, "p.toml").expect("parses");
        let c = catalog();
        assert_eq!(
            policy.decide_host("api.test", 443, &c),
            HostDecision::PerRequest
        );
        assert_eq!(decide(&policy, "other.test"), Action::Allow);
        let request = |method, path| RequestInfo {
            host: "api.test",
            port: 443,
            method,
            path,
            package_registry: false,
        };
        assert_eq!(
            policy
                .decide_request(&request("POST", "/v1/chat"), &c)
                .action,
            Action::Deny
        );
        assert_eq!(
            policy
                .decide_request(&request("GET", "/v1/chat"), &c)
                .action,
            Action::Allow
        );
        assert_eq!(
            policy
                .decide_request(&request("POST", "/v2/chat"), &c)
                .action,
            Action::Allow
        );
    }

    #[test]
    fn errors_are_clear() {
        let e = Policy::load("nonsense-preset")
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("observe, llm-only, offline"), "{e}");
        let e = Policy::parse(
            "[[rule]]\naction = \"deny\"\npurposes = [\"spying\"]\n",
            "p.toml",
        )
        .expect_err("purpose")
        .to_string();
        assert!(
            e.starts_with("p.toml: rule 1 (line 1)") && e.contains("valid purposes: llm-api"),
            "{e}"
        );
        let e = Policy::parse(
            "[[rule]]\naction = \"deny\"\nhosts = [\"[oops\"]\n",
            "p.toml",
        )
        .expect_err("glob")
        .to_string();
        assert!(e.contains("invalid pattern \"[oops\""), "{e}");
        let e = Policy::parse("default = \"maybe\"\n", "p.toml")
            .expect_err("toml")
            .to_string();
        assert!(e.starts_with("p.toml: line 1, column 11"), "{e}");
        assert!(
            e.contains("allow") && e.contains("deny"),
            "lists the valid actions: {e}"
        );
        let e = Policy::parse("[[rule]]\naction = \"deny\"\nhost = [\"x\"]\n", "p.toml")
            .expect_err("field")
            .to_string();
        assert!(e.contains("hosts"), "lists the valid fields: {e}");
    }

    #[test]
    fn errors_keep_their_detail_typed() {
        let e = Policy::parse("default = \"maybe\"\n", "p.toml").expect_err("toml");
        let PolicyError::Syntax { origin, detail } = &e else {
            panic!("a syntax error: {e:?}");
        };
        assert_eq!(
            (origin.as_str(), detail.line, detail.column),
            ("p.toml", Some(1), Some(11))
        );
        // A directory exists but cannot be read as a file: the I/O error is the source.
        let dir = std::env::temp_dir();
        let e = Policy::load(dir.to_str().expect("UTF-8 temp dir")).expect_err("a directory");
        assert!(matches!(e, PolicyError::Read { .. }), "{e:?}");
        let source = std::error::Error::source(&e).expect("the I/O error");
        assert!(
            source.downcast_ref::<std::io::Error>().is_some(),
            "{source:?}"
        );
        assert!(e.to_string().ends_with(": cannot read"), "{e}");
    }
}
