//! What the report takes from one exchange, worked out from the exchange alone so that it can
//! run on any thread: its request signature, the package it fetched, the LLM call it made and
//! what that call used, the agents it names and the markers it carries. The builder then only
//! counts, in capture order.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use phonehome_catalog::{recognise_package, PackageRef};
use phonehome_record::{ConnId, FlowId, Phase};

use crate::agent::{AgentHits, Patterns};
use crate::causes::ToolStep;
use crate::event::Exchange;
use crate::leaks::{LeakHits, Needles};
use crate::llm::{self, Conversation};
use crate::signature;
use crate::telemetry_summary::{self, Seen};

use super::purpose::{shape_of, Shape};

/// What the digest of an exchange reads: the catalog's agents and the capture's markers.
#[derive(Clone)]
pub(super) struct Scanners {
    pub(super) agents: Arc<Patterns>,
    pub(super) needles: Arc<Needles>,
}

/// One exchange as the report counts it.
pub(super) struct Digest {
    pub(super) flow: FlowId,
    pub(super) conn: Option<ConnId>,
    /// What the LLM call, if any, tells the join of tool calls and connections.
    pub(super) tool_step: Option<ToolStep>,
    pub(super) ts: DateTime<Utc>,
    pub(super) method: String,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) path: String,
    pub(super) url: String,
    /// The response's status; `None` when there was no response.
    pub(super) status: Option<u16>,
    pub(super) failed: bool,
    /// Answered by phonehome's sinkhole: read, never forwarded.
    pub(super) sinkholed: bool,
    /// Request and response body bytes.
    pub(super) up: u64,
    pub(super) down: u64,
    /// The failure that ended the flow, when it failed before any response.
    pub(super) error: Option<(Phase, String)>,
    pub(super) answered: bool,
    pub(super) package: Option<PackageRef>,
    pub(super) signature: String,
    /// Hash of the request body, to tell retries of a failed request.
    pub(super) body_hash: Option<u64>,
    pub(super) call: Option<Call>,
    pub(super) agents: AgentHits,
    pub(super) leaks: LeakHits,
    /// Its decoded telemetry and the identifiers it carries.
    pub(super) seen: Option<Seen>,
    /// What its response (or protocol) says of its purpose.
    pub(super) shape: Option<Shape>,
}

impl Digest {
    /// Its upstream could not be reached and nobody answered it: a failed connection attempt,
    /// sinkholed or not, counted once in the summary and in its host's failures.
    pub(super) fn unreachable(&self) -> bool {
        !self.answered
            && self
                .error
                .as_ref()
                .is_some_and(|(p, _)| is_connection_failure(*p))
    }
}

/// Whether a failure happened before any request could be sent.
pub(super) fn is_connection_failure(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Dns | Phase::Connect | Phase::Timeout | Phase::TlsUpstream | Phase::TlsClient
    )
}

/// An LLM call.
pub(super) struct Call {
    pub(super) api: &'static str,
    pub(super) model: String,
    pub(super) streaming: bool,
    pub(super) prompt: Option<String>,
    /// What the decoder found; `None` when it could not decode the call.
    pub(super) usage: Option<CallUse>,
}

/// What one decoded LLM call used, as the report's LLM table sums it.
pub(super) struct CallUse {
    pub(super) meta: bool,
    /// input, output, cache read, cache creation, reasoning tokens.
    pub(super) tokens: [u64; 5],
    pub(super) ttft_ms: Option<u64>,
    /// `429 rate_limit_exceeded`, a status alone, or the failure phase.
    pub(super) error: Option<String>,
}

impl CallUse {
    pub(super) fn of(c: &Conversation) -> CallUse {
        let u = &c.usage;
        let tokens = [
            u.input_tokens,
            u.output_tokens,
            u.cache_read_input_tokens,
            u.cache_creation_input_tokens,
            u.reasoning_tokens,
        ]
        .map(|n| n.unwrap_or(0));
        let error = c
            .error
            .as_ref()
            .map(|e| match (e.status.filter(|s| *s >= 400), &e.kind) {
                (Some(status), Some(kind)) => format!("{status} {kind}"),
                (Some(status), None) => status.to_string(),
                (None, Some(kind)) => kind.clone(),
                (None, None) => "error".to_owned(),
            });
        CallUse {
            meta: c.meta,
            tokens,
            ttft_ms: c.ttft_ms,
            error,
        }
    }
}

/// Digests one exchange.
pub(super) fn digest(x: Exchange, scanners: &Scanners) -> Digest {
    let package = recognise_package(&x.method, &x.path, &x.request_headers);
    let mut tool_step = None;
    let call = llm::recognise_and_decode(&x).map(|(call, decoded)| {
        tool_step = ToolStep::of(&decoded);
        Call {
            api: call.api,
            model: call.model,
            streaming: call.streaming,
            prompt: call.prompt,
            usage: Some(CallUse::of(&decoded)),
        }
    });
    let seen = telemetry_summary::look(&x, call.is_some());
    let shape = call.is_none().then(|| shape_of(&x)).flatten();
    let status = x.response.as_ref().map(|r| r.status);
    let down = x
        .response
        .as_ref()
        .and_then(|r| r.body.as_ref())
        .map_or(0, |b| b.size);
    Digest {
        signature: signature::signature(&x.method, &x.host, &x.path, x.query.as_deref()),
        body_hash: x.request_body.as_ref().map(|b| hash_of(&b.data)),
        agents: scanners
            .agents
            .scan(&x, call.is_some(), seen.telemetry.as_ref()),
        leaks: scanners.needles.scan(&x),
        failed: x.failed(),
        sinkholed: x.sinkhole.is_some(),
        up: x.request_body.as_ref().map_or(0, |b| b.size),
        down,
        status,
        answered: x.response.is_some(),
        package,
        call,
        flow: x.flow,
        conn: x.conn,
        tool_step,
        seen: Some(seen),
        shape,
        ts: x.ts,
        method: x.method,
        host: x.host,
        port: x.port,
        path: x.path,
        url: x.url,
        error: x.error,
    }
}

fn hash_of(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}
