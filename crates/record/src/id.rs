//! The ids that join a capture's records: [`ConnId`] (a client connection) and [`FlowId`] (one
//! HTTP exchange). Distinct types, so a connection id cannot be passed where a flow id is meant;
//! on the wire both are the bare number (`"conn": 3`, `"flow": 7`), as docs/capture-format.md
//! has them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A client connection's id: the `conn` field of `conn`, `request`, `error` and `blocked`
/// records. Numbered from 1 in the order connections are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnId(pub u64);

/// An HTTP exchange's id: the `flow` field of `request`, `response`, `ws`, `error` and `blocked`
/// records. Numbered from 1 across the whole capture, whatever the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlowId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<ConnId> for u64 {
    fn from(id: ConnId) -> u64 {
        id.0
    }
}

impl From<FlowId> for u64 {
    fn from(id: FlowId) -> u64 {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_bare_number_on_the_wire() {
        assert_eq!(serde_json::to_string(&ConnId(3)).expect("serialises"), "3");
        assert_eq!(serde_json::to_string(&FlowId(7)).expect("serialises"), "7");
        let conn: ConnId = serde_json::from_str("12").expect("a number");
        let flow: Option<FlowId> = serde_json::from_str("null").expect("null");
        assert_eq!((conn, flow), (ConnId(12), None));
        assert!(serde_json::from_str::<FlowId>("\"7\"").is_err());
    }

    #[test]
    fn ids_display_as_the_number() {
        assert_eq!(
            format!("conn {} flow {}", ConnId(3), FlowId(7)),
            "conn 3 flow 7"
        );
    }
}
