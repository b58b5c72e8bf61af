//! The confirmation dialog: exact operation, unit, environment and context; the reason box; the typed
//! name of a protected unit.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{block, centered};
use crate::config::keymap::{Command, Mode};
use crate::diff::LineKind;
use crate::format::truncate;
use crate::model::Change;
use crate::tui::actions::Field;
use crate::tui::app::{App, Loadable};
use crate::tui::diffdoc::{DiffDoc, DocLine};

/// What the rollback would change: each file that differs with its counts, then the first changed lines.
fn preview_lines(app: &App, preview: &Loadable<DiffDoc>) -> Vec<Line<'static>> {
    let t = &app.setup.theme;
    let label = |s: &str| Span::styled(format!("{s:<13}"), t.style("muted"));
    let doc = match preview {
        Loadable::Ready(doc) => doc,
        Loadable::Failed(e) => {
            return vec![Line::from(vec![
                label("changes"),
                Span::styled(truncate(e, 48), t.style("message.error")),
            ])];
        }
        _ => return vec![Line::from(vec![label("changes"), Span::raw("computing…")])],
    };
    let changed: Vec<_> = doc
        .files
        .iter()
        .filter(|f| f.change != Change::Unchanged)
        .collect();
    if changed.is_empty() {
        return vec![Line::from(vec![
            label("changes"),
            Span::raw("none: live already matches that commit"),
        ])];
    }
    let mut out = Vec::new();
    for (i, f) in changed.iter().take(4).enumerate() {
        out.push(Line::from(vec![
            label(if i == 0 { "changes" } else { "" }),
            Span::raw(truncate(&f.object, 34)),
            Span::styled(format!(" +{}", f.added), t.style("diff.added")),
            Span::styled(format!(" -{}", f.removed), t.style("diff.removed")),
        ]));
    }
    if changed.len() > 4 {
        out.push(Line::from(vec![
            label(""),
            Span::styled(format!("and {} more", changed.len() - 4), t.style("muted")),
        ]));
    }
    // The first changed lines of the first file, as `-` live and `+` after the rollback.
    let Some(first) = changed.first() else {
        return out;
    };
    let diff_lines = first.lines.iter().filter_map(|l| match l {
        DocLine::Line(d) if d.kind != LineKind::Context => Some(d),
        _ => None,
    });
    for d in diff_lines.take(4) {
        let (sign, key) = match d.kind {
            LineKind::Added => ("+", "diff.added"),
            _ => ("-", "diff.removed"),
        };
        let text: String = d.segments.iter().map(|(_, s)| s.as_str()).collect();
        out.push(Line::from(vec![
            label(""),
            Span::styled(format!("{sign}{}", truncate(&text, 47)), t.style(key)),
        ]));
    }
    out
}

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
    if let Some(w) = &d.warning {
        let mark = if app.setup.ascii { "!" } else { "⚠" };
        for (i, part) in crate::format::wrap_words(w, 48).into_iter().enumerate() {
            lines.push(Line::from(vec![
                label(if i == 0 { "warning" } else { "" }),
                Span::styled(
                    if i == 0 {
                        format!("{mark} {part}")
                    } else {
                        format!("  {part}")
                    },
                    t.style("dialog.danger"),
                ),
            ]));
        }
    }
    if let Some(on) = d.suspend_parent {
        let mark = if on { "[x]" } else { "[ ]" };
        lines.push(Line::from(vec![
            label("parent"),
            Span::styled(
                format!("{mark} also suspend it (tab)"),
                t.style(if on { "dialog.danger" } else { "muted" }),
            ),
        ]));
    }
    if let Some(preview) = &d.preview {
        lines.extend(preview_lines(app, preview));
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
