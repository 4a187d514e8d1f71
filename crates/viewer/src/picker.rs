//! The capture picker: the captures of a folder, newest first, each with its command, start
//! time and counts (from its `end` record, or "running" while it has none).

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use phonehome_record::{Capture, End, Record};

/// One capture in the folder.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub header: Option<Capture>,
    pub end: Option<End>,
    pub size: u64,
    /// Why the file is not a readable capture.
    pub problem: Option<String>,
}

impl Entry {
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn command(&self) -> String {
        self.header
            .as_ref()
            .map(|h| h.command.join(" "))
            .unwrap_or_default()
    }
}

/// The `.jsonl` files of `dir`, newest first (by their header's time, else the file's).
pub fn list(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let path = item?.path();
        if path.extension().is_some_and(|e| e == "jsonl") && path.is_file() {
            entries.push(entry(&path));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(sort_key(e)));
    Ok(entries)
}

fn sort_key(entry: &Entry) -> (String, String) {
    let ts = entry
        .header
        .as_ref()
        .map(|h| h.ts.clone())
        .unwrap_or_default();
    (ts, entry.name())
}

/// Reads a capture's first line and its last one, nothing in between.
pub fn entry(path: &Path) -> Entry {
    let mut entry = Entry {
        path: path.to_owned(),
        header: None,
        end: None,
        size: 0,
        problem: None,
    };
    let mut file = match phonehome_analyze::open_regular(path) {
        Ok(file) => file,
        Err(e) => {
            entry.problem = Some(e.to_string());
            return entry;
        }
    };
    entry.size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut first = String::new();
    let mut reader = BufReader::new(&mut file);
    if reader.read_line(&mut first).is_err() {
        entry.problem = Some("line 1 is not UTF-8".into());
        return entry;
    }
    match Record::from_line(first.trim_end()) {
        Ok(Record::Capture(header)) => entry.header = Some(header),
        _ => {
            entry.problem = Some("line 1 is not a capture header".into());
            return entry;
        }
    }
    // The `end` record is the last line: read the tail only.
    let tail = entry.size.min(64 * 1024);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::End(-(tail as i64))).is_ok() && file.read_to_end(&mut bytes).is_ok() {
        let text = String::from_utf8_lossy(&bytes);
        if let Some(last) = text.trim_end().lines().next_back() {
            if let Ok(Record::End(end)) = Record::from_line(last) {
                entry.end = Some(end);
            }
        }
    }
    entry
}
