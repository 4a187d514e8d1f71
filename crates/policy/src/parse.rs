//! A policy file (TOML) into a [`Policy`]: its rules compiled (host, path and executable
//! globs; purposes; methods), each labelled with the file and line it came from.

use std::collections::HashMap;
use std::sync::Mutex;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use phonehome_catalog::{Purpose, TomlSyntax};
use serde::Deserialize;

use crate::{Action, Policy, PolicyError, Rule};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default = "allow")]
    default: Action,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleFile>>,
}

fn allow() -> Action {
    Action::Allow
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    action: Action,
    hosts: Option<Vec<String>>,
    purposes: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    /// Globs on the connecting process's executable path.
    exe: Option<Vec<String>>,
    /// Whether the connecting process is the agent's own (see `process.rs`).
    own: Option<bool>,
}

/// See [`Policy::parse`].
pub(crate) fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
    let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax {
        origin: origin.to_owned(),
        detail: TomlSyntax::new(text, &e),
    })?;
    let mut globs = GlobSetBuilder::new();
    let mut owners = Vec::new();
    let mut rules = Vec::new();
    for (index, spanned) in file.rule.iter().enumerate() {
        let line = text[..spanned.span().start.min(text.len())]
            .matches('\n')
            .count()
            + 1;
        let bad = |message: String| PolicyError::Rule {
            origin: origin.to_owned(),
            rule: index + 1,
            line,
            message,
        };
        let rule = spanned.get_ref();
        for host in rule.hosts.iter().flatten() {
            globs.add(glob(&host.to_ascii_lowercase()).map_err(&bad)?);
            owners.push(index);
        }
        let mut compiled = compile(rule).map_err(bad)?;
        compiled.label = format!(
            "rule {} ({origin} line {line}: {})",
            index + 1,
            describe(rule)
        );
        rules.push(compiled);
    }
    let hosts = globs.build().map_err(|source| PolicyError::Hosts {
        origin: origin.to_owned(),
        source,
    })?;
    let hostless = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.any_host)
        .map(|(i, _)| i)
        .collect();
    Ok(Policy {
        hostless,
        name: origin.to_owned(),
        default: file.default,
        process_rules: rules.iter().any(|r| r.exe.is_some() || r.own.is_some()),
        rules,
        hosts,
        owners,
        cache: Mutex::new(HashMap::new()),
    })
}

/// One rule's conditions, compiled (its label is set by the caller).
fn compile(rule: &RuleFile) -> Result<Rule, String> {
    let purposes = rule
        .purposes
        .iter()
        .flatten()
        .map(|p| Purpose::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let paths = rule.paths.as_deref().map(glob_set).transpose()?;
    let exe = rule.exe.as_deref().map(glob_set).transpose()?;
    let methods: Vec<String> = rule
        .methods
        .iter()
        .flatten()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    let per_request =
        !methods.is_empty() || paths.is_some() || purposes.contains(&Purpose::PackageRegistry);
    Ok(Rule {
        action: rule.action,
        any_host: rule.hosts.is_none(),
        purposes,
        methods,
        paths,
        exe,
        own: rule.own,
        per_request,
        label: String::new(),
    })
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, String> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        set.add(glob(pattern)?);
    }
    set.build().map_err(|e| e.to_string())
}

fn glob(pattern: &str) -> Result<globset::Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map_err(|e| format!("invalid pattern {pattern:?}: {}", e.kind()))
}

fn describe(rule: &RuleFile) -> String {
    let mut parts = vec![rule.action.as_str().to_owned()];
    let list = |name: &str, values: &Option<Vec<String>>| {
        values.as_ref().map(|v| format!("{name} {:?}", v))
    };
    parts.extend(list("hosts", &rule.hosts));
    parts.extend(list("purposes", &rule.purposes));
    parts.extend(list("methods", &rule.methods));
    parts.extend(list("paths", &rule.paths));
    parts.extend(list("exe", &rule.exe));
    parts.extend(rule.own.map(|own| format!("own {own}")));
    parts.join(" ")
}
