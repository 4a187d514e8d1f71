//! Command-line definitions (clap). Wiring only: each command's work is in its own module.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

/// Shows, records and controls everything an AI coding agent sends over the network.
#[derive(Debug, Parser)]
#[command(name = "phonehome", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command with its traffic sent through phonehome and recorded.
    Run(RunArgs),
    /// Run a standalone proxy for programs started elsewhere.
    Proxy(ProxyArgs),
    /// Show, locate or export the local CA certificate (created on first use).
    Ca(CaArgs),
    /// Run a scripted agent against a local LLM server, all on loopback, and show the capture.
    Demo(DemoArgs),
    /// Report on a capture (or a HAR file): hosts and why, leaks, verdict, how to switch off
    Report(ReportArgs),
    /// Print the endpoint catalog: hosts, what they are for, how each agent switches them off
    Catalog(CatalogArgs),
    /// The smallest policy that lets a run's successful LLM calls through, and what it denies
    Allowlist(AllowlistArgs),
    /// Convert a capture to HAR 1.2
    Export(ExportArgs),
    /// How two captures (or HAR files) differ: hosts, signatures, headers, TLS fingerprints
    Diff(DiffArgs),
    /// The LLM conversations of a capture: prompts, tools, answers, tokens, timings, errors
    Llm(LlmArgs),
    /// Telemetry per host: protocol, events, attributes, sender, persistent identifiers
    Telemetry(TelemetryArgs),
    /// Check a policy file, or see which rule decides a URL
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Browse captures in the terminal: flows, payloads, LLM conversations (live while recording)
    View(ViewArgs),
    /// Explore a capture in a browser: overview, flows, payloads, conversations; served on
    /// loopback or written as one HTML file
    Web(WebArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or PowerShell
    Completions(CompletionsArgs),
    /// Print the man page (roff) of phonehome or of one of its commands
    Man(ManArgs),
    /// The demo's scripted client (run by `phonehome demo` under `phonehome run`).
    #[command(hide = true)]
    DemoClient(DemoClientArgs),
    /// Sets up the namespaces of `run --isolate` and runs the command (started by `run`).
    #[command(hide = true)]
    IsolateHelper(IsolateHelperArgs),
}

/// Options shared by every command that captures traffic.
#[derive(Debug, Clone, Args)]
pub struct CaptureArgs {
    /// Capture file to write [default: $XDG_DATA_HOME/phonehome/captures/<UTC time>-<name>.jsonl]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Overwrite the --out file when it already holds something (never done otherwise)
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub ca: CaDirArg,

    /// Also trust this CA (PEM) when verifying upstream TLS; repeatable
    #[arg(long = "extra-ca", value_name = "FILE")]
    pub extra_ca: Vec<PathBuf>,

    /// Present the TLS client certificate CERT (PEM; its key in KEY, or in CERT) to upstreams
    /// whose host matches GLOB (`*.corp.example`); repeatable, the first match wins
    #[arg(long = "client-cert", value_name = "GLOB=CERT[,KEY]")]
    pub client_cert: Vec<String>,

    /// Send every outbound connection through this HTTP proxy (http://[user:pass@]host:port)
    #[arg(long, value_name = "URL")]
    pub upstream_proxy: Option<String>,

    /// Bytes of each body to store; longer bodies are marked truncated
    #[arg(long, value_name = "BYTES", default_value_t = phonehome_proxy::DEFAULT_MAX_BODY)]
    pub max_body: usize,

    /// Directory for the spool files of bodies larger than 1 MiB, kept there (unlinked, never
    /// named) until written to the capture [default: the capture file's directory]
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,

    /// Store credentials in the clear (headers, query parameters, key shapes in bodies)
    #[arg(long)]
    pub no_redact: bool,

    /// A value that must not leave the machine (a project name, an internal host): redacted
    /// wherever it appears and reported where it travelled; repeatable
    #[arg(long, value_name = "STRING")]
    pub sensitive: Vec<String>,

    /// What may leave: a preset (observe, llm-only, offline) or a policy file (TOML)
    #[arg(long, value_name = "PRESET|FILE", default_value = "observe")]
    pub policy: String,

    /// Deny nothing; record every would-be denial (`blocked` with `enforced: false`)
    #[arg(long)]
    pub dry_run: bool,

