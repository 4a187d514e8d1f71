//! The served page's JSON API over one capture: the summary (built in the background, rebuilt
//! while a live capture grows), pages of the flow list from the viewer's index (filtered, the
//! last filter's matches kept), and one row's detail.
//!
//! | path | answer |
//! |---|---|
//! | `api/summary` | `{live, pending, index: {rows, done, failure, bad_lines}, result: {summary} \| {error}}` |
//! | `api/flows?from&count&q&kind&host&t0&t1` | `{total, matched, from, rows: [row…]}` |
//! | `api/flow/{i}` | `{row, records, conversation, problems}` |
//! | `api/har?q&kind&host&conn&t0&t1` | the filter's flows as HAR 1.2 (a download) |

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use phonehome_catalog::Catalog;
use phonehome_viewer::Index;
use serde_json::json;

use phonehome_record::FlowId;

use crate::detail::Detail;
use crate::filter::{query_value, Filter};
use crate::rows::RowJson;
use crate::summary::Summary;

/// Rows one `api/flows` answer carries at most.
const MAX_PAGE: usize = 1000;
/// A live capture's summary is rebuilt at most this often.
const REBUILD_EVERY: Duration = Duration::from_secs(2);

/// One capture being served.
pub(crate) struct Capture {
    pub(crate) path: PathBuf,
    pub(crate) index: Index,
    pub(crate) live: bool,
    catalog: Catalog,
    /// The other input of `--diff`.
    diff: Option<PathBuf>,
    summary: Mutex<SummarySlot>,
    filtered: Mutex<Option<Filtered>>,
}

#[derive(Default)]
struct SummarySlot {
    building: bool,
    /// The index generation the last build started at.
    generation: u64,
    started: Option<Instant>,
    /// `{"summary": …}` or `{"error": "…"}`.
    result: Option<Arc<String>>,
}

/// The rows the last filter matched, at an index generation.
struct Filtered {
    filter: Filter,
    generation: u64,
    rows: Vec<u32>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Capture {
    /// Starts indexing `path` (following it when `live`).
    /// With `diff`, the summary carries the diff of `path` against that input.
    pub(crate) fn open(
        path: &Path,
        catalog: Catalog,
        live: bool,
        diff: Option<PathBuf>,
    ) -> Arc<Capture> {
        Arc::new(Capture {
            path: path.to_owned(),
            index: Index::open(path, live),
            live,
            catalog,
            diff,
            summary: Mutex::new(SummarySlot::default()),
            filtered: Mutex::new(None),
        })
    }

    /// The summary as built so far; starts a build when there is none, or when a live
    /// capture has grown since the last.
    pub(crate) fn summary(self: &Arc<Self>) -> String {
        let (rows, done, failure, bad_lines, generation) = {
            let data = self.index.lock();
            (
                data.len(),
                data.done,
                data.failure.clone(),
                data.bad_lines.iter().take(20).cloned().collect::<Vec<_>>(),
                data.generation,
            )
        };
        let mut slot = lock(&self.summary);
        let stale = slot.result.is_none()
            || (self.live
                && slot.generation != generation
                && slot.started.is_none_or(|t| t.elapsed() >= REBUILD_EVERY));
        if stale && !slot.building {
            slot.building = true;
            slot.generation = generation;
            slot.started = Some(Instant::now());
            let capture = self.clone();
            std::thread::spawn(move || capture.build_summary());
        }
        let index = json!({"rows": rows, "done": done, "failure": failure, "bad_lines": bad_lines});
        format!(
            "{{\"live\":{},\"pending\":{},\"index\":{index},\"result\":{}}}",
            self.live,
            slot.building,
            slot.result.as_deref().map_or("null", String::as_str)
        )
    }

    fn build_summary(&self) {
        let result =
            match Summary::build(&self.path, &self.catalog, self.live, self.diff.as_deref()) {
                Ok(summary) => serde_json::to_string(&json!({ "summary": summary })),
                Err(e) => serde_json::to_string(&json!({ "error": e.to_string() })),
            };
        let result = result.unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let mut slot = lock(&self.summary);
        slot.result = Some(Arc::new(result));
        slot.building = false;
    }

    /// A page of the flow list: `from`, `count` and the filter from the query string.
    pub(crate) fn flows(&self, query: &str) -> String {
        let number = |name, default| {
            query_value(query, name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let from: usize = number("from", 0);
        let count = number("count", 200).min(MAX_PAGE);
        let filter = Filter::from_query(query);
        let data = self.index.lock();
        let total = data.len();
        let rows: Vec<RowJson>;
        let matched;
        if filter.is_empty() {
            matched = total;
            rows = (from..total.min(from.saturating_add(count)))
                .filter_map(|i| data.get(i).map(|row| RowJson::new(i, row)))
                .collect();
        } else {
            let mut filtered = lock(&self.filtered);
            let fresh = filtered
                .as_ref()
                .is_some_and(|f| f.filter == filter && f.generation == data.generation);
            if !fresh {
                let rows = (0..total)
                    .filter(|i| data.get(*i).is_some_and(|row| filter.matches(row)))
                    .filter_map(|i| u32::try_from(i).ok())
                    .collect();
                *filtered = Some(Filtered {
                    filter,
                    generation: data.generation,
                    rows,
                });
            }
            let hits = filtered.as_ref().map_or(&[][..], |f| &f.rows[..]);
            matched = hits.len();
            rows = hits
                .iter()
                .skip(from)
                .take(count)
                .filter_map(|i| {
                    data.get(*i as usize)
                        .map(|row| RowJson::new(*i as usize, row))
                })
                .collect();
        }
        json!({"total": total, "matched": matched, "from": from, "rows": rows}).to_string()
    }

    /// Row `i` opened, or `None` when there is no such row.
    pub(crate) fn flow(&self, i: usize) -> Option<String> {
        let (row, json) = {
            let data = self.index.lock();
            let row = data.get(i)?;
            (
                row.to_row(),
                serde_json::to_value(RowJson::new(i, row)).ok()?,
            )
        };
        let detail = Detail::load(&self.path, &row, true);
        Some(json!({"row": json, "detail": detail}).to_string())
    }

    /// The flow ids of the rows the query string's filter matches (for the HAR).
    pub(crate) fn flow_ids(&self, query: &str) -> HashSet<FlowId> {
        let filter = Filter::from_query(query);
        let data = self.index.lock();
        (0..data.len())
            .filter_map(|i| data.get(i))
            .filter(|row| filter.matches(*row))
            .filter_map(|row| row.flow())
            .collect()
    }

    /// Rows, index generation and whether the index is done: what the event stream tells.
    pub(crate) fn progress(&self) -> (usize, u64, bool) {
        let data = self.index.lock();
        (data.len(), data.generation, data.done)
    }
}
