//! The flow list's filter, as the page's URL says it
//! (`#flows?q=…&kind=…&host=…&conn=…&t0=…&t1=…`)
//! and the API's query string takes it. The exported page applies the same rules in its script
//! (assets/data.js, `matches`).

use phonehome_record::ConnId;

use percent_encoding::percent_decode_str;
use phonehome_viewer::{RowKind, RowRef};

/// Which rows to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    /// Lowercase text any of the row's fields contains (the viewer's search).
    pub(crate) q: String,
    /// `llm`, `failed`, `blocked`, `sinkholed`, or empty for all.
    pub(crate) kind: String,
    /// Exactly this host.
    pub(crate) host: String,
    /// Only the rows of this connection.
    pub(crate) conn: Option<ConnId>,
    /// From this time of day (milliseconds since midnight UTC), inclusive.
    pub(crate) t0: Option<u32>,
    /// To this time of day, exclusive.
    pub(crate) t1: Option<u32>,
}

/// The value of `name` in a query string (`a=1&b=2`), percent-decoded (`+` as a space).
pub(crate) fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

impl Filter {
    pub(crate) fn from_query(query: &str) -> Filter {
        let value = |name| query_value(query, name).unwrap_or_default();
        Filter {
            q: value("q").trim().to_lowercase(),
            kind: value("kind"),
            host: value("host"),
            conn: value("conn").parse().ok().map(ConnId),
            t0: value("t0").parse().ok(),
            t1: value("t1").parse().ok(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    pub(crate) fn matches(&self, row: RowRef<'_>) -> bool {
        let kind = match self.kind.as_str() {
            "llm" => row.llm(),
            "failed" => row.failed(),
            "blocked" => row.kind() == RowKind::Blocked,
            "sinkholed" => row.sinkhole().is_some(),
            _ => true,
        };
        let t = row.time_ms();
        kind && (self.host.is_empty() || row.host() == self.host)
            && self.conn.is_none_or(|c| row.conn() == Some(c))
            && self.t0.is_none_or(|t0| t >= t0)
            && self.t1.is_none_or(|t1| t < t1)
            && (self.q.is_empty() || row.contains(&self.q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_query_string() {
        let f = Filter::from_query("q=Chat%20Completions&kind=llm&host=a.test&conn=7&t0=5&t1=x");
        assert_eq!(f.conn, Some(ConnId(7)));
        assert_eq!(f.q, "chat completions");
        assert_eq!(f.kind, "llm");
        assert_eq!(f.host, "a.test");
        assert_eq!((f.t0, f.t1), (Some(5), None));
        assert!(Filter::from_query("from=3").is_empty());
        assert_eq!(query_value("a=1+2&b", "a").as_deref(), Some("1 2"));
        assert_eq!(query_value("a=1&b", "b").as_deref(), Some(""));
    }
}
