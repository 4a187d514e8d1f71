//! mimalloc's options that phonehome sets at load, read back from mimalloc's own verbose
//! start-up listing (`MIMALLOC_VERBOSE=1`), and the environment overriding them; the proxy's
//! thread that lets mimalloc purge freed pages while the proxy is idle.
#![cfg(all(feature = "mimalloc", target_os = "linux"))]

use std::process::Command;

use crate::support::BIN;

/// mimalloc's start-up listing (stderr) of `phonehome --version` with `env` added.
fn mimalloc_options(env: &[(&str, &str)]) -> String {
    let out = Command::new(BIN)
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .envs(env.iter().copied())
        .output()
        .expect("phonehome runs");
    assert!(out.status.success(), "phonehome --version failed: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn arenas_commit_on_demand_by_default() {
    let listing = mimalloc_options(&[]);
    assert!(
        listing.contains("option 'arena_eager_commit': 0"),
        "arena_eager_commit is not 0:\n{listing}"
    );
}

#[test]
fn the_environment_sets_the_commit_mode_over_phonehome() {
    let listing = mimalloc_options(&[("MIMALLOC_ARENA_EAGER_COMMIT", "1")]);
    assert!(
        listing.contains("option 'arena_eager_commit': 1"),
        "MIMALLOC_ARENA_EAGER_COMMIT=1 was not kept:\n{listing}"
    );
}

/// The names of `pid`'s threads, from `/proc/PID/task/*/comm`.
fn thread_names(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read the proxy's tasks");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[tokio::test]
async fn the_proxy_runs_a_thread_that_purges_freed_memory_when_idle() {
    let scratch = crate::support::Scratch::new();
    let out = scratch.path("capture.jsonl");
    let proxy = crate::support::StandaloneProxy::start(&scratch, &out, &[]).await;
    let names = thread_names(proxy.child.id().expect("the proxy's pid"));
    proxy.stop().await;
    assert!(
        names.iter().any(|name| name == "mimalloc-purge"),
        "no mimalloc-purge thread among {names:?}"
    );
}
