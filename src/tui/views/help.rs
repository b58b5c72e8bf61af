//! Help, generated from the active keymap: the keys of the screen below, the global keys, dialogs and
//! inputs, each with its command's description.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::block;
use crate::config::keymap::{Command, Keymap, Mode};
use crate::tui::app::App;
use crate::tui::input::VERBS;

/// The help text for `mode`, as lines (pure, for the view and for tests).
pub fn help_lines(app: &App, mode: Mode) -> Vec<Line<'static>> {
    let t = &app.setup.theme;
    let mut out = Vec::new();
    let section = |title: String, m: Mode, out: &mut Vec<Line<'static>>| {
        let rows = grouped(&app.setup.keymap, m);
        if rows.is_empty() {
            return;
        }
        out.push(Line::styled(title, t.style("header")));
        for (keys, command) in rows {
            out.push(Line::from(vec![
                Span::styled(format!("  {keys:<17} "), t.style("hint.key")),
                Span::raw(command.description()),
            ]));
        }
        out.push(Line::default());
    };
    if mode != Mode::Help {
        section(format!("{} keys", mode.as_str()), mode, &mut out);
        // Modes that borrow another's keys (compare: the diff's) list those too.
        for &m in mode.fallbacks().iter().filter(|m| **m != Mode::Global) {
            section(format!("{} keys (also here)", m.as_str()), m, &mut out);
        }
    }
    section("everywhere".into(), Mode::Global, &mut out);
    section("confirmation dialogs".into(), Mode::Dialog, &mut out);
    section(
        "prompt, filter and search input".into(),
        Mode::Input,
        &mut out,
    );
    let marks = if app.setup.ascii {
        "objects: ! drifted  ~ changed  + new  - pruned;  units: P pinned, x src: source failed"
    } else {
        "objects: ≠ drifted  ~ changed  + new  - pruned  · same;  units: ◆ pinned, ✗ src: source failed"
    };
    out.push(Line::styled(marks, t.style("muted")));
    let commands: Vec<String> = VERBS
        .iter()
        .map(|v| match *v {
            "ctx" | "theme" => format!(":{v} NAME"),
            "compare" => format!(":{v} [A] B"),
            _ => format!(":{v}"),
        })
        .collect();
    out.push(Line::styled(
        format!(
            "keymap `{}`, theme `{}`; prompt commands: {}",
            app.setup.keymap.name,
            app.setup.theme.name,
            commands.join(" ")
        ),
        t.style("muted"),
    ));
    out
}

/// The bindings of a mode, one row per command with all its keys.
fn grouped(keymap: &Keymap, mode: Mode) -> Vec<(String, Command)> {
    let mut rows: Vec<(String, Command)> = Vec::new();
    for (key, command) in keymap.bindings(mode) {
        match rows.iter_mut().find(|(_, c)| c == command) {
            Some((keys, _)) => {
                keys.push_str(", ");
                keys.push_str(&key.to_string());
            }
            None => rows.push((key.to_string(), *command)),
        }
    }
    rows
}

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let mode = app.base_view().mode();
    let lines = help_lines(app, mode);
    let outer = block(app, format!("Help: {}", mode.as_str()), true);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let max = lines.len().saturating_sub(usize::from(inner.height));
    let scroll = app.help_scroll.min(max);
    let visible: Vec<Line> = lines.into_iter().skip(scroll).collect();
    frame.render_widget(Paragraph::new(visible), inner);
}
