//! Headless Chromium for the tests (Debian's package, installed by scripts/setup-tests): where
//! it is, the flags every test starts it with, and a check that an HTML file renders.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The system's Chromium (scripts/setup-tests installs Debian's), or `None`.
pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    })
}

/// Headless Chromium with every network feature of its own off (this machine's network is
/// closed: background fetches would only fail), in a profile the caller gives.
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Renders an HTML file in headless Chromium (installed by scripts/setup-tests) with every
/// network feature off, and checks that it loaded: the DOM holds `title`, and a screenshot was
/// taken.
pub async fn chromium_renders(html: &Path, title: &str) {
    let chromium = chromium().expect("chromium is installed by scripts/setup-tests");
    let profile = tempfile::tempdir().expect("profile");
    let shot = html.with_extension("png");
    let url = format!("file://{}", html.display());
    let dom = tokio::process::Command::new(&chromium)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", &url])
        .stderr(Stdio::null())
        .output()
        .await
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(title),
        "chromium rendered the report: {}",
        &dom[..dom.len().min(300)]
    );
    let status = tokio::process::Command::new(&chromium)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args([
            "--window-size=1280,2000",
            &format!("--screenshot={}", shot.display()),
            &url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .expect("chromium runs");
    assert!(status.success());
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot of {} bytes",
        png.len()
    );
}
