//! Process attribution at accept time: `bench/attribution` (or `cargo run --release -p
//! phonehome-proxy --example attribution_bench [N [TEXT]]`: N connections per run, default
//! 1000; only the runs whose lookup description contains TEXT).
//!
//! A listener on 127.0.0.1 accepts connections from real clients and looks each owner up as
//! soon as it is accepted, then answers `204` and closes, as phonehome would. Clients:
//! - `curl`: a shell (the "command") runs N short-lived `curl` processes one after another;
//! - `agent`: one long-lived python3 process holding 200 open files makes N connections, its
//!   sockets above its files (opened first) or below them (in a hole at the bottom).
//!
//! For each, the lookup runs with the shortcuts (last owners, the command's tree first,
//! command-line cache), without them (every process in `/proc` order, no cache), with no
//! command (`proxy`), and reading the socket from `/proc/net/tcp{,6}` instead of netlink. Two more curl runs measure, on a tokio runtime, the lookup inline in the
//! accepting task against on `spawn_blocking`. Prints Markdown tables: how many owners were
//! named correctly, and the lookup's cost per connection in microseconds: wall time (what it
//! adds to the connection's latency) and the looking thread's CPU time (what it costs
//! phonehome).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonehome_proxy::{Attribution, Attributor};

/// argv: port, connections, `top` (the files take the low descriptors, sockets land above
/// them) or `low` (a hole at the bottom: sockets take descriptor 3, below 200 files).
const AGENT: &str = r#"
import socket, sys
held = [open("/dev/null") for _ in range(400 if sys.argv[3] == "low" else 200)]
if sys.argv[3] == "low":
    for f in held[:200]:
        f.close()
for _ in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n")
    s.recv(100)
    s.close()
"#;

/// What one run measured.
struct Run {
    named: usize,
    total: usize,
    wall: Vec<f64>,
    /// Empty when the lookup ran on another thread.
    cpu: Vec<f64>,
}

impl Run {
    fn new(n: usize) -> Self {
        Run {
            named: 0,
            total: 0,
            wall: Vec::with_capacity(n),
            cpu: Vec::with_capacity(n),
        }
    }
}

/// The calling thread's CPU time in microseconds.
fn thread_cpu() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 * 1e6 + t.tv_nsec as f64 / 1e3
}

/// Median and 90th percentile.
fn quantiles(values: &[f64]) -> Option<(f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    (!sorted.is_empty()).then(|| (at(0.5), at(0.9)))
}

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Curl,
    /// Sockets above the agent's 200 files.
    Agent,
    /// Sockets below the agent's 200 files.
    AgentLowSockets,
}

#[derive(Clone, Copy)]
enum Mode {
    Shortcuts,
    Exhaustive,
    NoCommand,
    ProcTables,
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    // Runs whose lookup description contains this text only (for profiling one of them).
    let only = std::env::args().nth(2).unwrap_or_default();
    println!("processes on the machine at start: {}", process_count());
    println!();
    println!(
        "| clients | lookup | named | wall median µs | wall p90 µs | CPU median µs | CPU p90 µs |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for client in [Client::Curl, Client::Agent, Client::AgentLowSockets] {
        for mode in [
            Mode::Shortcuts,
            Mode::Exhaustive,
            Mode::NoCommand,
            Mode::ProcTables,
        ] {
            if !mode_name(mode).contains(&only) {
                continue;
            }
            let run = blocking_run(client, mode, n);
            print_row(client_name(client), mode_name(mode), &run);
        }
    }
    println!();
    println!("| clients | lookup called | named | wall median µs | wall p90 µs | CPU median µs | CPU p90 µs |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for on_blocking_pool in [false, true] {
        let how = if on_blocking_pool {
            "`spawn_blocking(..).await`"
        } else {
            "inline in the accepting task"
        };
        if !how.contains(&only) {
            continue;
        }
        let run = async_run(n, on_blocking_pool);
        print_row("curl", how, &run);
    }
}

fn client_name(client: Client) -> &'static str {
    match client {
        Client::Curl => "curl (one process each)",
        Client::Agent => "agent (one process, sockets above its 200 files)",
        Client::AgentLowSockets => "agent (one process, sockets below its 200 files)",
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Shortcuts => "netlink; last owners, command's tree first, cache",
        Mode::Exhaustive => "netlink; every process in /proc order, no cache",
        Mode::NoCommand => "netlink; no command (`proxy`): last owners, then every process",
        Mode::ProcTables => "/proc/net/tcp{,6}; last owners, command's tree first, cache",
    }
}

