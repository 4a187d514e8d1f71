//! Catalog entries, their TOML form, and host lookup.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::TomlSyntax;

/// The built-in catalog, `data/catalog.toml`.
const BUILTIN: &str = include_str!("../../../data/catalog.toml");

/// What an endpoint is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    LlmApi,
    PackageRegistry,
    ModelCatalog,
    Telemetry,
    ErrorReporting,
    FeatureFlags,
    UpdateCheck,
    SessionShare,
    Auth,
    WebUi,
    BinaryDownload,
    CodeHost,
    WebSearch,
    Local,
}

impl Purpose {
    /// Every purpose, in the order reports list them.
    pub const ALL: [Purpose; 14] = [
        Purpose::LlmApi,
        Purpose::PackageRegistry,
        Purpose::ModelCatalog,
        Purpose::Telemetry,
        Purpose::ErrorReporting,
        Purpose::FeatureFlags,
        Purpose::UpdateCheck,
        Purpose::SessionShare,
        Purpose::Auth,
        Purpose::WebUi,
        Purpose::BinaryDownload,
        Purpose::CodeHost,
        Purpose::WebSearch,
        Purpose::Local,
    ];

    /// The catalog's spelling (`llm-api`, `model-catalog`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::LlmApi => "llm-api",
            Purpose::PackageRegistry => "package-registry",
            Purpose::ModelCatalog => "model-catalog",
            Purpose::Telemetry => "telemetry",
            Purpose::ErrorReporting => "error-reporting",
            Purpose::FeatureFlags => "feature-flags",
            Purpose::UpdateCheck => "update-check",
            Purpose::SessionShare => "session-share",
            Purpose::Auth => "auth",
            Purpose::WebUi => "web-ui",
            Purpose::BinaryDownload => "binary-download",
            Purpose::CodeHost => "code-host",
            Purpose::WebSearch => "web-search",
            Purpose::Local => "local",
        }
    }

    /// Parses the catalog's spelling.
    ///
    /// # Errors
    /// [`UnknownPurpose`] (its message lists the valid purposes), when `text` is none of them.
    pub fn parse(text: &str) -> Result<Purpose, UnknownPurpose> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| UnknownPurpose {
                name: text.to_owned(),
            })
    }

    /// Whether an agent needs this to do its job (the LLM API, and loopback).
    pub fn is_essential(self) -> bool {
        matches!(self, Purpose::LlmApi | Purpose::Local)
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agent the catalog knows, and how to recognise it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Id used by endpoints (`opencode`).
    pub name: String,
    /// Name for people (`OpenCode`).
    pub display: String,
    /// Base names of `argv[0]` that identify it.
    #[serde(default)]
    pub commands: Vec<String>,
    /// `User-Agent` prefixes; the text after the prefix, up to a space or `)`, is the version.
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// Request header names (lowercase) only this agent sends.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Its main configuration file, named in hardening advice.
    #[serde(default)]
    pub config: Option<String>,
}

/// How one agent switches an endpoint off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disable {
    pub agent: String,
    /// An environment setting, `NAME=value`.
    #[serde(default)]
    pub env: Option<String>,
    /// A snippet for the agent's configuration file.
    #[serde(default)]
    pub config: Option<String>,
    /// Where this is documented.
    pub docs: String,
}

/// A known endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Host globs: exact names, `*.example.com` for any subdomain, `*` within a label.
    pub hosts: Vec<String>,
    /// Only these ports, when given (Ollama's 11434 on loopback, say).
    #[serde(default)]
    pub ports: Vec<u16>,
    pub purpose: Purpose,
    pub owner: String,
    /// Agents that contact it; empty for endpoints any client may call.
    #[serde(default)]
    pub agents: Vec<String>,
    /// When it fires, one line.
    #[serde(default)]
    pub when: String,
    /// Whether the user must turn it on.
    #[serde(default)]
    pub opt_in: bool,
    /// Whether the agent cannot work without it.
    #[serde(default)]
    pub essential: bool,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub disable: Vec<Disable>,
    /// Requests agents were seen to send here, by agent version, with the switches checked
    /// against them.
    #[serde(default)]
    pub observed: Vec<Observed>,
}

