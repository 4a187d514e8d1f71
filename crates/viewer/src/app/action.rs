//! What a key asks for, per view: each view maps a key to its own action enum, and
//! [`App::update`](super::App::update) is the one place that changes the state. The bindings
//! are the viewer's help overlay (`?`), kept in this one file.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::filter::Kind;

/// Everything a key can ask of the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ctrl-C, in any view.
    Quit,
    /// Any key while the help overlay is shown.
    CloseHelp,
    Picker(PickerAction),
    Search(SearchAction),
    Flows(FlowsAction),
    Detail(DetailAction),
}

/// A move of the cursor in a list: the picker's captures, the flow rows, the detail's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Down,
    Up,
    PageDown,
    PageUp,
    First,
    Last,
}

impl Move {
    fn from_key(code: KeyCode) -> Option<Move> {
        Some(match code {
            KeyCode::Down | KeyCode::Char('j') => Move::Down,
            KeyCode::Up | KeyCode::Char('k') => Move::Up,
            KeyCode::PageDown => Move::PageDown,
            KeyCode::PageUp => Move::PageUp,
            KeyCode::Home | KeyCode::Char('g') => Move::First,
            KeyCode::End | KeyCode::Char('G') => Move::Last,
            _ => return None,
        })
    }

    /// Where the cursor at `at` goes, in a list whose last index is `last`, `page` lines a page.
    pub(crate) fn apply(self, at: usize, last: usize, page: usize) -> usize {
        match self {
            Move::Down => (at + 1).min(last),
            Move::Up => at.saturating_sub(1),
            Move::PageDown => (at + page).min(last),
            Move::PageUp => at.saturating_sub(page),
            Move::First => 0,
            Move::Last => last,
        }
    }
}

/// The capture picker (a folder was opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickerAction {
    /// `q`, Esc.
    Quit,
    /// `?`.
    Help,
    /// Arrows, `j` `k` `g` `G`, Home, End (no page keys).
    Move(Move),
    /// `r`: list the folder again.
    Reload,
    /// Enter: open the selected capture.
    Open,
}

impl PickerAction {
    pub fn from_key(key: KeyEvent) -> Option<PickerAction> {
        Some(match key.code {
            KeyCode::Char('q') | KeyCode::Esc => PickerAction::Quit,
            KeyCode::Char('?') => PickerAction::Help,
            KeyCode::Char('r') => PickerAction::Reload,
            KeyCode::Enter => PickerAction::Open,
            code => match Move::from_key(code)? {
                Move::PageDown | Move::PageUp => return None,
                to => PickerAction::Move(to),
            },
        })
    }
}

/// Typing a search in the flow list (after `/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchAction {
    /// Enter: keep the search and look for it in whole records too.
    Confirm,
    /// Esc: drop the search.
    Cancel,
    /// Backspace.
    Erase,
    /// Any character.
    Type(char),
}

impl SearchAction {
    pub fn from_key(key: KeyEvent) -> Option<SearchAction> {
        Some(match key.code {
            KeyCode::Enter => SearchAction::Confirm,
            KeyCode::Esc => SearchAction::Cancel,
            KeyCode::Backspace => SearchAction::Erase,
            KeyCode::Char(c) => SearchAction::Type(c),
            _ => return None,
        })
    }
}

/// The flow list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowsAction {
    /// `q`: back to the picker, or quit.
    Leave,
    /// Esc: clear the filters, or leave when there are none.
    Back,
    /// `?`.
    Help,
    /// Arrows, `j` `k` `g` `G`, Home, End, page keys.
    Move(Move),
    /// `t`: follow new rows, or stop following.
    Follow,
    /// `f`: the next kind of row.
    NextKind,
    /// `1`–`6`: one kind of row.
    ShowKind(Kind),
    /// `h`: only the selected row's host, or every host again.
    Host,
    /// `p`: only the selected row's process, or every process again.
    Process,
    /// `m`: show or hide phonehome's own meta calls.
    Meta,
    /// `/`: start typing a search.
    Search,
    /// Enter: open the selected row.
    Open,
}

impl FlowsAction {
    pub fn from_key(key: KeyEvent) -> Option<FlowsAction> {
        Some(match key.code {
            KeyCode::Char('q') => FlowsAction::Leave,
            KeyCode::Esc => FlowsAction::Back,
            KeyCode::Char('?') => FlowsAction::Help,
            KeyCode::Char('t') => FlowsAction::Follow,
            KeyCode::Char('f') => FlowsAction::NextKind,
            KeyCode::Char(c @ '1'..='6') => {
                FlowsAction::ShowKind(Kind::ORDER[usize::from(c as u8 - b'1')])
            }
            KeyCode::Char('h') => FlowsAction::Host,
            KeyCode::Char('p') => FlowsAction::Process,
            KeyCode::Char('m') => FlowsAction::Meta,
            KeyCode::Char('/') => FlowsAction::Search,
            KeyCode::Enter => FlowsAction::Open,
            code => FlowsAction::Move(Move::from_key(code)?),
        })
    }
}

