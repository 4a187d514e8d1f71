//! Policy decision time with 1,000 rules: `cargo run --release -p phonehome-policy --example
//! decide_bench`. Prints nanoseconds per decision for host decisions on new hosts (no cache),
//! cached host decisions, and per-request decisions.

use std::hint::black_box;
use std::time::Instant;

use phonehome_catalog::Catalog;
use phonehome_policy::{Connecting, Policy, RequestInfo};

fn main() {
    let mut text = String::from("default = \"deny\"\n");
    for i in 0..1_000 {
        let rule = match i % 4 {
            0 => format!("[[rule]]\naction = \"allow\"\nhosts = [\"api{i}.example.test\"]\n"),
            1 => format!("[[rule]]\naction = \"deny\"\nhosts = [\"*.svc{i}.example.test\"]\n"),
            2 => format!("[[rule]]\naction = \"deny\"\nhosts = [\"h{i}.example.test\"]\nmethods = [\"POST\"]\npaths = [\"/v{i}/*\"]\n"),
            _ => "[[rule]]\naction = \"allow\"\npurposes = [\"llm-api\"]\n".to_owned(),
        };
        text.push_str(&rule);
    }
    let policy = Policy::parse(&text, "bench").expect("valid");
    let catalog = Catalog::builtin();
    let unknown = Connecting::unknown();
    let n = 200_000;
    let hosts: Vec<String> = (0..n)
        .map(|i| format!("x{i}.svc{}.example.test", (i * 4 + 1) % 1000))
        .collect();

    let start = Instant::now();
    for host in &hosts {
        black_box(policy.decide_host(host, 443, &unknown, &catalog));
    }
    let new_hosts = start.elapsed().as_nanos() as f64 / n as f64;

    let start = Instant::now();
    for _ in 0..n {
        black_box(policy.decide_host("x7.svc1.example.test", 443, &unknown, &catalog));
    }
    let cached = start.elapsed().as_nanos() as f64 / n as f64;

    let start = Instant::now();
    for i in 0..n {
        let request = RequestInfo {
            host: "h2.example.test",
            port: 443,
            method: if i % 2 == 0 { "POST" } else { "GET" },
            path: "/v2/chat",
            package_registry: false,
            process: &unknown,
        };
        black_box(policy.decide_request(&request, &catalog));
    }
    let per_request = start.elapsed().as_nanos() as f64 / n as f64;

    println!("| decision (1,000 rules) | ns per decision |");
    println!("|---|---:|");
    println!("| host, first time (glob set + catalog lookup) | {new_hosts:.0} |");
    println!("| host, cached | {cached:.0} |");
    println!("| request (method + path rules) | {per_request:.0} |");
}
