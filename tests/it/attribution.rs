//! Which process sent each connection: every `conn` (and its first `request`) names the
//! process that owned the client socket (argv redacted) and its ancestry up to the command
//! (each with its argv and start); `run` serves only its command's process tree.

use std::time::Duration;

use crate::support::{of_type, read_capture, run, Scratch, Upstream};

/// `sh`'s executable as `/proc/PID/exe` names it (on Debian, `/usr/bin/dash`).
fn sh_exe() -> String {
    std::fs::canonicalize("/bin/sh")
        .expect("/bin/sh")
        .display()
        .to_string()
}

#[tokio::test]
async fn each_conn_names_its_process_argv_redacted_and_its_ancestry() {
    let scratch = Scratch::new();
    let server = Upstream::start(None).await;
    let url = format!("http://127.0.0.1:{}/hello", server.port());
    let key = format!("sk-ant-{}", "A".repeat(32));
    let script = format!(
        "curl -sS -o /dev/null {url}; \
         python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()' {url} {key}"
    );
    let out = scratch.path("who.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let text = std::fs::read_to_string(&out).expect("capture");
    assert!(!text.contains(&key), "the key in python's argv is redacted");
    let records = read_capture(&out);
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 2, "{conns:#?}");
    let sh = sh_exe();
    let mut sh_pids = Vec::new();
    for (conn, name) in conns.iter().zip(["curl", "python3"]) {
        let process = &conn["process"];
        let exe = process["exe"].as_str().unwrap_or_else(|| panic!("{conn}"));
        assert!(exe.contains(name), "{name}: {process}");
        assert!(
            process["argv"][0]
                .as_str()
                .is_some_and(|a| a.ends_with(name)),
            "{process}"
        );
        assert!(process["pid"].as_u64().is_some() && process["start"].is_string());
        let ancestry = conn["ancestry"].as_array().expect("ancestry");
        assert_eq!(ancestry.len(), 1, "up to the command, sh: {ancestry:?}");
        assert_eq!(ancestry[0]["exe"], sh.as_str());
        assert_eq!(ancestry[0]["pid"], process["ppid"]);
        assert_eq!(ancestry[0]["argv"][1], "-c", "the shell's command line");
        let shown = ancestry[0]["argv"][2].as_str().expect("the script");
        assert!(shown.starts_with("curl -sS"), "{shown}");
        assert!(!shown.contains(&key), "an ancestor's argv is redacted");
        assert!(ancestry[0]["start"].is_string(), "{ancestry:?}");
        sh_pids.push(ancestry[0]["pid"].clone());
        // The connection's first request says the same at once, before the conn closes.
        let request = of_type(&records, "request")
            .into_iter()
            .find(|r| r["conn"] == conn["conn"])
            .expect("a request on the connection");
        assert_eq!(request["process"], *process, "{request}");
        assert_eq!(request["ancestry"], conn["ancestry"], "{request}");
    }
    assert_eq!(sh_pids[0], sh_pids[1], "one sh started both");
    let argv = &conns[1]["process"]["argv"];
    assert!(
        argv.as_array()
            .expect("argv")
            .iter()
            .any(|a| a.as_str().is_some_and(|a| a.starts_with("[REDACTED:"))),
        "{argv}"
    );
}

#[tokio::test]
async fn a_program_outside_the_commands_tree_gets_407() {
    let scratch = Scratch::new();
    let server = Upstream::start(None).await;
    let proxy_file = scratch.path("proxy.txt");
    let done = scratch.path("done");
    let out = scratch.path("outsider.jsonl");
    let script = format!(
        "echo \"$HTTP_PROXY\" > {}.tmp && mv {0}.tmp {0}; while [ ! -e {} ]; do sleep 0.05; done",
        proxy_file.display(),
        done.display()
    );
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "sh", "-c", &script]);
    let running = tokio::spawn(run(cmd));
    let mut proxy = String::new();
    for _ in 0..400 {
        if let Ok(text) = std::fs::read_to_string(&proxy_file) {
            proxy = text.trim().to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(proxy.starts_with("http://127.0.0.1:"), "{proxy:?}");
    // curl started by the test, not by the command: an outsider that found the port.
    let mut curl = tokio::process::Command::new("curl");
    curl.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", &proxy])
        .arg(format!("http://127.0.0.1:{}/hello", server.port()));
    let outsider = run(curl).await;
    std::fs::write(&done, "").expect("done");
    let ran = running.await.expect("run");
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(outsider.stdout, "407");
    let records = read_capture(&out);
    let blocked = of_type(&records, "blocked");
    assert_eq!(blocked.len(), 1, "{records:#?}");
    assert!(
        blocked[0]["rule"]
            .as_str()
            .is_some_and(|r| r.contains("process tree")),
        "{}",
        blocked[0]
    );
    let conn = of_type(&records, "conn")[0];
    assert!(
        conn["process"]["exe"]
            .as_str()
            .is_some_and(|e| e.ends_with("curl")),
        "the outsider is named: {conn}"
    );
    assert!(
        of_type(&records, "request").is_empty(),
        "nothing was forwarded"
    );
}

#[tokio::test]
async fn an_orphan_of_the_command_is_still_the_commands() {
    let scratch = Scratch::new();
    let server = Upstream::start(None).await;
    let status = scratch.path("status.txt");
    // The inner sh exits at once: its background job is orphaned, re-parented to phonehome
    // (the tree's subreaper) rather than to init, and still served. The command waits for the
    // orphan's answer (written whole, then renamed) rather than for a fixed time, which a
    // loaded machine could outlast; after 30 s it gives up and the test says so.
    let script = format!(
        "sh -c '(sleep 0.3; curl -sS -o /dev/null -w %{{http_code}} http://127.0.0.1:{port}/hello > {status}.part; mv {status}.part {status}) &'; \
         i=0; while [ ! -e {status} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done",
        port = server.port(),
        status = status.display()
    );
    let out = scratch.path("orphan.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(std::fs::read_to_string(&status).expect("status"), "200");
    let records = read_capture(&out);
    assert!(of_type(&records, "blocked").is_empty(), "{records:#?}");
    let conn = of_type(&records, "conn")[0];
    assert!(
        conn["process"]["exe"]
            .as_str()
            .is_some_and(|e| e.ends_with("curl")),
        "{conn}"
    );
}
