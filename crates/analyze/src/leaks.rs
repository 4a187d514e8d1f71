//! The leak finder: the capture's markers (paths, names, git remotes, secrets by fingerprint)
//! found in what left the machine, per host and place; credentials that reached more than one
//! site; and the user's prompt sent to a host other than the configured LLM provider.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;
use memchr::memmem::Finder;

use phonehome_record::{BodyEncoding, Markers, Redactor};
use serde::Serialize;

use crate::event::Exchange;
use phonehome_record::is_loopback;

/// Names too common to report when they appear in traffic.
const COMMON_NAMES: &[&str] = &[
    "root",
    "user",
    "admin",
    "runner",
    "ubuntu",
    "debian",
    "localhost",
    "vm",
];
/// Prompts shorter than this would match ordinary text.
const MIN_PROMPT: usize = 16;
/// The part of a prompt searched for elsewhere.
const PROMPT_PROBE: usize = 120;
const MAX_PROMPTS: usize = 200;

/// A marker found in a request to a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    pub host: String,
    /// `cwd`, `home`, `user`, `hostname`, `git_remote`, `git_user`, `git_email`,
    /// `llm_endpoint`, `llm_host` (see `docs/capture-format.md`), `env` or `sensitive`.
    pub kind: String,
    /// The marker as shown: a path, a name, or an environment variable's name.
    pub marker: String,
    /// `url`, `header <name>` or `body`.
    pub place: String,
    pub requests: u64,
    /// Expected: the configured LLM provider (which needs the workspace context) or loopback.
    pub expected: bool,
}

/// The prompt of the LLM conversation found in requests to another host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptLeak {
    pub host: String,
    pub requests: u64,
}

/// One credential (by fingerprint) and where it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialUse {
    pub fingerprint: String,
    /// The environment variable it came from, when known.
    pub source: Option<String>,
    /// The header that carried it first.
    pub header: String,
    /// The host it was sent to most: taken as its issuer.
    pub issuer: String,
    /// Host → requests.
    pub hosts: BTreeMap<String, u64>,
    /// Sites other than the issuer's that received it.
    pub elsewhere: Vec<String>,
}

struct Needle {
    kind: String,
    shown: String,
    /// The value as it may appear, each with its searcher built once.
    variants: Vec<Finder<'static>>,
    whole_word: bool,
    /// A secret: in a credential header it is being used, not leaked (reuse across sites is
    /// reported with the credentials).
    secret: bool,
}

/// What to look for: the capture's markers as they may appear in a request. Read by many
/// threads at once.
#[derive(Default)]
pub struct Needles {
    needles: Vec<Needle>,
    /// Fingerprint → the secret's name.
    secret_names: BTreeMap<String, String>,
}

impl Needles {
    /// The needles of a capture's markers (its `capture` record).
    pub fn new(markers: &Markers) -> Self {
        let mut needles = Needles::default();
        for marker in &markers.values {
            let whole_word = matches!(marker.kind.as_str(), "user" | "hostname" | "git_user");
            if whole_word
                && (marker.value.len() < 3 || COMMON_NAMES.contains(&marker.value.as_str()))
            {
                continue;
            }
            if marker.value.len() < 2 || marker.value == "/" {
                continue;
            }
            needles.needles.push(Needle {
                kind: marker.kind.clone(),
                shown: marker.value.clone(),
                variants: finders(variants(&marker.value)),
                whole_word,
                secret: false,
            });
        }
        for secret in &markers.secrets {
            let redacted = phonehome_record::redaction_token(&secret.fingerprint);
            needles
                .secret_names
                .insert(secret.fingerprint.clone(), secret.name.clone());
            needles.needles.push(Needle {
                kind: secret.kind.clone(),
                shown: secret.name.clone(),
                variants: finders(vec![
                    redacted.clone(),
                    redacted.replace('[', "%5B").replace(']', "%5D"),
                ]),
                whole_word: false,
                secret: true,
            });
        }
        needles
    }

