//! A row opened: its records read again by byte offset (the capture's own JSON, documented in
//! docs/capture-format.md) and, for an LLM call, the decoded conversation.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use phonehome_analyze::{llm, Exchange};
use phonehome_record::{FlowId, Record};
use phonehome_viewer::Row;
use serde::Serialize;
use serde_json::Value;

/// What `/api/flow/{i}` answers, and what the exported file embeds per row.
#[derive(Debug, Serialize)]
pub(crate) struct Detail {
    /// The records behind the row, as written: `request`, `response`, `error`, `blocked`,
    /// `conn` (only when the `conn` record names the process).
    pub(crate) records: Vec<Value>,
    /// The flow's WebSocket messages (`ws` records, as written), for a flow that upgraded.
    pub(crate) ws: Vec<Value>,
    /// The LLM call the flow is, decoded.
    pub(crate) conversation: Option<llm::Conversation>,
    /// Records that could not be read back, in words.
    pub(crate) problems: Vec<String>,
}

impl Detail {
    /// Reads the records behind `row` from the capture at `path`; with `ws`, also the
    /// WebSocket messages of a flow that upgraded (one more pass over the capture).
    pub(crate) fn load(path: &Path, row: &Row, ws: bool) -> Detail {
        let offsets = [Some(row.at), row.response_at, row.error_at, row.conn_at];
        let mut detail = Detail {
            records: Vec::new(),
            ws: Vec::new(),
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
        let upgraded = response.as_ref().is_some_and(|r| r.status == 101);
        if let (true, true, Some(flow)) = (ws, upgraded, row.flow) {
            detail.ws = ws_messages(path, &[flow]).remove(&flow).unwrap_or_default();
        }
        let exchange = request.map(|r| Exchange::from_records(r, response, error));
        detail.conversation = exchange.as_ref().and_then(llm::decode);
        detail
    }

    /// The flow this detail is of, when it upgraded to WebSocket.
    pub(crate) fn upgraded_flow(&self) -> Option<FlowId> {
        let response = self.records.iter().find(|r| r["type"] == "response")?;
        (response["status"] == 101).then(|| response["flow"].as_u64().map(FlowId))?
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

/// The `ws` records of `flows`, at most [`MAX_WS`] each, from one pass over the capture.
pub(crate) fn ws_messages(path: &Path, flows: &[FlowId]) -> HashMap<FlowId, Vec<Value>> {
    let mut found: HashMap<FlowId, Vec<Value>> = HashMap::new();
    let Ok(file) = File::open(path) else {
        return found;
    };
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        if !line.starts_with(r#"{"type":"ws""#) {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let flow = value["flow"].as_u64().map(FlowId);
        let Some(flow) = flow.filter(|f| flows.contains(f)) else {
            continue;
        };
        let messages = found.entry(flow).or_default();
        if messages.len() < MAX_WS {
            messages.push(value);
        }
    }
    found
}

/// WebSocket messages shown per flow at most.
pub(crate) const MAX_WS: usize = 2000;

/// The line at byte `at`; the error follows the file's name.
fn read_line(file: &mut File, at: u64) -> Result<String, String> {
    let mut line = String::new();
    file.seek(SeekFrom::Start(at))
        .and_then(|_| BufReader::new(&mut *file).read_line(&mut line))
        .map_err(|e| format!(": cannot read at byte {at}: {e}"))?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_messages_of_the_flows_asked_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.jsonl");
        let lines = [
            r#"{"type":"capture","ts":"2026-11-21T08:18:30.000Z","format":"phonehome/1"}"#,
            r#"{"type":"ws","ts":"2026-11-21T08:18:30.792Z","flow":1,"dir":"up","opcode":"text","size":2,"encoding":"utf8","data":"hi","truncated":false}"#,
            r#"{"type":"ws","ts":"2026-11-21T08:18:30.793Z","flow":2,"dir":"down","opcode":"text","size":2,"encoding":"utf8","data":"no","truncated":false}"#,
            r#"{"type":"ws","ts":"2026-11-21T08:18:30.794Z","flow":1,"dir":"down","opcode":"binary","size":3,"encoding":"base64","data":"AP8Q","truncated":false}"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        let found = ws_messages(&path, &[FlowId(1)]);
        assert_eq!(found.len(), 1);
        let data: Vec<_> = found[&FlowId(1)]
            .iter()
            .map(|m| m["data"].clone())
            .collect();
        assert_eq!(data, ["hi", "AP8Q"]);
    }
}
