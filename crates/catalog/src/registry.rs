//! Package registries recognised by their protocol, whatever the host: public registries,
//! mirrors and corporate registries alike.
//!
//! - npm (the registry API): package metadata `GET /<name>` and `GET /@scope%2f<name>` with an
//!   npm-style `accept` or client; tarballs `GET /<name>/-/<file>-<version>.tgz`.
//! - PyPI: the simple index `GET /simple/<name>/` (PEP 503 / PEP 691), the JSON API
//!   `GET /pypi/<name>[/<version>]/json`, and distribution files (wheels per PEP 427 names,
//!   sdists `<name>-<version>.tar.gz`).
//! - Cargo: the sparse index (RFC 2789 layout `1/`, `2/`, `3/a/`, `ab/cd/`) and crate downloads
//!   `/api/v1/crates/<name>/<version>/download` or `/<name>/<name>-<version>.crate`.

use serde::Serialize;

/// Which package ecosystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Npm,
    PyPI,
    Cargo,
}

impl std::fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Cargo => "Cargo",
        })
    }
}

/// What kind of registry request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// Package metadata or an index entry (which versions exist).
    Metadata,
    /// A package archive.
    Download,
}

/// A package a request was about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PackageRef {
    pub ecosystem: Ecosystem,
    pub kind: PackageKind,
    pub name: String,
    /// Known for downloads.
    pub version: Option<String>,
}

