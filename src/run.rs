//! `phonehome run`: a child process with proxy and CA-trust environment, its exit code ours.

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use phonehome_record::{CaptureOptions, Mode};
use tokio::signal::unix::{signal, SignalKind};

use crate::capture::{Finish, Session, SessionSpec};
use crate::cli::RunArgs;
use crate::isolate_cmd::Isolation;
use crate::stop::{Stop, StopSignals};
use crate::summary::print_summary;

/// Exit code when the command cannot be started (as shells use).
const NOT_STARTED: u8 = 127;
/// Exit code with `--fail-on-blocked` when anything was blocked.
pub const BLOCKED: u8 = 3;

pub async fn run(args: RunArgs) -> Result<u8> {
    run_with(args, true).await
}

/// `run`, taking the upstream proxy from this process's environment only when `upstream_from_env`
/// (the demo never leaves loopback, whatever the environment says).
pub async fn run_with(args: RunArgs, upstream_from_env: bool) -> Result<u8> {
    let isolate = args.isolate.isolate;
    let session = start_session(&args, upstream_from_env).await?;
    let bundle = session.write_bundle()?;
    let mut proxy_addr = session.proxy.local_addr();
    if isolate {
        // Inside the namespace phonehome's proxy port is on the gateway.
        proxy_addr.set_ip(phonehome_isolate::GATEWAY_V4.into());
    }
    let env = phonehome_proxy::child_env(proxy_addr, None, &session.ca, &bundle, &args.bypass);
    let drain = Duration::from_secs(args.drain);
    // Watch the signals before the child exists, so none can end phonehome and orphan it.
    let mut signals = Signals::watch()?;
    let (child, isolation) = match spawn_child(&session, &args, &bundle, env).await {
        Ok(Ok(started)) => started,
        Ok(Err(e)) => {
            let path = session.path.clone();
            session
                .finish(None, drain, &mut signals.stop, Finish::Exited)
                .await?;
            eprintln!(
                "phonehome: error: cannot start {:?}: {e} (capture: {})",
                args.command[0],
                path.display()
            );
            return Ok(NOT_STARTED);
        }
        Err(e) => {
            session
                .finish(None, drain, &mut signals.stop, Finish::Exited)
                .await?;
            return Err(e);
        }
    };
    if !args.capture.no_attribution {
        attribute(&session, &child, isolate);
    }
    let orphans = match child.id() {
        Some(pid) if !args.capture.no_attribution => Some(crate::orphans::adopt(pid)?),
        _ => None,
    };
    let (status, how) = signals.wait_forwarding(child).await?;
    if let Some(reaper) = orphans {
        reaper.abort();
    }
    let code = exit_code(status);
    let path = session.path.clone();
    let summary = session
        .finish(Some(code), drain, &mut signals.stop, how)
        .await?;
    drop(isolation);
    if !args.quiet {
        print_summary(&summary, &path);
    }
    if args.capture.fail_on_blocked && summary.counts.blocked > 0 {
        eprintln!(
            "phonehome: {} blocked; exiting with {BLOCKED}",
            summary.counts.blocked
        );
        return Ok(BLOCKED);
    }
    Ok(u8::try_from(code).unwrap_or(1))
}

/// Checks what must hold before anything starts, then starts the proxy and the capture.
async fn start_session(args: &RunArgs, upstream_from_env: bool) -> Result<Session> {
    check_otlp_spelling(args)?;
    let isolate = args.isolate.isolate;
    if isolate {
        // Before anything starts: no capture, no command when isolation cannot work here.
        phonehome_isolate::check()?;
    }
    let mode_options = CaptureOptions {
        bypass: Some(args.bypass.clone()),
        isolate_host_loopback: isolate.then_some(args.isolate.isolate_host_loopback),
        ..CaptureOptions::default()
    };
    Session::start(SessionSpec {
        args: &args.capture,
        mode: if isolate { Mode::Isolate } else { Mode::Run },
        command: args.command.clone(),
        listen: (std::net::Ipv4Addr::LOCALHOST, 0).into(),
        upstream_from_env,
        mode_options,
        child_env: std::env::vars().collect(),
        credential: None,
    })
    .await
}

