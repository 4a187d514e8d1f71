//! `phonehome web CAPTURE --output FILE.html`: the page and the capture's data in one file that
//! works offline from `file://`. Every row is listed; the records (bodies) of the first rows
//! are embedded up to a number of rows and a number of bytes, and the page says what it left
//! out. The HAR of the same rows (the analysis's export, for the page's HAR download) is
//! embedded too, within the same byte budget: each embedded row's bodies count twice.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use phonehome_catalog::Catalog;
use phonehome_record::FlowId;
use phonehome_viewer::Index;
use serde::Serialize;

use crate::detail::Detail;
use crate::rows::RowJson;
use crate::summary::Summary;
use crate::WebError;

/// Rows whose records are embedded, by default.
pub const DEFAULT_MAX_BODIES: usize = 5000;
/// Bytes of body text embedded at most, by default: keeps the file under ~20 MB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;

/// How much the file embeds, and what else it shows.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Rows whose records (headers, bodies) are embedded at most.
    pub max_bodies: usize,
    /// Bytes of body text embedded at most.
    pub max_body_bytes: usize,
    /// Another input to diff the capture against (the Diff view).
    pub diff: Option<PathBuf>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            max_bodies: DEFAULT_MAX_BODIES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            diff: None,
        }
    }
}

/// The exported file's data (the `application/json` script the page reads).
#[derive(Serialize)]
struct Embedded<'a> {
    summary: &'a Summary,
    rows: Vec<RowJson>,
    /// The records of the first rows, by row number.
    details: Vec<Detail>,
    /// The HAR 1.2 document of the flows whose records are embedded.
    har: serde_json::Value,
    left_out: LeftOut,
}

/// What the file does not carry, for the page to say.
#[derive(Serialize, Default)]
struct LeftOut {
    /// Rows listed without their records.
    rows: usize,
    /// Their body bytes on the wire (request + response).
    bytes: u64,
    max_bodies: usize,
    max_body_bytes: usize,
    /// Lines of the capture that were not records.
    bad_lines: Vec<(u64, String)>,
}

/// The WebSocket messages of the embedded flows that upgraded, from one more pass.
fn add_ws(path: &Path, details: &mut [Detail]) {
    let flows: Vec<FlowId> = details.iter().filter_map(Detail::upgraded_flow).collect();
    if flows.is_empty() {
        return;
    }
    let mut found = crate::detail::ws_messages(path, &flows);
    for detail in details {
        if let Some(flow) = detail.upgraded_flow() {
            detail.ws = found.remove(&flow).unwrap_or_default();
        }
    }
}

/// The page for the capture (or HAR file) at `path`, as one HTML document.
///
/// # Errors
/// [`WebError::Input`] with `report`'s message when the input cannot be read;
/// [`WebError::Index`] when indexing it fails.
pub fn export(path: &Path, catalog: &Catalog, options: ExportOptions) -> Result<String, WebError> {
    let summary = Summary::build(path, catalog, false, options.diff.as_deref())?;
    let index = Index::open(path, false);
    while !index.lock().done {
        std::thread::sleep(Duration::from_millis(5));
    }
    let data = index.lock();
    if let Some(message) = &data.failure {
        return Err(WebError::Index {
            path: path.to_owned(),
            message: message.clone(),
        });
    }
    let mut embedded = Embedded {
        summary: &summary,
        rows: Vec::with_capacity(data.len()),
        details: Vec::with_capacity(data.len().min(options.max_bodies)),
        har: serde_json::Value::Null,
        left_out: LeftOut {
            max_bodies: options.max_bodies,
            max_body_bytes: options.max_body_bytes,
            bad_lines: data.bad_lines.iter().take(20).cloned().collect(),
            ..LeftOut::default()
        },
    };
    let mut body_bytes = 0;
    let mut flows = HashSet::new();
    for (i, row) in data.iter().enumerate() {
        let json = RowJson::new(i, row);
        let fits =
            embedded.details.len() < options.max_bodies && body_bytes < options.max_body_bytes;
        if fits {
            let detail = Detail::load(path, &row.to_row(), false);
            // Once in the records, once in the HAR.
            body_bytes += 2 * detail.body_bytes();
            flows.extend(row.flow());
            embedded.details.push(detail);
        } else {
            embedded.left_out.rows += 1;
            embedded.left_out.bytes += json.request_size + json.response_size.unwrap_or(0);
        }
        embedded.rows.push(json);
    }
    drop(data);
    add_ws(path, &mut embedded.details);
    embedded.har = crate::har::har_value(path, flows)?;
    let json = serde_json::to_string(&embedded)?;
    Ok(crate::assets::file_page(&json))
}
