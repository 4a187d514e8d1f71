//! Which agent a capture shows, and its version: from the command that was run and from the
//! agents' user-agent strings and own headers, as the catalog describes them; an agent the
//! catalog does not know is named from other clues ([`named`]).

mod named;

use std::collections::BTreeMap;

use memchr::memmem::Finder;
use phonehome_catalog::Catalog;
use serde::Serialize;

use crate::event::Exchange;
use named::{Clues, Product};

/// An agent seen in a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSeen {
    pub name: String,
    pub display: String,
    /// The version its user-agent named most often.
    pub version: Option<String>,
    /// `command`, `user-agent`, `header`, or several joined by `+`; for an agent not in the
    /// catalog, the one clue that named it: `package.json`, `dist-info`, `telemetry`,
    /// `user-agent` or `executable name`.
    pub evidence: String,
    pub requests: u64,
    /// Whether the catalog knows it (false: named from the clues of [`named`]).
    pub in_catalog: bool,
}

/// The catalog's agents and how to recognise them; read by many threads at once.
pub(crate) struct Patterns {
    agents: Vec<phonehome_catalog::Agent>,
    /// Each agent's user-agent patterns, lowercase, each with its searcher built once.
    user_agents: Vec<Vec<Finder<'static>>>,
}

impl Patterns {
    pub(crate) fn new(catalog: &Catalog) -> Self {
        let agents = catalog.agents().to_vec();
        let user_agents = agents
            .iter()
            .map(|a| {
                a.user_agents
                    .iter()
                    .map(|p| Finder::new(p.to_ascii_lowercase().as_bytes()).into_owned())
                    .collect()
            })
            .collect();
        Self {
            agents,
            user_agents,
        }
    }

    /// What an exchange says about its agent: the catalog's agents it names, by user-agent or
    /// by their own headers; the product of an LLM call's User-Agent (`llm_call`) or of a
    /// telemetry request's resource, for an agent the catalog does not know.
    /// `telemetry` is the exchange's decoded telemetry, when it is some (decoded once, by the
    /// caller, for every use).
    pub(crate) fn scan(
        &self,
        x: &Exchange,
        llm_call: bool,
        telemetry: Option<&crate::telemetry::Telemetry>,
    ) -> AgentHits {
        let product = if llm_call {
            x.request_header("user-agent")
                .and_then(named::user_agent_product)
                .map(|p| (p, false))
        } else {
            telemetry
                .and_then(named::telemetry_product)
                .map(|p| (p, true))
        };
        AgentHits {
            catalog: self.catalog_hits(x),
            product,
        }
    }

    /// The catalog's agents an exchange names, by user-agent or by their own headers.
    fn catalog_hits(&self, x: &Exchange) -> Vec<AgentHit> {
        let user_agent = x
            .request_header("user-agent")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut hits = Vec::new();
        for (agent, (entry, patterns)) in self.agents.iter().zip(&self.user_agents).enumerate() {
            let by_ua = patterns
                .iter()
                .find_map(|p| p.find(user_agent.as_bytes()).map(|i| (i, p.needle().len())));
            let by_header = entry.headers.iter().any(|h| {
                x.request_headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(h))
            });
            if by_ua.is_none() && !by_header {
                continue;
            }
            hits.push(AgentHit {
                agent,
                by_header,
                by_ua: by_ua.is_some(),
                version: by_ua.map(|(at, len)| version_after(&user_agent[at + len..])),
            });
        }
        hits
    }
}

/// The version that follows an agent's name in a user-agent string: of the `/`-separated
/// parts up to a space, `)` or `;`, the first that starts with a digit (`1.2.3` in
/// `1.2.3/model`, in Gemini CLI's `tui/1.2.3/model`, in OpenCode's `latest/1.2.3/cli`), else the
/// whole word.
fn version_after(rest: &str) -> String {
    let word: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ')' && *c != ';')
        .collect();
    word.split('/')
        .find(|part| part.starts_with(|c: char| c.is_ascii_digit()))
        .map_or_else(|| word.clone(), str::to_owned)
}

/// What one exchange says about its agent.
#[derive(Default)]
pub(crate) struct AgentHits {
    catalog: Vec<AgentHit>,
    /// A product named by an LLM call's User-Agent, or by telemetry (true).
    product: Option<(Product, bool)>,
}

/// One agent named by one exchange.
pub(crate) struct AgentHit {
    /// Index into the catalog's agents.
    agent: usize,
    by_header: bool,
    by_ua: bool,
    /// What followed the user-agent pattern, when it matched.
    version: Option<String>,
}

/// The agents seen so far.
#[derive(Default, Clone)]
pub(crate) struct Detector {
    seen: BTreeMap<String, Seen>,
    clues: Clues,
}

#[derive(Default, Clone)]
struct Seen {
    command: bool,
    user_agent: bool,
    header: bool,
    requests: u64,
    versions: BTreeMap<String, u64>,
}

impl Detector {
    /// The capture's command: its program's base name (and, through wrappers such as `npx`
    /// or `node`, the next arguments' base names).
    pub(crate) fn command(&mut self, patterns: &Patterns, argv: &[String]) {
        self.clues.command(argv, None);
        self.catalog_command(patterns, argv);
    }

