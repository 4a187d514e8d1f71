//! [`App::update`]: the one place an [`Action`] changes the viewer's state.

use std::sync::Arc;

use super::action::{Action, DetailAction, FlowsAction, PickerAction, SearchAction};
use super::{App, DetailState, FlowsState, Screen};
use crate::filter::Kind;
use crate::picker;
use crate::search::BodySearch;

impl App {
    /// Does what `action` asks.
    pub fn update(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::CloseHelp => self.help = false,
            Action::Picker(action) => self.update_picker(action),
            Action::Search(action) => self.update_search(action),
            Action::Flows(action) => self.update_flows(action),
            Action::Detail(action) => self.update_detail(action),
        }
    }

    fn update_picker(&mut self, action: PickerAction) {
        let page = self.page.max(1);
        let Some(picker) = &mut self.picker else {
            return;
        };
        let last = picker.entries.len().saturating_sub(1);
        match action {
            PickerAction::Quit => self.quit = true,
            PickerAction::Help => self.help = true,
            PickerAction::Move(to) => picker.selected = to.apply(picker.selected, last, page),
            PickerAction::Reload => match picker::list(&picker.dir) {
                Ok(entries) => {
                    picker.entries = entries;
                    picker.selected = picker.selected.min(picker.entries.len().saturating_sub(1));
                }
                Err(e) => self.message = Some(format!("cannot list {}: {e}", picker.dir.display())),
            },
            PickerAction::Open => {
                let Some(entry) = picker.entries.get(picker.selected) else {
                    return;
                };
                if let Some(problem) = &entry.problem {
                    self.message = Some(format!("{}: {problem}", entry.name()));
                } else {
                    let path = entry.path.clone();
                    self.open_capture(&path, true);
                }
            }
        }
    }

    fn update_search(&mut self, action: SearchAction) {
        let Some(flows) = &mut self.flows else {
            return;
        };
        match action {
            SearchAction::Confirm => {
                flows.searching = false;
                flows.body_matches = None;
                flows.body_search = (!flows.search.is_empty())
                    .then(|| BodySearch::start(&flows.index.path, &flows.search));
            }
            SearchAction::Cancel => {
                flows.searching = false;
                flows.search.clear();
                flows.forget_body_search();
            }
            SearchAction::Erase => {
                flows.search.pop();
                flows.forget_body_search();
            }
            SearchAction::Type(c) => {
                flows.search.push(c);
                flows.forget_body_search();
            }
        }
        self.refilter();
    }

    fn update_flows(&mut self, action: FlowsAction) {
        let page = self.page.max(1);
        let Some(flows) = &mut self.flows else {
            return;
        };
        let last = flows.visible.len().saturating_sub(1);
        let refilter = match action {
            FlowsAction::Back if flows.filtered() => {
                // Esc clears the filters first.
                flows.clear_filters();
                true
            }
            FlowsAction::Leave | FlowsAction::Back => {
                self.leave_flows();
                false
            }
            FlowsAction::Help => {
                self.help = true;
                false
            }
            FlowsAction::Move(to) => {
                flows.selected = to.apply(flows.selected, last, page);
                false
            }
            FlowsAction::Follow => {
                flows.tail = !flows.tail;
                if flows.tail {
                    flows.selected = last;
                }
                self.message = Some(if flows.tail {
                    "following new rows".into()
                } else {
                    "not following new rows".into()
                });
                false
            }
            FlowsAction::NextKind => {
                let at = Kind::ORDER
                    .iter()
                    .position(|k| *k == flows.kind)
                    .unwrap_or(0);
                flows.kind = Kind::ORDER[(at + 1) % Kind::ORDER.len()];
                true
            }
            FlowsAction::ShowKind(kind) => {
                flows.kind = kind;
                true
            }
            FlowsAction::Host => {
                flows.toggle_host();
                true
            }
            FlowsAction::Process => {
                if !flows.toggle_process() {
                    self.message = Some("no process known for this row (yet)".into());
                }
                true
            }
            FlowsAction::Meta => {
                self.options.include_meta = !self.options.include_meta;
                true
            }
            FlowsAction::Search => {
                flows.searching = true;
                false
            }
            FlowsAction::Open => {
                self.open_detail();
                false
            }
        };
        if refilter {
            self.refilter();
        }
    }

    /// Back to the picker the capture was opened from, or quits.
    fn leave_flows(&mut self) {
        if self.flows.as_ref().is_some_and(|f| f.from_picker) {
            self.flows = None;
            self.screen = Screen::Picker;
        } else {
            self.quit = true;
        }
    }

    /// Applies the filters again and takes the rows in.
    fn refilter(&mut self) {
        if let Some(flows) = &mut self.flows {
            flows.seen = None;
        }
        self.refresh();
    }

    fn update_detail(&mut self, action: DetailAction) {
        let page = self.page.max(1);
        let Some(flows) = &mut self.flows else {
            return;
        };
        let Some(d) = &mut flows.detail else {
            return;
        };
        let tabs = d.detail.tabs.len().max(1);
        let last = d.lines().saturating_sub(1);
        match action {
            DetailAction::Close if d.mark.is_some() => d.mark = None,
            DetailAction::Close => flows.detail = None,
            DetailAction::Help => self.help = true,
            DetailAction::NextTab => d.show_tab((d.tab + 1) % tabs),
            DetailAction::PreviousTab => d.show_tab((d.tab + tabs - 1) % tabs),
            DetailAction::Move(to) => d.cursor = to.apply(d.cursor, last, page),
            DetailAction::Unfold | DetailAction::Fold => {
                self.fold_depth = if action == DetailAction::Unfold {
                    (self.fold_depth + 1).min(64)
                } else {
                    self.fold_depth.saturating_sub(1).max(1)
                };
                d.detail.build(self.fold_depth);
                d.cursor = d.cursor.min(d.lines().saturating_sub(1));
                self.message = Some(format!("JSON unfolded to depth {}", self.fold_depth));
            }
            DetailAction::Mark => d.mark = d.mark.xor(Some(d.cursor)),
            DetailAction::CopyPayload | DetailAction::CopyLines => {
                let copied = if action == DetailAction::CopyPayload {
                    d.copy_payload()
                } else {
                    d.copy_lines()
                };
                if let Some((message, bytes)) = copied {
                    self.message = Some(message);
                    self.copy = Some(bytes);
                }
            }
            DetailAction::NextRow | DetailAction::PreviousRow => {
                if flows.step(action == DetailAction::NextRow) {
                    self.open_detail();
                }
            }
            DetailAction::GoToCause => self.go_to_cause(),
        }
    }
}

