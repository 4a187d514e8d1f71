//! `phonehome proxy`: a standalone proxy for programs started elsewhere.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result};
use phonehome_record::{CaptureOptions, Mode};

use crate::capture::{Session, SessionSpec};
use crate::cli::ProxyArgs;
use crate::stop::StopSignals;
use crate::summary::print_summary;

/// Time in-flight flows get once the proxy is told to stop (a second signal stops at once).
const DRAIN: Duration = Duration::from_secs(3);

pub async fn proxy(args: ProxyArgs) -> Result<u8> {
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "phonehome: warning: listening on {}, reachable from other machines",
            args.listen
        );
    }
    let credential = args.require_auth.then(new_credential).transpose()?;
    let credential = credential.as_deref();
    let session = Session::start(SessionSpec {
        args: &args.capture,
        mode: Mode::Proxy,
        command: Vec::new(),
        listen: args.listen,
        upstream_from_env: false,
        mode_options: CaptureOptions {
            listen: Some(args.listen),
            require_auth: Some(args.require_auth),
            ..CaptureOptions::default()
        },
        child_env: Vec::new(),
        credential: credential.map(str::to_owned),
    })
    .await?;
    // Watch for the stop signals before telling anyone where the proxy is.
    let mut stop = StopSignals::watch()?;
    let bundle = session.write_bundle()?;
    let addr = session.proxy.local_addr();
    let mut out = format!(
        "# phonehome proxy listening on {addr}\n# capture: {}\n# set in the client's environment:\n",
        session.path.display()
    );
    for (name, value) in phonehome_proxy::child_env(addr, credential, &session.ca, &bundle, &[]) {
        out.push_str(&format!("export {name}='{value}'\n"));
    }
    let mut stdout = std::io::stdout();
    stdout
        .write_all(out.as_bytes())
        .context("cannot write to standard output")?;
    stdout.flush().context("cannot write to standard output")?;

    stop.next().await;
    eprintln!(
        "phonehome: stopping: in-flight flows get up to {} s (Ctrl-C again to stop at once)",
        DRAIN.as_secs()
    );
    let path = session.path.clone();
    let summary = session
        .finish(None, DRAIN, &mut stop, crate::capture::Finish::Stopped)
        .await?;
    print_summary(&summary, &path);
    if args.capture.fail_on_blocked && summary.counts.blocked > 0 {
        return Ok(crate::run::BLOCKED);
    }
    Ok(0)
}

/// A random credential for `--require-auth`: 128 bits from the operating system, as hex.
fn new_credential() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot draw a random credential: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
