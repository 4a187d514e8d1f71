//! Benchmark: time to the viewer's first screen on a capture, time to the whole index, and
//! peak memory. `cargo run --release -p phonehome-viewer --example first_screen -- CAPTURE`
//! (bench/view runs it on generated 1 GB captures).
//!
//! The first screen is the flow list drawn (on ratatui's TestBackend, 160×48) with as many
//! rows as it has room for, or all rows when the capture has fewer; that is the path the
//! terminal takes, minus the terminal.

use std::time::{Duration, Instant};

use phonehome_viewer::{render, App, Options};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let path = std::env::args_os()
        .nth(1)
        .expect("usage: first_screen CAPTURE");
    let start = Instant::now();
    let mut app = App::open(
        std::path::Path::new(&path),
        Options {
            static_view: true,
            ..Options::default()
        },
    )
    .expect("open");
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    loop {
        app.refresh();
        let (shown, done) = {
            let flows = app.flows.as_ref().expect("a capture");
            let data = flows.index.lock();
            (flows.visible.len(), data.done)
        };
        if shown >= 44 || done {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    render(&mut terminal, &mut app).expect("draw");
    let first = start.elapsed();
    let screen = terminal.backend().to_string();
    app.settle(Duration::from_secs(3600));
    let all = start.elapsed();
    let rows = app.flows.as_ref().map_or(0, |f| f.visible.len());
    println!(
        "first_screen_ms={:.1} index_s={:.2} rows={rows} peak_rss_mib={:.1}",
        first.as_secs_f64() * 1000.0,
        all.as_secs_f64(),
        peak_rss_mib()
    );
    if std::env::var_os("SHOW").is_some() {
        println!("{screen}");
    }
}
