//! The unit's source commits, with applied / last good / failed / pinned marks; rollback starts here.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::detail::loading_line;
use super::{block, offset};
use crate::format::{age, truncate};
use crate::model::HistoryEntry;
use crate::tui::app::{App, Loadable};

const MARKS: [(&str, &str, &str); 4] = [
    ("●", "*", "applied"),
    ("✓", "+", "last good"),
    ("✗", "x", "failed"),
    ("◆", "P", "pinned"),
];

fn marks(app: &App, e: &HistoryEntry) -> Vec<Span<'static>> {
    let on = [e.applied, e.last_good, e.failed, e.pinned];
    let keys = [
        "history.applied",
        "history.last_good",
        "history.failed",
        "history.pinned",
    ];
    MARKS
        .iter()
        .zip(on)
        .zip(keys)
        .map(|(((u, a, _), on), key)| {
            if on {
                Span::styled(
                    if app.setup.ascii { *a } else { *u },
                    app.setup.theme.style(key),
                )
            } else {
                Span::raw(" ")
            }
        })
        .collect()
}

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let unit = app.current_unit();
    let id = app.unit.clone().unwrap_or_default();
    let source = unit.map(|u| u.source.clone()).unwrap_or_default();
    let legend: Vec<Span> = MARKS
        .iter()
        .flat_map(|(u, a, name)| {
            [
                Span::raw(" "),
                Span::raw(if app.setup.ascii { *a } else { *u }),
                Span::styled(format!(" {name}"), app.setup.theme.style("muted")),
            ]
        })
        .collect();
    let mut legend = legend;
    legend.push(Span::raw(" "));
    let outer = block(app, format!("History {id} (source {source})"), true)
        .title_bottom(Line::from(legend));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let entries = match &app.history.entries {
        Loadable::Ready(e) => e,
        other => {
            frame.render_widget(Paragraph::new(loading_line(app, other)), inner);
            return;
        }
    };
    let mut body = inner;
    if let Some(note) = unit.and_then(|u| u.hold_note()) {
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!("held: {note}"),
                app.setup.theme.style("badge.held"),
            )),
            body,
        );
        body.y = body.y.saturating_add(1);
        body.height = body.height.saturating_sub(1);
    }
    let height = usize::from(body.height.saturating_sub(1));
    let first = offset(app.history.selected, height);
    let author_w = if body.width >= 100 { 20 } else { 14 };
    let rows = entries
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, e)| {
            let row = Row::new(vec![
                Cell::from(Line::from(marks(app, e))),
                Cell::from(e.revision.short_sha().to_owned()),
                Cell::from(truncate(&e.author, usize::from(author_w))),
                Cell::from(age(Some(e.time), app.now)),
                Cell::from(e.summary.clone()),
            ]);
            if i == app.history.selected {
                row.style(app.setup.theme.style("selection"))
            } else {
                row
            }
        });
    let header = Row::new(vec!["MARK", "COMMIT", "AUTHOR", "AGE", "SUMMARY"])
        .style(app.setup.theme.style("header"));
    let widths = [
        Constraint::Length(4),
        Constraint::Length(7),
        Constraint::Length(author_w),
        Constraint::Length(4),
        Constraint::Fill(1),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        body,
    );
}
