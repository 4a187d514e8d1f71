//! The viewer's state. A key maps to an action of the current view (`action`), and
//! `update` is the one place an action changes the state. Drawing is in `ui` and only reads
//! the state; the terminal loop in `lib` hands what a draw found ([`Drawn`]) back to the state.

mod action;
mod cause;
mod update;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ratatui::crossterm::event::KeyEvent;

pub use action::{Action, DetailAction, FlowsAction, Move, PickerAction, SearchAction};

use phonehome_record::ConnId;

use crate::cause::{CauseIndex, Verdict};
use crate::detail::Detail;
use crate::filter::{Filter, Kind, Options};
use crate::index::{Index, RowKind};
use crate::picker::{self, Entry};
use crate::search::BodySearch;

pub enum Screen {
    Picker,
    Flows,
}

pub struct PickerState {
    pub dir: PathBuf,
    pub entries: Vec<Entry>,
    pub selected: usize,
}

pub struct DetailState {
    pub detail: Detail,
    pub tab: usize,
    /// Why the row's connection was made, as the join says (updated when it finishes).
    pub cause: Verdict,
    /// The row's connection.
    pub conn: Option<ConnId>,
    /// The line under the cursor, in the current tab.
    pub cursor: usize,
    /// The first line shown.
    pub scroll: usize,
    /// Where a line selection started (`v`).
    pub mark: Option<usize>,
}

pub struct FlowsState {
    pub index: Index,
    pub kind: Kind,
    /// Only rows of this host (`h` on a row).
    pub host: Option<Arc<str>>,
    /// Only rows of this process's connections (`p` on a row): the executable's file name.
    pub process: Option<Arc<str>>,
    pub search: String,
    /// Typing a search (after `/`).
    pub searching: bool,
    /// Row numbers the filters keep.
    pub visible: Vec<usize>,
    pub(crate) seen: Option<u64>,
    pub selected: usize,
    pub scroll: usize,
    /// Keep the newest row selected as rows arrive.
    pub tail: bool,
    pub detail: Option<DetailState>,
    pub from_picker: bool,
    /// The search run over whole records (bodies too) once it is confirmed with Enter.
    pub body_search: Option<BodySearch>,
    /// What it found: the offsets of the records that contain the search.
    pub body_matches: Option<HashSet<u64>>,
    /// The join of tool calls to connections, started once the capture has been read.
    pub causes: Option<CauseIndex>,
}

/// What a draw worked out from the screen's size, for the loop to store in the [`App`]
/// ([`App::drawn`]): drawing reads the state and never changes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drawn {
    /// Rows of the list area (for page keys).
    pub page: usize,
    /// The first flow row shown, keeping the selected row on screen.
    pub flows_scroll: Option<usize>,
    /// The first detail line shown, keeping the cursor on screen.
    pub detail_scroll: Option<usize>,
}

/// The whole viewer.
pub struct App {
    pub options: Options,
    pub screen: Screen,
    pub picker: Option<PickerState>,
    pub flows: Option<FlowsState>,
    pub help: bool,
    pub quit: bool,
    /// A line for the status bar (what a copy did, why a key did nothing).
    pub message: Option<String>,
    /// Bytes to put on the clipboard (the loop sends them with OSC 52).
    pub copy: Option<Vec<u8>>,
    /// How deep JSON is unfolded in the detail pane.
    pub fold_depth: usize,
    /// Rows of the list area at the last draw (for page keys).
    pub page: usize,
}

impl App {
    /// A viewer on `path`: a capture file, or a folder of captures (the picker).
    pub fn open(path: &Path, options: Options) -> std::io::Result<App> {
        let mut app = App {
            options,
            screen: Screen::Flows,
            picker: None,
            flows: None,
            help: false,
            quit: false,
            message: None,
            copy: None,
            fold_depth: 3,
            page: 20,
        };
        if path.is_dir() {
            app.picker = Some(PickerState {
                dir: path.to_owned(),
                entries: picker::list(path)?,
                selected: 0,
            });
            app.screen = Screen::Picker;
        } else {
            // Fail early and clearly on a file that cannot be opened.
            std::fs::File::open(path)?;
            app.open_capture(path, false);
        }
        Ok(app)
    }

    fn open_capture(&mut self, path: &Path, from_picker: bool) {
        let index = Index::open(path, !self.options.static_view);
        self.flows = Some(FlowsState {
            index,
            kind: Kind::All,
            host: None,
            process: None,
            search: String::new(),
            searching: false,
            visible: Vec::new(),
            seen: None,
            selected: 0,
            scroll: 0,
            tail: false,
            detail: None,
            from_picker,
            body_search: None,
            body_matches: None,
            causes: None,
        });
        self.screen = Screen::Flows;
        self.refresh();
    }

