//! The endpoints an agent was configured with, read from its environment by variable name:
//! `*_BASE_URL`, `*_API_BASE`, `*_API_BASE_URL`, `*_API_URL`, `*_ENDPOINT` and `*_HOST`
//! (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, `OLLAMA_HOST`, `GOOGLE_GEMINI_BASE_URL`, …),
//! whatever the agent. OpenTelemetry's own `OTEL_*` variables name a collector, not an LLM,
//! and are left out.
//!
//! A value is an `http(s)://` URL or a bare `host[:port]`; its userinfo is dropped (a URL is
//! also redacted as one when the capture header is written). The unspecified addresses
//! (`0.0.0.0`, `::`: a server's bind address) are not endpoints.

use crate::target::split_authority;

/// Variable-name endings that name an endpoint.
const SUFFIXES: &[&str] = &[
    "_BASE_URL",
    "_API_BASE",
    "_API_BASE_URL",
    "_API_URL",
    "_ENDPOINT",
    "_HOST",
];

/// A configured endpoint: the URL as configured without userinfo, and its authority
/// (`host[:port]`, the port only when one was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) authority: String,
}

/// Whether a variable's name says it holds an endpoint.
pub(crate) fn is_endpoint_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !upper.starts_with("OTEL_") && SUFFIXES.iter().any(|s| upper.ends_with(s))
}

/// The endpoint a variable's value names, if it names one.
pub(crate) fn endpoint(value: &str) -> Option<Endpoint> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, value),
    };
    if scheme
        .as_deref()
        .is_some_and(|s| s != "http" && s != "https")
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, _) = split_authority(authority, 0);
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
        && host.contains(|c: char| c.is_ascii_alphabetic() || c == '.' || c == ':');
    let unspecified = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    if !valid || unspecified {
        return None;
    }
    let url = match scheme {
        Some(scheme) => format!("{scheme}://{authority}{path}"),
        None => format!("{authority}{path}"),
    };
    Some(Endpoint {
        url: url.trim_end_matches('/').to_owned(),
        authority: authority.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognised_by_pattern() {
        for name in [
            "OPENAI_BASE_URL",
            "ANTHROPIC_BASE_URL",
            "OLLAMA_HOST",
            "GOOGLE_GEMINI_BASE_URL",
            "AZURE_OPENAI_ENDPOINT",
            "ACME_API_BASE",
        ] {
            assert!(is_endpoint_env_name(name), "{name}");
        }
        for name in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "HOSTNAME",
            "HTTP_PROXY",
            "PATH",
        ] {
            assert!(!is_endpoint_env_name(name), "{name}");
        }
    }

    #[test]
    fn values_give_url_and_authority_without_userinfo() {
        let e = endpoint("https://bob:s3cret@llm.corp.internal:8443/v1/").expect("endpoint");
        assert_eq!(e.url, "https://llm.corp.internal:8443/v1");
        assert_eq!(e.authority, "llm.corp.internal:8443");
        let e = endpoint("127.0.0.1:11434").expect("bare");
        assert_eq!(
            (e.url.as_str(), e.authority.as_str()),
            ("127.0.0.1:11434", "127.0.0.1:11434")
        );
        assert_eq!(endpoint("0.0.0.0"), None);
        assert_eq!(endpoint("unix:///var/run/docker.sock"), None);
        assert_eq!(endpoint("8080"), None);
        assert_eq!(endpoint(""), None);
    }
}