/// The detail pane of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailAction {
    /// `q`, Esc: drop the line selection, or close the pane.
    Close,
    /// `?`.
    Help,
    /// Tab, Right, `l`.
    NextTab,
    /// Shift-Tab, Left.
    PreviousTab,
    /// Arrows, `j` `k` `g` `G`, Home, End, page keys and space.
    Move(Move),
    /// `Z`, `+`: unfold JSON one level deeper.
    Unfold,
    /// `z`, `-`: fold JSON one level.
    Fold,
    /// `v`: start or drop a line selection.
    Mark,
    /// `c`: copy the tab's payload.
    CopyPayload,
    /// `y`: copy the selected lines (or the line under the cursor).
    CopyLines,
    /// `n`: the next row's detail.
    NextRow,
    /// `p`: the previous row's detail.
    PreviousRow,
    /// `w`: to the tool call that caused the flow's connection.
    GoToCause,
}

impl DetailAction {
    pub fn from_key(key: KeyEvent) -> Option<DetailAction> {
        Some(match key.code {
            KeyCode::Char('q') | KeyCode::Esc => DetailAction::Close,
            KeyCode::Char('?') => DetailAction::Help,
            KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => DetailAction::NextTab,
            KeyCode::BackTab | KeyCode::Left => DetailAction::PreviousTab,
            KeyCode::Char(' ') => DetailAction::Move(Move::PageDown),
            KeyCode::Char('Z') | KeyCode::Char('+') => DetailAction::Unfold,
            KeyCode::Char('z') | KeyCode::Char('-') => DetailAction::Fold,
            KeyCode::Char('v') => DetailAction::Mark,
            KeyCode::Char('c') => DetailAction::CopyPayload,
            KeyCode::Char('y') => DetailAction::CopyLines,
            KeyCode::Char('n') => DetailAction::NextRow,
            KeyCode::Char('p') => DetailAction::PreviousRow,
            KeyCode::Char('w') => DetailAction::GoToCause,
            code => DetailAction::Move(Move::from_key(code)?),
        })
    }
}