    /// Where the markers and credentials appear in one exchange's request.
    pub(crate) fn scan(&self, x: &Exchange) -> LeakHits {
        let credentials: Vec<Option<&str>> = x
            .request_headers
            .iter()
            .map(|(name, value)| Redactor::credential(name, value))
            .collect();
        let body = x
            .request_body
            .as_ref()
            .filter(|b| b.encoding == BodyEncoding::Utf8);
        let mut hits = LeakHits::default();
        for (i, needle) in self.needles.iter().enumerate() {
            if contains_any(&x.url, needle) {
                hits.places.push((i, "url".to_owned()));
            }
            for ((name, value), credential) in x.request_headers.iter().zip(&credentials) {
                let in_use = needle.secret && credential.is_some();
                if !in_use && contains_any(value, needle) {
                    hits.places.push((i, format!("header {name}")));
                }
            }
            if body.is_some_and(|b| contains_any(&b.data, needle)) {
                hits.places.push((i, "body".to_owned()));
            }
        }
        for ((name, _), credential) in x.request_headers.iter().zip(credentials) {
            let Some(credential) = credential else {
                continue;
            };
            let fingerprint = phonehome_record::parse_redaction_token(credential).map_or_else(
                || phonehome_record::fingerprint_hex(credential),
                str::to_owned,
            );
            hits.credentials
                .push((fingerprint, name.to_ascii_lowercase()));
        }
        hits
    }
}

impl Needles {
    /// The markers found in one exchange's request, one hit per marker and place (a
    /// credential in its own credential header is in use, not leaked, and is not a hit).
    pub fn hits(&self, x: &Exchange) -> Vec<MarkerHit> {
        self.scan(x)
            .places
            .into_iter()
            .map(|(i, place)| {
                let needle = &self.needles[i];
                MarkerHit {
                    kind: needle.kind.clone(),
                    marker: needle.shown.clone(),
                    place,
                }
            })
            .collect()
    }
}

/// One marker found in one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkerHit {
    /// `cwd`, `home`, `user`, `hostname`, `git_remote`, `git_user`, `git_email`,
    /// `llm_endpoint`, `llm_host` (see `docs/capture-format.md`), `env` or `sensitive`.
    pub kind: String,
    /// The marker as shown: a path, a name, or an environment variable's name.
    pub marker: String,
    /// `url`, `header <name>` or `body`.
    pub place: String,
}

fn finders(variants: Vec<String>) -> Vec<Finder<'static>> {
    variants
        .iter()
        .map(|v| Finder::new(v.as_bytes()).into_owned())
        .collect()
}

/// What [`Needles::scan`] found in one request.
#[derive(Default)]
pub(crate) struct LeakHits {
    /// (needle, place), in the order found.
    places: Vec<(usize, String)>,
    /// (fingerprint, header name lowercase) of each credential header.
    credentials: Vec<(String, String)>,
}

/// Markers and credentials found so far, per host.
#[derive(Default)]
pub(crate) struct LeakFinder {
    /// Host → (needle, place) → requests.
    found: HashMap<String, BTreeMap<(usize, String), u64>>,
    /// Fingerprint → (header, host → count).
    credentials: BTreeMap<String, (String, BTreeMap<String, u64>)>,
}

impl LeakFinder {
    /// Counts what [`Needles::scan`] found in a request to `host`.
    pub(crate) fn add(&mut self, host: &str, hits: LeakHits) {
        if !hits.places.is_empty() && !self.found.contains_key(host) {
            self.found.insert(host.to_owned(), BTreeMap::new());
        }
        for (i, place) in hits.places {
            let places = self.found.get_mut(host).expect("inserted above");
            *places.entry((i, place)).or_default() += 1;
        }
        for (fingerprint, header) in hits.credentials {
            let entry = self
                .credentials
                .entry(fingerprint)
                .or_insert_with(|| (header, BTreeMap::new()));
            match entry.1.get_mut(host) {
                Some(n) => *n += 1,
                None => {
                    entry.1.insert(host.to_owned(), 1);
                }
            }
        }
    }

