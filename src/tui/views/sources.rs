//! The sources list: where units take their desired state from.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{block, offset, short, status_mark, status_style};
use crate::format::{coarse_age, truncate};
use crate::tui::app::App;

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let nav = &app.sources;
    let outer = block(app, format!("Sources ({})", nav.visible.len()), true);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if nav.visible.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("no sources", app.setup.theme.style("muted"))),
            inner,
        );
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1));
    let first = offset(nav.selected, height);
    let wide = inner.width >= 100;
    let mut titles = vec!["NAME", "STATUS", "REF", "REVISION", "FETCHED"];
    let mut widths = vec![
        Constraint::Length(18),
        Constraint::Length(13),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    if wide {
        titles.push("URL");
        widths.push(Constraint::Length(30));
    }
    let several = app.several_contexts();
    if several {
        titles.insert(0, "CONTEXT");
        widths.insert(0, Constraint::Length(16));
    }
    titles.push("MESSAGE");
    widths.push(Constraint::Fill(1));
    let rows = nav
        .visible
        .iter()
        .skip(first)
        .take(height)
        .enumerate()
        .filter_map(|(i, &idx)| app.snapshot.sources.get(idx).map(|s| (i, s)))
        .map(|(i, s)| {
            let mut cells = vec![
                Cell::from(truncate(&s.name, 18)),
                Cell::from(Span::styled(
                    format!(
                        "{} {}",
                        status_mark(s.status.kind, app.setup.ascii),
                        s.status.kind
                    ),
                    status_style(app, s.status.kind),
                )),
                Cell::from(truncate(&s.reference, 14)),
                Cell::from(short(s.revision.as_ref())),
                Cell::from(coarse_age(s.last_fetch_at, app.now)),
            ];
            if wide {
                cells.push(Cell::from(truncate(&s.url, 30)));
            }
            cells.push(Cell::from(s.status.message.clone()));
            if several {
                cells.insert(0, Cell::from(truncate(&s.context, 16)));
            }
            let row = Row::new(cells);
            if first + i == nav.selected {
                row.style(app.setup.theme.style("selection"))
            } else {
                row
            }
        });
    let header = Row::new(titles).style(app.setup.theme.style("header"));
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}