impl FlowsState {
    /// Whether a search, host, process or kind filter is on.
    fn filtered(&self) -> bool {
        !self.search.is_empty()
            || self.host.is_some()
            || self.process.is_some()
            || self.kind != Kind::All
    }

    fn clear_filters(&mut self) {
        self.search.clear();
        self.forget_body_search();
        self.host = None;
        self.process = None;
        self.kind = Kind::All;
    }

    /// The search changed: what was found in whole records no longer holds.
    fn forget_body_search(&mut self) {
        self.body_search = None;
        self.body_matches = None;
    }

    /// Keeps only the selected row's host, or every host when one was kept.
    fn toggle_host(&mut self) {
        if self.host.is_some() {
            self.host = None;
            return;
        }
        let data = self.index.lock();
        self.host = self
            .visible
            .get(self.selected)
            .and_then(|&i| data.get(i))
            .map(|r| Arc::from(r.host()));
    }

    /// Keeps only the selected row's process, or every process when one was kept. False when
    /// a row is selected and its process is not known.
    fn toggle_process(&mut self) -> bool {
        if self.process.is_some() {
            self.process = None;
            return true;
        }
        let data = self.index.lock();
        let row = self.visible.get(self.selected).and_then(|&i| data.get(i));
        self.process = row.and_then(|r| r.process()).map(Arc::from);
        self.process.is_some() || row.is_none()
    }