    pub(crate) fn finish(
        self,
        needles: &Needles,
        provider: Option<&str>,
    ) -> (Vec<Leak>, Vec<CredentialUse>) {
        let found: BTreeMap<(String, usize, String), u64> = self
            .found
            .into_iter()
            .flat_map(|(host, places)| {
                places
                    .into_iter()
                    .map(move |((i, place), n)| ((host.clone(), i, place), n))
            })
            .collect();
        let leaks = found
            .into_iter()
            .map(|((host, i, place), requests)| {
                let needle = &needles.needles[i];
                Leak {
                    expected: provider == Some(host.as_str()) || is_loopback(&host),
                    host,
                    kind: needle.kind.clone(),
                    marker: needle.shown.clone(),
                    place,
                    requests,
                }
            })
            .collect();
        let credentials = self
            .credentials
            .into_iter()
            .map(|(fingerprint, (header, hosts))| {
                let issuer = hosts
                    .iter()
                    .max_by_key(|(h, n)| (**n, std::cmp::Reverse((*h).clone())))
                    .map(|(h, _)| h.clone())
                    .unwrap_or_default();
                let issuer_site = site(&issuer);
                let elsewhere: BTreeSet<String> = hosts
                    .keys()
                    .filter(|h| site(h) != issuer_site && !is_loopback(h))
                    .cloned()
                    .collect();
                CredentialUse {
                    source: needles.secret_names.get(&fingerprint).cloned(),
                    fingerprint,
                    header,
                    issuer,
                    hosts,
                    elsewhere: elsewhere.into_iter().collect(),
                }
            })
            .collect();
        (leaks, credentials)
    }
}

/// The markers worth looking for: all but the configured endpoints of public LLM providers
/// (hosts the catalog lists as `llm-api`), which say nothing about the user.
pub fn private_markers(markers: &Markers, catalog: &phonehome_catalog::Catalog) -> Markers {
    let public = |m: &phonehome_record::Marker| {
        let authority = m
            .value
            .split_once("://")
            .map_or(m.value.as_str(), |(_, r)| r);
        let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = phonehome_record::split_authority(authority, 443);
        matches!(m.kind.as_str(), "llm_endpoint" | "llm_host")
            && !is_loopback(host)
            && catalog
                .lookup(host, port)
                .is_some_and(|e| e.purpose == phonehome_catalog::Purpose::LlmApi)
    };
    Markers {
        values: markers
            .values
            .iter()
            .filter(|m| !public(m))
            .cloned()
            .collect(),
        secrets: markers.secrets.clone(),
    }
}

/// The registrable part of a host, approximately: its last two labels.
pub(crate) fn site(host: &str) -> String {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host.to_owned();
    }
    let labels: Vec<&str> = host.split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".")
}

/// A value as it may appear in a request: plain, URL-encoded (whole, or keeping `/`), and
/// JSON-escaped.
fn variants(value: &str) -> Vec<String> {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const PATH: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let json = serde_json::to_string(value).unwrap_or_default();
    let mut out = vec![
        value.to_owned(),
        utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(value, PATH).to_string(),
        json.trim_matches('"').to_owned(),
        json.trim_matches('"').replace('/', "\\/"),
    ];
    out.sort();
    out.dedup();
    out
}

