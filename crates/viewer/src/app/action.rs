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
        for (code, to) in moves {
            assert_eq!(
                PickerAction::from_key(key(code)),
                Some(PickerAction::Move(to))
            );
            assert_eq!(
                FlowsAction::from_key(key(code)),
                Some(FlowsAction::Move(to))
            );
            assert_eq!(
                DetailAction::from_key(key(code)),
                Some(DetailAction::Move(to))
            );
        }
    }

    #[test]
    fn page_keys_page_the_flows_and_the_detail_but_not_the_picker() {
        for (code, to) in [
            (KeyCode::PageDown, Move::PageDown),
            (KeyCode::PageUp, Move::PageUp),
        ] {
            assert_eq!(PickerAction::from_key(key(code)), None);
            assert_eq!(
                FlowsAction::from_key(key(code)),
                Some(FlowsAction::Move(to))
            );
            assert_eq!(
                DetailAction::from_key(key(code)),
                Some(DetailAction::Move(to))
            );
        }
        assert_eq!(
            DetailAction::from_key(char(' ')),
            Some(DetailAction::Move(Move::PageDown))
        );
        assert_eq!(FlowsAction::from_key(char(' ')), None);
    }

    #[test]
    fn picker_keys() {
        assert_eq!(PickerAction::from_key(char('q')), Some(PickerAction::Quit));
        assert_eq!(
            PickerAction::from_key(key(KeyCode::Esc)),
            Some(PickerAction::Quit)
        );
        assert_eq!(PickerAction::from_key(char('?')), Some(PickerAction::Help));
        assert_eq!(
            PickerAction::from_key(char('r')),
            Some(PickerAction::Reload)
        );
        assert_eq!(
            PickerAction::from_key(key(KeyCode::Enter)),
            Some(PickerAction::Open)
        );
        assert_eq!(PickerAction::from_key(char('x')), None);
    }

    #[test]
    fn search_keys_type_every_character() {
        assert_eq!(
            SearchAction::from_key(key(KeyCode::Enter)),
            Some(SearchAction::Confirm)
        );
        assert_eq!(
            SearchAction::from_key(key(KeyCode::Esc)),
            Some(SearchAction::Cancel)
        );
        assert_eq!(
            SearchAction::from_key(key(KeyCode::Backspace)),
            Some(SearchAction::Erase)
        );
        for c in ['q', '?', 'j', '/', '1'] {
            assert_eq!(SearchAction::from_key(char(c)), Some(SearchAction::Type(c)));
        }
        assert_eq!(SearchAction::from_key(key(KeyCode::Down)), None);
    }

    #[test]
    fn flows_keys() {
        let expected = [
            ('q', FlowsAction::Leave),
            ('?', FlowsAction::Help),
            ('t', FlowsAction::Follow),
            ('f', FlowsAction::NextKind),
            ('h', FlowsAction::Host),
            ('p', FlowsAction::Process),
            ('m', FlowsAction::Meta),
            ('/', FlowsAction::Search),
        ];
        for (c, action) in expected {
            assert_eq!(FlowsAction::from_key(char(c)), Some(action), "{c}");
        }
        assert_eq!(
            FlowsAction::from_key(key(KeyCode::Esc)),
            Some(FlowsAction::Back)
        );
        assert_eq!(
            FlowsAction::from_key(key(KeyCode::Enter)),
            Some(FlowsAction::Open)
        );
        assert_eq!(FlowsAction::from_key(char('x')), None);
    }

    #[test]
    fn digits_pick_a_kind_in_the_filter_order() {
        for (i, c) in ('1'..='6').enumerate() {
            assert_eq!(
                FlowsAction::from_key(char(c)),
                Some(FlowsAction::ShowKind(Kind::ORDER[i]))
            );
        }
        assert_eq!(
            FlowsAction::from_key(char('4')),
            Some(FlowsAction::ShowKind(Kind::Errors))
        );
        assert_eq!(FlowsAction::from_key(char('0')), None);
        assert_eq!(FlowsAction::from_key(char('7')), None);
    }

    #[test]
    fn detail_keys() {
        let expected = [
            (key(KeyCode::Char('q')), DetailAction::Close),
            (key(KeyCode::Esc), DetailAction::Close),
            (char('?'), DetailAction::Help),
            (key(KeyCode::Tab), DetailAction::NextTab),
            (key(KeyCode::Right), DetailAction::NextTab),
            (char('l'), DetailAction::NextTab),
            (key(KeyCode::BackTab), DetailAction::PreviousTab),
            (key(KeyCode::Left), DetailAction::PreviousTab),
            (char('Z'), DetailAction::Unfold),
            (char('+'), DetailAction::Unfold),
            (char('z'), DetailAction::Fold),
            (char('-'), DetailAction::Fold),
            (char('v'), DetailAction::Mark),
            (char('c'), DetailAction::CopyPayload),
            (char('y'), DetailAction::CopyLines),
            (char('n'), DetailAction::NextRow),
            (char('p'), DetailAction::PreviousRow),
        ];
        for (key, action) in expected {
            assert_eq!(DetailAction::from_key(key), Some(action), "{key:?}");
        }
        assert_eq!(DetailAction::from_key(char('h')), None);
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
