//! `phonehome run --isolate`: the command in its own network namespace whose only way out is
//! phonehome. The namespaces are made by a helper (this binary's hidden `isolate-helper`
//! command, single-threaded), which hands the TUN device over and then becomes the command;
//! the stack's TCP connections go into the same interception core as proxy connections.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use phonehome_isolate::{Connection, Handoff, Netstack, Route, Sink, StackConfig};
use phonehome_proxy::ProxyHandle;
use phonehome_record::{Record, Target};

use crate::capture::Session;
use crate::cli::{IsolateHelperArgs, RunArgs};

/// How long the helper may take to make the namespaces and report.
const HELPER_WAIT: Duration = Duration::from_secs(30);

/// What keeps the isolation running: the stack, and the folder of the helper's files.
pub struct Isolation {
    _netstack: Netstack,
    _dir: tempfile::TempDir,
}

/// Starts the helper with the child's environment, waits for its TUN device, starts the
/// stack and lets the helper run the command. The helper's process becomes the command's.
pub async fn spawn(
    session: &Session,
    args: &RunArgs,
    bundle: &Path,
    env: Vec<(String, String)>,
) -> Result<(tokio::process::Child, Isolation)> {
    let dir = tempfile::Builder::new()
        .prefix("phonehome-isolate")
        .tempdir()
        .context("cannot make a folder for the isolation helper")?;
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, phonehome_isolate::resolv_conf())
        .with_context(|| format!("cannot write {}", resolv.display()))?;
    let handoff = Handoff::bind(dir.path()).context("cannot listen for the isolation helper")?;
    let exe = std::env::current_exe().context("cannot find phonehome's own executable")?;
    let mut helper = tokio::process::Command::new(exe);
    helper
        .arg("isolate-helper")
        .arg("--socket")
        .arg(handoff.path())
        .arg("--resolv")
        .arg(&resolv)
        .arg("--bundle")
        .arg(bundle)
        .arg("--")
        .args(&args.command)
        .envs(env);
    crate::lifetime::dies_with_phonehome(&mut helper);
    let mut helper = helper
        .spawn()
        .context("cannot start the isolation helper")?;
    let proxy = session.proxy.handle();
    if args.isolate.isolate_host_loopback {
        // The name also works through the proxy variables.
        proxy.alias_host(
            phonehome_isolate::HOST_LOOPBACK_NAME,
            std::net::Ipv4Addr::LOCALHOST.into(),
        );
    }
    let config = StackConfig {
        proxy_port: session.proxy.local_addr().port(),
        host_loopback: args.isolate.isolate_host_loopback,
    };
    let sink = Arc::new(ProxySink { proxy });
    match handoff.start(HELPER_WAIT, config, sink).await {
        Ok(netstack) => Ok((
            helper,
            Isolation {
                _netstack: netstack,
                _dir: dir,
            },
        )),
        Err(e) => {
            let _ = helper.start_kill();
            let _ = helper.wait().await;
            Err(anyhow::Error::new(e).context(format!(
                "cannot isolate {:?}, so it was not started",
                args.command[0]
            )))
        }
    }
}

/// The hidden `isolate-helper` command: make the namespaces, hand the TUN device over, run
/// the command. Returns only when that failed, with the exit code.
pub fn helper(args: &IsolateHelperArgs) -> u8 {
    let spec = phonehome_isolate::HelperSpec {
        socket: args.socket.clone(),
        resolv: args.resolv.clone(),
        bundle: args.bundle.clone(),
        command: args.command.clone(),
    };
    u8::try_from(phonehome_isolate::enter(&spec)).unwrap_or(1)
}

/// The stack's results into the proxy: connections into the interception core, records into
/// the capture, host names to the policy.
struct ProxySink {
    proxy: ProxyHandle,
}

impl Sink for ProxySink {
    fn record(&self, record: Record) {
        self.proxy.recorder().record(record);
    }

    fn deny(&self, target: &Target) -> Option<(String, bool)> {
        self.proxy.denies_host(target)
    }

    fn sinkholes_denials(&self) -> bool {
        self.proxy.sinkhole().denied
    }

    fn connection(&self, connection: Connection) {
        let Connection {
            stream,
            client,
            destination,
            target,
            route,
        } = connection;
        match route {
            Route::Proxy => self.proxy.serve_proxy_client(stream, client, destination),
            Route::Direct { dial } => {
                self.proxy
                    .serve_direct(stream, client, target, dial, destination);
            }
            Route::Refused { rule } => self.proxy.refuse(client, destination, &target, rule),
        }
    }
}
