//! `phonehome view`: the terminal viewer on a capture, or on the captures folder.

use anyhow::{bail, Result};

use crate::cli::ViewArgs;

pub fn view(args: &ViewArgs) -> Result<u8> {
    let path = match &args.path {
        Some(path) => path.clone(),
        None => crate::paths::data_dir()?.join("captures"),
    };
    if !path.exists() {
        match &args.path {
            Some(_) => bail!("{}: no such capture or folder", path.display()),
            None => bail!(
                "no captures yet ({} does not exist); record one with `phonehome run -- COMMAND`",
                path.display()
            ),
        }
    }
    phonehome_viewer::check(&path)?;
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        bail!("`phonehome view` needs a terminal; for scripts use `phonehome report` or `phonehome llm`");
    }
    phonehome_viewer::run(
        &path,
        phonehome_viewer::Options {
            static_view: args.static_view,
            session: args.session.clone(),
            include_meta: args.include_meta,
        },
    )?;
    Ok(0)
}
