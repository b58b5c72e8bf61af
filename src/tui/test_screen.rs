//! Drawing the console into a test buffer, as text and as text with its styles, for snapshots and
//! cell-level assertions.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::app::App;
use super::views;

/// The frame `app` draws at `w`x`h`.
pub(crate) fn buffer(app: &App, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| views::render(f, app)).unwrap();
    terminal.backend().buffer().clone()
}

/// The text of a frame, one line per row, trailing blanks trimmed.
pub(crate) fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A style in a few words: `red+bold`, `black/yellow` (foreground on background), `+reversed`.
pub(crate) fn style_name(fg: Color, bg: Color, modifier: Modifier) -> String {
    let color = |c: Color| format!("{c:?}").to_lowercase();
    let mut out = String::new();
    if fg != Color::Reset {
        out.push_str(&color(fg));
    }
    if bg != Color::Reset {
        out.push('/');
        out.push_str(&color(bg));
    }
    for (m, name) in [
        (Modifier::BOLD, "bold"),
        (Modifier::DIM, "dim"),
        (Modifier::ITALIC, "italic"),
        (Modifier::UNDERLINED, "underlined"),
        (Modifier::REVERSED, "reversed"),
        (Modifier::CROSSED_OUT, "crossed"),
        (Modifier::SLOW_BLINK, "blink"),
        (Modifier::HIDDEN, "hidden"),
    ] {
        if modifier.contains(m) {
            out.push('+');
            out.push_str(name);
        }
    }
    out
}

/// The style of the cell at (x, y) in [`style_name`] notation; empty when plain.
pub(crate) fn cell_style(buf: &Buffer, x: u16, y: u16) -> String {
    let c = &buf[(x, y)];
    style_name(c.fg, c.bg, c.modifier)
}

/// The styled runs of one row: `0-9 cyan+bold, 12 red`; plain cells are left out.
fn row_styles(buf: &Buffer, y: u16) -> String {
    let mut runs: Vec<(u16, u16, String)> = Vec::new();
    for x in 0..buf.area.width {
        let s = cell_style(buf, x, y);
        match runs.last_mut() {
            Some((_, end, last)) if *last == s && *end + 1 == x => *end = x,
            _ => runs.push((x, x, s)),
        }
    }
    runs.into_iter()
        .filter(|(_, _, s)| !s.is_empty())
        .map(|(a, b, s)| {
            if a == b {
                format!("{a} {s}")
            } else {
                format!("{a}-{b} {s}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of a frame, then its styles: one line per run of rows with the same styled columns.
pub(crate) fn styled(buf: &Buffer) -> String {
    let mut out = text(buf);
    out.push_str("--- styles: rows: columns style ---\n");
    let rows: Vec<String> = (0..buf.area.height).map(|y| row_styles(buf, y)).collect();
    let mut y = 0;
    while y < rows.len() {
        let mut end = y;
        while end + 1 < rows.len() && rows[end + 1] == rows[y] {
            end += 1;
        }
        if !rows[y].is_empty() {
            let span = if end == y {
                format!("{y}")
            } else {
                format!("{y}-{end}")
            };
            out.push_str(&format!("{span}: {}\n", rows[y]));
        }
        y = end + 1;
    }
    out
}

/// The columns of row `y` whose cells have the style `want` (in [`style_name`] notation).
pub(crate) fn columns_styled(buf: &Buffer, y: u16, want: &str) -> Vec<u16> {
    (0..buf.area.width)
        .filter(|&x| cell_style(buf, x, y) == want)
        .collect()
}

/// The row on which `needle` starts, if any.
pub(crate) fn find_row(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buf.area;
    (0..area.height).find_map(|y| {
        let mut line = String::new();
        let mut starts = Vec::new();
        for x in 0..area.width {
            starts.push((line.len(), x));
            line.push_str(buf[(x, y)].symbol());
        }
        let at = line.find(needle)?;
        starts
            .iter()
            .find(|(byte, _)| *byte == at)
            .map(|&(_, x)| (x, y))
    })
}