impl PackageRef {
    /// `name@version`, or the name alone.
    pub fn label(&self) -> String {
        match &self.version {
            Some(version) => format!("{}@{version}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Recognises a registry request by method, path (without query) and request headers.
pub fn recognise_package(
    method: &str,
    path: &str,
    headers: &[(String, String)],
) -> Option<PackageRef> {
    if !method.eq_ignore_ascii_case("GET") {
        return None;
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default()
    };
    let user_agent = header("user-agent");
    npm(path, &header("accept"), &user_agent)
        .or_else(|| pypi(path))
        .or_else(|| cargo(path, &user_agent, &header("cargo-protocol")))
}

const NPM_CLIENTS: &[&str] = &["npm/", "pnpm/", "yarn/", "bun/", "node-fetch"];

fn npm(path: &str, accept: &str, user_agent: &str) -> Option<PackageRef> {
    // Most paths have no escapes at all: copied only when they do.
    let decoded = match path.contains('%') {
        true => std::borrow::Cow::Owned(
            path.replace("%2f", "/")
                .replace("%2F", "/")
                .replace("%40", "@"),
        ),
        false => std::borrow::Cow::Borrowed(path),
    };
    let parts: Vec<&str> = decoded.trim_start_matches('/').split('/').collect();
    let (name, rest) = match parts.as_slice() {
        [scope, name, rest @ ..] if scope.starts_with('@') && !scope.is_empty() => {
            (format!("{scope}/{name}"), rest)
        }
        [name, rest @ ..] if !name.is_empty() && !name.starts_with('-') => {
            ((*name).to_owned(), rest)
        }
        _ => return None,
    };
    if !valid_npm_name(&name) {
        return None;
    }
    match rest {
        ["-", file] if file.ends_with(".tgz") => {
            let base = name.rsplit('/').next().unwrap_or(&name);
            let version = file
                .strip_suffix(".tgz")?
                .strip_prefix(base)?
                .strip_prefix('-')?;
            Some(PackageRef {
                ecosystem: Ecosystem::Npm,
                kind: PackageKind::Download,
                name,
                version: Some(version.to_owned()),
            })
        }
        [] if accept.contains("application/vnd.npm.install-v1+json")
            || NPM_CLIENTS.iter().any(|c| user_agent.starts_with(c)) =>
        {
            Some(PackageRef {
                ecosystem: Ecosystem::Npm,
                kind: PackageKind::Metadata,
                name,
                version: None,
            })
        }
        _ => None,
    }
}

fn valid_npm_name(name: &str) -> bool {
    name.len() <= 214
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~@/".contains(c))
}

fn pypi(path: &str) -> Option<PackageRef> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let metadata = |name: &str| PackageRef {
        ecosystem: Ecosystem::PyPI,
        kind: PackageKind::Metadata,
        name: normalize_pypi(name),
        version: None,
    };
    match parts.as_slice() {
        ["simple", name] if !name.is_empty() => return Some(metadata(name)),
        ["pypi", name, "json"] => return Some(metadata(name)),
        ["pypi", name, _version, "json"] => return Some(metadata(name)),
        _ => {}
    }
    if !parts.contains(&"packages") {
        return None;
    }
    let file = parts.last()?;
    let (name, version) = if let Some(stem) = file.strip_suffix(".whl") {
        let mut fields = stem.split('-');
        (fields.next()?, fields.next()?)
    } else {
        let stem = file
            .strip_suffix(".tar.gz")
            .or_else(|| file.strip_suffix(".zip"))?;
        stem.rsplit_once('-')?
    };
    Some(PackageRef {
        ecosystem: Ecosystem::PyPI,
        kind: PackageKind::Download,
        name: normalize_pypi(name),
        version: Some(version.to_owned()),
    })
}

/// PEP 503 name normalisation.
fn normalize_pypi(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn cargo(path: &str, user_agent: &str, protocol: &str) -> Option<PackageRef> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let download = |name: &str, version: &str| PackageRef {
        ecosystem: Ecosystem::Cargo,
        kind: PackageKind::Download,
        name: name.to_owned(),
        version: Some(version.to_owned()),
    };
    if let [.., "api", "v1", "crates", name, version, "download"] = parts.as_slice() {
        return Some(download(name, version));
    }
    if let [.., name, file] = parts.as_slice() {
        if let Some(version) = file
            .strip_suffix(".crate")
            .and_then(|f| f.strip_prefix(*name))
            .and_then(|f| f.strip_prefix('-'))
        {
            return Some(download(name, version));
        }
    }
    if !user_agent.starts_with("cargo") && !protocol.contains("version=1") {
        return None;
    }
    // Sparse index layout: 1/{n}, 2/{n}, 3/{first char}/{n}, {first two}/{next two}/{n}.
    let name = match parts.as_slice() {
        [.., "1", name] if name.len() == 1 => *name,
        [.., "2", name] if name.len() == 2 => *name,
        [.., "3", first, name] if name.len() == 3 && name.starts_with(first) => *name,
        [.., ab, cd, name]
            if name.len() >= 4 && name.get(..2) == Some(*ab) && name.get(2..4) == Some(*cd) =>
        {
            *name
        }
        _ => return None,
    };
    Some(PackageRef {
        ecosystem: Ecosystem::Cargo,
        kind: PackageKind::Metadata,
        name: name.to_owned(),
        version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn npm_metadata_and_tarballs() {
        let accept = h(&[("accept", "application/vnd.npm.install-v1+json; q=1.0, */*")]);
        let meta = recognise_package("GET", "/@ai-sdk%2fopenai", &accept).expect("npm");
        assert_eq!(
            (meta.name.as_str(), meta.kind),
            ("@ai-sdk/openai", PackageKind::Metadata)
        );
        let tgz =
            recognise_package("GET", "/@ai-sdk/openai/-/openai-1.3.22.tgz", &[]).expect("npm");
        assert_eq!(tgz.label(), "@ai-sdk/openai@1.3.22");
        let plain = recognise_package("GET", "/left-pad/-/left-pad-1.3.0.tgz", &[]).expect("npm");
        assert_eq!(plain.label(), "left-pad@1.3.0");
        assert_eq!(recognise_package("GET", "/v1/models", &[]), None);
        assert_eq!(
            recognise_package("POST", "/left-pad/-/left-pad-1.3.0.tgz", &[]),
            None
        );
    }

    #[test]
    fn pypi_index_and_files() {
        let index = recognise_package("GET", "/simple/Requests_Toolbelt/", &[]).expect("pypi");
        assert_eq!(
            (index.name.as_str(), index.ecosystem),
            ("requests-toolbelt", Ecosystem::PyPI)
        );
        let wheel = recognise_package(
            "GET",
            "/packages/ab/cd/ef/requests-2.32.3-py3-none-any.whl",
            &[],
        )
        .expect("pypi");
        assert_eq!(wheel.label(), "requests@2.32.3");
        let sdist = recognise_package("GET", "/packages/source/s/six/six-1.16.0.tar.gz", &[])
            .expect("pypi");
        assert_eq!(sdist.label(), "six@1.16.0");
    }

    #[test]
    fn cargo_sparse_index_and_downloads() {
        let ua = h(&[("user-agent", "cargo/1.95.0 (f2d3ce0bd 2026-03-21)")]);
        assert_eq!(
            recognise_package("GET", "/index/se/rd/serde", &ua).map(|p| p.name),
            Some("serde".into())
        );
        assert_eq!(
            recognise_package("GET", "/3/s/syn", &ua).map(|p| p.name),
            Some("syn".into())
        );
        assert_eq!(
            recognise_package("GET", "/se/rd/serde", &[]),
            None,
            "needs a cargo client"
        );
        let dl =
            recognise_package("GET", "/api/v1/crates/serde/1.0.229/download", &[]).expect("cargo");
        assert_eq!(dl.label(), "serde@1.0.229");
        let file = recognise_package("GET", "/serde/serde-1.0.229.crate", &[]).expect("cargo");
        assert_eq!(
            (file.ecosystem, file.label()),
            (Ecosystem::Cargo, "serde@1.0.229".to_owned())
        );
    }
}
