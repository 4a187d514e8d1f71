//! The summary printed on stderr after `run` and `proxy`: requests and connections, one line
//! per host, failures and denials with their counts, records that never reached the file, OTLP
//! delivery, and the capture's path.

use phonehome_proxy::CaptureSummary;

/// Prints the after-run summary: hosts with request counts, failures, the capture path.
pub fn print_summary(summary: &CaptureSummary, path: &std::path::Path) {
    let mut out = headline(summary);
    out.push_str(&host_lines(summary));
    out.push_str(&problem_lines(summary));
    if summary.dropped_bytes > 0 {
        out.push_str(&format!(
            "  {} body bytes were forwarded but not recorded (recorder behind)\n",
            summary.dropped_bytes
        ));
    }
    out.push_str(&lost_lines(&summary.lost));
    if let Some(otlp) = &summary.otlp {
        out.push_str(&format!(
            "  OTLP: {} spans and log records sent, {} dropped\n",
            otlp.sent,
            otlp.dropped()
        ));
    }
    out.push_str(&format!("  capture: {}\n", path.display()));
    eprint!("{out}");
}

/// The summary's first line: requests, connections, errors, blocked (and sinkholed).
fn headline(summary: &CaptureSummary) -> String {
    let counts = &summary.counts;
    format!(
        "phonehome: {} request{}, {} connection{}, {} error{}, {} blocked{}\n",
        counts.requests,
        plural(counts.requests),
        counts.conns,
        plural(counts.conns),
        counts.errors,
        plural(counts.errors),
        counts.blocked,
        if counts.sinkholed > 0 {
            format!(
                " ({} request{} answered by the sinkhole)",
                counts.sinkholed,
                plural(counts.sinkholed)
            )
        } else {
            String::new()
        },
    )
}

/// One line a host: its requests, and how many failed.
fn host_lines(summary: &CaptureSummary) -> String {
    let mut out = String::new();
    let width = summary.hosts.keys().map(String::len).max().unwrap_or(0);
    for (host, stats) in &summary.hosts {
        out.push_str(&format!(
            "  {host:<width$}  {:>5} request{}",
            stats.requests,
            plural(stats.requests)
        ));
        if stats.errors > 0 {
            out.push_str(&format!(", {} failed", stats.errors));
        }
        out.push('\n');
    }
    out
}

/// The failures and the blocked targets, each with how many times it happened.
fn problem_lines(summary: &CaptureSummary) -> String {
    let times = |count: u64| {
        if count > 1 {
            format!(" (×{count})")
        } else {
            String::new()
        }
    };
    let mut out = String::new();
    if !summary.failures.is_empty() {
        out.push_str("  failures:\n");
        for f in &summary.failures {
            let times = times(f.count);
            out.push_str(&format!(
                "    {} {}: {}{times}\n",
                f.target, f.phase, f.message
            ));
        }
    }
    if !summary.blocked.is_empty() {
        out.push_str("  blocked:\n");
        for b in &summary.blocked {
            let times = times(b.count);
            let dry = if b.enforced {
                ""
            } else {
                " [dry run: not enforced]"
            };
            out.push_str(&format!("    {}: {}{times}{dry}\n", b.target, b.rule));
        }
    }
    out
}

/// The summary's lines on records that never reached the file.
fn lost_lines(lost: &phonehome_record::Lost) -> String {
    let mut out = String::new();
    if lost.recorder_full > 0 {
        out.push_str(&format!(
            "  {} records were not recorded: the capture file was written slower than traffic arrived\n",
            lost.recorder_full
        ));
    }
    if lost.write_failed > 0 || lost.write_error.is_some() {
        out.push_str(&format!(
            "  {} records were not recorded: writing the capture file failed ({})\n",
            lost.write_failed,
            lost.write_error.as_deref().unwrap_or("unknown error")
        ));
    }
    if lost.unwritten_at_stop > 0 {
        out.push_str(&format!(
            "  {} records were not recorded: still queued when phonehome was stopped\n",
            lost.unwritten_at_stop
        ));
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
