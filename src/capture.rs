//! A capture session shared by `run`, `proxy` and `demo`: the CA, the capture file, the
//! recorder and the proxy, started together and finished together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use phonehome_proxy::{
    CaptureSummary, CertificateAuthority, ClientCert, Proxy, ProxyConfig, Recorder,
    RecorderOptions, RecorderTask, UpstreamProxy,
};
use phonehome_record::{Capture, CaptureOptions, CaptureWriter, Mode, Origin, Record, Redactor};

use crate::cli::CaptureArgs;
use crate::paths;
use crate::stop::StopSignals;

/// What a session is for.
pub struct SessionSpec<'a> {
    pub args: &'a CaptureArgs,
    pub mode: Mode,
    /// The child's argv (`run`), empty otherwise.
    pub command: Vec<String>,
    pub listen: SocketAddr,
    /// Also take the upstream proxy from this process's HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
    pub upstream_from_env: bool,
    /// The options of this mode (`bypass`, `listen`, …) to note in the `capture` record; the
    /// session adds those of [`CaptureArgs`].
    pub mode_options: CaptureOptions,
    /// The environment the child gets (`run`); its credential-looking variables become secret
    /// markers. Empty for `proxy`.
    pub child_env: Vec<(String, String)>,
    /// The token clients must present (`proxy --require-auth`).
    pub credential: Option<String>,
}

/// A running capture.
pub struct Session {
    pub proxy: Proxy,
    pub ca: Arc<CertificateAuthority>,
    pub path: PathBuf,
    recorder: Recorder,
    task: RecorderTask,
    _file_size_signal: tokio::signal::unix::Signal,
    /// The live web explorer (`--web`), stopped with the session.
    web: Option<phonehome_web::Server>,
}

/// What the options name, loaded and checked before anything is created.
struct Loaded {
    ca: Arc<CertificateAuthority>,
    client_certs: Vec<ClientCert>,
    upstream_proxy: Option<UpstreamProxy>,
    policy: phonehome_policy::Policy,
}

impl Session {
    /// Loads the CA, checks the options, creates the capture file and starts the proxy.
    pub async fn start(spec: SessionSpec<'_>) -> Result<Session> {
        let args = spec.args;
        // Before anything is created: a --web address that cannot be served is refused.
        let web_options = crate::web_cmd::live_options(&args.web)?;
        let loaded = load(args, spec.upstream_from_env)?;
        let path = capture_path(args, &spec.command)?;
        let writer = open_capture(&path, args.force)?;
        // A file size limit (RLIMIT_FSIZE) then fails the write (EFBIG) instead of killing
        // phonehome; the loss is counted like a full disk. A handler, not SIG_IGN: the child
        // gets the default action back at exec.
        let file_size_signal = tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::from_raw(nix::libc::SIGXFSZ),
        )
        .context("cannot watch SIGXFSZ")?;
        if args.no_redact {
            eprintln!(
                "phonehome: warning: --no-redact: credentials will be stored in the clear in {}",
                path.display()
            );
        }
        let (recorder, task) = start_recorder(&spec, &loaded, writer, &path)?;
        let ca = loaded.ca.clone();
        let config = match proxy_config(&spec, loaded) {
            Ok(config) => config,
            Err(e) => {
                abandon(&recorder, task, &path);
                return Err(e);
            }
        };
        let proxy = match Proxy::start(config, recorder.clone()).await {
            Ok(proxy) => proxy,
            Err(e) => {
                abandon(&recorder, task, &path);
                return Err(e).context("cannot start the proxy");
            }
        };
        let web = match web_options {
            Some(options) => match crate::web_cmd::live(options, &path).await {
                Ok(web) => Some(web),
                Err(e) => {
                    proxy.shutdown(Duration::ZERO).await;
                    abandon(&recorder, task, &path);
                    return Err(e);
                }
            },
            None => None,
        };
        Ok(Session {
            proxy,
            ca,
            path,
            recorder,
            task,
            _file_size_signal: file_size_signal,
            web,
        })
    }

    /// Writes a CA bundle (system roots plus the local CA) beside the CA and returns its path.
    pub fn write_bundle(&self) -> Result<PathBuf> {
        let bundle = self.ca.dir().join("bundle.pem");
        phonehome_proxy::write_ca_bundle(&self.ca, &bundle)
            .with_context(|| format!("cannot write the CA bundle {}", bundle.display()))?;
        Ok(bundle)
    }

    /// Drains the proxy for up to `drain`, writes the `end` record and returns the summary.
    /// After a stop signal (`how` is [`Finish::Stopped`]), `drain` running out ends the wait
    /// for the writer too: what is still queued is counted as unwritten. After the command
    /// exited on its own, the writer writes everything queued, however far behind it is, as
    /// long as it keeps moving. A stop signal meanwhile (or [`Finish::AtOnce`]) ends the wait
    /// and `end` is written at once.
    pub async fn finish(
        self,
        exit_code: Option<i32>,
        drain: Duration,
        stop: &mut StopSignals,
        how: Finish,
    ) -> Result<CaptureSummary> {
        let deadline = tokio::time::Instant::now() + drain;
        let recorder = self.recorder;
        if how == Finish::AtOnce {
            recorder.stop_now();
        } else {
            tokio::select! {
                () = self.proxy.shutdown(drain) => {}
                _ = stop.next() => {
                    eprintln!("phonehome: stopping at once; writing the end of the capture");
                    recorder.stop_now();
                }
            }
        }
        recorder.finish(exit_code);
        drop(self.web);
        // The records of the connections just closed are written even when the drain took
        // all its time: the writer gets a moment beyond it.
        let deadline = deadline.max(tokio::time::Instant::now() + WRITER_GRACE);
        let task = self.task;
        let written = tokio::task::spawn_blocking(move || task.wait());
        tokio::pin!(written);
        let summary = tokio::select! {
            summary = &mut written => summary,
            why = writer_done(&recorder, how, deadline) => {
                eprintln!("phonehome: {why}; writing the end of the capture");
                recorder.stop_now();
                written.await
            }
            _ = stop.next() => {
                eprintln!("phonehome: stopping at once; writing the end of the capture");
                recorder.stop_now();
                written.await
            }
        };
        let summary = summary
            .context("the recorder stopped unexpectedly")?
            .context("the recorder stopped unexpectedly")?;
        if let Some(e) = &summary.end_error {
            eprintln!(
                "phonehome: warning: cannot write the end of the capture file {}: {e}; it ends early",
                self.path.display()
            );
        }
        Ok(summary)
    }
}

