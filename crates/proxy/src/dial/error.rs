//! Why an upstream could not be reached: the one error of dialling, the upstream TLS
//! handshake and the upstream exchange, with the capture's phase it failed in.

use phonehome_record::Phase;

/// Why an upstream could not be reached, with the phase it failed in.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DialError {
    pub phase: Phase,
    pub message: String,
}

impl DialError {
    pub(crate) fn new(phase: Phase, message: impl Into<String>) -> Self {
        Self {
            phase,
            message: message.into(),
        }
    }
}
