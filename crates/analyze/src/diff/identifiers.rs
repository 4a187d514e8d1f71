//! Persistent identifiers both inputs sent: the same name and value in two captures means the
//! identifier follows the user across runs. Read as the report reads them
//! ([`crate::telemetry_summary`]): from decoded telemetry, and from other requests to hosts
//! that got no LLM call.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::event::Exchange;

/// Distinct (name, value, host) kept per input; a capture sending more is not tracked further.
const MAX_KEPT: usize = 4096;

/// The identifiers one input sent.
#[derive(Debug, Default)]
pub(super) struct Sent {
    /// (name, value) → host → whether it came with decoded telemetry.
    ids: BTreeMap<(String, String), BTreeMap<String, bool>>,
    kept: usize,
    llm_hosts: BTreeSet<String>,
}

impl Sent {
    pub(super) fn exchange(&mut self, x: &Exchange) {
        let Some((ids, telemetry)) = crate::telemetry_summary::identifiers_of(x) else {
            self.llm_hosts.insert(x.host.clone());
            return;
        };
        for id in ids {
            let hosts = self.ids.entry((id.name, id.value)).or_default();
            if hosts.contains_key(&x.host) {
                hosts.entry(x.host.clone()).and_modify(|t| *t |= telemetry);
            } else if self.kept < MAX_KEPT {
                self.kept += 1;
                hosts.insert(x.host.clone(), telemetry);
            }
        }
    }

    /// Hosts that count for `key`: those of telemetry, and the others unless they got LLM
    /// calls.
    fn hosts(&self, key: &(String, String)) -> Vec<String> {
        self.ids
            .get(key)
            .into_iter()
            .flatten()
            .filter(|(host, telemetry)| **telemetry || !self.llm_hosts.contains(*host))
            .map(|(h, _)| h.clone())
            .collect()
    }
}

/// A persistent identifier sent in both inputs: it follows you across runs.
#[derive(Debug, Clone, Serialize)]
pub struct SharedIdentifier {
    pub name: String,
    pub value: String,
    /// The hosts it was sent to, in A and in B.
    pub hosts_a: Vec<String>,
    pub hosts_b: Vec<String>,
}

pub(super) fn shared(a: &Sent, b: &Sent) -> Vec<SharedIdentifier> {
    a.ids
        .keys()
        .filter(|key| b.ids.contains_key(*key))
        .filter_map(|key| {
            let (hosts_a, hosts_b) = (a.hosts(key), b.hosts(key));
            (!hosts_a.is_empty() && !hosts_b.is_empty()).then(|| SharedIdentifier {
                name: key.0.clone(),
                value: key.1.clone(),
                hosts_a,
                hosts_b,
            })
        })
        .collect()
}

/// The Markdown section, empty when no identifier was sent in both.
pub(super) fn markdown(w: &mut String, shared: &[SharedIdentifier]) {
    use std::fmt::Write as _;
    if shared.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "## Identifiers in both captures\n\nThe same persistent identifier was sent in A and in B: it follows you across runs.\n\n| Name | Value | Hosts in A | Hosts in B |\n|---|---|---|---|"
    );
    for s in shared {
        let _ = writeln!(
            w,
            "| `{}` | `{}` | {} | {} |",
            crate::markdown::cell(&s.name.replace('`', "")),
            crate::markdown::cell(&s.value.replace('`', "")),
            crate::markdown::cell(&s.hosts_a.join(", ")),
            crate::markdown::cell(&s.hosts_b.join(", "))
        );
    }
    let _ = writeln!(w);
}