/// Why a session is finishing, which says how long its writer may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The command exited on its own (or never started): every queued record is written.
    Exited,
    /// A stop signal arrived: the writer gets `--drain` (and [`WRITER_GRACE`]), no more.
    Stopped,
    /// A second stop signal: `end` at once, what is queued counted as unwritten.
    AtOnce,
}

/// Returns (saying why) when the wait for the writer should end although it has not: after
/// a stop, at `deadline`; otherwise only when the writer has taken nothing off its queue for
/// [`WRITER_STALL`] (stuck, not merely behind). Never returns for [`Finish::AtOnce`], whose
/// writer is already told to stop.
async fn writer_done(
    recorder: &Recorder,
    how: Finish,
    deadline: tokio::time::Instant,
) -> &'static str {
    match how {
        Finish::Stopped => {
            tokio::time::sleep_until(deadline).await;
            "the drain time is over"
        }
        Finish::AtOnce => std::future::pending().await,
        Finish::Exited => {
            let mut seen = recorder.progress();
            loop {
                tokio::time::sleep(WRITER_STALL).await;
                let now = recorder.progress();
                // Nothing queued: the writer is ending the file (the OTLP exporter's last
                // delivery, bounded), not stuck.
                if now == seen && recorder.behind() {
                    return "the capture file has taken no record for 5 s";
                }
                seen = now;
            }
        }
    }
}

/// How long the writer may go on after the proxy has stopped, beyond `--drain`, to write the
/// last records (those of the connections the stop closed).
const WRITER_GRACE: Duration = Duration::from_secs(1);

/// A writer that took no record off its queue for this long is stuck (a hung disk), not
/// behind: the wait for it ends even after a normal exit.
const WRITER_STALL: Duration = Duration::from_secs(5);

/// The CA, the client certificates, the upstream proxy and the policy the options name.
fn load(args: &CaptureArgs, upstream_from_env: bool) -> Result<Loaded> {
    let ca_dir = paths::ca_dir(args.ca.ca_dir.as_deref())?;
    let ca = CertificateAuthority::load_or_create(&ca_dir)
        .with_context(|| format!("cannot set up the local CA in {}", ca_dir.display()))?;
    for file in &args.extra_ca {
        phonehome_proxy::read_pem_certs(file).context("--extra-ca")?;
    }
    let client_certs = args
        .client_cert
        .iter()
        .map(|spec| ClientCert::load(spec).context("--client-cert"))
        .collect::<Result<Vec<_>>>()?;
    Ok(Loaded {
        ca: Arc::new(ca),
        client_certs,
        upstream_proxy: upstream_proxy(args, upstream_from_env)?,
        policy: phonehome_policy::Policy::load(&args.policy).context("--policy")?,
    })
}

/// `--out`, else a new file in the default folder named after the command (`proxy` without).
fn capture_path(args: &CaptureArgs, command: &[String]) -> Result<PathBuf> {
    if let Some(out) = &args.out {
        return Ok(out.clone());
    }
    let name = if command.is_empty() {
        "proxy".to_owned()
    } else {
        paths::command_name(command)
    };
    paths::default_capture(&name)
}

