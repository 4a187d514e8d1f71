//! `phonehome completions SHELL` and `phonehome man [COMMAND]`: the shell completion scripts
//! (clap_complete) and the man pages (clap_mangen), generated from the command-line
//! definitions in `cli`, written to standard output.

use std::io::Write as _;

use anyhow::{bail, Context as _, Result};
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

/// The name the scripts complete and the pages are titled with.
const BIN_NAME: &str = "phonehome";

pub fn completions(args: &CompletionsArgs) -> Result<u8> {
    let mut command = without_hidden(&Cli::command());
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, BIN_NAME, &mut script);
    write_out(&script).with_context(|| format!("cannot write the {} completions", args.shell))
}

pub fn man(args: &ManArgs) -> Result<u8> {
    let mut command = Cli::command();
    // Built, the commands carry their full names (`phonehome-run`) for their pages' titles.
    command.build();
    let page = match &args.command {
        None => command,
        Some(name) => subcommand(&command, name)?,
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("{BIN_NAME} {}", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)
        .context("cannot render the man page")?;
    write_out(&roff).context("cannot write the man page")
}

/// `command` without its hidden commands (the internal `demo-client`, `isolate-helper`):
/// clap_complete offers every command it is given, hidden or not (clap issue #1335), and
/// `clap::Command` cannot remove one, so the root is put together again.
fn without_hidden(command: &clap::Command) -> clap::Command {
    let mut root = clap::Command::new(BIN_NAME).version(env!("CARGO_PKG_VERSION"));
    if let Some(about) = command.get_about() {
        root = root.about(about.clone());
    }
    root.subcommand_required(command.is_subcommand_required_set())
        .args(command.get_arguments().cloned())
        .subcommands(
            command
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .cloned(),
        )
}

/// The visible command `name` of phonehome.
fn subcommand(command: &clap::Command, name: &str) -> Result<clap::Command> {
    let visible = || command.get_subcommands().filter(|c| !c.is_hide_set());
    if let Some(found) = visible().find(|c| c.get_name() == name) {
        return Ok(found.clone());
    }
    let names: Vec<&str> = visible().map(clap::Command::get_name).collect();
    bail!("no command {name:?}; the commands are {}", names.join(", "))
}

fn write_out(bytes: &[u8]) -> std::io::Result<u8> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(0)
}
