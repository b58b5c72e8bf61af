//! The units list: failing first, one row per unit; only the visible rows are laid out.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{
    block, cut_spans, failed_source, offset, short, status_mark, status_style, unit_state,
};
use crate::format::{coarse_age, truncate, wrap_words};
use crate::model::{StatusKind, Unit};
use crate::tui::app::App;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Context,
    Name,
    Kind,
    Env,
    Source,
    Status,
    Applied,
    Behind,
    Drift,
    Reconciled,
    Message,
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Context => "CONTEXT",
            Col::Name => "NAME",
            Col::Kind => "KIND",
            Col::Env => "ENVIRONMENT",
            Col::Source => "SOURCE",
            Col::Status => "STATUS",
            Col::Applied => "APPLIED",
            Col::Behind => "BEHIND",
            Col::Drift => "DRIFT",
            Col::Reconciled => "RECONCILED",
            Col::Message => "MESSAGE",
        }
    }
}

/// Message columns narrower than this make the optional columns go first.
const MESSAGE_MIN: u16 = 24;

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let nav = &app.units;
    let mut title = format!("Units ({})", app.snapshot.units.len());
    if !nav.filter.is_empty() || app.context_filter.is_some() {
        title = format!("Units {}/{}", nav.visible.len(), app.snapshot.units.len());
        if let Some(ctx) = &app.context_filter {
            title.push_str(&format!(" :ctx {ctx}"));
        }
        if !nav.filter.is_empty() {
            title.push_str(&format!(" /{}", nav.filter));
        }
    }
    let outer = block(app, title, true);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if !app.loaded {
        frame.render_widget(
            Paragraph::new(Span::styled("loading...", app.setup.theme.style("muted"))),
            inner,
        );
        return;
    }
    if nav.visible.is_empty() {
        let text = if nav.filter.is_empty() {
            "no units".to_owned()
        } else {
            format!("no units match `{}`", nav.filter)
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, app.setup.theme.style("muted"))),
            inner,
        );
        return;
    }
    // Where there is room, the selected unit's whole message, wrapped, below the table.
    let preview = app
        .units
        .current()
        .and_then(|i| app.snapshot.units.get(i))
        .map(|u| preview_lines(app, u, inner.width))
        .unwrap_or_default();
    let table_rows = u16::try_from(nav.visible.len())
        .unwrap_or(u16::MAX)
        .saturating_add(1);
    let preview_rows = u16::try_from(preview.len()).unwrap_or(u16::MAX);
    let inner = if !preview.is_empty()
        && inner.height >= table_rows.saturating_add(preview_rows).saturating_add(1)
    {
        let below = Rect {
            y: inner.y + table_rows + 1,
            height: preview_rows,
            ..inner
        };
        frame.render_widget(Paragraph::new(preview), below);
        Rect {
            height: table_rows,
            ..inner
        }
    } else {
        inner
    };
    let height = usize::from(inner.height.saturating_sub(1));
    let first = offset(nav.selected, height);
    let window: Vec<&Unit> = nav
        .visible
        .iter()
        .skip(first)
        .take(height)
        .filter_map(|&i| app.snapshot.units.get(i).map(|u| &**u))
        .collect();
    let longest = |f: fn(&Unit) -> usize, cap: usize, title: &str| {
        window
            .iter()
            .map(|u| f(u))
            .max()
            .unwrap_or(0)
            .max(title.len())
            .min(cap) as u16
    };
    let name_w = longest(|u| u.name.chars().count(), 24, "NAME");
    let env_w = longest(|u| u.environment.chars().count(), 24, "ENVIRONMENT");
    let src_w = longest(|u| u.source.chars().count(), 20, "SOURCE");
    let kind_w = longest(|u| u.kind.chars().count(), 14, "KIND");
    let mut cols: Vec<(Col, u16)> = Vec::new();
    if app.several_contexts() {
        // A read-only context's rows say so: ` RO` after the name.
        let ctx_w = longest(|u| u.context.chars().count() + 3, 20, "CONTEXT");
        cols.push((Col::Context, ctx_w));
    }
    cols.extend([
        (Col::Name, name_w),
        (Col::Status, 13),
        (Col::Applied, 7),
        (Col::Behind, 6),
        (Col::Drift, 5),
        (Col::Reconciled, 10),
    ]);
    let used = |cols: &[(Col, u16)]| cols.iter().map(|(_, w)| w + 1).sum::<u16>();
    let after_name = cols.iter().position(|(c, _)| *c == Col::Name).unwrap_or(0) + 1;
    for (col, w, at) in [
        (Col::Env, env_w, after_name),
        (Col::Source, src_w, after_name + 1),
        (Col::Kind, kind_w, after_name),
    ] {
        if used(&cols) + w + 1 + MESSAGE_MIN <= inner.width {
            cols.insert(at.min(cols.len()), (col, w));
        }
    }
    // Narrow screens lose the least useful columns first.
    for drop in [Col::Behind, Col::Reconciled, Col::Drift, Col::Applied] {
        if used(&cols) + 8 > inner.width {
            cols.retain(|(c, _)| *c != drop);
        }
    }
    let message_w = inner.width.saturating_sub(used(&cols));
    cols.push((Col::Message, message_w));
    // Drawn line by line into the buffer rather than by a Table widget: a Table styles each cell's area
    // four times over (row, cell, text, line) before its spans, most of a page-down's frame time.
    let buf = frame.buffer_mut();
    let theme = &app.setup.theme;
    let row_at = |y: u16| Rect {
        y,
        height: 1,
        ..inner
    };
    let draw_row = |buf: &mut ratatui::buffer::Buffer, y: u16, lines: Vec<Line<'static>>| {
        let mut x = inner.x;
        for ((_, w), line) in cols.iter().zip(lines) {
            let w = (*w).min(inner.right().saturating_sub(x));
            buf.set_line(x, y, &line, w);
            x = x.saturating_add(w).saturating_add(1);
        }
    };
    if inner.height == 0 {
        return;
    }
    buf.set_style(row_at(inner.y), theme.style("header"));
    let titles = cols.iter().map(|(c, _)| Line::from(c.title())).collect();
    draw_row(buf, inner.y, titles);
    for (i, u) in window.iter().enumerate() {
        let y = inner.y + 1 + i as u16;
        if first + i == nav.selected {
            buf.set_style(row_at(y), theme.style("selection"));
        }
        let cells = cols.iter().map(|(c, w)| cell(app, u, *c, *w)).collect();
        draw_row(buf, y, cells);
    }
}

