//! Every screen of the viewer, drawn on ratatui's TestBackend and compared with its snapshot.
//! The capture is synthetic (tests/data/session.jsonl).

use std::path::{Path, PathBuf};
use std::time::Duration;

use phonehome_viewer::{render, App, Options};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn open(path: &Path, options: Options) -> App {
    let mut app = App::open(path, options).expect("open");
    app.settle(Duration::from_secs(10));
    app
}

fn session() -> App {
    open(
        &data().join("session.jsonl"),
        Options {
            static_view: true,
            ..Options::default()
        },
    )
}

fn screen(app: &mut App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).expect("terminal");
    render(&mut terminal, app).expect("draw");
    terminal.backend().to_string()
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\t' => KeyCode::Tab,
            '\x1b' => KeyCode::Esc,
            c => KeyCode::Char(c),
        };
        app.key(KeyEvent::new(code, KeyModifiers::NONE));
        app.refresh();
    }
}

#[test]
fn picker_lists_captures_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = std::fs::read_to_string(data().join("session.jsonl")).expect("fixture");
    std::fs::write(dir.path().join("older.jsonl"), &fixture).expect("write");
    // A newer capture still being written: no end record yet.
    let running: String = fixture
        .replace("2026-11-21T09:00:00.000Z", "2026-11-21T10:00:00.000Z")
        .lines()
        .take(5)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("newer.jsonl"), running).expect("write");
    std::fs::write(dir.path().join("broken.jsonl"), "not a capture\n").expect("write");
    let mut app = open(dir.path(), Options::default());
    let text = screen(&mut app).replace(&dir.path().display().to_string(), "<dir>");
    insta::assert_snapshot!(text);
}

