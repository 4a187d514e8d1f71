//! What a host's requests were, measured against the catalog's `observed` entries for it:
//! per agent, the requests that were one the catalog saw that agent send there (with their
//! narrower purpose) and carried no LLM call. An LLM vendor's host that got only such requests
//! received telemetry or configuration fetches, not LLM calls, and is labelled by what was sent.

use std::collections::{BTreeMap, BTreeSet};

use phonehome_catalog::{Endpoint, Purpose};

/// Per host: the requests matched by each agent's `observed` entries.
#[derive(Default)]
pub(super) struct Observations {
    /// Agent id → purposes of the entries matched, and requests matched (each once).
    by_agent: BTreeMap<String, (BTreeSet<Purpose>, u64)>,
}

/// What was sent to a host instead of LLM calls: the agent's observed requests.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sent {
    /// The agent id (`claude-code`).
    pub(super) agent: String,
    /// Purposes of the observed entries the requests matched, in the catalog's order.
    pub(super) purposes: Vec<Purpose>,
}

impl Observations {
    /// Counts one request to a host of `endpoint`; `llm_call` when it was recognised as an
    /// LLM call (then it matches nothing).
    pub(super) fn add(&mut self, endpoint: &Endpoint, method: &str, path: &str, llm_call: bool) {
        if llm_call {
            return;
        }
        let mut agents: BTreeSet<&str> = BTreeSet::new();
        for o in endpoint.observed.iter().filter(|o| o.matches(method, path)) {
            let (purposes, _) = self.by_agent.entry(o.agent.clone()).or_default();
            purposes.insert(o.purpose);
            agents.insert(&o.agent);
        }
        for agent in agents {
            if let Some((_, requests)) = self.by_agent.get_mut(agent) {
                *requests += 1;
            }
        }
    }

    /// When every one of the host's `requests` was one the catalog saw an agent of `agents`
    /// send there (so none was an LLM call): that agent and the purposes. `None` for a host
    /// with no request.
    pub(super) fn sent(&self, requests: u64, agents: &[&str]) -> Option<Sent> {
        if requests == 0 {
            return None;
        }
        self.by_agent
            .iter()
            .find(|(agent, (_, n))| *n == requests && agents.contains(&agent.as_str()))
            .map(|(agent, (purposes, _))| Sent {
                agent: agent.clone(),
                purposes: purposes.iter().copied().collect(),
            })
    }

    /// Whether every one of `requests` was an observed request of some agent.
    pub(super) fn all_observed(&self, requests: u64) -> bool {
        requests > 0 && self.by_agent.values().any(|(_, n)| *n == requests)
    }
}

#[cfg(test)]
#[path = "observed_tests.rs"]
mod tests;