    /// Takes in what the last draw worked out from the screen's size.
    pub fn drawn(&mut self, drawn: Drawn) {
        self.page = drawn.page;
        let Some(flows) = &mut self.flows else {
            return;
        };
        if let Some(scroll) = drawn.flows_scroll {
            flows.scroll = scroll;
        }
        if let (Some(scroll), Some(detail)) = (drawn.detail_scroll, &mut flows.detail) {
            detail.scroll = scroll;
        }
    }

    /// Waits until the open capture has been read to its end (or `limit` passed), then takes
    /// the rows in. For tests and benchmarks; the terminal loop never waits.
    pub fn settle(&mut self, limit: std::time::Duration) {
        let start = std::time::Instant::now();
        loop {
            self.refresh();
            let Some(flows) = &self.flows else {
                break;
            };
            let done = {
                let data = flows.index.lock();
                data.done || data.end.is_some()
            };
            let searched = flows.body_search.is_none() || flows.body_matches.is_some();
            let joined = !done || flows.causes.as_ref().is_some_and(CauseIndex::ready);
            if (done && searched && joined) || start.elapsed() >= limit {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.refresh();
    }

    /// Takes in what the index read since the last call. Returns whether anything changed.
    pub fn refresh(&mut self) -> bool {
        let options = &self.options;
        let fold_depth = self.fold_depth;
        let Some(flows) = &mut self.flows else {
            return false;
        };
        let caused = cause::refresh(flows, fold_depth);
        if flows.body_matches.is_none() {
            if let Some(found) = flows.body_search.as_ref().and_then(BodySearch::take_result) {
                flows.body_matches = Some(found);
                flows.seen = None;
            }
        }
        let in_bodies = flows.body_matches.as_ref();
        let data = flows.index.lock();
        if flows.seen == Some(data.generation) {
            return caused;
        }
        let at_end = flows.selected + 1 >= flows.visible.len();
        let selected_row = flows.visible.get(flows.selected).copied();
        let filter = Filter {
            kind: flows.kind,
            include_meta: options.include_meta,
            session: options.session.as_deref(),
            host: flows.host.as_deref(),
            process: flows.process.as_deref(),
            needle: flows.search.to_lowercase(),
            in_bodies,
        };
        flows.visible = data
            .iter()
            .enumerate()
            .filter(|(_, row)| filter.keeps(*row))
            .map(|(i, _)| i)
            .collect();
        flows.seen = Some(data.generation);
        drop(data);
        if flows.tail && at_end {
            flows.selected = flows.visible.len().saturating_sub(1);
        } else if let Some(row) = selected_row {
            flows.selected = flows
                .visible
                .partition_point(|&i| i < row)
                .min(flows.visible.len().saturating_sub(1));
        } else {
            flows.selected = 0;
        }
        true
    }

    /// Handles one key press: the action it maps to in the current view, if any.
    pub fn key(&mut self, key: KeyEvent) {
        self.message = None;
        if let Some(action) = self.action(key) {
            self.update(action);
        }
    }

    /// What `key` asks for in the current view: Ctrl-C quits anywhere, any key closes the
    /// help, else the picker's, the search's, the detail's or the flow list's binding.
    pub fn action(&self, key: KeyEvent) -> Option<Action> {
        if action::is_interrupt(key) {
            return Some(Action::Quit);
        }
        if self.help {
            return Some(Action::CloseHelp);
        }
        match self.screen {
            Screen::Picker => PickerAction::from_key(key).map(Action::Picker),
            Screen::Flows => match &self.flows {
                Some(flows) if flows.searching => SearchAction::from_key(key).map(Action::Search),
                Some(flows) if flows.detail.is_some() => {
                    DetailAction::from_key(key).map(Action::Detail)
                }
                _ => FlowsAction::from_key(key).map(Action::Flows),
            },
        }
    }

    pub(crate) fn open_detail(&mut self) {
        let fold_depth = self.fold_depth;
        let Some(flows) = &mut self.flows else {
            return;
        };
        let row = {
            let data = flows.index.lock();
            flows
                .visible
                .get(flows.selected)
                .and_then(|&i| data.get(i))
                .map(|r| r.to_row())
        };
        if let Some(row) = row {
            let mut detail = Detail::load(&flows.index.path, &row, fold_depth);
            let cause = match (row.conn, &flows.causes) {
                (Some(conn), Some(causes)) => causes.of_conn(conn),
                (Some(_), None) => Verdict::Pending,
                (None, _) => Verdict::Own,
            }
            .attributed(detail.process_known());
            if row.conn.is_some() {
                detail.set_cause(cause.text(), fold_depth);
            }
            // Open on the conversation for LLM calls, on the decoded events for telemetry,
            // else on the response (or the record).
            let tab = detail
                .tabs
                .iter()
                .position(|t| t.name == "LLM" || t.name == "Telemetry")
                .unwrap_or(if row.kind == RowKind::Flow { 1 } else { 0 })
                .min(detail.tabs.len().saturating_sub(1));
            flows.detail = Some(DetailState {
                detail,
                cause,
                conn: row.conn,
                tab,
                cursor: 0,
                scroll: 0,
                mark: None,
            });
        }
    }
}
