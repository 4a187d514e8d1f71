//! `phonehome view` in a real terminal: tmux runs the binary, keys are sent with send-keys,
//! the screen is read with capture-pane, and OSC 52 copies land in tmux's paste buffer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{read_capture, Cert, Scratch, TestPki, Upstream, BIN};

/// A tmux server of its own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a 120×30 session running `command` in a shell; the shell prints the exit code
    /// and the terminal mode after it, then waits.
    fn start(scratch: &Scratch, command: &str) -> Tmux {
        let socket = format!(
            "phonehome-test-{}-{}",
            std::process::id(),
            scratch
                .dir
                .path()
                .file_name()
                .expect("name")
                .to_string_lossy()
        );
        let tmux = Tmux { socket };
        // set-clipboard on: tmux keeps what a program sends with OSC 52 as a paste buffer.
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
        ]);
        tmux.run(&["set-option", "-g", "set-clipboard", "on"]);
        let script =
            format!("{command}; echo \"EXITED:$?\"; stty -a | grep -o -- '-\\?icanon'; sleep 600");
        tmux.run(&["respawn-pane", "-k", "sh", "-c", &script]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "0"])
    }

    /// Waits for the screen to contain `text`; the screen is in the panic message otherwise.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn display(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "0", format])
            .trim()
            .to_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/viewer/tests/data/session.jsonl")
}

#[test]
fn filter_open_copy_and_quit_restores_the_terminal() {
    let scratch = Scratch::new();
    let tmux = Tmux::start(
        &scratch,
        &format!("{BIN} view --static {}", fixture().display()),
    );
    tmux.wait_for("host and path");
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "1",
        "the viewer uses the alternate screen"
    );

    // Errors only: the 404, the DNS failure, the 400 and the cut stream; not the 200s.
    tmux.keys(&["4"]);
    let screen = tmux.wait_for("4/9 rows · errors");
    assert!(
        screen.contains("registry.test/@opencode-ai%2fplugin"),
        "{screen}"
    );
    assert!(!screen.contains("models.dev"), "{screen}");

    // Open the 404 on its response and copy the body.
    tmux.keys(&["Enter"]);
    tmux.wait_for("HTTP/1.1 404 Not Found");
    tmux.keys(&["c"]);
    tmux.wait_for("copied the response payload (21 bytes)");
    let start = Instant::now();
    let copied = loop {
        let buffers = tmux.run(&["list-buffers", "-F", "#{buffer_name}"]);
        if !buffers.trim().is_empty() {
            break tmux.run(&["show-buffer"]);
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no OSC 52 copy");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(copied, r#"{"error":"Not found"}"#);

    // Back to the list, then quit: the shell gets a normal terminal back.
    tmux.keys(&["q"]);
    tmux.wait_for("host and path");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("icanon");
    assert!(screen.contains("EXITED:0"), "{screen}");
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "canonical mode is back on (raw mode off): {screen}"
    );
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "alternate screen left"
    );
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor visible");
}

#[test]
fn a_live_run_shows_flows_as_they_happen() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let upstream = runtime.block_on(Upstream::start(Some(
        pki.server_config(Cert::Valid, &[b"http/1.1"]),
    )));
    let out = scratch.path("live.jsonl");
    let go = scratch.path("go");
    let base = format!("https://localhost:{}", upstream.port());
    // The agent: one request, then a wait for the test's go-ahead, then a second request.
    let script = format!(
        "curl -sS {base}/hello >/dev/null; while [ ! -e {go} ]; do sleep 0.05; done; curl -sS {base}/gzip >/dev/null",
        go = go.display()
    );
    let mut run = scratch.run_prefix(&out, Some(&pki.ca_pem));
    run.args(["--", "sh", "-c", &script]);
    let _in_runtime = runtime.enter();
    let mut child = run.spawn().expect("phonehome run starts");

    // The first flow is in the capture before the viewer starts.
    let start = Instant::now();
    while !std::fs::read_to_string(&out).is_ok_and(|t| t.contains(r#""type":"response""#)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no first response"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let tmux = Tmux::start(&scratch, &format!("{BIN} view {}", out.display()));
    let screen = tmux.wait_for("/hello");
    assert!(screen.contains("following"), "{screen}");
    assert!(!screen.contains("/gzip"), "{screen}");

    // The second request happens while the viewer is open, and shows up in it.
    std::fs::write(&go, "").expect("go");
    tmux.wait_for("/gzip");
    let status = runtime.block_on(child.wait()).expect("run ends");
    assert!(status.success());
    let screen = tmux.wait_for("ended");
    assert!(screen.contains("2/2 rows"), "{screen}");
    assert_eq!(read_capture(&out).last().expect("end")["type"], "end");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED:0");
}

#[test]
fn view_without_a_terminal_or_capture_says_why() {
    let scratch = Scratch::new();
    let out = Command::new(BIN)
        .args(["view", "--static"])
        .arg(fixture())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a terminal"), "{stderr}");

    let text = scratch.path("notes.txt");
    std::fs::write(&text, "hello\n").expect("write");
    let out = Command::new(BIN)
        .arg("view")
        .arg(&text)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: line 1 is not a capture header; not a phonehome capture",
            text.display()
        )),
        "{stderr}"
    );

    let missing = scratch.path("missing.jsonl");
    let out = Command::new(BIN)
        .arg("view")
        .arg(&missing)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: no such capture or folder", missing.display())),
        "{stderr}"
    );
}

