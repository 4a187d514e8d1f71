//! The catalog as a Markdown table, for `phonehome catalog`: each known endpoint with its
//! purpose, owner, when it fires, and how each agent switches it off.

use std::fmt::Write as _;

use phonehome_catalog::{Disable, Endpoint};

use super::cell;

/// Renders `endpoints` as a Markdown table; with `agent`, only that agent's switches.
pub fn render_catalog_markdown(endpoints: &[&Endpoint], agent: Option<&str>) -> String {
    let mut out = String::from(
        "| Domain | Purpose | Owner | When it fires | Opt-in | How to disable |\n\
         |---|---|---|---|---|---|\n",
    );
    for e in endpoints {
        let switches: Vec<String> = e
            .disable
            .iter()
            .filter(|d| agent.is_none_or(|a| d.agent == a))
            .map(switch)
            .collect();
        let how = if switches.is_empty() {
            "—".to_owned()
        } else {
            switches.join("; ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&e.hosts.join(", ")),
            e.purpose,
            cell(&e.owner),
            cell(&e.when),
            if e.opt_in { "yes" } else { "no" },
            cell(&how),
        );
    }
    out
}

/// One agent's switch: `agent: `ENV=value` or config `key``.
fn switch(d: &Disable) -> String {
    let how: Vec<String> = [
        d.env.as_ref().map(|v| format!("`{v}`")),
        d.config.as_ref().map(|c| format!("config `{c}`")),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("{}: {}", d.agent, how.join(" or "))
}