/// Ctrl-C, which quits from every view.
pub(crate) fn is_interrupt(key: KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn char(c: char) -> KeyEvent {
        key(KeyCode::Char(c))
    }

    /// Checks that each key maps to its action (`None`: the view ignores the key).
    fn check<A: PartialEq + std::fmt::Debug>(
        from_key: fn(KeyEvent) -> Option<A>,
        expected: impl IntoIterator<Item = (KeyEvent, Option<A>)>,
    ) {
        for (key, action) in expected {
            assert_eq!(from_key(key), action, "{key:?}");
        }
    }

    #[test]
    fn moves_are_the_same_keys_in_every_list() {
        let moves = [
            (KeyCode::Down, Move::Down),
            (KeyCode::Char('j'), Move::Down),
            (KeyCode::Up, Move::Up),
            (KeyCode::Char('k'), Move::Up),
            (KeyCode::Home, Move::First),
            (KeyCode::Char('g'), Move::First),
            (KeyCode::End, Move::Last),
            (KeyCode::Char('G'), Move::Last),
        ];
        let picker = moves.map(|(code, to)| (key(code), Some(PickerAction::Move(to))));
        check(PickerAction::from_key, picker);
        let flows = moves.map(|(code, to)| (key(code), Some(FlowsAction::Move(to))));
        check(FlowsAction::from_key, flows);
        let detail = moves.map(|(code, to)| (key(code), Some(DetailAction::Move(to))));
        check(DetailAction::from_key, detail);
    }

    #[test]
    fn page_keys_page_the_flows_and_the_detail_but_not_the_picker() {
        let pages = [
            (KeyCode::PageDown, Move::PageDown),
            (KeyCode::PageUp, Move::PageUp),
        ];
        check(
            PickerAction::from_key,
            pages.map(|(code, _)| (key(code), None)),
        );
        let flows = pages.map(|(code, to)| (key(code), Some(FlowsAction::Move(to))));
        check(FlowsAction::from_key, flows);
        check(FlowsAction::from_key, [(char(' '), None)]);
        let detail = pages.map(|(code, to)| (key(code), Some(DetailAction::Move(to))));
        check(DetailAction::from_key, detail);
        let space = (char(' '), Some(DetailAction::Move(Move::PageDown)));
        check(DetailAction::from_key, [space]);
    }

    #[test]
    fn picker_keys() {
        check(
            PickerAction::from_key,
            vec![
                (char('q'), Some(PickerAction::Quit)),
                (key(KeyCode::Esc), Some(PickerAction::Quit)),
                (char('?'), Some(PickerAction::Help)),
                (char('r'), Some(PickerAction::Reload)),
                (key(KeyCode::Enter), Some(PickerAction::Open)),
                (char('x'), None),
            ],
        );
    }

    #[test]
    fn search_keys_type_every_character() {
        let mut expected = vec![
            (key(KeyCode::Enter), Some(SearchAction::Confirm)),
            (key(KeyCode::Esc), Some(SearchAction::Cancel)),
            (key(KeyCode::Backspace), Some(SearchAction::Erase)),
            (key(KeyCode::Down), None),
        ];
        expected.extend(['q', '?', 'j', '/', '1'].map(|c| (char(c), Some(SearchAction::Type(c)))));
        check(SearchAction::from_key, expected);
    }

    #[test]
    fn flows_keys() {
        check(
            FlowsAction::from_key,
            vec![
                (char('q'), Some(FlowsAction::Leave)),
                (key(KeyCode::Esc), Some(FlowsAction::Back)),
                (char('?'), Some(FlowsAction::Help)),
                (char('t'), Some(FlowsAction::Follow)),
                (char('f'), Some(FlowsAction::NextKind)),
                (char('h'), Some(FlowsAction::Host)),
                (char('p'), Some(FlowsAction::Process)),
                (char('m'), Some(FlowsAction::Meta)),
                (char('/'), Some(FlowsAction::Search)),
                (key(KeyCode::Enter), Some(FlowsAction::Open)),
                (char('x'), None),
            ],
        );
    }

    #[test]
    fn digits_pick_a_kind_in_the_filter_order() {
        let mut expected: Vec<_> = ('1'..='6')
            .zip(Kind::ORDER)
            .map(|(c, kind)| (char(c), Some(FlowsAction::ShowKind(kind))))
            .collect();
        expected.extend([
            (char('4'), Some(FlowsAction::ShowKind(Kind::Errors))),
            (char('0'), None),
            (char('7'), None),
        ]);
        check(FlowsAction::from_key, expected);
    }

    #[test]
    fn detail_keys() {
        check(
            DetailAction::from_key,
            vec![
                (char('q'), Some(DetailAction::Close)),
                (key(KeyCode::Esc), Some(DetailAction::Close)),
                (char('?'), Some(DetailAction::Help)),
                (key(KeyCode::Tab), Some(DetailAction::NextTab)),
                (key(KeyCode::Right), Some(DetailAction::NextTab)),
                (char('l'), Some(DetailAction::NextTab)),
                (key(KeyCode::BackTab), Some(DetailAction::PreviousTab)),
                (key(KeyCode::Left), Some(DetailAction::PreviousTab)),
                (char('Z'), Some(DetailAction::Unfold)),
                (char('+'), Some(DetailAction::Unfold)),
                (char('z'), Some(DetailAction::Fold)),
                (char('-'), Some(DetailAction::Fold)),
                (char('v'), Some(DetailAction::Mark)),
                (char('c'), Some(DetailAction::CopyPayload)),
                (char('y'), Some(DetailAction::CopyLines)),
                (char('n'), Some(DetailAction::NextRow)),
                (char('p'), Some(DetailAction::PreviousRow)),
                (char('w'), Some(DetailAction::GoToCause)),
                (char('h'), None),
            ],
        );
    }

    #[test]
    fn only_ctrl_c_interrupts() {
        assert!(is_interrupt(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL
        )));
        assert!(!is_interrupt(char('c')));
        assert!(!is_interrupt(KeyEvent::new(
            KeyCode::Char('d'),
            KeyModifiers::CONTROL
        )));
    }

    #[test]
    fn a_move_stays_in_the_list() {
        assert_eq!(Move::Down.apply(4, 4, 10), 4);
        assert_eq!(Move::Down.apply(1, 4, 10), 2);
        assert_eq!(Move::Up.apply(0, 4, 10), 0);
        assert_eq!(Move::PageDown.apply(1, 40, 10), 11);
        assert_eq!(Move::PageDown.apply(35, 40, 10), 40);
        assert_eq!(Move::PageUp.apply(5, 40, 10), 0);
        assert_eq!(Move::First.apply(7, 40, 10), 0);
        assert_eq!(Move::Last.apply(7, 40, 10), 40);
    }
}