#[test]
fn a_capture_without_its_end_says_so_in_the_title() {
    let scratch = Scratch::new();
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    let without_end: String = text
        .lines()
        .filter(|l| !l.contains(r#""type":"end""#))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = scratch.path("no-end.jsonl");
    std::fs::write(&path, without_end).expect("write");
    let tmux = Tmux::start(&scratch, &format!("{BIN} view --static {}", path.display()));
    tmux.wait_for("incomplete: phonehome stopped before the end");
    let other = Scratch::new();
    let complete = Tmux::start(
        &other,
        &format!("{BIN} view --static {}", fixture().display()),
    );
    let screen = complete.wait_for("host and path");
    assert!(!screen.contains("incomplete"), "{screen}");
}

#[test]
fn a_sinkholed_telemetry_request_opens_on_its_decoded_events() {
    let scratch = Scratch::new();
    let body = include_str!("../../crates/analyze/tests/fixtures/telemetry/otlp_logs.json");
    let records = [
        serde_json::json!({
            "type": "capture", "ts": "2026-11-21T09:00:00.000Z", "format": "phonehome/1",
            "id": "synthetic-view-telemetry", "tool_version": "0.1.0", "mode": "run",
            "command": ["demo-agent"], "cwd": "/work/project", "policy": "observe",
            "options": {"max_body": 16_777_216, "redact": true},
        }),
        serde_json::json!({
            "type": "request", "ts": "2026-11-21T09:00:00.100Z", "flow": 1, "conn": 1,
            "method": "POST", "url": "https://collector.test/v1/logs", "version": "HTTP/1.1",
            "headers": [["content-type", "application/json"]], "sinkhole": "unreachable",
            "body": {"size": body.len(), "encoding": "utf8", "data": body, "truncated": false},
        }),
        serde_json::json!({
            "type": "end", "ts": "2026-11-21T09:00:01.000Z", "exit_code": 0,
            "counts": {"conns": 1, "requests": 1, "responses": 0, "errors": 0, "blocked": 0, "ws": 0},
            "dropped_bytes": 0,
        }),
    ];
    let path = scratch.path("telemetry.jsonl");
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&path, text).expect("write");
    let tmux = Tmux::start(&scratch, &format!("{BIN} view --static {}", path.display()));
    tmux.wait_for("/v1/logs");
    tmux.keys(&["Enter"]);
    // Each awaited: the screen can be caught while the tab is still being drawn.
    for text in [
        "otlp/json · logs · 2 events",
        "session.start",
        "turn finished",
        "user.id = user-7f3a  (by name)",
    ] {
        tmux.wait_for(text);
    }
    tmux.keys(&["q"]);
    tmux.wait_for("/v1/logs");
    tmux.keys(&["q"]);
    assert!(tmux.wait_for("EXITED").contains("EXITED:0"));
}

/// A capture whose every record is nested too deeply to read shows no rows, and says why:
/// the lines it could not read are counted on screen with the first one's reason.
#[test]
fn lines_nested_too_deeply_are_counted_on_screen_not_silently_dropped() {
    let scratch = Scratch::new();
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    let header = text.lines().next().expect("a header line");
    let nested = format!(
        r#"{{"type":{}"dns"{},"ts":"2026-01-01T00:00:00.000Z"}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let path = scratch.path("nested.jsonl");
    std::fs::write(
        &path,
        format!("{header}\n{}", format!("{nested}\n").repeat(4)),
    )
    .expect("write");
    let tmux = Tmux::start(&scratch, &format!("{BIN} view --static {}", path.display()));
    let screen = tmux.wait_for("unreadable line");
    assert!(screen.contains("4 unreadable line"), "{screen}");
}

/// A flow made by a command a tool call ran: its detail names the tool call (name, id, how it
/// was matched), and `w` goes to that call in its LLM call's conversation; the agent's own LLM
/// call is said to be its own. The capture is synthetic (crates/viewer/tests/data/tool_call.jsonl).
#[test]
fn a_caused_flow_shows_its_tool_call_and_w_jumps_to_it() {
    let scratch = Scratch::new();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/viewer/tests/data/tool_call.jsonl");
    let tmux = Tmux::start(&scratch, &format!("{BIN} view --static {}", path.display()));
    tmux.wait_for("files.example.test");
    // The curl's flow (second row), on its request tab (it opens on the response).
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("HTTP/1.1 200");
    tmux.keys(&["Tab", "Tab"]);
    let screen = tmux.wait_for("cause    tool call bash call_fetch1 · matched by argv");
    assert!(screen.contains("curl"), "{screen}");
    tmux.keys(&["w"]);
    // The cause line already names the call: wait for the LLM call's detail itself.
    let screen = tmux.wait_for("POST api.llm.test:443/v1/chat/completions");
    assert!(screen.contains("tool call bash call_fetch1"), "{screen}");
    // Its own request tab: the agent's own.
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("cause    the agent's own");
    tmux.keys(&["q"]);
    tmux.wait_for("files.example.test");
    tmux.keys(&["q"]);
    assert!(tmux.wait_for("EXITED").contains("EXITED:0"));
}
