//! Trace and span ids derived from the capture: the same capture exported twice (from the
//! file, or live and then from the file) gives the same ids, so a backend deduplicates.
//!
//! trace id = the first 16 bytes of SHA-256(`phonehome/1 trace <capture id>`); span id = the
//! first 8 bytes of SHA-256(`phonehome/1 <kind> <capture id> <n>`), where kind names what the
//! span is (`run`, `flow`, `llm`, `conn`, `failure`, `blocked`, `dns`) and n is its id (flow, conn)
//! or its place in the capture; a tool call's is SHA-256(`phonehome/1 tool <capture id> <flow>.<place>`),
//! its LLM call's flow and its place among that answer's calls. An all-zero id (invalid in OTLP) becomes 1.

use opentelemetry::trace::{SpanId, TraceId};
use phonehome_record::{ConnId, FlowId};
use sha2::{Digest, Sha256};

/// What a span stands for, naming its id space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpanKey {
    Run,
    Flow(FlowId),
    Llm(FlowId),
    Conn(ConnId),
    /// The n-th connection-level failure of the capture.
    Failure(u64),
    /// The n-th `blocked` record of the capture.
    Blocked(u64),
    /// The n-th `dns` record of the capture.
    Dns(u64),
    /// The tool call at a place (0, 1, …) among those the answer of an LLM call (by flow)
    /// asked for.
    Tool(FlowId, u64),
}

/// The ids of one capture's trace.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    capture: String,
    trace: TraceId,
}

impl Ids {
    pub(crate) fn new(capture_id: &str) -> Self {
        let digest = Sha256::digest(format!("phonehome/1 trace {capture_id}"));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        if bytes == [0; 16] {
            bytes[15] = 1;
        }
        Self {
            capture: capture_id.to_owned(),
            trace: TraceId::from_bytes(bytes),
        }
    }

    pub(crate) fn trace(&self) -> TraceId {
        self.trace
    }

    pub(crate) fn span(&self, key: SpanKey) -> SpanId {
        let (kind, n) = match key {
            SpanKey::Run => ("run", 0),
            SpanKey::Flow(FlowId(n)) => ("flow", n),
            SpanKey::Llm(FlowId(n)) => ("llm", n),
            SpanKey::Conn(ConnId(n)) => ("conn", n),
            SpanKey::Failure(n) => ("failure", n),
            SpanKey::Blocked(n) => ("blocked", n),
            SpanKey::Dns(n) => ("dns", n),
            SpanKey::Tool(flow, place) => {
                return self.digest(&format!("tool {} {flow}.{place}", self.capture));
            }
        };
        self.digest(&format!("{kind} {} {n}", self.capture))
    }

    fn digest(&self, what: &str) -> SpanId {
        let digest = Sha256::digest(format!("phonehome/1 {what}"));
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        if bytes == [0; 8] {
            bytes[7] = 1;
        }
        SpanId::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_the_capture_and_the_key_only() {
        let a = Ids::new("abc");
        let b = Ids::new("abc");
        assert_eq!(a.trace(), b.trace());
        let flow = SpanKey::Flow(FlowId(7));
        assert_eq!(a.span(flow), b.span(flow));
        assert_ne!(a.span(flow), a.span(SpanKey::Conn(ConnId(7))));
        assert_ne!(a.trace(), Ids::new("abd").trace());
        assert_ne!(a.span(SpanKey::Run), SpanId::INVALID);
    }
}
