//! Which agent a capture shows, and its version: from the command that was run and from the
//! agents' user-agent strings and own headers, as the catalog describes them.

use std::collections::BTreeMap;

use phonehome_catalog::Catalog;
use serde::Serialize;

use crate::source::Exchange;

/// An agent seen in a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSeen {
    pub name: String,
    pub display: String,
    /// The version its user-agent named most often.
    pub version: Option<String>,
    /// `command`, `user-agent`, `header`, or several joined by `+`.
    pub evidence: String,
    pub requests: u64,
}

#[derive(Default)]
pub(crate) struct Detector {
    agents: Vec<phonehome_catalog::Agent>,
    seen: BTreeMap<String, Seen>,
}

#[derive(Default)]
struct Seen {
    command: bool,
    user_agent: bool,
    header: bool,
    requests: u64,
    versions: BTreeMap<String, u64>,
}

impl Detector {
    pub(crate) fn new(catalog: &Catalog) -> Self {
        Self {
            agents: catalog.agents().to_vec(),
            seen: BTreeMap::new(),
        }
    }

    /// The capture's command: its program's base name (and, through wrappers such as `npx`
    /// or `node`, the next arguments' base names).
    pub(crate) fn command(&mut self, argv: &[String]) {
        let names: Vec<&str> = argv
            .iter()
            .take(3)
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .collect();
        for agent in &self.agents {
            if names.iter().any(|n| agent.commands.iter().any(|c| c == n)) {
                self.seen.entry(agent.name.clone()).or_default().command = true;
                break;
            }
        }
    }

    pub(crate) fn exchange(&mut self, x: &Exchange) {
        let user_agent = x
            .request_header("user-agent")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for agent in &self.agents {
            let by_ua = agent.user_agents.iter().find_map(|p| {
                user_agent
                    .find(&p.to_ascii_lowercase())
                    .map(|i| (i, p.len()))
            });
            let by_header = agent.headers.iter().any(|h| {
                x.request_headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(h))
            });
            if by_ua.is_none() && !by_header {
                continue;
            }
            let seen = self.seen.entry(agent.name.clone()).or_default();
            seen.requests += 1;
            seen.header |= by_header;
            if let Some((at, len)) = by_ua {
                seen.user_agent = true;
                let version: String = user_agent[at + len..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != ')' && *c != ';')
                    .collect();
                if !version.is_empty() {
                    *seen.versions.entry(version).or_default() += 1;
                }
            }
        }
    }

    /// Agents seen, the one named by the command first, then by requests.
    pub(crate) fn finish(self) -> Vec<AgentSeen> {
        let mut out: Vec<(bool, AgentSeen)> = self
            .seen
            .into_iter()
            .map(|(name, seen)| {
                let display = self
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
                    },
                )
            })
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.requests.cmp(&a.1.requests)));
        out.into_iter().map(|(_, a)| a).collect()
    }
}
