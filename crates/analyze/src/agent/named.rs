//! Naming an agent the catalog does not know. The clues, in order of preference (the first
//! that gives a name wins; a later one with the same name may still give the version):
//! 1. the package its program belongs to, read from disk when the capture started
//!    (`capture.agent`: the nearest `package.json`, or a Python entry point's `dist-info`);
//! 2. its telemetry's resource (`service.name` / `service.version` and their equivalents, as
//!    [`crate::telemetry::decode`] reads them), the most frequent;
//! 3. the User-Agent of its LLM calls: the first `product/version` token that is not an HTTP
//!    client library or an LLM SDK, the most frequent;
//! 4. the executable name of its command (through `node`, `python3`, `npx`, … the script's).
//!
//! The evidence is named as `package.json`, `dist-info`, `telemetry`, `user-agent` or
//! `executable name`, and the agent is marked as not in the catalog.

use std::collections::BTreeMap;

use phonehome_record::AgentPackage;

use crate::telemetry::Telemetry;

/// Products that name an HTTP client library, a runtime or an LLM SDK, not the agent using
/// it (compared lowercase, before the `/`).
const LIBRARIES: &[&str] = &[
    "mozilla",
    "curl",
    "wget",
    "python",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "httpx",
    "aiohttp",
    "node",
    "node-fetch",
    "undici",
    "axios",
    "got",
    "bun",
    "deno",
    "go-http-client",
    "okhttp",
    "reqwest",
    "java",
    "openai",
    "anthropic",
    "google-genai",
    "google-api-nodejs-client",
    "ai-sdk",
    "ollama",
];
/// Programs that run another (the next argument names the agent).
const WRAPPERS: &[&str] = &[
    "node", "nodejs", "bun", "bunx", "deno", "npx", "pnpx", "uvx", "pipx", "python", "pypy", "env",
    "sh", "bash", "exec",
];
/// Script names that say nothing about the agent.
const GENERIC_SCRIPTS: &[&str] = &[
    "cli", "index", "main", "__main__", "app", "bin", "start", "run",
];

/// A name and maybe a version, as one clue gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Product {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
}

/// The product a User-Agent names: its first `name/version` token that is not a library's.
pub(crate) fn user_agent_product(user_agent: &str) -> Option<Product> {
    let mut depth = 0usize;
    for token in user_agent.split_whitespace() {
        let outside = depth == 0;
        depth = (depth + token.matches('(').count()).saturating_sub(token.matches(')').count());
        if !outside || token.starts_with('(') {
            continue;
        }
        let Some((name, version)) = token.split_once('/') else {
            continue;
        };
        if !name.starts_with(|c: char| c.is_ascii_alphabetic())
            || LIBRARIES.contains(&name.to_ascii_lowercase().as_str())
        {
            continue;
        }
        let version = version
            .split('/')
            .find(|v| v.starts_with(|c: char| c.is_ascii_digit()));
        return Some(Product {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        });
    }
    None
}

/// The product a decoded telemetry request's resource names (not OpenTelemetry's
/// `unknown_service` default).
pub(crate) fn telemetry_product(telemetry: &Telemetry) -> Option<Product> {
    let name = telemetry.resource.service.as_deref()?.trim();
    if name.is_empty() || name.starts_with("unknown_service") {
        return None;
    }
    Some(Product {
        name: name.to_owned(),
        version: telemetry.resource.version.clone(),
    })
}

/// The command's executable name: `argv[0]`'s base name, or through a wrapper the next
/// argument's (without its extension), unless that says nothing (`cli.js`).
pub(crate) fn executable_name(argv: &[String]) -> Option<String> {
    for arg in argv {
        if arg.starts_with('-') || (arg.contains('=') && !arg.contains('/')) {
            continue;
        }
        let base = arg.rsplit('/').next().unwrap_or(arg);
        let unpinned = base.split('@').find(|s| !s.is_empty()).unwrap_or(base);
        let stem = unpinned.split('.').next().unwrap_or(unpinned);
        let unversioned = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        if WRAPPERS.contains(&unversioned) {
            continue;
        }
        if stem.is_empty() || GENERIC_SCRIPTS.contains(&stem) {
            return None;
        }
        return Some(stem.to_owned());
    }
    None
}

/// The clues gathered so far.
#[derive(Default, Clone)]
pub(crate) struct Clues {
    package: Option<AgentPackage>,
    executable: Option<String>,
    user_agents: BTreeMap<Product, u64>,
    telemetry: BTreeMap<Product, u64>,
}

/// An agent named from the clues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) evidence: String,
    /// Requests that named it (by User-Agent or telemetry).
    pub(crate) requests: u64,
}

impl Clues {
    pub(crate) fn command(&mut self, argv: &[String], package: Option<&AgentPackage>) {
        self.executable = executable_name(argv);
        self.package = package.cloned();
    }

    pub(crate) fn user_agent(&mut self, product: Product) {
        *self.user_agents.entry(product).or_default() += 1;
    }

    pub(crate) fn telemetry(&mut self, product: Product) {
        *self.telemetry.entry(product).or_default() += 1;
    }

    /// The agent the clues name, by the first clue in order of preference.
    pub(crate) fn name(&self) -> Option<Named> {
        let most = |seen: &BTreeMap<Product, u64>| {
            seen.iter()
                .max_by_key(|(p, n)| (**n, std::cmp::Reverse((*p).clone())))
                .map(|(p, _)| p.clone())
        };
        let package = self.package.as_ref().map(|p| {
            let product = Product {
                name: p.name.clone(),
                version: p.version.clone(),
            };
            (product, p.source.clone())
        });
        let candidates = [
            package,
            most(&self.telemetry).map(|p| (p, "telemetry".to_owned())),
            most(&self.user_agents).map(|p| (p, "user-agent".to_owned())),
            self.executable.clone().map(|name| {
                let product = Product {
                    name,
                    version: None,
                };
                (product, "executable name".to_owned())
            }),
        ];
        let all: Vec<&(Product, String)> = candidates.iter().flatten().collect();
        let (first, evidence) = all.first()?;
        let same = |p: &Product| p.name.eq_ignore_ascii_case(&first.name);
        let version = all
            .iter()
            .filter(|(p, _)| same(p))
            .find_map(|(p, _)| p.version.clone());
        let requests = self
            .user_agents
            .iter()
            .chain(&self.telemetry)
            .filter(|(p, _)| same(p))
            .map(|(_, n)| n)
            .sum();
        Some(Named {
            name: first.name.clone(),
            version,
            evidence: evidence.clone(),
            requests,
        })
    }
}

#[cfg(test)]
#[path = "named_tests.rs"]
mod tests;