fn contains_any(haystack: &str, needle: &Needle) -> bool {
    needle.variants.iter().any(|v| {
        if !needle.whole_word {
            return v.find(haystack.as_bytes()).is_some();
        }
        v.find_iter(haystack.as_bytes()).any(|i| {
            let before = haystack[..i].chars().next_back();
            let after = haystack[i + v.needle().len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

/// The user's prompts, to look for in requests to other hosts (a second pass).
#[derive(Default)]
pub(crate) struct PromptSearch {
    /// Host the prompts were sent to → their first characters.
    prompts: BTreeMap<String, BTreeSet<String>>,
    /// Prompts kept, over all hosts.
    count: usize,
}

impl PromptSearch {
    pub(crate) fn add(&mut self, host: &str, prompt: String) {
        let prompt = prompt.trim();
        if prompt.len() < MIN_PROMPT || self.count >= MAX_PROMPTS {
            return;
        }
        let end = prompt
            .char_indices()
            .nth(PROMPT_PROBE)
            .map_or(prompt.len(), |(i, _)| i);
        let probe = &prompt[..end];
        // An agent sends the same prompt again and again: copied only the first time.
        if self.prompts.get(host).is_some_and(|p| p.contains(probe)) {
            return;
        }
        let added = match self.prompts.get_mut(host) {
            Some(probes) => probes.insert(probe.to_owned()),
            None => self
                .prompts
                .entry(host.to_owned())
                .or_default()
                .insert(probe.to_owned()),
        };
        self.count += usize::from(added);
    }

    /// A search for the prompts sent to `provider` in requests to other hosts, when there is
    /// anything to find.
    pub(crate) fn search(&self, provider: Option<&str>) -> Option<PromptFinder> {
        let provider = provider?;
        let prompts = self.prompts.get(provider).into_iter().flatten();
        PromptFinder::of(provider, prompts.map(String::as_str))
    }
}

impl PromptFinder {
    /// A search for `texts` (as written, and JSON-escaped) in the request bodies sent to hosts
    /// other than `provider` and loopback; `None` when there is nothing to look for.
    pub(crate) fn of<'a>(provider: &str, texts: impl Iterator<Item = &'a str>) -> Option<Self> {
        let probes: Vec<String> = texts
            .flat_map(|p| {
                let json = serde_json::to_string(p).unwrap_or_default();
                [p.to_owned(), json.trim_matches('"').to_owned()]
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if probes.is_empty() {
            return None;
        }
        let line_probes = probes
            .iter()
            .map(|p| {
                let escaped = serde_json::to_string(p).unwrap_or_default();
                Finder::new(escaped.trim_matches('"').as_bytes()).into_owned()
            })
            .collect();
        Some(PromptFinder {
            line_probes,
            provider: provider.to_owned(),
            probes: probes
                .iter()
                .map(|p| Finder::new(p.as_bytes()).into_owned())
                .collect(),
        })
    }
}

/// The prompts sent to the provider, to look for in requests to other hosts. Read by many
/// threads at once.
pub(crate) struct PromptFinder {
    /// The probes as they appear in a capture's raw line (escaped once more).
    line_probes: Vec<Finder<'static>>,
    provider: String,
    probes: Vec<Finder<'static>>,
}

impl PromptFinder {
    /// Whether a raw capture line may hold a prompt (checked before parsing it).
    pub(crate) fn line_may_match(&self, line: &[u8]) -> bool {
        self.line_probes.iter().any(|p| p.find(line).is_some())
    }

    /// Whether `host` is elsewhere than the provider (and not loopback): where a prompt is a
    /// leak.
    pub(crate) fn is_elsewhere(&self, host: &str) -> bool {
        self.provider != host && !is_loopback(host)
    }

    /// Whether a request to `host` with this body sent a prompt elsewhere than to the
    /// provider.
    pub(crate) fn sent_elsewhere(&self, host: &str, body: Option<(BodyEncoding, &str)>) -> bool {
        if !self.is_elsewhere(host) {
            return false;
        }
        let Some((BodyEncoding::Utf8, data)) = body else {
            return false;
        };
        self.probes
            .iter()
            .any(|p| p.find(data.as_bytes()).is_some())
    }

    /// [`PromptFinder::sent_elsewhere`] for an exchange.
    pub(crate) fn exchange(&self, x: &Exchange) -> bool {
        let body = x.request_body.as_ref();
        self.sent_elsewhere(&x.host, body.map(|b| (b.encoding, b.data.as_str())))
    }
}

/// The LLM host seen in the capture's LLM calls, found in request bodies to other hosts: a
/// leak of kind `llm_host` (looked for when the catalog does not list it as a public LLM API).
pub(crate) fn provider_host_leaks(authority: &str, found: Vec<PromptLeak>) -> Vec<Leak> {
    found
        .into_iter()
        .map(|f| Leak {
            host: f.host,
            kind: "llm_host".to_owned(),
            marker: authority.to_owned(),
            place: "body".to_owned(),
            requests: f.requests,
            expected: false,
        })
        .collect()
}

/// The prompt leaks of the hosts found by a [`PromptFinder`], with their requests.
pub(crate) fn prompt_leaks(found: BTreeMap<String, u64>) -> Vec<PromptLeak> {
    found
        .into_iter()
        .map(|(host, requests)| PromptLeak { host, requests })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_cover_encodings() {
        let v = variants("/home/ann/my project");
        assert!(v.contains(&"/home/ann/my project".to_owned()));
        assert!(v.contains(&"%2Fhome%2Fann%2Fmy%20project".to_owned()));
        assert!(v.contains(&"/home/ann/my%20project".to_owned()));
        assert!(v.contains(&"\\/home\\/ann\\/my project".to_owned()));
    }

    #[test]
    fn names_match_as_whole_words_only() {
        let needle = Needle {
            kind: "user".into(),
            shown: "ann".into(),
            variants: finders(vec!["ann".into()]),
            whole_word: true,
            secret: false,
        };
        assert!(contains_any("owner: ann.", &needle));
        assert!(!contains_any("annotation", &needle));
    }

    #[test]
    fn sites() {
        assert_eq!(site("api.openai.com"), "openai.com");
        assert_eq!(site("127.0.0.1"), "127.0.0.1");
    }
}
