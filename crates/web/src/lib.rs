//! `phonehome web`: a capture as a page to explore in a browser, served from the capture
//! (loopback, a random token in the URL, live while recording) or written as one
//! self-contained HTML file.
//!
//! ```text
//! capture ─ viewer's index (rows, byte offsets; follows a growing file) ─┬─ api (JSON pages, SSE)
//!         ─ report + LLM conversations (background) ─ summary ───────────┤   └─ server (hyper)
//!         ─ records re-read by offset ─ detail ──────────────────────────┼─ export (one HTML file)
//!         ─ analysis's HAR export of the filtered flows ─ har ───────────┘
//! page (assets/: HTML, CSS, vanilla JS; no build step, no CDN) reads the same JSON either way
//! ```
//!
//! The page never talks to anything but its own origin: the server sends a
//! Content-Security-Policy that says so, and the exported file carries one in a `<meta>` tag
//! with the hashes of its inline script and style.
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod api;
mod assets;
mod detail;
mod error;
mod export;
mod filter;
mod har;
mod processes;
mod rows;
mod server;
mod summary;
mod token;

pub use error::WebError;
pub use export::{export, ExportOptions, DEFAULT_MAX_BODIES, DEFAULT_MAX_BODY_BYTES};
pub use server::{start, ServeOptions, Server};
pub use token::Token;
