//! `web`: a capture explored in a browser, served on loopback or written as one HTML file;
//! and `run/proxy --web`, the same page live while capturing.

use std::path::Path;

use anyhow::{Context as _, Result};
use phonehome_web::{ExportOptions, ServeOptions, Token};

use crate::cli::{LiveWebArgs, WebArgs};

/// `--web-token`, checked.
fn given_token(text: Option<&str>) -> Result<Option<Token>> {
    text.map(|t| Token::given(t).context("--web-token takes letters, digits, '-' and '_' only"))
        .transpose()
}

/// `web CAPTURE --output FILE.html`.
pub fn export(args: &WebArgs) -> Result<u8> {
    let Some(output) = &args.output else {
        anyhow::bail!("--output is required to export");
    };
    let catalog = crate::analysis_cmd::load_catalog(&args.catalog)?;
    let options = ExportOptions {
        max_bodies: args.max_bodies,
        diff: args.diff.clone(),
        ..ExportOptions::default()
    };
    let html = phonehome_web::export(&args.capture, &catalog, options)?;
    crate::analysis_cmd::emit(Some(output), &html)?;
    Ok(0)
}

/// `web CAPTURE [--listen ADDR] [--open]`: serves until interrupted.
pub async fn serve(args: WebArgs) -> Result<u8> {
    let mut options =
        ServeOptions::new(args.listen, given_token(args.web_token.as_deref())?, false)?;
    options.diff = args.diff.clone();
    // The same check as `view`: a path that cannot be opened is an error here; a file that is
    // not a capture is served, and the page says what is wrong with it.
    phonehome_analyze::open_regular(&args.capture)
        .with_context(|| format!("cannot read {}", args.capture.display()))?;
    if let Some(other) = &args.diff {
        phonehome_analyze::open_regular(other)
            .with_context(|| format!("cannot read {}", other.display()))?;
    }
    let catalog = crate::analysis_cmd::load_catalog(&args.catalog)?;
    let server = phonehome_web::start(&args.capture, catalog, options).await?;
    println!("phonehome web: {}", server.url());
    eprintln!(
        "phonehome: serving {} (Ctrl-C to stop)",
        args.capture.display()
    );
    if args.open {
        open_browser(server.url());
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    drop(server);
    Ok(0)
}

/// The options of `--web` on `run` and `proxy`, checked before the capture starts.
pub fn live_options(args: &LiveWebArgs) -> Result<Option<ServeOptions>> {
    let Some(listen) = args.web else {
        return Ok(None);
    };
    let token = given_token(args.web_token.as_deref())?;
    Ok(Some(
        ServeOptions::new(listen, token, true).context("--web")?,
    ))
}

/// Starts serving the capture being written at `path`; prints the URL on stderr.
pub async fn live(options: ServeOptions, path: &Path) -> Result<phonehome_web::Server> {
    let catalog = phonehome_catalog::Catalog::builtin();
    let server = phonehome_web::start(path, catalog, options)
        .await
        .context("--web")?;
    eprintln!("phonehome: web: {}", server.url());
    Ok(server)
}

/// Hands `url` to the desktop's opener; says so when there is none.
fn open_browser(url: &str) {
    let opened = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = opened {
        eprintln!("phonehome: warning: cannot open a browser (xdg-open: {e}); open the URL above");
    }
}
