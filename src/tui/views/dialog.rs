//! The confirmation dialog: exact operation, unit, environment and context; the reason box; the typed
//! name of a protected unit.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{block, centered};
use crate::config::keymap::{Command, Mode};
use crate::tui::actions::Field;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, app: &App, body: Rect) {
    let Some(d) = &app.dialog else { return };
    let t = &app.setup.theme;
    let label = |s: &str| Span::styled(format!("{s:<13}"), t.style("muted"));
    let mut lines = vec![
        Line::from(vec![
            label("operation"),
            Span::styled(d.action.to_string(), t.style("dialog.danger")),
        ]),
        Line::from(vec![
            label("unit"),
            Span::raw(d.unit.id.clone()),
            Span::styled(
                if d.unit.protected {
                    "  (protected)"
                } else {
                    ""
                },
                t.style("dialog.danger"),
            ),
        ]),
        Line::from(vec![
            label("environment"),
            Span::raw(d.unit.environment.clone()),
        ]),
        Line::from(vec![label("context"), Span::raw(d.context.clone())]),
    ];
    if let Some(note) = d.unit.hold_note() {
        lines.push(Line::from(vec![
            label("now"),
            Span::styled(note, t.style("badge.held")),
        ]));
    }
    let reason_at = lines.len();
    if d.reason.is_some() {
        lines.push(Line::from(label("reason")));
        lines.push(Line::default());
        lines.push(Line::default());
        lines.push(Line::default());
    }
    if d.unit.protected {
        let cursor = match (d.field == Field::Name, app.setup.ascii) {
            (false, _) => "",
            (true, true) => "_",
            (true, false) => "▏",
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("type `{}` to confirm: ", d.unit.name),
                t.style("dialog.danger"),
            ),
            Span::styled(format!("{}{cursor}", d.name.text), t.style("prompt")),
        ]));
    }
    if let Some(e) = &d.error {
        lines.push(Line::styled(e.clone(), t.style("message.error")));
    }
    let key = |c: Command| app.setup.keymap.hint(Mode::Dialog, c).unwrap_or_default();
    let next = match d.field {
        Field::Reason if d.unit.protected => "next",
        _ => "confirm",
    };
    lines.push(Line::from(vec![
        Span::styled(key(Command::Confirm), t.style("hint.key")),
        Span::styled(format!(" {next}  "), t.style("hint.text")),
        Span::styled(key(Command::Cancel), t.style("hint.key")),
        Span::styled(" cancel", t.style("hint.text")),
    ]));
    let height = lines.len() as u16 + 2;
    let area = centered(body, 64, height);
    let title = format!("Confirm {}", d.action.kind());
    let outer = block(app, title, true).border_style(t.style("dialog.border"));
    let inner = outer.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(outer, area);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    if let Some(text) = &d.reason {
        let y = inner.y.saturating_add(reason_at as u16 + 1);
        let box_area = Rect {
            x: inner.x,
            y,
            width: inner.width,
            height: 3.min(inner.bottom().saturating_sub(y)),
        };
        let frame_style = if d.field == Field::Reason {
            t.style("border.focused")
        } else {
            t.style("border")
        };
        let b = Block::bordered().border_style(frame_style);
        let b = if app.setup.ascii {
            b.border_set(super::ASCII_BORDER)
        } else {
            b
        };
        let text_area = b.inner(box_area);
        frame.render_widget(b, box_area);
        frame.render_widget(text, text_area);
    }
}