/// Requests one agent version was seen to send to an endpoint under
/// `phonehome run --sinkhole all` (which reads every attempt whole without forwarding it), and
/// which of the endpoint's switches were seen to stop them. The integration tests run the
/// agent again with each switch and check both lists (tests/it/agents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    pub agent: String,
    /// The agent version they were seen with (`2.1.332`).
    pub version: String,
    /// What these requests are for; narrower than the endpoint's purpose where one host
    /// carries several (telemetry on an LLM API host).
    pub purpose: Purpose,
    /// `METHOD /path`, query left out; `*` stands for a varying part of the path.
    pub requests: Vec<String>,
    /// Switches of this endpoint for this agent (a [`Disable`]'s `env` or `config`, as written
    /// there) seen to stop every one of these requests.
    #[serde(default)]
    pub stopped_by: Vec<String>,
    /// Switches of this endpoint for this agent seen not to stop them.
    #[serde(default)]
    pub not_stopped_by: Vec<String>,
}

impl Observed {
    /// Whether `method` and `path` (query left out) are one of these requests.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.requests.iter().any(|r| {
            let Some((m, pattern)) = r.split_once(' ') else {
                return false;
            };
            m.eq_ignore_ascii_case(method) && path_matches(pattern, path)
        })
    }
}

/// `*` in `pattern` matches any run of characters other than `/`.
fn path_matches(pattern: &str, path: &str) -> bool {
    let (pattern, path) = (pattern.split('/'), path.split('/'));
    pattern.clone().count() == path.clone().count()
        && pattern.zip(path).all(|(p, s)| match p.split_once('*') {
            None => p == s,
            Some((head, tail)) => {
                s.len() >= head.len() + tail.len() && s.starts_with(head) && s.ends_with(tail)
            }
        })
}

impl Endpoint {
    /// The environment setting that switches this endpoint off for `agent` (for any agent
    /// when `None`, or when `agent` has none): the first `disable` entry with an `env`.
    pub fn switch(&self, agent: Option<&str>) -> Option<&Disable> {
        let with_env = || self.disable.iter().filter(|d| d.env.is_some());
        agent
            .and_then(|a| with_env().find(|d| d.agent == a))
            .or_else(|| with_env().next())
    }

    /// The one-line remedy for a denial of `host`, for people and for the model reading the
    /// denial: "allowed by adding `host` to the policy, or switch it off with ENV=1 (agent)".
    pub fn remedy(endpoint: Option<&Endpoint>, host: &str, agent: Option<&str>) -> String {
        let add = format!("allowed by adding `{host}` to the policy");
        let Some(switch) = endpoint.and_then(|e| e.switch(agent)) else {
            return add;
        };
        let env = switch.env.as_deref().unwrap_or_default();
        format!("{add}, or switch it off with {env} ({})", switch.agent)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    version: u32,
    #[serde(default)]
    agent: Vec<Agent>,
    #[serde(default)]
    endpoint: Vec<Endpoint>,
}

/// Why a catalog file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The TOML is malformed or has an unknown field or purpose; the message has line and
    /// column.
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: unsupported catalog version {version} (this phonehome reads version 1)")]
    Version { origin: String, version: u32 },
    #[error("{origin}: endpoint for {owner:?}: invalid host pattern {pattern:?}: {message}")]
    Pattern {
        origin: String,
        owner: String,
        pattern: String,
        message: String,
    },
}

struct Compiled {
    endpoint: usize,
    pattern: String,
    /// Higher wins among matches: port-specific, exact, longer, from an override file.
    rank: u32,
}

/// A purpose spelt as none of [`Purpose::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown purpose {name:?}; valid purposes: {}", Purpose::ALL.map(Purpose::as_str).join(", "))]
pub struct UnknownPurpose {
    /// The spelling given.
    pub name: String,
}

/// A parsed catalog with its host matchers.
pub struct Catalog {
    agents: Vec<Agent>,
    endpoints: Vec<Endpoint>,
    compiled: Vec<Compiled>,
    /// Every host glob in one set: glob `i` belongs to `compiled[i]`.
    globs: GlobSet,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("agents", &self.agents.len())
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

impl Catalog {
    /// The catalog built into phonehome.
    ///
    /// # Panics
    /// Never in a released build: the embedded file is checked by the test suite.
    pub fn builtin() -> Catalog {
        Catalog::parse(BUILTIN, "built-in catalog").expect("the built-in catalog is valid")
    }

