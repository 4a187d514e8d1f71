//! `phonehome view`: a terminal viewer over capture files.
//!
//! ```text
//! folder ─ picker (first and last line of each capture)
//! capture ─ index thread (one pass, byte offsets; follows the file while it grows)
//!         ─ flow list (filters over the index) ─ detail (records re-read by offset, decoded)
//! ```
//!
//! Nothing but the index is kept in memory: a 1 GB capture shows its first screen as soon as
//! its first lines are read, and bodies are read only for the flow being looked at.
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod app;
mod cause;
mod detail;
mod filter;
mod index;
mod json;
mod picker;
mod search;
mod telemetry;
mod ui;

use std::path::Path;
use std::time::Duration;

use crossterm::clipboard::CopyToClipboard;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::Terminal;

pub use app::{Action, App, DetailAction, Drawn, FlowsAction, Move, PickerAction, SearchAction};
pub use filter::{Kind, Options};
pub use index::{Index, IndexData, Row, RowKind, RowRef};
pub use ui::draw;

/// How long the loop waits for a key before looking for new rows.
const TICK: Duration = Duration::from_millis(100);

/// Checks that `path` is a folder, or a file whose first line is a capture header (an empty
/// file passes: a capture just created may not have its header yet).
///
/// # Errors
/// What is wrong, naming the file and line 1.
pub fn check(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    phonehome_analyze::open_regular(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let entry = picker::entry(path);
    match (&entry.problem, entry.size) {
        (Some(problem), size) if size > 0 => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {problem}; not a phonehome capture", path.display()),
        )),
        _ => Ok(()),
    }
}

/// Runs the viewer on `path` (a capture or a folder of captures) until the user quits. The
/// terminal is restored however the viewer ends, panics included.
///
/// # Errors
/// The path cannot be read, or the terminal cannot be set up.
pub fn run(path: &Path, options: Options) -> std::io::Result<()> {
    let mut app = App::open(path, options).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
    })?;
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, &mut app);
    ratatui::try_restore()?;
    result
}

/// Draws `app` on `terminal` and hands what the draw found back to it.
///
/// # Errors
/// The backend's, when the terminal cannot be drawn on.
pub fn render<B: Backend>(terminal: &mut Terminal<B>, app: &mut App) -> Result<(), B::Error> {
    let mut drawn = Drawn::default();
    terminal.draw(|frame| drawn = draw(frame, app))?;
    app.drawn(drawn);
    Ok(())
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> std::io::Result<()> {
    let mut dirty = true;
    while !app.quit {
        if dirty {
            render(terminal, app)?;
            dirty = false;
        }
        if let Some(bytes) = app.copy.take() {
            // OSC 52: the clipboard of the terminal, of tmux, or of the terminal at the other
            // end of an SSH session.
            crossterm::execute!(std::io::stdout(), CopyToClipboard::to_clipboard_from(bytes))?;
        }
        if event::poll(TICK)? {
            match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => {
                    app.key(key);
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        dirty |= app.refresh();
    }
    Ok(())
}
