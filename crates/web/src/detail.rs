//! A row opened: its records read again by byte offset (the capture's own JSON, documented in
//! docs/capture-format.md) and, for an LLM call, the decoded conversation.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use phonehome_analyze::{llm, Exchange};
use phonehome_record::Record;
use phonehome_viewer::Row;
use serde::Serialize;
use serde_json::Value;

/// What `/api/flow/{i}` answers, and what the exported file embeds per row.
#[derive(Debug, Serialize)]
pub(crate) struct Detail {
    /// The records behind the row, as written: `request`, `response`, `error`, `blocked`,
    /// `conn` (only when the `conn` record names the process).
    pub(crate) records: Vec<Value>,
    /// The LLM call the flow is, decoded.
    pub(crate) conversation: Option<llm::Conversation>,
    /// Records that could not be read back, in words.
    pub(crate) problems: Vec<String>,
}

impl Detail {
    /// Reads the records behind `row` from the capture at `path`.
    pub(crate) fn load(path: &Path, row: &Row) -> Detail {
        let offsets = [Some(row.at), row.response_at, row.error_at, row.conn_at];
        let mut detail = Detail {
            records: Vec::new(),
            conversation: None,
            problems: Vec::new(),
        };
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) => {
                detail
                    .problems
                    .push(format!("cannot read {}: {e}", path.display()));
                return detail;
            }
        };
        let mut request = None;
        let mut response = None;
        let mut error = None;
        for at in offsets.into_iter().flatten() {
            let line = match read_line(&mut file, at) {
                Ok(line) => line,
                Err(why) => {
                    detail.problems.push(format!("{}{why}", path.display()));
                    continue;
                }
            };
            match Record::from_line(line.trim_end()) {
                Ok(Record::Request(r)) => request = Some(r),
                Ok(Record::Response(r)) => response = Some(r),
                Ok(Record::Error(e)) if row.flow.is_some() => error = Some((e.phase, e.message)),
                _ => {}
            }
            match serde_json::from_str(&line) {
                Ok(value) => detail.records.push(value),
                Err(e) => detail.problems.push(format!(
                    "{} at byte {at}: not a record: {e}",
                    path.display()
                )),
            }
        }
        let exchange = request.map(|r| Exchange::from_records(r, response, error));
        detail.conversation = exchange.as_ref().and_then(llm::decode);
        detail
    }

    /// Bytes of body text the detail carries (request, response).
    pub(crate) fn body_bytes(&self) -> usize {
        self.records
            .iter()
            .filter_map(|r| r.pointer("/body/data").and_then(Value::as_str))
            .map(str::len)
            .sum()
    }
}

/// The line at byte `at`; the error follows the file's name.
fn read_line(file: &mut File, at: u64) -> Result<String, String> {
    let mut line = String::new();
    file.seek(SeekFrom::Start(at))
        .and_then(|_| BufReader::new(&mut *file).read_line(&mut line))
        .map_err(|e| format!(": cannot read at byte {at}: {e}"))?;
    Ok(line)
}