    /// Parses a catalog file; `origin` names it in errors.
    ///
    /// # Errors
    /// [`CatalogError`] naming the file, and the line and column where TOML says so.
    pub fn parse(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let file = read_file(text, origin)?;
        let mut catalog = Catalog {
            agents: Vec::new(),
            endpoints: Vec::new(),
            compiled: Vec::new(),
            globs: GlobSet::empty(),
        };
        catalog.add(file, 0);
        catalog.build_globs(origin)?;
        Ok(catalog)
    }

    /// This catalog with the entries of `file` added in front: its endpoints win over
    /// built-in ones for the same host, its agents replace agents of the same name.
    ///
    /// # Errors
    /// As [`Catalog::parse`].
    pub fn with_overrides(mut self, text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let file = read_file(text, origin)?;
        self.agents
            .retain(|a| !file.agent.iter().any(|o| o.name == a.name));
        self.add(file, 1);
        self.build_globs(origin)?;
        Ok(self)
    }

    /// Adds a file's entries; [`Catalog::build_globs`] compiles (and checks) their patterns.
    fn add(&mut self, file: CatalogFile, layer: u32) {
        self.agents.extend(file.agent);
        for endpoint in file.endpoint {
            let index = self.endpoints.len();
            for pattern in &endpoint.hosts {
                let exact = !pattern.contains(['*', '?', '[']);
                let length = u32::try_from(pattern.len()).unwrap_or(u32::MAX).min(999);
                let rank = layer * 100_000
                    + u32::from(!endpoint.ports.is_empty()) * 10_000
                    + u32::from(exact) * 1_000
                    + length;
                self.compiled.push(Compiled {
                    endpoint: index,
                    pattern: pattern.to_ascii_lowercase(),
                    rank,
                });
            }
            self.endpoints.push(endpoint);
        }
    }

    /// Compiles every host pattern into one set, matched in a single pass per lookup.
    fn build_globs(&mut self, origin: &str) -> Result<(), CatalogError> {
        let mut set = GlobSetBuilder::new();
        for compiled in &self.compiled {
            set.add(glob(&compiled.pattern).map_err(|e| CatalogError::Pattern {
                origin: origin.to_owned(),
                owner: self.endpoints[compiled.endpoint].owner.clone(),
                pattern: compiled.pattern.clone(),
                message: e.kind().to_string(),
            })?);
        }
        self.globs = set.build().map_err(|e| CatalogError::Syntax {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        Ok(())
    }

    /// The endpoint `host` (and `port`) belongs to: among the entries whose pattern matches
    /// and whose ports (if any) include `port`, the most specific.
    pub fn lookup(&self, host: &str, port: u16) -> Option<&Endpoint> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.globs
            .matches(&host)
            .into_iter()
            .map(|i| &self.compiled[i])
            .filter(|c| {
                let endpoint = &self.endpoints[c.endpoint];
                endpoint.ports.is_empty() || endpoint.ports.contains(&port)
            })
            .max_by_key(|c| c.rank)
            .map(|c| &self.endpoints[c.endpoint])
    }

    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The agent with this id.
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.name == name)
    }
}

fn glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(&pattern.to_ascii_lowercase())
        .literal_separator(false)
        .build()
}

