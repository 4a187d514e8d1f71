//! Policy enforcement: the proxy's side of `phonehome_policy`. Host-level rules decide at
//! CONNECT, before any DNS lookup or TLS byte; method and path rules decide per request.
//! Every denial becomes a `blocked` record; in a dry run nothing is denied and every
//! would-be denial is recorded with `enforced: false`.

use phonehome_catalog::Catalog;
use phonehome_policy::{Action, Connecting, HostDecision, Policy, RequestInfo};
use phonehome_record::{Blocked, ConnId, FlowId, Record, Target};

use crate::recorder::Recorder;

/// A policy with what it needs to decide.
#[derive(Debug)]
pub struct Enforcer {
    pub policy: Policy,
    pub catalog: Catalog,
    /// Record denials without enforcing them.
    pub dry_run: bool,
}

/// What a denied host is, and the one-line remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Explanation {
    /// `model-catalog (SST / Anomaly (OpenCode))`; `None` for a host the catalog does not know.
    pub purpose: Option<String>,
    /// `allowed by adding `models.dev` to the policy, or switch it off with …`.
    pub remedy: String,
}

/// What the proxy does with a connection or request.
pub(crate) enum Verdict {
    Pass,
    /// Denied by this rule; `enforced` false in a dry run.
    Deny {
        rule: String,
        enforced: bool,
    },
}

impl Enforcer {
    /// At CONNECT (or the first absolute-form request): the host, and the process that
    /// opened the connection.
    pub(crate) fn host(&self, target: &Target, process: &Connecting) -> Verdict {
        match self
            .policy
            .decide_host(&target.host, target.port, process, &self.catalog)
        {
            HostDecision::Decided(d) if d.action == Action::Deny => self.deny(d.rule),
            _ => Verdict::Pass,
        }
    }

    /// One request, with its method, path and headers.
    pub(crate) fn request(
        &self,
        target: &Target,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        process: &Connecting,
    ) -> Verdict {
        let info = RequestInfo {
            host: &target.host,
            port: target.port,
            method,
            path,
            package_registry: phonehome_catalog::recognise_package(method, path, headers).is_some(),
            process,
        };
        let decision = self.policy.decide_request(&info, &self.catalog);
        match decision.action {
            Action::Deny => self.deny(decision.rule),
            Action::Allow => Verdict::Pass,
        }
    }

    /// What a denied `target` is (its catalog purpose and owner) and how to let it through or
    /// switch it off, for the answer the client (and the model reading its error) gets.
    pub(crate) fn explain(&self, target: &Target) -> Explanation {
        let endpoint = self.catalog.lookup(&target.host, target.port);
        Explanation {
            purpose: endpoint.map(|e| format!("{} ({})", e.purpose, e.owner)),
            remedy: phonehome_catalog::Endpoint::remedy(endpoint, &target.host, None),
        }
    }

    fn deny(&self, rule: String) -> Verdict {
        Verdict::Deny {
            rule,
            enforced: !self.dry_run,
        }
    }
}

/// Records a `blocked` record.
pub(crate) fn record(
    recorder: &Recorder,
    conn: Option<ConnId>,
    flow: Option<FlowId>,
    target: &Target,
    request: Option<(&str, &str)>,
    rule: &str,
    enforced: bool,
) {
    recorder.record(blocked(conn, flow, target, request, rule, enforced));
}

/// A `blocked` record.
pub(crate) fn blocked(
    conn: Option<ConnId>,
    flow: Option<FlowId>,
    target: &Target,
    request: Option<(&str, &str)>,
    rule: &str,
    enforced: bool,
) -> Record {
    Record::Blocked(Blocked {
        ts: phonehome_record::now(),
        conn,
        flow,
        target: target.clone(),
        method: request.map(|(m, _)| m.to_owned()),
        url: request.map(|(_, u)| u.to_owned()),
        rule: rule.to_owned(),
        enforced,
    })
}
