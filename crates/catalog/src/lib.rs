//! The phonehome endpoint catalog: which hosts agents contact, for what purpose, owned by
//! whom, when they fire, and how each agent switches them off; and package registries,
//! recognised by their protocol rather than by host, so mirrors count too.
//!
//! The built-in catalog is `data/catalog.toml`, embedded at build time; `--catalog FILE` adds
//! entries that take precedence. This crate is pure: no I/O beyond what the caller reads.
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod catalog;
mod registry;
mod syntax;

pub use catalog::{
    Agent, Catalog, CatalogError, Disable, Endpoint, Observed, Purpose, UnknownPurpose,
};
pub use registry::{recognise_package, Ecosystem, PackageKind, PackageRef};
pub use syntax::TomlSyntax;
