//! What can go wrong serving or exporting a capture.

use std::path::PathBuf;

/// An error of `phonehome web`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The input is not a capture (or HAR) that can be read: the same message `report` gives.
    #[error(transparent)]
    Input(#[from] phonehome_analyze::SourceError),
    /// The input cannot be opened, or is not a capture (the viewer's check).
    #[error("{0}")]
    Unreadable(std::io::Error),
    /// The listening socket cannot be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// `--listen` on an address other than loopback without `--web-token`.
    #[error("{0} is not a loopback address: serving a capture there needs --web-token (anyone who can reach it could read the prompts)")]
    NotLoopback(std::net::SocketAddr),
    /// No randomness for the token.
    #[error("cannot draw a random token: {0}")]
    Random(getrandom::Error),
    /// The index of the capture failed.
    #[error("cannot index {path}: {message}")]
    Index { path: PathBuf, message: String },
    /// The HAR of the flows cannot be made.
    #[error("cannot make the flows' HAR: {0}")]
    Har(#[from] phonehome_analyze::ExportError),
    /// The page's data cannot be serialised (should not happen).
    #[error("cannot serialise the page's data: {0}")]
    Json(#[from] serde_json::Error),
}