/// The command, started with `env`: in its network namespace with `--isolate`, else as a child
/// that dies with phonehome. The inner error is a command that could not be started (exit 127);
/// the outer one, an isolation that could not be set up.
async fn spawn_child(
    session: &Session,
    args: &RunArgs,
    bundle: &std::path::Path,
    env: Vec<(String, String)>,
) -> Result<std::io::Result<(tokio::process::Child, Option<Isolation>)>> {
    if args.isolate.isolate {
        let (child, running) = crate::isolate_cmd::spawn(session, args, bundle, env).await?;
        return Ok(Ok((child, Some(running))));
    }
    let mut command = tokio::process::Command::new(&args.command[0]);
    command.args(&args.command[1..]).envs(env);
    crate::lifetime::dies_with_phonehome(&mut command);
    Ok(command.spawn().map(|child| (child, None)))
}

/// `--otlp http://host:4318 …` (a space, not `=`) leaves `--otlp` bare and makes the URL the
/// command: refused, with the spelling that was meant, before anything starts.
fn check_otlp_spelling(args: &RunArgs) -> Result<()> {
    let bare = args.capture.otlp.otlp.as_deref() == Some("");
    match args.command.first() {
        Some(first) if bare && first.contains("://") => anyhow::bail!(
            "the command would be {first:?}, which looks like a URL: did you mean \
             --otlp={first}? (--otlp takes its URL after `=`)"
        ),
        _ => Ok(()),
    }
}

/// From now on the proxy names the owner of every client socket and serves only the command's
/// process tree. Under `--isolate` the command's sockets are in its own network namespace,
/// read through its pid (the isolation helper became the command).
fn attribute(session: &Session, child: &tokio::process::Child, isolate: bool) {
    let attributor = match child.id() {
        Some(pid) if isolate => phonehome_proxy::Attributor::in_namespace(Some(pid), pid, None),
        pid => phonehome_proxy::Attributor::new(pid),
    };
    session.proxy.handle().attribute_with(attributor);
}

/// The child's exit code; a child killed by signal N gives 128+N, as shells report it.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// The signals `run` passes on to its child.
struct Signals {
    stop: StopSignals,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> Result<Self> {
        Ok(Self {
            stop: StopSignals::watch()?,
            hangup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
        })
    }

    /// Waits for the child, passing on SIGTERM and SIGHUP, and SIGINT unless the terminal
    /// already sent it to the child's process group (Ctrl-C in the foreground). A second
    /// SIGTERM (or SIGINT not from the terminal) kills the child (SIGKILL) and says to stop
    /// at once. Also says whether a stop signal came at all (the drain then bounds the end).
    async fn wait_forwarding(
        &mut self,
        mut child: tokio::process::Child,
    ) -> Result<(ExitStatus, Finish)> {
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let forward = |sig: Signal| {
            if let Some(pid) = pid {
                let _ = kill(pid, sig);
            }
        };
        let mut stops = 0;
        loop {
            tokio::select! {
                status = child.wait() => {
                    let status = status.context("waiting for the command failed")?;
                    let how = if stops > 0 { Finish::Stopped } else { Finish::Exited };
                    return Ok((status, how));
                }
                stop = self.stop.next() => {
                    // Ctrl-C at the terminal reaches the command itself, and is the command's
                    // (agents use it in their own UI): it never counts as a stop request.
                    if stop == Stop::Interrupt && terminal_signals_reach_child() {
                        continue;
                    }
                    stops += 1;
                    if stops > 1 {
                        eprintln!("phonehome: stopping at once: killing the command and writing the end of the capture");
                        forward(Signal::SIGKILL);
                        let status = child.wait().await.context("waiting for the command failed")?;
                        return Ok((status, Finish::AtOnce));
                    }
                    let (signal, name) = match stop {
                        Stop::Interrupt => (Signal::SIGINT, "SIGINT"),
                        Stop::Terminate => (Signal::SIGTERM, "SIGTERM"),
                    };
                    forward(signal);
                    eprintln!("phonehome: passed {name} on to the command; another one stops it at once");
                }
                _ = self.hangup.recv() => forward(Signal::SIGHUP),
            }
        }
    }
}

/// True when this process group is the terminal's foreground group: the terminal then
/// delivers Ctrl-C to the child itself.
fn terminal_signals_reach_child() -> bool {
    nix::unistd::tcgetpgrp(std::io::stdin()).is_ok_and(|fg| fg == nix::unistd::getpgrp())
}
