//! The upstream HTTP proxy phonehome itself goes through (`--upstream-proxy`, or the
//! `HTTPS_PROXY`/`HTTP_PROXY` phonehome was started with) and the hosts that bypass it
//! (`NO_PROXY`, matched by hyper-util's proxy [`Matcher`], curl's rules).

use hyper_util::client::proxy::matcher::Matcher;
use phonehome_record::Target;

use crate::tls::trust::TrustError;

/// An HTTP proxy that carries every outbound connection through CONNECT.
#[derive(Debug, Clone)]
pub struct UpstreamProxy {
    pub host: String,
    pub port: u16,
    /// `user:password` for `Proxy-Authorization: Basic`, when the URL carried it.
    pub(crate) credentials: Option<String>,
    /// Which destinations go through the proxy: all but the `NO_PROXY` entries.
    matcher: std::sync::Arc<Matcher>,
}

impl PartialEq for UpstreamProxy {
    fn eq(&self, other: &Self) -> bool {
        (&self.host, self.port, &self.credentials) == (&other.host, other.port, &other.credentials)
    }
}

impl Eq for UpstreamProxy {}

impl UpstreamProxy {
    /// Parses `http://[user:password@]host[:port]` (port 80 by default; `https://` proxies are
    /// not supported).
    ///
    /// # Errors
    /// [`TrustError::Proxy`] naming what is wrong with the URL.
    pub fn parse(url: &str) -> Result<Self, TrustError> {
        let bad = |why| TrustError::Proxy {
            url: url.to_owned(),
            why,
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") | None => {}
            Some(_) => return Err(bad("only http:// upstream proxies are supported")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let credentials = authority
            .as_str()
            .rsplit_once('@')
            .map(|(userinfo, _)| userinfo.to_owned());
        let Target { host, port } =
            Target::from_authority(authority.as_str(), 80).ok_or_else(|| bad("no host"))?;
        let mut proxy = Self {
            host,
            port,
            credentials,
            matcher: std::sync::Arc::new(Matcher::builder().build()),
        };
        proxy.matcher = proxy.matcher_with("");
        Ok(proxy)
    }

    /// Reaches the hosts of a `NO_PROXY` list directly: comma-separated names (each also
    /// matching its subdomains; a leading `.` or `*.` is allowed), IP addresses or networks
    /// (`10.0.0.0/8`), or `*` for all.
    pub fn with_no_proxy(mut self, list: &str) -> Self {
        let entries: Vec<&str> = list
            .split(',')
            .map(|e| e.trim().trim_start_matches("*."))
            .map(|e| e.trim_start_matches('[').split(']').next().unwrap_or(e))
            .filter(|e| !e.is_empty())
            .collect();
        self.matcher = self.matcher_with(&entries.join(","));
        self
    }

    /// hyper-util's `*` matches names only; curl's, and ours, every host, IP addresses too:
    /// a matcher without a proxy sends everything directly.
    fn matcher_with(&self, no_proxy: &str) -> std::sync::Arc<Matcher> {
        if no_proxy.split(',').any(|e| e == "*") {
            return std::sync::Arc::new(Matcher::builder().build());
        }
        let url = format!("http://{}", self.display());
        std::sync::Arc::new(
            Matcher::builder()
                .http(url.clone())
                .https(url)
                .no(no_proxy.to_owned())
                .build(),
        )
    }

    /// Whether `host` is reached directly rather than through this proxy.
    pub fn bypasses(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        let authority = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        match format!("https://{authority}/").parse::<http::Uri>() {
            Ok(uri) => self.matcher.intercept(&uri).is_none(),
            // Not a host a URL can name: nothing to reach through the proxy either.
            Err(_) => true,
        }
    }

    /// `host:port` for display and records.
    pub fn display(&self) -> String {
        Target {
            host: self.host.clone(),
            port: self.port,
        }
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_proxy_urls() {
        let p = UpstreamProxy::parse("http://u:p@corp-proxy.test:3128").expect("parses");
        assert_eq!(p.host, "corp-proxy.test");
        assert_eq!(p.port, 3128);
        assert_eq!(p.credentials.as_deref(), Some("u:p"));
        assert_eq!(
            UpstreamProxy::parse("http://[::1]").expect("parses").port,
            80
        );
        assert!(UpstreamProxy::parse("https://x.test:1").is_err());
        assert!(UpstreamProxy::parse("::").is_err());
    }

    #[test]
    fn no_proxy_matching() {
        let p = UpstreamProxy::parse("http://p.test:1")
            .expect("parses")
            .with_no_proxy("localhost, .corp.test,*.internal,127.0.0.1,[::1]");
        assert!(p.bypasses("localhost"));
        assert!(p.bypasses("a.corp.test"));
        assert!(p.bypasses("corp.test"));
        assert!(p.bypasses("x.y.internal"));
        assert!(p.bypasses("127.0.0.1"));
        assert!(p.bypasses("::1"));
        assert!(!p.bypasses("notcorp.test"));
        assert!(!p.bypasses("api.example.test"));
        assert!(UpstreamProxy::parse("http://p.test:1")
            .expect("parses")
            .with_no_proxy("*")
            .bypasses("x"));
        assert!(UpstreamProxy::parse("http://p.test:1")
            .expect("parses")
            .with_no_proxy("a.test,*")
            .bypasses("192.0.2.1"));
        let p = UpstreamProxy::parse("http://p.test:1")
            .expect("parses")
            .with_no_proxy("10.0.0.0/8");
        assert!(p.bypasses("10.1.2.3") && !p.bypasses("192.0.2.1"));
    }
}