    /// Exit with 3 when anything was blocked (for CI pipelines that run agents)
    #[arg(long)]
    pub fail_on_blocked: bool,

    /// Connections phonehome answers itself instead of refusing them at CONNECT, recording
    /// what they would have sent: denied (by the policy; answered 403), unreachable (DNS,
    /// connect or timeout failures; answered 502), all, or off
    #[arg(long, value_name = "WHICH", default_value = "denied",
          value_parser = clap::builder::PossibleValuesParser::new(phonehome_record::SinkholeMode::NAMES)
              .try_map(|name| name.parse::<phonehome_record::SinkholeMode>()))]
    pub sinkhole: phonehome_record::SinkholeMode,

    /// Seconds a sinkholed connection waits for the client's first bytes
    #[arg(long, value_name = "SECONDS", default_value_t = phonehome_proxy::DEFAULT_SINKHOLE_WAIT.as_secs())]
    pub sinkhole_wait: u64,

    /// Do not look up which process owns each client connection (`conn.process`); `run`
    /// then serves any local client, not only its command's process tree
    #[arg(long)]
    pub no_attribution: bool,

    /// Seconds allowed for DNS, TCP connect and the upstream TLS handshake
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,

    /// End an upstream response that sends no byte for this many seconds, recorded as a
    /// `timeout` error with the bytes so far [default: off, since LLM answers can pause for
    /// minutes]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: Option<u64>,

    #[command(flatten)]
    pub otlp: LiveOtlpArgs,

    #[command(flatten)]
    pub web: LiveWebArgs,
}