    /// Selects the next (or previous) row; false at the end of the list.
    fn step(&mut self, next: bool) -> bool {
        let moved = if next {
            (self.selected + 1 < self.visible.len()).then(|| self.selected + 1)
        } else {
            self.selected.checked_sub(1)
        };
        if let Some(selected) = moved {
            self.selected = selected;
        }
        moved.is_some()
    }
}

impl DetailState {
    /// Lines of the current tab.
    fn lines(&self) -> usize {
        self.detail.tabs.get(self.tab).map_or(0, |t| t.lines.len())
    }

    fn show_tab(&mut self, tab: usize) {
        self.tab = tab;
        self.cursor = 0;
        self.scroll = 0;
        self.mark = None;
    }

    /// The current tab's payload, and what to say about it.
    fn copy_payload(&self) -> Option<(String, Vec<u8>)> {
        let tab = self.detail.tabs.get(self.tab)?;
        let message = format!(
            "copied the {} payload ({} bytes) with OSC 52",
            tab.name.to_lowercase(),
            tab.payload.len()
        );
        Some((message, tab.payload.clone()))
    }

    /// The selected lines (or the one under the cursor) as plain text, and what to say about
    /// them. Drops the selection.
    fn copy_lines(&mut self) -> Option<(String, Vec<u8>)> {
        let last = self.lines().saturating_sub(1);
        let tab = self.detail.tabs.get(self.tab)?;
        let (from, to) = match self.mark {
            Some(mark) => (mark.min(self.cursor), mark.max(self.cursor)),
            None => (self.cursor, self.cursor),
        };
        let text: Vec<String> = tab
            .lines
            .get(from..=to.min(last))
            .unwrap_or_default()
            .iter()
            .map(crate::json::plain)
            .collect();
        let text = text.join("\n");
        let message = format!(
            "copied {} line(s), {} bytes, with OSC 52",
            to - from + 1,
            text.len()
        );
        self.mark = None;
        Some((message, text.into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::super::action::Move;
    use super::*;
    use crate::filter::Options;

    /// The synthetic session of the screen tests: 9 rows, 8 without the meta call, one error,
    /// one blocked.
    fn session() -> App {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/session.jsonl");
        let options = Options {
            static_view: true,
            ..Options::default()
        };
        let mut app = App::open(&path, options).expect("open the fixture");
        app.settle(Duration::from_secs(10));
        app
    }

    fn flows(app: &App) -> &FlowsState {
        app.flows.as_ref().expect("a capture is open")
    }

    fn detail(app: &App) -> &DetailState {
        flows(app).detail.as_ref().expect("the detail is open")
    }

    #[test]
    fn moves_stay_in_the_list() {
        let mut app = session();
        app.page = 5;
        assert_eq!(flows(&app).visible.len(), 8);
        app.update(Action::Flows(FlowsAction::Move(Move::PageDown)));
        assert_eq!(flows(&app).selected, 5);
        app.update(Action::Flows(FlowsAction::Move(Move::PageDown)));
        assert_eq!(flows(&app).selected, 7);
        app.update(Action::Flows(FlowsAction::Move(Move::Down)));
        assert_eq!(flows(&app).selected, 7);
        app.update(Action::Flows(FlowsAction::Move(Move::First)));
        app.update(Action::Flows(FlowsAction::Move(Move::Up)));
        assert_eq!(flows(&app).selected, 0);
    }

    #[test]
    fn esc_clears_the_filters_before_it_quits_and_q_quits_at_once() {
        let mut app = session();
        app.update(Action::Flows(FlowsAction::ShowKind(Kind::Blocked)));
        assert_eq!(flows(&app).visible.len(), 1);
        app.update(Action::Flows(FlowsAction::Back));
        assert!(!app.quit);
        assert_eq!(flows(&app).kind, Kind::All);
        assert_eq!(flows(&app).visible.len(), 8);
        app.update(Action::Flows(FlowsAction::Back));
        assert!(app.quit);

        let mut app = session();
        app.update(Action::Flows(FlowsAction::ShowKind(Kind::Blocked)));
        app.update(Action::Flows(FlowsAction::Leave));
        assert!(app.quit);
    }

    #[test]
    fn next_kind_cycles_back_to_all() {
        let mut app = session();
        for kind in Kind::ORDER.iter().skip(1).chain([&Kind::All]) {
            app.update(Action::Flows(FlowsAction::NextKind));
            assert_eq!(flows(&app).kind, *kind);
        }
    }

    #[test]
    fn host_and_meta_toggle() {
        let mut app = session();
        app.update(Action::Flows(FlowsAction::Move(Move::Down)));
        app.update(Action::Flows(FlowsAction::Host));
        assert_eq!(flows(&app).host.as_deref(), Some("api.openai.test"));
        assert_eq!(flows(&app).visible.len(), 3);
        app.update(Action::Flows(FlowsAction::Host));
        assert_eq!(flows(&app).host, None);
        app.update(Action::Flows(FlowsAction::Meta));
        assert!(app.options.include_meta);
        assert_eq!(flows(&app).visible.len(), 9);
    }

    #[test]
    fn follow_selects_the_last_row_and_says_so() {
        let mut app = session();
        app.update(Action::Flows(FlowsAction::Follow));
        assert!(flows(&app).tail);
        assert_eq!(flows(&app).selected, 7);
        assert_eq!(app.message.as_deref(), Some("following new rows"));
        app.update(Action::Flows(FlowsAction::Follow));
        assert_eq!(app.message.as_deref(), Some("not following new rows"));
    }

    #[test]
    fn a_search_is_typed_then_dropped() {
        let mut app = session();
        app.update(Action::Flows(FlowsAction::Search));
        assert!(flows(&app).searching);
        for c in "registry".chars() {
            app.update(Action::Search(SearchAction::Type(c)));
        }
        assert_eq!(flows(&app).visible.len(), 1);
        app.update(Action::Search(SearchAction::Erase));
        assert_eq!(flows(&app).search, "registr");
        app.update(Action::Search(SearchAction::Cancel));
        assert!(!flows(&app).searching);
        assert_eq!(flows(&app).search, "");
        assert_eq!(flows(&app).visible.len(), 8);
    }

    #[test]
    fn the_detail_copies_marked_lines_then_closes_in_two_steps() {
        let mut app = session();
        app.update(Action::Flows(FlowsAction::Open));
        assert_eq!(detail(&app).tab, 1, "a flow opens on its response");
        app.update(Action::Detail(DetailAction::PreviousTab));
        assert_eq!(detail(&app).tab, 0);
        app.update(Action::Detail(DetailAction::Mark));
        app.update(Action::Detail(DetailAction::Move(Move::Down)));
        assert_eq!(detail(&app).mark, Some(0));
        app.update(Action::Detail(DetailAction::CopyLines));
        assert!(app.copy.is_some());
        let message = app.message.clone().expect("a message");
        assert!(message.starts_with("copied 2 line(s)"), "{message}");
        assert_eq!(detail(&app).mark, None, "a copy drops the selection");

        app.update(Action::Detail(DetailAction::Mark));
        app.update(Action::Detail(DetailAction::Close));
        assert_eq!(detail(&app).mark, None);
        app.update(Action::Detail(DetailAction::Close));
        assert!(flows(&app).detail.is_none());
        assert!(!app.quit);
    }

    #[test]
    fn next_row_opens_its_detail_and_stops_at_the_end() {
        let mut app = session();
        app.update(Action::Flows(FlowsAction::Open));
        app.update(Action::Detail(DetailAction::PreviousRow));
        assert_eq!(flows(&app).selected, 0);
        app.update(Action::Detail(DetailAction::NextRow));
        assert_eq!(flows(&app).selected, 1);
        assert!(flows(&app).detail.is_some());
    }

    #[test]
    fn help_opens_and_any_key_closes_it() {
        let mut app = session();
        app.update(Action::Flows(FlowsAction::Help));
        assert!(app.help);
        let key = ratatui::crossterm::event::KeyEvent::from(
            ratatui::crossterm::event::KeyCode::Char('j'),
        );
        assert_eq!(app.action(key), Some(Action::CloseHelp));
        app.key(key);
        assert!(!app.help);
        assert_eq!(flows(&app).selected, 0, "the key only closed the help");
    }
}