/// The `capture` record's options: those of [`CaptureArgs`], then the mode's.
fn capture_options(
    args: &CaptureArgs,
    upstream_proxy: Option<&UpstreamProxy>,
    mode: CaptureOptions,
) -> CaptureOptions {
    let paths = |files: &[PathBuf]| files.iter().map(|f| f.display().to_string()).collect();
    CaptureOptions {
        max_body: Some(args.max_body as u64),
        redact: Some(!args.no_redact),
        extra_ca: Some(paths(&args.extra_ca)),
        upstream_proxy: upstream_proxy.map(UpstreamProxy::display),
        connect_timeout_ms: Some(args.connect_timeout * 1000),
        client_cert: Some(args.client_cert.clone()),
        idle_timeout_ms: args.idle_timeout.map(|s| s * 1000),
        dry_run: Some(args.dry_run),
        sinkhole: Some(args.sinkhole),
        attribution: Some(!args.no_attribution),
        ..mode
    }
}

/// Writes the `capture` record (options, markers, the agent's package) and starts the recorder.
fn start_recorder(
    spec: &SessionSpec<'_>,
    loaded: &Loaded,
    writer: CaptureWriter,
    path: &Path,
) -> Result<(Recorder, RecorderTask)> {
    let args = spec.args;
    let cwd = std::env::current_dir().unwrap_or_default();
    let env = spec.child_env.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    let collected = phonehome_record::collect_markers(&origin(&cwd), env, &args.sensitive);
    let options = capture_options(
        args,
        loaded.upstream_proxy.as_ref(),
        spec.mode_options.clone(),
    );
    let header = Record::Capture(Capture {
        ts: phonehome_record::now(),
        format: phonehome_record::FORMAT.to_owned(),
        id: capture_id(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        mode: spec.mode,
        command: spec.command.clone(),
        cwd: cwd.display().to_string(),
        policy: loaded.policy.name().to_owned(),
        options,
        markers: collected.markers,
        agent: agent_package(&spec.command, &cwd, &spec.child_env),
    });
    let recorder_options = RecorderOptions {
        max_body: args.max_body,
        redactor: if args.no_redact {
            Redactor::disabled()
        } else {
            Redactor::new().with_secrets(collected.secrets)
        },
        tap: crate::otlp_cmd::live(&args.otlp)?,
        budget: test_knob("PHONEHOME_TEST_RECORDER_BUDGET")?
            .unwrap_or(phonehome_proxy::DEFAULT_BUDGET),
        spool_dir: spool_dir(args.spool_dir.as_deref(), path)?,
        test_write_delay: test_knob("PHONEHOME_TEST_WRITE_DELAY_US")?
            .map(|us| Duration::from_micros(us as u64)),
        // A test-only setting, like the knobs below: a file whose absence holds the spool.
        test_spool_gate: std::env::var_os("PHONEHOME_TEST_SPOOL_GATE").map(PathBuf::from),
    };
    Recorder::start(writer, header, recorder_options)
        .with_context(|| format!("cannot write the capture file {}", path.display()))
}

/// Where large bodies are spooled: `--spool-dir`, which must take a spool file, or else the
/// capture's directory, when it takes one (bodies are kept in memory otherwise, said once).
fn spool_dir(given: Option<&Path>, capture: &Path) -> Result<Option<PathBuf>> {
    if let Some(dir) = given {
        phonehome_proxy::check_spool_dir(dir).with_context(|| {
            format!("cannot make a spool file in --spool-dir {}", dir.display())
        })?;
        return Ok(Some(dir.to_owned()));
    }
    let dir = match capture.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    match phonehome_proxy::check_spool_dir(&dir) {
        Ok(()) => Ok(Some(dir)),
        Err(e) => {
            eprintln!(
                "phonehome: warning: cannot make a spool file in {} ({e}); large bodies are kept in memory (--spool-dir chooses another directory)",
                dir.display()
            );
            Ok(None)
        }
    }
}

/// The proxy's configuration: the session's address and credential, what was loaded, the
/// timeouts and the sinkhole.
fn proxy_config(spec: &SessionSpec<'_>, loaded: Loaded) -> Result<ProxyConfig> {
    let args = spec.args;
    let policy = loaded.policy;
    Ok(ProxyConfig {
        listen: spec.listen,
        ca: loaded.ca,
        extra_ca: args.extra_ca.clone(),
        client_certs: loaded.client_certs,
        upstream_proxy: loaded.upstream_proxy,
        connect_timeout: Duration::from_secs(args.connect_timeout),
        idle_timeout: args.idle_timeout.map(Duration::from_secs),
        sinkhole: args.sinkhole,
        sinkhole_wait: Duration::from_secs(args.sinkhole_wait),
        head_timeout: test_knob("PHONEHOME_TEST_HEAD_TIMEOUT_MS")?
            .map_or(phonehome_proxy::DEFAULT_HEAD_TIMEOUT, |ms| {
                Duration::from_millis(ms as u64)
            }),
        credential: spec.credential.clone(),
        attribution: !args.no_attribution,
        enforcer: policy.can_deny().then(|| {
            Arc::new(phonehome_proxy::Enforcer {
                policy,
                catalog: phonehome_catalog::Catalog::builtin(),
                dry_run: args.dry_run,
            })
        }),
    })
}

/// Undoes a session that could not start: nothing was captured, so no empty capture is left
/// behind.
fn abandon(recorder: &Recorder, task: RecorderTask, path: &Path) {
    recorder.finish(None);
    let _ = task.wait();
    let _ = std::fs::remove_file(path);
}

/// Opens `path` for this capture alone (locked), refusing to empty an existing capture unless
/// `force`.
fn open_capture(path: &Path, force: bool) -> Result<CaptureWriter> {
    CaptureWriter::open(path, force).map_err(|e| {
        let path = path.display();
        match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "the capture file {path} already exists and is not empty; pass --force to \
                 overwrite it, or choose another --out"
            ),
            std::io::ErrorKind::WouldBlock => anyhow::anyhow!(
                "the capture file {path} is being written by another phonehome (run or proxy \
                 with the same --out); choose another --out"
            ),
            _ => anyhow::Error::new(e).context(format!("cannot write the capture file {path}")),
        }
    })
}

