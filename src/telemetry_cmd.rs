//! `telemetry`: what an agent reports about itself, per host — protocol, events, what they
//! carry, who sent them, and the persistent identifiers that follow the user across runs — as
//! text for people or JSON Lines (one host a line) for scripts.

use std::io::Write as _;

use anyhow::{Context as _, Result};

use crate::cli::TelemetryArgs;

pub fn telemetry(args: &TelemetryArgs) -> Result<u8> {
    let (hosts, warnings) = phonehome_analyze::summarise_telemetry(&args.capture)?;
    crate::analysis_cmd::warn(&args.capture, &warnings);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        for host in &hosts {
            serde_json::to_writer(&mut out, host).context("cannot write to standard output")?;
            out.write_all(b"\n")
                .context("cannot write to standard output")?;
        }
    } else {
        out.write_all(phonehome_analyze::render_telemetry_text(&hosts).as_bytes())
            .context("cannot write to standard output")?;
    }
    out.flush().context("cannot write to standard output")?;
    Ok(0)
}