/// Parses a catalog file's TOML and checks its version.
fn read_file(text: &str, origin: &str) -> Result<CatalogFile, CatalogError> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| CatalogError::Syntax {
        origin: origin.to_owned(),
        message: TomlSyntax::new(text, &e).to_string(),
    })?;
    if file.version != 1 {
        return Err(CatalogError::Version {
            origin: origin.to_owned(),
            version: file.version,
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
version = 1
[[agent]]
name = "a"
display = "A"
[[endpoint]]
hosts = ["*.posthog.com"]
purpose = "telemetry"
owner = "PostHog"
[[endpoint]]
hosts = ["eu.i.posthog.com"]
purpose = "feature-flags"
owner = "PostHog EU"
[[endpoint]]
hosts = ["localhost", "127.0.0.1"]
purpose = "local"
owner = "this machine"
[[endpoint]]
hosts = ["localhost", "127.0.0.1"]
ports = [11434]
purpose = "llm-api"
owner = "Ollama"
"#;

    #[test]
    fn observed_switches_are_switches_of_their_endpoint() {
        let catalog = Catalog::builtin();
        for e in catalog.endpoints() {
            for o in &e.observed {
                assert!(
                    catalog.agent(&o.agent).is_some(),
                    "{}: {}",
                    e.hosts[0],
                    o.agent
                );
                assert!(!o.requests.is_empty() && !o.version.is_empty());
                for switch in o.stopped_by.iter().chain(&o.not_stopped_by) {
                    assert!(
                        e.disable.iter().any(|d| d.agent == o.agent
                            && (d.env.as_ref() == Some(switch)
                                || d.config.as_ref() == Some(switch))),
                        "{}: {switch:?} is not a switch of {} there",
                        e.hosts[0],
                        o.agent
                    );
                }
            }
        }
    }

    #[test]
    fn observed_requests_match_by_method_and_path() {
        let o = Observed {
            agent: "a".into(),
            version: "1".into(),
            purpose: Purpose::FeatureFlags,
            requests: vec!["POST /api/eval/*".into(), "GET /v1/x-*.json".into()],
            stopped_by: Vec::new(),
            not_stopped_by: Vec::new(),
        };
        assert!(o.matches("POST", "/api/eval/sdk-zAZ"));
        assert!(o.matches("get", "/v1/x-1.json"));
        assert!(!o.matches("GET", "/api/eval/sdk-zAZ"));
        assert!(!o.matches("POST", "/api/eval/sdk/more"));
        assert!(!o.matches("POST", "/api/evaluate/x"));
        assert!(!o.matches("GET", "/v1/x-1.txt"));
    }

    #[test]
    fn builtin_catalog_parses() {
        let catalog = Catalog::builtin();
        assert!(catalog.endpoints().len() > 20);
        assert!(catalog.agent("opencode").is_some());
    }

    #[test]
    fn most_specific_match_wins() {
        let catalog = Catalog::parse(SMALL, "small").expect("parses");
        assert_eq!(
            catalog.lookup("us.i.posthog.com", 443).map(|e| e.purpose),
            Some(Purpose::Telemetry)
        );
        assert_eq!(
            catalog.lookup("EU.i.posthog.com.", 443).map(|e| e.purpose),
            Some(Purpose::FeatureFlags)
        );
        assert!(
            catalog.lookup("posthog.com", 443).is_none(),
            "*. does not match the apex"
        );
        assert_eq!(
            catalog.lookup("127.0.0.1", 11434).map(|e| e.owner.as_str()),
            Some("Ollama")
        );
        assert_eq!(
            catalog.lookup("127.0.0.1", 8080).map(|e| e.purpose),
            Some(Purpose::Local)
        );
    }

    #[test]
    fn overrides_take_precedence() {
        let extra = "version = 1\n[[endpoint]]\nhosts = [\"*.posthog.com\"]\npurpose = \"auth\"\nowner = \"mine\"\n";
        let catalog = Catalog::parse(SMALL, "small")
            .expect("parses")
            .with_overrides(extra, "extra.toml")
            .expect("parses");
        assert_eq!(
            catalog
                .lookup("x.posthog.com", 443)
                .map(|e| e.owner.as_str()),
            Some("mine")
        );
    }

    #[test]
    fn errors_name_file_line_and_valid_purposes() {
        let bad =
            "version = 1\n[[endpoint]]\nhosts = [\"x\"]\npurpose = \"spying\"\nowner = \"o\"\n";
        let e = Catalog::parse(bad, "bad.toml")
            .expect_err("invalid purpose")
            .to_string();
        assert!(e.starts_with("bad.toml: line 4"), "{e}");
        assert!(e.contains("spying") && e.contains("llm-api"), "{e}");
        let e = Catalog::parse("version = 2\n", "v.toml")
            .expect_err("version")
            .to_string();
        assert!(e.contains("version 2"), "{e}");
        let e = Purpose::parse("spying").expect_err("unknown");
        assert_eq!(e.name, "spying");
        assert!(e.to_string().contains("valid purposes: llm-api"), "{e}");
    }

    #[test]
    fn remedy_names_the_host_and_the_agent_s_switch() {
        let catalog = Catalog::builtin();
        let models = catalog.lookup("models.dev", 443);
        assert_eq!(
            Endpoint::remedy(models, "models.dev", Some("opencode")),
            "allowed by adding `models.dev` to the policy, or switch it off with \
             OPENCODE_DISABLE_MODELS_FETCH=1 (opencode)"
        );
        assert_eq!(
            Endpoint::remedy(None, "x.test", None),
            "allowed by adding `x.test` to the policy"
        );
        let switch = models.and_then(|e| e.switch(Some("no-such-agent")));
        assert!(switch.is_some(), "falls back to any agent's switch");
    }
}