fn print_row(clients: &str, lookup: &str, run: &Run) {
    let (wall_median, wall_p90) = quantiles(&run.wall).unwrap_or_default();
    let cpu = match quantiles(&run.cpu) {
        Some((median, p90)) => format!("{median:.0} | {p90:.0}"),
        None => "— | —".to_owned(),
    };
    println!(
        "| {clients} | {lookup} | {}/{} ({:.1}%) | {wall_median:.0} | {wall_p90:.0} | {cpu} |",
        run.named,
        run.total,
        100.0 * run.named as f64 / run.total as f64,
    );
}

/// Starts the clients; the process started is the command they descend from.
fn start(client: Client, port: u16, n: usize) -> Child {
    let mut command = match client {
        Client::Curl => {
            let script = format!(
                "i=0; while [ $i -lt {n} ]; do curl -s -o /dev/null --max-time 5 http://127.0.0.1:{port}/bench; i=$((i+1)); done"
            );
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        }
        Client::Agent | Client::AgentLowSockets => {
            let layout = if client == Client::Agent {
                "top"
            } else {
                "low"
            };
            let mut c = Command::new("python3");
            c.args(["-c", AGENT, &port.to_string(), &n.to_string(), layout]);
            c
        }
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the clients")
}

/// Whether the owner found is one of the clients.
fn named(found: &Attribution, client: Client, command: u32) -> bool {
    let Some(process) = found.process.known() else {
        return false;
    };
    match client {
        Client::Curl => process.exe.ends_with("/curl") && process.ppid == command,
        Client::Agent | Client::AgentLowSockets => process.pid == command,
    }
}

fn blocking_run(client: Client, mode: Mode, n: usize) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("bound").port();
    let mut child = start(client, port, n);
    let pid = child.id();
    let attributor = match mode {
        Mode::Shortcuts => Attributor::new(Some(pid)),
        Mode::Exhaustive => Attributor::for_benchmark(Some(pid), false, false),
        Mode::NoCommand => Attributor::new(None),
        Mode::ProcTables => Attributor::for_benchmark(Some(pid), true, true),
    };
    let mut run = Run::new(n);
    for _ in 0..n {
        let (stream, peer) = listener.accept().expect("accept");
        let server = stream.local_addr().expect("local address");
        let (started, cpu) = (Instant::now(), thread_cpu());
        let found = attributor.lookup(peer, server);
        run.cpu.push(thread_cpu() - cpu);
        run.wall.push(started.elapsed().as_secs_f64() * 1e6);
        run.total += 1;
        run.named += usize::from(named(&found, client, pid));
        answer(stream);
    }
    let _ = child.wait();
    run
}

/// Reads the request head (one segment on loopback) and answers `204`.
fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 1024];
    let _ = stream.read(&mut buf);
    let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
}

fn async_run(n: usize, on_blocking_pool: bool) -> Run {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("bound").port();
        let mut child = start(Client::Curl, port, n);
        let pid = child.id();
        let attributor = Arc::new(Attributor::new(Some(pid)));
        let mut run = Run::new(n);
        for _ in 0..n {
            let (stream, peer) = listener.accept().await.expect("accept");
            let server: SocketAddr = stream.local_addr().expect("local address");
            let (started, cpu) = (Instant::now(), thread_cpu());
            let found = if on_blocking_pool {
                let attributor = attributor.clone();
                tokio::task::spawn_blocking(move || attributor.lookup(peer, server))
                    .await
                    .expect("the lookup does not panic")
            } else {
                attributor.lookup(peer, server)
            };
            if !on_blocking_pool {
                run.cpu.push(thread_cpu() - cpu);
            }
            run.wall.push(started.elapsed().as_secs_f64() * 1e6);
            run.total += 1;
            run.named += usize::from(named(&found, Client::Curl, pid));
            let stream = stream.into_std().expect("a std stream");
            let _ = stream.set_nonblocking(false);
            answer(stream);
        }
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        run
    })
}

fn process_count() -> usize {
    std::fs::read_dir("/proc").map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .count()
    })
}