/// `--web[=ADDR]` on `run` and `proxy`.
#[derive(Debug, Clone, Default, Args)]
pub struct LiveWebArgs {
    /// Serve the web explorer of the capture while it is recorded, on ADDR (loopback; a random
    /// token in the URL printed on stderr) [default ADDR: 127.0.0.1:0, any free port]
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true, default_missing_value = "127.0.0.1:0")]
    pub web: Option<SocketAddr>,

    /// The token of the web explorer's URL instead of a random one; needed to serve it on an
    /// address other than loopback
    #[arg(long, value_name = "TOKEN")]
    pub web_token: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CaDirArg {
    /// Folder of the local CA [default: $XDG_DATA_HOME/phonehome/ca]
    #[arg(long, value_name = "DIR", env = "PHONEHOME_CA_DIR")]
    pub ca_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,

    /// Hosts that bypass phonehome (NO_PROXY), comma-separated; repeatable
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    pub bypass: Vec<String>,

    /// Seconds to let in-flight flows finish after the command exits
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    pub drain: u64,

    /// Print no summary
    #[arg(long, short)]
    pub quiet: bool,

    #[command(flatten)]
    pub isolate: IsolateArgs,

    /// The command to run, after `--`
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `run --isolate` and its options.
#[derive(Debug, Clone, Default, Args)]
pub struct IsolateArgs {
    /// Run the command in its own network namespace whose only way out is phonehome (Linux):
    /// every TCP connection on any port is captured, DNS is answered and recorded, other UDP
    /// is blocked. Needs root or unprivileged user namespaces
    #[arg(long)]
    pub isolate: bool,

    /// With --isolate: let the command reach this machine's loopback, as the gateway 10.0.2.2
    /// (fd00:7068::2) and the name host.phonehome.internal
    #[arg(long, requires = "isolate")]
    pub isolate_host_loopback: bool,
}

#[derive(Debug, Args)]
pub struct IsolateHelperArgs {
    /// phonehome's Unix socket
    #[arg(long)]
    pub socket: PathBuf,
    /// The file laid over /etc/resolv.conf
    #[arg(long)]
    pub resolv: PathBuf,
    /// The CA bundle laid over the system's
    #[arg(long)]
    pub bundle: PathBuf,
    /// The command, after `--`
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,

    /// Address to listen on (loopback unless you mean otherwise)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve only clients that present a random credential, printed in the environment
    /// lines (HTTP_PROXY=http://phonehome:TOKEN@…); others get 407 and a `blocked` record
    #[arg(long)]
    pub require_auth: bool,
}

#[derive(Debug, Args)]
pub struct CaArgs {
    #[command(flatten)]
    pub ca: CaDirArg,

    #[command(subcommand)]
    pub action: Option<CaAction>,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum CaAction {
    /// Print the path of the CA certificate
    Path,
    /// Describe the CA: subject, validity, SHA-256 fingerprint, files (the default)
    Show,
    /// Print the CA certificate (PEM) to standard output
    Export,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Capture file to write [default: in the captures folder]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub ca: CaDirArg,
}

/// `--catalog FILE`: entries that add to or override the built-in catalog.
#[derive(Debug, Clone, Args)]
pub struct CatalogFileArg {
    /// A catalog file (TOML, the format of data/catalog.toml) whose entries take precedence
    #[arg(long = "catalog", value_name = "FILE")]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown
    Md,
    Json,
    /// One self-contained HTML file
    Html,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A capture file (.jsonl) or a HAR file
    pub capture: PathBuf,
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
    /// Write to FILE instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub catalog: CatalogFileArg,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Only the endpoints this agent contacts, and only its switches (opencode, claude-code, …)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// JSON instead of a Markdown table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub catalog: CatalogFileArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AllowlistFormat {
    /// A policy file that allows these hosts and denies the rest
    Policy,
    /// One host per line
    Hosts,
    /// The allowlist with each host's purpose and reason
    Json,
    /// An Anthropic sandbox-runtime settings file (`srt --settings FILE`)
    Srt,
    /// The `sandbox` section of Claude Code's settings.json
    ClaudeCode,
    /// A Codex permission profile for config.toml (network domains)
    Codex,
    /// A devcontainer firewall fragment: domain list, ipset, iptables
    Firewall,
}

impl AllowlistFormat {
    /// The analysis crate's format.
    pub fn analyze(self) -> phonehome_analyze::AllowlistFormat {
        use phonehome_analyze::AllowlistFormat as F;
        match self {
            Self::Policy => F::Policy,
            Self::Hosts => F::Hosts,
            Self::Json => F::Json,
            Self::Srt => F::Srt,
            Self::ClaudeCode => F::ClaudeCode,
            Self::Codex => F::Codex,
            Self::Firewall => F::Firewall,
        }
    }
}

#[derive(Debug, Args)]
pub struct AllowlistArgs {
    /// A capture file (.jsonl) or a HAR file
    pub capture: PathBuf,
    #[arg(long, value_enum, default_value = "policy")]
    pub format: AllowlistFormat,
    /// Write to FILE instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub catalog: CatalogFileArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// HAR 1.2
    Har,
    /// OpenTelemetry traces, metrics and logs, sent to an OTLP collector
    Otlp,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A capture file (.jsonl)
    pub capture: PathBuf,
    #[arg(long, value_enum, default_value = "har")]
    pub format: ExportFormat,
    /// Write to FILE instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub otlp: OtlpExportArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Markdown
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first capture or HAR file (A)
    pub a: PathBuf,
    /// The second capture or HAR file (B)
    pub b: PathBuf,
    #[arg(long, value_enum, default_value = "md")]
    pub format: DiffFormat,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// A capture, or a folder of captures [default: the captures folder]
    pub path: Option<PathBuf>,
    /// Read the capture as it is now; do not follow one that is still being written
    #[arg(long = "static")]
    pub static_view: bool,
    /// Only the LLM calls of this agent session
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Show side calls (title generation, summaries), hidden by default
    #[arg(long)]
    pub include_meta: bool,
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// The capture (or HAR file) to explore
    pub capture: PathBuf,

    /// Another capture (or HAR file) to compare it with, as `phonehome diff CAPTURE OTHER`
    /// does: the Diff view shows the two side by side
    #[arg(long, value_name = "OTHER")]
    pub diff: Option<PathBuf>,

    /// Address to serve on (loopback unless --web-token is given)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// The token of the URL instead of a random one; needed to serve on an address other
    /// than loopback
    #[arg(long, value_name = "TOKEN")]
    pub web_token: Option<String>,

    /// Open the page in the desktop's browser (xdg-open)
    #[arg(long)]
    pub open: bool,

    /// Write the page as one self-contained HTML file instead of serving it
    #[arg(long, short, value_name = "FILE.html")]
    pub output: Option<PathBuf>,

    /// With --output: embed the records (headers, bodies) of at most this many rows; every
    /// row is listed, and the page says what was left out
    #[arg(long, value_name = "N", default_value_t = phonehome_web::DEFAULT_MAX_BODIES, requires = "output")]
    pub max_bodies: usize,

    #[command(flatten)]
    pub catalog: CatalogFileArg,
}

#[derive(Debug, Args)]
pub struct LlmArgs {
    /// A capture file (.jsonl) or a HAR file
    pub capture: PathBuf,
    /// JSON Lines: one decoded conversation per line, for scripts
    #[arg(long)]
    pub json: bool,
    /// Include side calls (title generation, summaries), hidden by default
    #[arg(long)]
    pub include_meta: bool,
    /// Only the calls of this agent session
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
}

#[derive(Debug, Args)]
pub struct TelemetryArgs {
    /// A capture file (.jsonl) or a HAR file
    pub capture: PathBuf,
    /// JSON Lines: one host a line, for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command (`run`, `report`, …) whose page to print instead of phonehome(1)
    pub command: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file (errors name the line and column)
    Check {
        /// A policy file, or a preset name
        file: String,
    },
    /// Which rule decides a request to URL, or what the policy does to a capture (--capture)
    ///
    /// With --capture, every attempt of the capture (each request, and each connection that
    /// carried none) is decided by the policy. Exit code: 0 when every successful LLM call of
    /// the capture would be allowed, 3 when the policy would deny one, 1 on error.
    Test {
        /// A policy file (phonehome's, or any format `phonehome allowlist` writes), or a
        /// preset name
        file: String,
        /// The request's URL (https://host/path)
        #[arg(required_unless_present = "capture", conflicts_with = "capture")]
        url: Option<String>,
        /// Replay every attempt of this capture instead of one URL
        #[arg(long, value_name = "CAPTURE")]
        capture: Option<PathBuf>,
        /// Read FILE as this format instead of detecting it from its content
        #[arg(long, value_enum)]
        format: Option<AllowlistFormat>,
        /// With --capture: JSON instead of text
        #[arg(long, requires = "capture")]
        json: bool,
        /// The request's method
        #[arg(long, default_value = "GET")]
        method: String,
        #[command(flatten)]
        catalog: CatalogFileArg,
    },
}

#[derive(Debug, Args)]
pub struct DemoClientArgs {
    /// Base URL of the demo LLM server
    #[arg(long)]
    pub base: String,
}

/// `export --format otlp` options; the standard `OTEL_EXPORTER_OTLP_*` variables apply when
/// these are absent.
#[derive(Debug, Clone, Args)]
pub struct OtlpExportArgs {
    /// OTLP collector base URL (`/v1/traces`, … are appended for HTTP) [default:
    /// OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318, 4317 for grpc]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// OTLP transport [default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf]
    #[arg(long, value_name = "PROTOCOL", value_parser = clap::builder::PossibleValuesParser::new(phonehome_otlp::Protocol::NAMES))]
    pub protocol: Option<String>,
    /// A header sent with every export request (K=V); repeatable; adds to
    /// OTEL_EXPORTER_OTLP_HEADERS
    #[arg(long = "header", value_name = "K=V")]
    pub headers: Vec<String>,
    /// Put LLM message content (redacted) on GenAI spans
    #[arg(long)]
    pub otlp_content: bool,
    /// Put `host.name` on the resource
    #[arg(long)]
    pub otlp_host_name: bool,
}

/// `--otlp[=URL]` and friends on `run` and `proxy`.
#[derive(Debug, Clone, Default, Args)]
pub struct LiveOtlpArgs {
    /// Also send the capture, as it is recorded, to an OTLP collector (spans, metrics, logs);
    /// without URL the OTEL_EXPORTER_OTLP_* variables or http://localhost:4318 apply
    #[arg(long, value_name = "URL", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub otlp: Option<String>,
    /// OTLP transport for --otlp: http/protobuf, http/json or grpc
    #[arg(long, value_name = "PROTOCOL", value_parser = clap::builder::PossibleValuesParser::new(phonehome_otlp::Protocol::NAMES))]
    pub otlp_protocol: Option<String>,
    /// A header sent with every OTLP export request (K=V); repeatable
    #[arg(long = "otlp-header", value_name = "K=V")]
    pub otlp_headers: Vec<String>,
    /// Put LLM message content (redacted) on GenAI spans
    #[arg(long)]
    pub otlp_content: bool,
    /// Put `host.name` on the resource
    #[arg(long)]
    pub otlp_host_name: bool,
}
