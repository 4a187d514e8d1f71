//! Drawing: the capture picker, the flow list, the detail pane, the help overlay.

use phonehome_record::Sinkhole;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Clear, Paragraph, Row as TableRow, Table, TableState, Tabs,
};
use ratatui::Frame;

use crate::app::{App, DetailState, Drawn, FlowsState, PickerState, Screen};
use crate::index::{Row, RowKind};

const KEYS_PICKER: &str = "↑↓ move · Enter open · r reload · ? keys · q quit";
const KEYS_FLOWS: &str =
    "↑↓ move · Enter open · f/1-6 filter · h host · / search · Esc clear · m meta · ? keys · q quit";
const KEYS_DETAIL: &str =
    "Tab switch · ↑↓ move · z/Z fold · c copy payload · v select · y copy · n/p flow · q back";

/// Draws the whole viewer; returns what the state should learn of the screen.
pub fn draw(frame: &mut Frame, app: &App) -> Drawn {
    let [top, main, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let mut drawn = Drawn {
        page: usize::from(main.height.saturating_sub(2)),
        ..Drawn::default()
    };
    match app.screen {
        Screen::Picker => {
            if let Some(picker) = &app.picker {
                top_bar(
                    frame,
                    top,
                    format!("phonehome view · {}", picker.dir.display()),
                );
                draw_picker(frame, main, picker);
            }
            bottom_bar(frame, bottom, app.message.as_deref(), KEYS_PICKER, None);
        }
        Screen::Flows => {
            if let Some(flows) = &app.flows {
                top_bar(
                    frame,
                    top,
                    flows_title(
                        flows,
                        app.options.include_meta,
                        app.options.session.as_deref(),
                    ),
                );
                let message = app.message.as_deref();
                if let Some(detail) = &flows.detail {
                    drawn.detail_scroll = Some(draw_detail(frame, main, detail));
                    bottom_bar(frame, bottom, message, KEYS_DETAIL, None);
                } else {
                    drawn.flows_scroll = Some(draw_flows(frame, main, flows));
                    let search = flows.searching.then(|| flows.search.clone());
                    bottom_bar(frame, bottom, message, KEYS_FLOWS, search);
                }
            }
        }
    }
    if app.help {
        draw_help(frame);
    }
    drawn
}

fn top_bar(frame: &mut Frame, area: Rect, text: String) {
    frame.render_widget(
        Paragraph::new(text).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

fn bottom_bar(
    frame: &mut Frame,
    area: Rect,
    message: Option<&str>,
    keys: &str,
    search: Option<String>,
) {
    let line = if let Some(search) = search {
        Line::from(vec![
            Span::styled("search: ", Style::new().fg(Color::Yellow)),
            Span::raw(search),
            Span::styled("▏", Style::new().fg(Color::Yellow)),
        ])
    } else if let Some(message) = message {
        Line::styled(message.to_owned(), Style::new().fg(Color::Green))
    } else {
        Line::styled(keys.to_owned(), Style::new().add_modifier(Modifier::DIM))
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn flows_title(flows: &FlowsState, include_meta: bool, session: Option<&str>) -> String {
    let data = flows.index.lock();
    let name = flows
        .index
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = vec![format!("phonehome view · {name}")];
    parts.push(format!("{}/{} rows", flows.visible.len(), data.len()));
    let mut filters = vec![flows.kind.name().to_owned()];
    if let Some(host) = &flows.host {
        filters.push(format!("host {host}"));
    }
    if let Some(process) = &flows.process {
        filters.push(format!("process {process}"));
    }
    if !flows.search.is_empty() {
        let scope = match (&flows.body_search, &flows.body_matches) {
            (Some(_), None) => " (searching bodies…)",
            (Some(_), Some(_)) => " in bodies too",
            (None, _) => "",
        };
        filters.push(format!("\"{}\"{scope}", flows.search));
    }
    if let Some(session) = session {
        filters.push(format!("session {session}"));
    }
    if include_meta {
        filters.push("with meta".into());
    }
    parts.push(filters.join(", "));
    let state = if let Some(failure) = &data.failure {
        format!("error: {failure}")
    } else if let Some(lost) = data
        .end
        .as_ref()
        .and_then(|e| e.lost.as_ref())
        .filter(|l| !l.is_empty())
    {
        lost.describe()
    } else if data.end.is_some() {
        "ended".to_owned()
    } else if data.done {
        phonehome_analyze::INCOMPLETE.to_owned()
    } else {
        "following".to_owned()
    };
    parts.push(state);
    if !data.bad_lines.is_empty() {
        let (line, why) = &data.bad_lines[0];
        parts.push(format!(
            "{} unreadable line(s); line {line}: {why}",
            data.bad_lines.len()
        ));
    }
    // The command last: it can be long.
    if let Some(header) = &data.header {
        parts.push(header.command.join(" "));
    }
    parts.join(" · ")
}

fn draw_picker(frame: &mut Frame, area: Rect, picker: &PickerState) {
    if picker.entries.is_empty() {
        frame.render_widget(
            Paragraph::new(format!(
                "No captures in {}. Record one with `phonehome run -- COMMAND`.",
                picker.dir.display()
            ))
            .block(Block::new().borders(Borders::ALL).title(" captures ")),
            area,
        );
        return;
    }
    let rows = picker.entries.iter().map(|e| {
        let started = e
            .header
            .as_ref()
            .map(|h| h.ts.replace('T', " ").chars().take(19).collect::<String>())
            .unwrap_or_default();
        let (requests, errors, blocked) = match &e.end {
            Some(end) => (
                end.counts.requests.to_string(),
                end.counts.errors.to_string(),
                end.counts.blocked.to_string(),
            ),
            None if e.problem.is_none() => ("running".into(), String::new(), String::new()),
            None => (String::new(), String::new(), String::new()),
        };
        let command = match &e.problem {
            Some(problem) => format!("({problem})"),
            None => e.command(),
        };
        TableRow::new(vec![
            started,
            command,
            requests,
            errors,
            blocked,
            human(e.size),
            e.name(),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(19),
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Fill(1),
        ],
    )
    .header(
        TableRow::new(vec![
            "started (UTC)",
            "command",
            "requests",
            "errors",
            "blocked",
            "size",
            "file",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(
        Block::new()
            .borders(Borders::ALL)
            .title(" captures, newest first "),
    );
    let mut state = TableState::new().with_selected(Some(picker.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// The first row to show so that `selected` is on a screen of `height` rows, moving from
/// `scroll` as little as possible.
fn list_scroll(scroll: usize, selected: usize, height: usize) -> usize {
    if selected < scroll {
        selected
    } else if selected >= scroll + height {
        selected + 1 - height
    } else {
        scroll
    }
}

/// Draws the flow list; returns the first row shown.
fn draw_flows(frame: &mut Frame, area: Rect, flows: &FlowsState) -> usize {
    let height = usize::from(area.height.saturating_sub(3)).max(1);
    let scroll = list_scroll(flows.scroll, flows.selected, height);
    let data = flows.index.lock();
    let columns = Columns {
        process: data.has_processes(),
        sinkholed: data.sinkholed,
    };
    let window = flows
        .visible
        .iter()
        .skip(scroll)
        .take(height)
        .filter_map(|&i| data.get(i))
        .map(|r| r.to_row());
    let rows: Vec<TableRow> = window.map(|row| flow_row(&row, columns)).collect();
    let empty = rows.is_empty();
    let table = Table::new(rows, columns.widths())
        .header(TableRow::new(columns.names()).style(Style::new().add_modifier(Modifier::BOLD)))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .block(Block::new().borders(Borders::ALL).title(" flows "));
    let mut state = TableState::new().with_selected((!empty).then(|| flows.selected - scroll));
    frame.render_stateful_widget(table, area, &mut state);
    if empty {
        let why = if data.done || data.end.is_some() {
            "no rows match the filters (Esc clears them)"
        } else {
            "waiting for flows…"
        };
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        frame.render_widget(
            Paragraph::new(why).style(Style::new().add_modifier(Modifier::DIM)),
            inner,
        );
    }
    scroll
}

/// The flow list's columns: the process column when the capture names processes, a wider
/// status when a request was sinkholed.
#[derive(Debug, Clone, Copy)]
struct Columns {
    process: bool,
    sinkholed: bool,
}

impl Columns {
    fn names(self) -> Vec<&'static str> {
        let mut names = vec!["time", "method"];
        if self.process {
            names.push("process");
        }
        names.extend([
            "host and path",
            "status",
            "up/down",
            "ms",
            "purpose",
            "model",
        ]);
        names
    }

    fn widths(self) -> Vec<Constraint> {
        let mut widths = vec![Constraint::Length(12), Constraint::Length(7)];
        if self.process {
            widths.push(Constraint::Length(10));
        }
        let status = if self.sinkholed { 13 } else { 7 };
        widths.extend([
            Constraint::Fill(1),
            Constraint::Length(status),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(16),
            Constraint::Length(16),
        ]);
        widths
    }
}

/// What the status column says of a row, in its colour.
fn status(row: &Row) -> (String, Style) {
    if let (RowKind::Flow, Some(sinkhole)) = (row.kind, row.sinkhole) {
        return sinkholed(sinkhole);
    }
    match row.kind {
        RowKind::Blocked => ("blocked".to_owned(), Style::new().fg(Color::Yellow)),
        RowKind::Conn => ("relay".to_owned(), Style::new().fg(Color::Cyan)),
        RowKind::Dns => ("dns".to_owned(), Style::new().fg(Color::Blue)),
        RowKind::Failure => (
            row.error.as_deref().unwrap_or("error").to_owned(),
            Style::new().fg(Color::Red),
        ),
        RowKind::Flow => match (row.status, &row.error) {
            (Some(status), _) if status >= 400 => (status.to_string(), Style::new().fg(Color::Red)),
            (Some(status), None) => (status.to_string(), Style::new()),
            (Some(status), Some(_)) => (status.to_string(), Style::new().fg(Color::Red)),
            (None, Some(phase)) => (phase.to_string(), Style::new().fg(Color::Red)),
            (None, None) => ("…".to_owned(), Style::new().add_modifier(Modifier::DIM)),
        },
    }
}

/// A request phonehome answered itself: with what, in the colour of a block or a failure.
fn sinkholed(sinkhole: Sinkhole) -> (String, Style) {
    match sinkhole {
        Sinkhole::Unreachable => ("sinkholed 502".to_owned(), Style::new().fg(Color::Red)),
        Sinkhole::Denied => ("sinkholed 403".to_owned(), Style::new().fg(Color::Yellow)),
    }
}

fn flow_row(row: &Row, columns: Columns) -> TableRow<'static> {
    let (status, style) = status(row);
    let place = if matches!(row.port, 80 | 443) || row.kind == RowKind::Dns {
        format!("{}{}", row.host, row.path)
    } else {
        format!("{}:{}{}", row.host, row.port, row.path)
    };
    let sizes = match (row.kind, row.response_size) {
        (RowKind::Flow | RowKind::Conn, Some(down)) => {
            format!("{}/{}", human(row.request_size), human(down))
        }
        (RowKind::Flow, None) => format!("{}/", human(row.request_size)),
        _ => String::new(),
    };
    let model = row.model.as_deref().unwrap_or_default().to_owned();
    let purpose = match (row.purpose, row.meta) {
        (Some(purpose), true) => format!("{purpose} (meta)"),
        (Some(purpose), false) => purpose.to_owned(),
        (None, _) => String::new(),
    };
    let mut cells = vec![row.time.to_string(), row.method.to_string()];
    if columns.process {
        cells.push(row.process.as_deref().unwrap_or_default().to_owned());
    }
    cells.extend([
        place,
        status,
        sizes,
        row.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
        purpose,
        model,
    ]);
    TableRow::new(cells).style(style)
}

/// Draws the detail pane; returns the first line shown.
fn draw_detail(frame: &mut Frame, area: Rect, d: &DetailState) -> usize {
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let names: Vec<&str> = d.detail.tabs.iter().map(|t| t.name).collect();
    frame.render_widget(
        Tabs::new(names)
            .select(d.tab)
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)),
        tabs_area,
    );
    let Some(tab) = d.detail.tabs.get(d.tab) else {
        return d.scroll;
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .title(format!(" {} ", d.detail.title))
        .title_bottom(format!(
            " line {}/{} · {} bytes ",
            (d.cursor + 1).min(tab.lines.len()),
            tab.lines.len(),
            tab.payload.len()
        ));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let width = usize::from(inner.width).max(1);
    let height = usize::from(inner.height).max(1);
    let scroll = detail_scroll(d, &tab.lines, width, height);
    let (from, to) = match d.mark {
        Some(mark) => (mark.min(d.cursor), mark.max(d.cursor)),
        None => (d.cursor, d.cursor),
    };
    let mut shown: Vec<Line> = Vec::with_capacity(height);
    for (i, line) in tab.lines.iter().enumerate().skip(scroll) {
        if shown.len() >= height {
            break;
        }
        let selected = (from..=to).contains(&i);
        for mut piece in wrap(line, width) {
            if selected {
                piece = piece.patch_style(Style::new().add_modifier(Modifier::REVERSED));
            }
            shown.push(piece);
        }
    }
    shown.truncate(height);
    frame.render_widget(Paragraph::new(shown), inner);
    scroll
}

/// The first line to show so that the cursor is on a screen of `height` rows of `width`;
/// wrapped lines can take several rows, so they are counted.
fn detail_scroll(d: &DetailState, lines: &[Line<'static>], width: usize, height: usize) -> usize {
    let mut scroll = d.scroll.min(d.cursor);
    while scroll < d.cursor
        && lines[scroll..=d.cursor]
            .iter()
            .map(|l| wrapped_height(l, width))
            .sum::<usize>()
            > height
    {
        scroll += 1;
    }
    scroll
}

fn wrapped_height(line: &Line, width: usize) -> usize {
    line.width().div_ceil(width).max(1)
}

/// Splits a line into pieces of at most `width` characters, keeping styles.
fn wrap(line: &Line<'static>, width: usize) -> Vec<Line<'static>> {
    if line.width() <= width {
        return vec![line.clone()];
    }
    let mut out = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in &line.spans {
        let mut text = span.content.as_ref();
        while !text.is_empty() {
            let room = width - used;
            let cut = text.char_indices().nth(room).map_or(text.len(), |(i, _)| i);
            let (head, tail) = text.split_at(cut);
            current.push(Span::styled(head.to_owned(), span.style));
            used += head.chars().count();
            text = tail;
            if used >= width {
                out.push(Line::from(std::mem::take(&mut current)).style(line.style));
                used = 0;
            }
        }
    }
    if !current.is_empty() {
        out.push(Line::from(current).style(line.style));
    }
    out
}

fn draw_help(frame: &mut Frame) {
    let text = "\
Capture picker
  ↑/↓ j/k   move            Enter   open the capture
  r         reload          q/Esc   quit

Flow list
  ↑/↓ j/k   move            PgUp/PgDn g/G   page, first, last
  Enter     open the flow   f       next filter
  1 all · 2 requests · 3 responses · 4 errors · 5 blocked · 6 LLM
  h         only this host (again: all hosts)
  p         only this process (again: all processes)
  /         search method, host, path, status, model, purpose, process;
            Enter also searches headers and bodies
  m         show or hide meta calls (titles, summaries)
  t         keep the newest row selected as flows arrive
  Esc       clear the filters (again: back or quit)
  q         back to the picker, or quit

Flow detail
  Tab/←/→   request · response · LLM · records
  ↑/↓ PgUp/PgDn g/G   move the cursor
  z / Z     fold / unfold JSON one level
  c         copy the whole payload of the tab (OSC 52)
  v         start or end a line selection; y copies it (or the line)
  w         to the tool call that caused the connection (its LLM call)
  n / p     next / previous flow
  q/Esc     back to the list

Anywhere: ? this help · Ctrl-C quit";
    let area = frame.area();
    let width = 76.min(area.width);
    let height = 31.min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).block(
            Block::new()
                .borders(Borders::ALL)
                .title(" keys (any key closes) "),
        ),
        popup,
    );
}

/// Bytes as a short human size: 512, 1.5K, 12M.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{value:.0}{}", UNITS[unit])
    }
}
