//! The `phonehome` binary: command-line wiring over the phonehome crates.
// Two relaxations: `lifetime` sets the child's parent-death signal in `pre_exec`, and
// `allocator` sets mimalloc's options (FFI, and a load-time constructor).
#![deny(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

#[cfg(all(feature = "mimalloc", target_os = "linux"))]
mod allocator;
mod analysis_cmd;
mod ca_cmd;
mod capture;
mod cli;
mod demo;
mod docs_cmd;
mod isolate_cmd;
mod lifetime;
mod llm_cmd;
mod log;
mod orphans;
mod otlp_cmd;
mod paths;
mod policy_cmd;
mod proxy_cmd;
mod run;
mod stop;
mod summary;
mod telemetry_cmd;
mod view_cmd;
mod web_cmd;

use std::process::ExitCode;

use clap::Parser as _;

/// The allocator. The analysis floor parses a capture on some threads and frees it on others,
/// which the system allocator serves slowly (BENCHMARKS.md, "The analysis floor on both cores").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when phonehome itself fails (not the command it ran), as `env` and `timeout` do.
const OWN_FAILURE: u8 = 125;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The commands that proxy live long: they give a crowd's memory back once it has gone.
    #[cfg(all(feature = "mimalloc", target_os = "linux"))]
    if is_proxying(&cli.command) {
        if let Err(e) = allocator::purge_soon() {
            eprintln!("phonehome: warning: cannot start the thread that returns freed memory: {e}");
        }
    }
    log::init();
    // Commands that pass on a child's exit code mark their own failures apart from it.
    let own_failure = match cli.command {
        cli::Command::Run(_) | cli::Command::Demo(_) | cli::Command::Proxy(_) => OWN_FAILURE,
        _ => 1,
    };
    let result = dispatch(cli);
    log::finish();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("phonehome: error: {e:#}");
            ExitCode::from(own_failure)
        }
    }
}

fn dispatch(cli: cli::Cli) -> anyhow::Result<u8> {
    use cli::Command;
    match &cli.command {
        Command::Ca(args) => return ca_cmd::ca(args),
        Command::Report(args) => return analysis_cmd::report(args),
        Command::Catalog(args) => return analysis_cmd::catalog(args),
        Command::Allowlist(args) => return analysis_cmd::allowlist(args),
        Command::Export(args) => return analysis_cmd::export(args),
        Command::Policy(command) => return policy_cmd::policy(command),
        Command::Diff(args) => return analysis_cmd::diff(args),
        Command::Llm(args) => return llm_cmd::llm(args),
        Command::Telemetry(args) => return telemetry_cmd::telemetry(args),
        Command::View(args) => return view_cmd::view(args),
        Command::Web(args) if args.output.is_some() => return web_cmd::export(args),
        Command::Completions(args) => return docs_cmd::completions(args),
        Command::Man(args) => return docs_cmd::man(args),
        // Before any runtime: entering a user namespace needs a single-threaded process.
        Command::IsolateHelper(args) => return Ok(isolate_cmd::helper(args)),
        _ => {}
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    // The proxy's workers hand what their crowd freed back to mimalloc when they go idle.
    #[cfg(all(feature = "mimalloc", target_os = "linux"))]
    if is_proxying(&cli.command) {
        builder.on_thread_park(allocator::collect_when_parked);
    }
    let runtime = builder.build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Proxy(args) => proxy_cmd::proxy(args).await,
            Command::Demo(args) => demo::demo(args).await,
            Command::DemoClient(args) => demo::client::run(args).await,
            Command::Web(args) => web_cmd::serve(args).await,
            Command::Ca(_)
            | Command::Report(_)
            | Command::Catalog(_)
            | Command::Allowlist(_)
            | Command::Export(_)
            | Command::Policy(_)
            | Command::Diff(_)
            | Command::Llm(_)
            | Command::Telemetry(_)
            | Command::View(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::IsolateHelper(_) => unreachable!("handled above"),
        }
    })
}

/// The commands that proxy, which live long and serve crowds.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
fn is_proxying(command: &cli::Command) -> bool {
    matches!(
        command,
        cli::Command::Run(_) | cli::Command::Demo(_) | cli::Command::Proxy(_)
    )
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