/// The selected unit's name and whole message (with its hold and source notes), wrapped to `width`.
fn preview_lines(app: &App, u: &Unit, width: u16) -> Vec<Line<'static>> {
    let t = &app.setup.theme;
    let mut text = u.status.message.clone();
    if let Some(note) = u.hold_note()
        && !text.contains(&note)
    {
        text = format!("[{note}] {text}");
    }
    // the sync window's marker, as the `status` table prints it, and the windows that decide
    if let Some(w) = &u.sync_window {
        text = format!("[{}] {text} — {}", w.marker(), w.message);
    }
    if let Some(src) = failed_source(app, u) {
        text.push_str(&format!(
            " — source {} failed: {}",
            src.name, src.status.message
        ));
    }
    let label = format!("{}: ", u.name);
    let indent = label.chars().count();
    let wrapped = wrap_words(&text, usize::from(width).saturating_sub(indent).max(8));
    wrapped
        .into_iter()
        .take(6)
        .enumerate()
        .map(|(i, part)| {
            let lead = if i == 0 {
                Span::styled(label.clone(), t.style("header"))
            } else {
                Span::raw(" ".repeat(indent))
            };
            Line::from(vec![lead, Span::raw(part)])
        })
        .collect()
}

fn cell(app: &App, u: &Unit, col: Col, width: u16) -> Line<'static> {
    let t = &app.setup.theme;
    let w = usize::from(width);
    match col {
        Col::Context if app.read_only_for(u) => Line::from(vec![
            Span::raw(truncate(&u.context, w.saturating_sub(3))),
            Span::styled(" RO", t.style("badge.read_only")),
        ]),
        Col::Context => Line::from(truncate(&u.context, w)),
        Col::Name => Line::from(truncate(&u.name, w)),
        Col::Kind => Line::from(truncate(&u.kind, w)),
        Col::Env => Line::from(truncate(&u.environment, w)),
        Col::Source => Line::from(truncate(&u.source, w)),
        Col::Status => Line::from(unit_state(app, u)),
        Col::Applied => Line::from(short(u.applied_revision.as_ref())),
        // Behind what? A failed source's last good commit is no measure: say the source failed.
        Col::Behind => Line::from(match (failed_source(app, u), u.commits_behind) {
            (Some(_), _) => Span::styled(
                format!("{} src", status_mark(StatusKind::Failed, app.setup.ascii)),
                status_style(app, StatusKind::Failed),
            ),
            (None, Some(0)) => Span::styled("0", t.style("muted")),
            (None, Some(n)) => Span::raw(n.to_string()),
            (None, None) if u.commits_behind_unknown.is_some() => {
                Span::styled("?", t.style("muted"))
            }
            (None, None) => Span::styled("-", t.style("muted")),
        }),
        Col::Drift => Line::from(match u.drifted_objects.len() {
            0 => Span::styled("0", t.style("muted")),
            n => Span::styled(n.to_string(), t.style("drift")),
        }),
        Col::Reconciled => Line::from(coarse_age(u.last_reconcile_at, app.now)),
        Col::Message => {
            let mut spans = Vec::new();
            if let Some(src) = failed_source(app, u)
                && !u.status.message.contains("source")
            {
                spans.push(Span::styled(
                    format!("[source {} failed] ", src.name),
                    status_style(app, StatusKind::Failed),
                ));
            }
            if let Some(w) = &u.sync_window {
                spans.push(window_marker(app, w));
            }
            if let Some(note) = u.hold_note()
                && !u.status.message.contains(&note)
            {
                spans.push(Span::styled(format!("[{note}] "), t.style("badge.held")));
            }
            spans.push(Span::raw(u.status.message.clone()));
            Line::from(cut_spans(spans, w, app.setup.ascii))
        }
    }
}

/// An Argo CD unit's sync-window marker (`[sync denied] `, as `status` prints it): held colours when a sync
/// may not run now (or only a manual one), muted when it may or when the windows are unknown.
fn window_marker(app: &App, w: &crate::model::SyncWindow) -> Span<'static> {
    let style = match (w.sync_allowed, w.auto_sync_allowed) {
        (Some(false), _) | (Some(true), Some(false)) => "badge.held",
        _ => "muted",
    };
    Span::styled(format!("[{}] ", w.marker()), app.setup.theme.style(style))
}
