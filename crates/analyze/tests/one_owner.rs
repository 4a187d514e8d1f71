//! One owner per fact: the facts below are defined once in the workspace's sources, and this
//! test (run in CI with the rest of the suite) keeps it so. A second definition is the start
//! of two spellings that disagree.

use std::path::{Path, PathBuf};

/// (what, the text of its definition, where it lives).
const FACTS: &[(&str, &str, &str)] = &[
    (
        "the loopback host list",
        "const LOOPBACK_HOSTS:",
        "crates/record/src/target.rs",
    ),
    (
        "the loopback predicate",
        "fn is_loopback(",
        "crates/record/src/target.rs",
    ),
    (
        "authority parsing",
        "fn split_authority(",
        "crates/record/src/target.rs",
    ),
    (
        "the Markdown table-cell escaper",
        r#""\\|""#,
        "crates/analyze/src/markdown.rs",
    ),
    (
        "the capture time format",
        "SecondsFormat::Millis",
        "crates/record/src/time.rs",
    ),
    (
        "the capture time reader",
        "fn parse_timestamp(",
        "crates/record/src/time.rs",
    ),
];

/// Ways of reading an RFC 3339 time (the capture's `ts` among them) other than calling
/// `phonehome_record::parse_timestamp`: a general parser, a time built from fields cut out of
/// the string, or the string's layout patched into a display. Each may appear only in the
/// reader's own file.
const TIME_READERS: &[&str] = &[
    "parse_from_rfc3339",
    "parse_from_rfc2822",
    "from_hms_milli",
    "NaiveDateTime::parse_from_str",
    "DateTime::parse_from_str",
    "replace('T'",
    "get(11..13)",
    "[11..13]",
];

/// Where the capture's times are read.
const TIME_READER: &str = "crates/record/src/time.rs";

/// Lines that define another loopback list, whatever its name.
const LOOPBACK_LIST: [&str; 2] = ["LOOPBACK", ": [&str"];

#[test]
fn each_fact_has_one_definition() {
    let sources = sources();
    assert!(sources.len() > 50, "found the workspace's sources");
    for (what, definition, owner) in FACTS {
        let places: Vec<String> = occurrences(&sources, |line| line.contains(definition));
        assert_eq!(
            places.len(),
            1,
            "{what} must be defined once, in {owner}: {places:#?}"
        );
        assert!(
            places[0].starts_with(owner),
            "{what} lives in {owner}: {places:?}"
        );
    }
}

#[test]
fn there_is_one_loopback_list() {
    let sources = sources();
    let lists = occurrences(&sources, |line| {
        LOOPBACK_LIST.iter().all(|part| line.contains(part))
            && (line.contains("const ") || line.contains("static "))
    });
    assert_eq!(lists.len(), 1, "one list of loopback names: {lists:#?}");
}

#[test]
fn there_is_one_reader_of_the_time_format() {
    let sources = sources();
    let readers = occurrences(&sources, |line| {
        TIME_READERS.iter().any(|reader| line.contains(reader))
    });
    let elsewhere: Vec<&String> = readers
        .iter()
        .filter(|place| !place.starts_with(TIME_READER))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "times are read by phonehome_record::parse_timestamp ({TIME_READER}) only: {elsewhere:#?}"
    );
    assert!(
        !readers.is_empty(),
        "the reader itself is found in {TIME_READER}, so the patterns still match"
    );
}

/// `path:line` of every source line that `matches`.
fn occurrences(sources: &[(String, String)], matches: impl Fn(&str) -> bool) -> Vec<String> {
    sources
        .iter()
        .flat_map(|(path, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, line)| !line.trim_start().starts_with("//"))
                .filter(|(_, line)| matches(line))
                .map(move |(i, _)| format!("{path}:{}", i + 1))
        })
        .collect()
}

/// The Rust sources of the workspace's crates and binary, but this file, as (relative path,
/// text).
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let this = Path::new(file!()).file_name().expect("a file name");
    let mut files = Vec::new();
    for dir in ["crates", "src"] {
        walk(&root.join(dir), &mut files);
    }
    files
        .into_iter()
        .filter(|path| path.file_name() != Some(this))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a readable source");
            let relative = path.strip_prefix(&root).unwrap_or(&path);
            (relative.display().to_string(), text)
        })
        .collect()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            walk(&path, files);
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}
