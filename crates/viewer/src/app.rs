//! The viewer's state and what each key does. Drawing is in `ui` and only reads the state; the
//! terminal loop in `lib` hands what a draw found ([`Drawn`]) back to the state.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

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
    pub conn: Option<u64>,
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
        let caused = crate::cause::refresh(flows, fold_depth);
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

    /// Handles one key press.
    pub fn key(&mut self, key: KeyEvent) {
        self.message = None;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        match self.screen {
            Screen::Picker => self.picker_key(key),
            Screen::Flows => {
                let in_detail = self.flows.as_ref().is_some_and(|f| f.detail.is_some());
                let searching = self.flows.as_ref().is_some_and(|f| f.searching);
                if searching {
                    self.search_key(key);
                } else if in_detail {
                    self.detail_key(key);
                } else {
                    self.flows_key(key);
                }
            }
        }
    }

    fn picker_key(&mut self, key: KeyEvent) {
        let Some(picker) = &mut self.picker else {
            return;
        };
        let len = picker.entries.len();
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Down | KeyCode::Char('j') => {
                picker.selected = (picker.selected + 1).min(len.saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => picker.selected = picker.selected.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') => picker.selected = 0,
            KeyCode::End | KeyCode::Char('G') => picker.selected = len.saturating_sub(1),
            KeyCode::Char('r') => match picker::list(&picker.dir) {
                Ok(entries) => {
                    picker.entries = entries;
                    picker.selected = picker.selected.min(picker.entries.len().saturating_sub(1));
                }
                Err(e) => self.message = Some(format!("cannot list {}: {e}", picker.dir.display())),
            },
            KeyCode::Enter => {
                if let Some(entry) = picker.entries.get(picker.selected) {
                    if let Some(problem) = &entry.problem {
                        self.message = Some(format!("{}: {problem}", entry.name()));
                    } else {
                        let path = entry.path.clone();
                        self.open_capture(&path, true);
                    }
                }
            }
            _ => {}
        }
    }

    fn search_key(&mut self, key: KeyEvent) {
        let Some(flows) = &mut self.flows else {
            return;
        };
        match key.code {
            KeyCode::Enter => {
                flows.searching = false;
                flows.body_matches = None;
                flows.body_search = (!flows.search.is_empty())
                    .then(|| BodySearch::start(&flows.index.path, &flows.search));
            }
            KeyCode::Esc => {
                flows.searching = false;
                flows.search.clear();
                flows.body_search = None;
                flows.body_matches = None;
            }
            KeyCode::Backspace => {
                flows.search.pop();
                flows.body_search = None;
                flows.body_matches = None;
            }
            KeyCode::Char(c) => {
                flows.search.push(c);
                flows.body_search = None;
                flows.body_matches = None;
            }
            _ => return,
        }
        flows.seen = None;
        self.refresh();
    }

    fn flows_key(&mut self, key: KeyEvent) {
        let page = self.page.max(1);
        let Some(flows) = &mut self.flows else {
            return;
        };
        let len = flows.visible.len();
        let last = len.saturating_sub(1);
        let mut refilter = false;
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => {
                let filtered = !flows.search.is_empty()
                    || flows.host.is_some()
                    || flows.process.is_some()
                    || flows.kind != Kind::All;
                if key.code == KeyCode::Char('q') || !filtered {
                    if flows.from_picker {
                        self.flows = None;
                        self.screen = Screen::Picker;
                    } else {
                        self.quit = true;
                    }
                    return;
                }
                // Esc clears the filters first.
                flows.search.clear();
                flows.body_search = None;
                flows.body_matches = None;
                flows.host = None;
                flows.process = None;
                flows.kind = Kind::All;
                refilter = true;
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Down | KeyCode::Char('j') => flows.selected = (flows.selected + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => flows.selected = flows.selected.saturating_sub(1),
            KeyCode::PageDown => flows.selected = (flows.selected + page).min(last),
            KeyCode::PageUp => flows.selected = flows.selected.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => flows.selected = 0,
            KeyCode::End | KeyCode::Char('G') => flows.selected = last,
            KeyCode::Char('t') => {
                flows.tail = !flows.tail;
                if flows.tail {
                    flows.selected = last;
                }
                self.message = Some(if flows.tail {
                    "following new rows".into()
                } else {
                    "not following new rows".into()
                });
            }
            KeyCode::Char('f') => {
                let at = Kind::ORDER
                    .iter()
                    .position(|k| *k == flows.kind)
                    .unwrap_or(0);
                flows.kind = Kind::ORDER[(at + 1) % Kind::ORDER.len()];
                refilter = true;
            }
            KeyCode::Char(c @ '1'..='6') => {
                flows.kind = Kind::ORDER[usize::from(c as u8 - b'1')];
                refilter = true;
            }
            KeyCode::Char('h') => {
                if flows.host.is_some() {
                    flows.host = None;
                } else {
                    let data = flows.index.lock();
                    flows.host = flows
                        .visible
                        .get(flows.selected)
                        .and_then(|&i| data.get(i))
                        .map(|r| Arc::from(r.host()));
                }
                refilter = true;
            }
            KeyCode::Char('p') => {
                if flows.process.is_some() {
                    flows.process = None;
                } else {
                    let data = flows.index.lock();
                    let row = flows.visible.get(flows.selected).and_then(|&i| data.get(i));
                    flows.process = row.and_then(|r| r.process()).map(Arc::from);
                    if flows.process.is_none() && row.is_some() {
                        self.message = Some("no process known for this row (yet)".into());
                    }
                }
                refilter = true;
            }
            KeyCode::Char('m') => {
                self.options.include_meta = !self.options.include_meta;
                refilter = true;
            }
            KeyCode::Char('/') => {
                flows.searching = true;
            }
            KeyCode::Enter => self.open_detail(),
            _ => {}
        }
        if refilter {
            if let Some(flows) = &mut self.flows {
                flows.seen = None;
            }
            self.refresh();
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

    fn detail_key(&mut self, key: KeyEvent) {
        let page = self.page.max(1);
        let Some(flows) = &mut self.flows else {
            return;
        };
        let Some(d) = &mut flows.detail else {
            return;
        };
        let tabs = d.detail.tabs.len().max(1);
        let lines = d.detail.tabs.get(d.tab).map_or(0, |t| t.lines.len());
        let last = lines.saturating_sub(1);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => {
                if d.mark.is_some() {
                    d.mark = None;
                } else {
                    flows.detail = None;
                }
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => {
                d.tab = (d.tab + 1) % tabs;
                d.cursor = 0;
                d.scroll = 0;
                d.mark = None;
            }
            KeyCode::BackTab | KeyCode::Left => {
                d.tab = (d.tab + tabs - 1) % tabs;
                d.cursor = 0;
                d.scroll = 0;
                d.mark = None;
            }
            KeyCode::Down | KeyCode::Char('j') => d.cursor = (d.cursor + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => d.cursor = d.cursor.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => d.cursor = (d.cursor + page).min(last),
            KeyCode::PageUp => d.cursor = d.cursor.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => d.cursor = 0,
            KeyCode::End | KeyCode::Char('G') => d.cursor = last,
            KeyCode::Char('z') | KeyCode::Char('Z') | KeyCode::Char('+') | KeyCode::Char('-') => {
                let unfold = matches!(key.code, KeyCode::Char('Z') | KeyCode::Char('+'));
                self.fold_depth = if unfold {
                    (self.fold_depth + 1).min(64)
                } else {
                    self.fold_depth.saturating_sub(1).max(1)
                };
                d.detail.build(self.fold_depth);
                let lines = d.detail.tabs.get(d.tab).map_or(0, |t| t.lines.len());
                d.cursor = d.cursor.min(lines.saturating_sub(1));
                self.message = Some(format!("JSON unfolded to depth {}", self.fold_depth));
            }
            KeyCode::Char('v') => {
                d.mark = match d.mark {
                    Some(_) => None,
                    None => Some(d.cursor),
                };
            }
            KeyCode::Char('c') => {
                if let Some(tab) = d.detail.tabs.get(d.tab) {
                    self.message = Some(format!(
                        "copied the {} payload ({} bytes) with OSC 52",
                        tab.name.to_lowercase(),
                        tab.payload.len()
                    ));
                    self.copy = Some(tab.payload.clone());
                }
            }
            KeyCode::Char('y') => {
                if let Some(tab) = d.detail.tabs.get(d.tab) {
                    let (from, to) = match d.mark {
                        Some(mark) => (mark.min(d.cursor), mark.max(d.cursor)),
                        None => (d.cursor, d.cursor),
                    };
                    let text: Vec<String> = tab
                        .lines
                        .get(from..=to.min(last))
                        .unwrap_or_default()
                        .iter()
                        .map(crate::json::plain)
                        .collect();
                    let text = text.join("\n");
                    self.message = Some(format!(
                        "copied {} line(s), {} bytes, with OSC 52",
                        to - from + 1,
                        text.len()
                    ));
                    self.copy = Some(text.into_bytes());
                    d.mark = None;
                }
            }
            KeyCode::Char('w') => self.go_to_cause(),
            KeyCode::Char('n') | KeyCode::Char('p') => {
                let next = key.code == KeyCode::Char('n');
                let len = flows.visible.len();
                let moved = if next {
                    (flows.selected + 1 < len).then(|| flows.selected + 1)
                } else {
                    flows.selected.checked_sub(1)
                };
                if let Some(selected) = moved {
                    flows.selected = selected;
                    self.open_detail();
                }
            }
            _ => {}
        }
    }
}