    /// The capture's header: its command, and the package its program belongs to.
    pub(crate) fn header(&mut self, patterns: &Patterns, capture: &phonehome_record::Capture) {
        self.clues.command(&capture.command, capture.agent.as_ref());
        self.catalog_command(patterns, &capture.command);
    }

    fn catalog_command(&mut self, patterns: &Patterns, argv: &[String]) {
        let names: Vec<&str> = argv
            .iter()
            .take(3)
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .collect();
        for agent in &patterns.agents {
            if names.iter().any(|n| agent.commands.iter().any(|c| c == n)) {
                self.seen.entry(agent.name.clone()).or_default().command = true;
                break;
            }
        }
    }

    /// Counts what [`Patterns::scan`] found in one exchange.
    pub(crate) fn add(&mut self, patterns: &Patterns, hits: AgentHits) {
        match hits.product {
            Some((product, true)) => self.clues.telemetry(product),
            Some((product, false)) => self.clues.user_agent(product),
            None => {}
        }
        for hit in hits.catalog {
            let name = &patterns.agents[hit.agent].name;
            if !self.seen.contains_key(name) {
                self.seen.insert(name.clone(), Seen::default());
            }
            let seen = self.seen.get_mut(name).expect("inserted above");
            seen.requests += 1;
            seen.header |= hit.by_header;
            seen.user_agent |= hit.by_ua;
            if let Some(version) = hit.version.filter(|v| !v.is_empty()) {
                *seen.versions.entry(version).or_default() += 1;
            }
        }
    }

    /// Agents seen, the one named by the command first, then by requests; when the catalog
    /// knows none, the one the clues name.
    pub(crate) fn finish(self, patterns: &Patterns) -> Vec<AgentSeen> {
        if self.seen.is_empty() {
            return self
                .clues
                .name()
                .map(|n| AgentSeen {
                    display: n.name.clone(),
                    name: n.name,
                    version: n.version,
                    evidence: n.evidence,
                    requests: n.requests,
                    in_catalog: false,
                })
                .into_iter()
                .collect();
        }
        let mut out: Vec<(bool, AgentSeen)> = self
            .seen
            .into_iter()
            .map(|(name, seen)| {
                let display = patterns
                    .agents
                    .iter()
                    .find(|a| a.name == name)
                    .map_or_else(|| name.clone(), |a| a.display.clone());
                let evidence: Vec<&str> = [
                    (seen.command, "command"),
                    (seen.user_agent, "user-agent"),
                    (seen.header, "header"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, what)| *what)
                .collect();
                let version = seen
                    .versions
                    .iter()
                    .max_by_key(|(v, n)| (**n, std::cmp::Reverse((*v).clone())))
                    .map(|(v, _)| v.clone());
                (
                    seen.command,
                    AgentSeen {
                        name,
                        display,
                        version,
                        evidence: evidence.join("+"),
                        requests: seen.requests,
                        in_catalog: true,
                    },
                )
            })
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.requests.cmp(&a.1.requests)));
        out.into_iter().map(|(_, a)| a).collect()
    }
}

/// Which agent a capture shows, asked as it is read (the report asks once, at the end): the
/// command, then each exchange.
pub struct AgentDetector {
    patterns: Patterns,
    detector: Detector,
}

impl AgentDetector {
    /// A detector for the catalog's agents.
    pub fn new(catalog: &Catalog) -> Self {
        Self {
            patterns: Patterns::new(catalog),
            detector: Detector::default(),
        }
    }

    /// The capture's command (argv).
    pub fn command(&mut self, argv: &[String]) {
        self.detector.command(&self.patterns, argv);
    }

    /// The capture's header: its command and the package its program belongs to.
    pub fn header(&mut self, capture: &phonehome_record::Capture) {
        self.detector.header(&self.patterns, capture);
    }

    /// One exchange: its user-agent and the agents' own headers.
    pub fn exchange(&mut self, x: &Exchange) {
        let llm_call = crate::llm::recognise(x).is_some();
        let telemetry = (!llm_call).then(|| crate::telemetry::decode(x)).flatten();
        let hits = self.patterns.scan(x, llm_call, telemetry.as_ref());
        self.detector.add(&self.patterns, hits);
    }

    /// The agents seen so far, the one named by the command first, then by requests.
    pub fn agents(&self) -> Vec<AgentSeen> {
        self.detector.clone().finish(&self.patterns)
    }
}

#[cfg(test)]
mod tests {
    use super::version_after;

    #[test]
    fn version_is_the_first_numeric_part() {
        // Gemini CLI 0.61.0: "GeminiCLI-tui/0.61.0/gemini-3.1-pro-preview (linux; x64; …)".
        assert_eq!(
            version_after("tui/0.61.0/gemini-3.1-pro-preview (linux"),
            "0.61.0"
        );
        assert_eq!(
            version_after("0.61.0/gemini-2.5-pro (linux; x64)"),
            "0.61.0"
        );
        assert_eq!(version_after("latest/1.18.33/cli"), "1.18.33");
        assert_eq!(version_after("2.1.332 (external, sdk-cli)"), "2.1.332");
        assert_eq!(version_after("dev"), "dev");
    }
}