#[test]
fn flow_list_shows_every_row_but_meta_calls() {
    let mut app = session();
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn meta_calls_show_with_include_meta() {
    let mut app = session();
    press(&mut app, "m");
    let text = screen(&mut app);
    assert!(text.contains("llm-api (meta)   gpt-test-mini"), "{text}");
}

#[test]
fn errors_filter() {
    let mut app = session();
    press(&mut app, "4");
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn other_filters_keep_what_they_name() {
    let mut app = session();
    let count = |app: &App| app.flows.as_ref().expect("flows").visible.len();
    press(&mut app, "5");
    assert_eq!(count(&app), 1, "blocked");
    press(&mut app, "6");
    assert_eq!(count(&app), 4, "LLM calls but the meta one");
    press(&mut app, "3");
    assert_eq!(count(&app), 6, "flows with a response, but the meta one");
    press(&mut app, "1/registry\n");
    assert_eq!(count(&app), 1, "search");
    press(&mut app, "\x1b");
    press(&mut app, "gjh");
    let flows = app.flows.as_ref().expect("flows");
    assert_eq!(flows.host.as_deref(), Some("api.openai.test"));
    assert_eq!(flows.visible.len(), 3);
}

#[test]
fn session_option_keeps_one_session() {
    let mut app = open(
        &data().join("session.jsonl"),
        Options {
            static_view: true,
            session: Some("ses_synthetic2".into()),
            include_meta: false,
        },
    );
    assert_eq!(app.flows.as_ref().expect("flows").visible.len(), 1);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn detail_llm_conversation() {
    let mut app = session();
    press(&mut app, "j\n");
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn detail_request_and_response_tabs() {
    let mut app = session();
    press(&mut app, "j\n\t\t");
    let request = screen(&mut app);
    press(&mut app, "\t");
    let response = screen(&mut app);
    insta::assert_snapshot!("detail_response_sse", response);
    insta::assert_snapshot!("detail_request_json", request);
}

#[test]
fn folding_json() {
    let mut app = session();
    press(&mut app, "\n");
    press(&mut app, "zz");
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn body_that_claims_json_and_is_not_is_shown_raw() {
    let mut app = session();
    press(&mut app, "/parse\x1b");
    press(&mut app, "4jj\n\t\t");
    let text = screen(&mut app);
    insta::assert_snapshot!(text);
}

#[test]
fn cut_stream_and_unknown_shape_have_notes() {
    let mut app = session();
    press(&mut app, "G");
    press(&mut app, "k\n");
    let cut = screen(&mut app);
    press(&mut app, "n");
    let unknown = screen(&mut app);
    insta::assert_snapshot!("cut_stream", cut);
    insta::assert_snapshot!("unknown_shape", unknown);
}

#[test]
fn copy_payload_and_selection() {
    let mut app = session();
    press(&mut app, "j\n\t\t");
    press(&mut app, "c");
    let copied = String::from_utf8(app.copy.take().expect("copy")).expect("utf8");
    let fixture = std::fs::read_to_string(data().join("session.jsonl")).expect("fixture");
    assert!(
        copied.starts_with(r#"{"model": "gpt-test", "stream": true"#),
        "{copied}"
    );
    assert!(fixture.contains(&serde_json::to_string(&copied).expect("json")));
    // Below the heading, the cause line and a blank line: two header lines.
    press(&mut app, "jjjvjy");
    let lines = String::from_utf8(app.copy.take().expect("copy")).expect("utf8");
    assert_eq!(lines.lines().count(), 2, "{lines}");
}

#[test]
fn help_overlay() {
    let mut app = session();
    press(&mut app, "?");
    insta::assert_snapshot!(screen(&mut app));
    press(&mut app, "x");
    assert!(!app.help);
}

#[test]
fn quits_from_the_list() {
    let mut app = session();
    press(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn search_reaches_bodies_after_enter() {
    let mut app = session();
    let count = |app: &App| app.flows.as_ref().expect("flows").visible.len();
    // Typing searches the row fields: no row names the file.
    press(&mut app, "/src/lib.rs");
    assert_eq!(count(&app), 0);
    // Enter searches whole records: the streamed tool call asks for it.
    press(&mut app, "\n");
    app.settle(Duration::from_secs(10));
    assert_eq!(count(&app), 1);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn isolate_capture_shows_dns_relays_and_passthrough_once() {
    let mut app = open(
        &data().join("isolate.jsonl"),
        Options {
            static_view: true,
            ..Options::default()
        },
    );
    // Two DNS answers, the TCP relay, the UDP block, the blocked connection (not again as a
    // relay), and the TLS passthrough.
    assert_eq!(app.flows.as_ref().expect("flows").visible.len(), 6);
    insta::assert_snapshot!(screen(&mut app));
    press(&mut app, "G\n");
    let records = screen(&mut app);
    assert!(records.contains("tls-passthrough"), "{records}");
}

fn processes() -> App {
    open(
        &data().join("processes.jsonl"),
        Options {
            static_view: true,
            ..Options::default()
        },
    )
}

#[test]
fn processes_and_sinkholed_requests() {
    let mut app = processes();
    // One row per request: a sinkholed request takes the row of its `blocked` record.
    assert_eq!(app.flows.as_ref().expect("flows").visible.len(), 5);
    insta::assert_snapshot!("processes_flow_list", screen(&mut app));
    // The sinkholed request opens on its response tab; its request tab names the process.
    press(&mut app, "j\n");
    let response = screen(&mut app);
    assert!(
        response.contains("sinkholed: phonehome answered 403 itself"),
        "{response}"
    );
    press(&mut app, "\t\t");
    insta::assert_snapshot!("processes_detail_request", screen(&mut app));
    // The records behind the row: the request, the decision, the connection.
    let flows = app.flows.as_ref().expect("flows");
    let detail = &flows.detail.as_ref().expect("detail").detail;
    let records = String::from_utf8_lossy(&detail.tabs[2].payload).into_owned();
    let types: Vec<&str> = records
        .lines()
        .map(|l| l.split('"').nth(3).expect("a type"))
        .collect();
    assert_eq!(types, ["request", "blocked", "conn"], "{records}");
}

#[test]
fn process_filter_search_and_sinkholes_in_the_kind_filters() {
    let mut app = processes();
    let count = |app: &App| app.flows.as_ref().expect("flows").visible.len();
    // The last flow's connection has not closed: no process yet, so `p` keeps one curl row.
    press(&mut app, "p");
    assert_eq!(count(&app), 1, "process curl");
    assert!(screen(&mut app).contains("all, process curl"));
    press(&mut app, "\x1b");
    assert_eq!(count(&app), 5);
    press(&mut app, "5");
    assert_eq!(count(&app), 1, "blocked: the denied sinkholed request");
    press(&mut app, "4");
    assert_eq!(count(&app), 1, "errors: the unreachable sinkholed request");
    press(&mut app, "1/python");
    assert_eq!(count(&app), 1, "search by process");
    press(&mut app, "\x1bgjjjp");
    assert_eq!(count(&app), 1, "the unknown process is `?`");
    let text = screen(&mut app);
    assert!(text.contains("process ?"), "{text}");
}

#[test]
fn a_process_fills_in_when_its_conn_record_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.jsonl");
    let fixture = std::fs::read_to_string(data().join("processes.jsonl")).expect("fixture");
    let lines: Vec<&str> = fixture.lines().collect();
    // The header and flow 1's request and response; its `conn` record comes later.
    std::fs::write(&path, format!("{}\n", lines[..3].join("\n"))).expect("write");
    // Followed, not settled: the capture has no `end` record yet.
    let mut app = App::open(&path, Options::default()).expect("open");
    let process = |app: &mut App| {
        let limit = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            app.refresh();
            let flows = app.flows.as_ref().expect("flows");
            let data = flows.index.lock();
            let process = data.get(0).and_then(|r| r.process().map(str::to_owned));
            if process.is_some() || std::time::Instant::now() >= limit {
                return process;
            }
            drop(data);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let wait_for_row = std::time::Instant::now() + Duration::from_secs(10);
    while app.flows.as_ref().expect("flows").visible.is_empty()
        && std::time::Instant::now() < wait_for_row
    {
        app.refresh();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(app.flows.as_ref().expect("flows").visible.len(), 1);
    let first = {
        let flows = app.flows.as_ref().expect("flows");
        let data = flows.index.lock();
        data.get(0).and_then(|r| r.process().map(str::to_owned))
    };
    assert_eq!(first, None, "no conn record yet");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("append");
    std::io::Write::write_all(&mut file, format!("{}\n", lines[3]).as_bytes()).expect("write");
    assert_eq!(process(&mut app).as_deref(), Some("curl"));
    assert!(screen(&mut app).contains("GET     curl"));
}

/// A flow made by a command a tool call ran says so under its process, and `w` goes to the
/// tool call in its LLM call's conversation; the agent's own LLM call says it is its own.
#[test]
fn a_caused_flow_names_its_tool_call_and_w_goes_to_it() {
    let mut app = open(
        &data().join("tool_call.jsonl"),
        Options {
            static_view: true,
            ..Options::default()
        },
    );
    // The LLM call opens on its conversation; its request tab is two tabs on.
    press(&mut app, "\n\t\t");
    let own = screen(&mut app);
    assert!(own.contains("cause    the agent's own"), "{own}");
    // The curl's flow opens on its response; its request tab is two tabs on.
    press(&mut app, "\x1bj\n\t\t");
    let text = screen(&mut app);
    assert!(
        text.contains("cause    tool call bash call_fetch1 · matched by argv"),
        "{text}"
    );
    press(&mut app, "w");
    let text = screen(&mut app);
    assert!(text.contains("tool call bash call_fetch1"), "{text}");
    assert!(
        text.contains("POST api.llm.test:443/v1/chat/completions"),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("call_fetch1") && l.contains("bash")),
        "the conversation at the call: {text}"
    );
}