/// A test-only setting from the environment (`PHONEHOME_TEST_*`): a whole number, or absent.
/// `PHONEHOME_TEST_WRITE_DELAY_US` stands in for a slow disk (a pause before each record is
/// written); `PHONEHOME_TEST_RECORDER_BUDGET` shrinks the recorder's memory budget (bytes) so
/// that a test reaches the overload rule quickly; `PHONEHOME_TEST_HEAD_TIMEOUT_MS` shortens the
/// time a client has to send a request head (30 s), so that a test of a slow client is quick.
/// Beside them, `PHONEHOME_TEST_SPOOL_GATE` names a file: no spooled body bytes are written
/// while it does not exist, standing in for a disk that does not take writes. None is meant
/// for use outside tests.
fn test_knob(name: &str) -> Result<Option<usize>> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map(Some)
            .with_context(|| format!("{name} (a test setting) must be a whole number")),
        Err(_) => Ok(None),
    }
}

/// This machine's facts for the markers: home, user and host names, the git identity.
fn origin(cwd: &Path) -> Origin<'_> {
    let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    Origin {
        cwd,
        home: var("HOME"),
        user: var("USER").or_else(|| var("LOGNAME")),
        hostname: nix::unistd::gethostname()
            .ok()
            .map(|h| h.to_string_lossy().into_owned()),
        git_user: git_config(cwd, "user.name"),
        git_email: git_config(cwd, "user.email"),
    }
}

/// `git config --get KEY` in `dir`; `None` when git is missing or the key is unset.
fn git_config(dir: &Path, key: &str) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["config", "--get", key])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let value = String::from_utf8(output.stdout).ok()?;
    let value = value.trim();
    (output.status.success() && !value.is_empty()).then(|| value.to_owned())
}

/// The package the command's program belongs to, looked up in the child's `PATH` (else
/// this process's).
fn agent_package(
    command: &[String],
    cwd: &Path,
    env: &[(String, String)],
) -> Option<phonehome_record::AgentPackage> {
    let path = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| std::ffi::OsString::from(value))
        .or_else(|| std::env::var_os("PATH"));
    phonehome_record::agent_package(command, cwd, path.as_deref())
}

fn capture_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

/// `--upstream-proxy`, else (for `run`) the proxy this process was itself told to use.
fn upstream_proxy(args: &CaptureArgs, from_env: bool) -> Result<Option<UpstreamProxy>> {
    if let Some(url) = &args.upstream_proxy {
        return Ok(Some(UpstreamProxy::parse(url).context("--upstream-proxy")?));
    }
    if !from_env {
        return Ok(None);
    }
    fn var(names: &[&'static str]) -> Option<(&'static str, String)> {
        names.iter().find_map(|n| {
            std::env::var(n)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (*n, v))
        })
    }
    let Some((name, url)) = var(&["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]) else {
        return Ok(None);
    };
    let no_proxy = var(&["NO_PROXY", "no_proxy"])
        .map(|(_, v)| v)
        .unwrap_or_default();
    let proxy = UpstreamProxy::parse(&url).with_context(|| format!("{name} in the environment"))?;
    Ok(Some(proxy.with_no_proxy(&no_proxy)))
}
