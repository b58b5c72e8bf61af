//! One unit: its conditions, the objects it manages with drift marks, and its events (the journal).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{block, muted, offset, panel, short};
use crate::config::keymap::{Command, Mode};
use crate::format::{age, truncate};
use crate::model::{Change, Event, InventoryNode, STATUS_CHANGED, Severity, Unit};
use crate::tui::app::{App, Loadable};
use crate::tui::diffdoc::DiffDoc;
use crate::tui::event_rows::{EventRow, collapse, is_operator};

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let Some(unit) = app.current_unit() else {
        let text = muted(app, "this unit is no longer reported by the backend");
        panel(frame, app, area, "Unit".into(), true, vec![text]);
        return;
    };
    let summary = summary_lines(app, unit, usize::from(area.width.saturating_sub(14)));
    let [top, panes] = Layout::vertical([
        Constraint::Length(summary.len() as u16 + 2),
        Constraint::Min(0),
    ])
    .areas(area);
    let title = format!("Unit {}", unit.id);
    let outer = block(app, title, false);
    let inner = outer.inner(top);
    frame.render_widget(outer, top);
    frame.render_widget(Paragraph::new(summary), inner);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(panes);
    // A backend's inventory tree (Flux) above the objects, when there is one.
    match inventory_lines(app, usize::from(left.width.saturating_sub(2))) {
        Some(lines) if left.height >= 8 => {
            let rows = (lines.len() as u16 + 2).min(left.height / 2);
            let [top, bottom] =
                Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(left);
            let title = format!("Inventory {}", lines.len());
            panel(frame, app, top, title, false, lines);
            objects(frame, app, unit, bottom);
        }
        _ => objects(frame, app, unit, left),
    }
    // The status history above the events, when there is one and the pane has room for both.
    let changes = match &app.detail.events {
        Some(Loadable::Ready(events)) => events.iter().filter(|e| is_status_change(e)).count(),
        _ => 0,
    };
    if changes > 0 && right.height >= 10 {
        let rows = (changes.min(4) + 2) as u16;
        let [top, bottom] =
            Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(right);
        status_history(frame, app, top);
        events(frame, app, bottom);
    } else {
        events(frame, app, right);
    }
}

/// The inventory tree, one line per object, indented under its Kustomization; `None` without a detail.
fn inventory_lines(app: &App, width: usize) -> Option<Vec<Line<'static>>> {
    let d = app.detail.info.as_ref()?.ready()?;
    let t = &app.setup.theme;
    let mut lines: Vec<Line<'static>> = InventoryNode::tree(&d.inventory, app.setup.ascii)
        .into_iter()
        .map(|(branch, n)| {
            let mut spans = vec![Span::styled(branch, t.style("muted")), Span::raw(n.label())];
            if let Some(note) = &n.note {
                spans.push(Span::styled(format!(" ({note})"), t.style("muted")));
            }
            Line::from(super::cut_spans(spans, width, app.setup.ascii))
        })
        .collect();
    if let Some(why) = &d.inventory_note {
        lines.push(Line::from(super::cut_spans(
            vec![Span::styled(why.clone(), t.style("muted"))],
            width,
            app.setup.ascii,
        )));
    }
    Some(lines)
}

/// Every condition, one line each: `Ready=False ReconciliationFailed 3m: message`.
fn condition_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = &app.setup.theme;
    let Some(d) = app.detail.info.as_ref().and_then(|i| i.ready()) else {
        return Vec::new();
    };
    d.conditions
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let style = match c.status.as_str() {
                "True" => t.style("text"),
                "False" => t.style("status.failed"),
                _ => t.style("muted"),
            };
            let spans = vec![
                Span::styled(
                    format!("{:<12}", if i == 0 { "conditions" } else { "" }),
                    t.style("muted"),
                ),
                Span::styled(format!("{}={}", c.kind, c.status), style),
                Span::styled(
                    format!(" {} {}", c.reason, age(c.since, app.now)),
                    t.style("muted"),
                ),
                Span::raw(if c.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.message)
                }),
            ];
            Line::from(super::cut_spans(spans, width + 12, app.setup.ascii))
        })
        .collect()
}

fn is_status_change(e: &Event) -> bool {
    e.reason == STATUS_CHANGED
}

/// The unit's status changes, newest first: when, and from what to what with the message of the time.
fn status_history(frame: &mut Frame, app: &App, area: Rect) {
    let Some(Loadable::Ready(events)) = &app.detail.events else {
        return;
    };
    let height = usize::from(area.height.saturating_sub(2));
    let lines = events
        .iter()
        .filter(|e| is_status_change(e))
        .take(height)
        .map(|e| {
            let spans = vec![
                Span::styled(
                    format!("{:>4} ", age(Some(e.time), app.now)),
                    app.setup.theme.style("muted"),
                ),
                Span::styled(e.message.clone(), severity_style(app, e.severity)),
            ];
            Line::from(super::cut_spans(
                spans,
                usize::from(area.width.saturating_sub(2)),
                app.setup.ascii,
            ))
        })
        .collect();
    panel(frame, app, area, "Status history".into(), false, lines);
}

fn severity_style(app: &App, severity: Severity) -> ratatui::style::Style {
    let t = &app.setup.theme;
    match severity {
        Severity::Error => t.style("status.failed"),
        Severity::Warning => t.style("drift"),
        Severity::Info => t.style("text"),
    }
}

fn summary_lines(app: &App, u: &Unit, width: usize) -> Vec<Line<'static>> {
    let t = &app.setup.theme;
    let label = |s: &str| Span::styled(format!("{s:<12}"), t.style("muted"));
    let mut lines = vec![Line::from(vec![
        label("status"),
        super::unit_state(app, u),
        Span::styled(
            format!(
                " for {} (since {})",
                age(Some(u.status.since), app.now),
                u.status.since.strftime("%Y-%m-%d %H:%M:%S")
            ),
            t.style("muted"),
        ),
    ])];
    // The message matters most: up to three lines of it.
    // Wrapped at spaces, never mid-word; a fourth line would be cut, so the third ends in `…`.
    let wrapped = crate::format::wrap_words(&u.status.message, width.max(8));
    let more = wrapped.len() > 3;
    for (i, text) in wrapped.into_iter().take(3).enumerate() {
        let text = if more && i == 2 {
            format!("{text} …")
        } else {
            text
        };
        lines.push(Line::from(vec![
            label(if i == 0 { "message" } else { "" }),
            Span::raw(text),
        ]));
    }
    if let Some(note) = u.hold_note() {
        lines.push(Line::from(vec![
            label("held"),
            Span::styled(note, t.style("badge.held")),
        ]));
    }
    let behind = match (u.commits_behind, &u.commits_behind_unknown) {
        (Some(n), _) => format!(", {n} behind"),
        (None, Some(_)) => ", behind unknown".to_owned(),
        (None, None) => String::new(),
    };
    lines.push(Line::from(vec![
        label("revisions"),
        Span::raw(format!(
            "applied {}, attempted {}, latest {}{behind}",
            short(u.applied_revision.as_ref()),
            short(u.attempted_revision.as_ref()),
            short(u.latest_revision.as_ref()),
        )),
    ]));
    if let (None, Some(why)) = (u.commits_behind, &u.commits_behind_unknown) {
        lines.push(Line::from(super::cut_spans(
            vec![
                label("behind"),
                Span::styled(format!("unknown: {why}"), t.style("muted")),
            ],
            width + 12,
            app.setup.ascii,
        )));
    }
    if let Some(first) = u.broken_by.last() {
        let n = u.broken_by.len();
        let more = if n > 1 {
            format!(" (and {} later commit(s))", n - 1)
        } else {
            String::new()
        };
        let text = format!(
            "{} {} by {}{more}: first commit after the last good {}",
            first.revision.short_sha(),
            first.summary,
            first.author,
            short(u.applied_revision.as_ref()),
        );
        lines.push(Line::from(super::cut_spans(
            vec![
                label("broke it?"),
                Span::styled(text, t.style("status.failed")),
            ],
            width + 12,
            app.setup.ascii,
        )));
    }
    lines.extend(condition_lines(app, width));
    let mut target = format!("{}, source {}, {}", u.environment, u.source, u.kind);
    if u.protected {
        target.push_str(", protected");
    }
    if !u.depends_on.is_empty() {
        target.push_str(&format!("; depends on {}", u.depends_on.join(", ")));
    }
    if let Some(p) = &u.parent {
        target.push_str(&format!("; parent {p}"));
    }
    lines.push(Line::from(vec![label("target"), Span::raw(target)]));
    let drift = if u.drifted_objects.is_empty() {
        Span::styled("none", t.style("muted"))
    } else {
        Span::styled(
            format!(
                "{} object(s): {}",
                u.drifted_objects.len(),
                u.drifted_objects.join(", ")
            ),
            t.style("drift"),
        )
    };
    lines.push(Line::from(vec![label("drift"), drift]));
    lines.push(Line::from(vec![
        label("reconciled"),
        Span::raw(match u.last_reconcile_at {
            Some(at) => format!(
                "{} ago ({})",
                age(Some(at), app.now),
                at.strftime("%H:%M:%S")
            ),
            None => "never".into(),
        }),
    ]));
    lines
}

fn objects(frame: &mut Frame, app: &App, unit: &Unit, area: Rect) {
    let focused = app.detail.pane == 0;
    let (title, lines) = match &app.diff.doc {
        Loadable::Ready(doc) => (
            format!("Objects {} ({} differ)", doc.files.len(), doc.changed()),
            object_lines(
                app,
                doc,
                &unit.drifted_objects,
                focused.then_some(app.detail.scroll[0]),
                area,
            ),
        ),
        // a cluster unit's diff is asked for with `d` only (it renders the source and dry-runs every object)
        Loadable::Idle => {
            let key = app
                .setup
                .keymap
                .hint(Mode::Detail, Command::Diff)
                .unwrap_or_else(|| ":diff".into());
            let hint = format!(
                "{key}: the diff (the source rendered, each object dry-run on the cluster)"
            );
            let width = usize::from(area.width.saturating_sub(2));
            let lines = crate::format::wrap_words(&hint, width)
                .iter()
                .map(|l| muted(app, l))
                .collect();
            ("Objects".into(), lines)
        }
        other => ("Objects".into(), vec![loading_line(app, other)]),
    };
    legend_panel(frame, app, area, title, focused, lines, LIVE_LEGEND);
}

/// One entry of an object list's legend: a mark (drifted or a change) and its word.
pub(super) type Legend = [(bool, Change, &'static str)];

/// The marks of live against desired.
pub(super) const LIVE_LEGEND: &Legend = &[
    (true, Change::Modified, "drifted"),
    (false, Change::Modified, "changed"),
    (false, Change::Added, "new"),
    (false, Change::Removed, "pruned"),
    (false, Change::Unchanged, "same"),
];

/// What the object marks mean, for the bottom border of an object list: as many whole entries as fit in
/// `width`, most important first (never a cut word).
pub(super) fn objects_legend(app: &App, width: usize, legend: &Legend) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for &(drifted, change, word) in legend {
        let (mark, style) = change_mark(app, change, drifted);
        let need = mark.chars().count() + word.len() + 2;
        if used + need > width {
            break;
        }
        used += need;
        spans.push(Span::styled(mark, style));
        spans.push(Span::styled(
            format!(" {word} "),
            app.setup.theme.style("muted"),
        ));
    }
    Line::from(spans)
}

/// A bordered object list with the marks' legend on its bottom border.
pub(super) fn legend_panel(
    frame: &mut Frame,
    app: &App,
    area: Rect,
    title: String,
    focused: bool,
    lines: Vec<Line<'static>>,
    legend: &Legend,
) {
    let width = usize::from(area.width.saturating_sub(2));
    let outer = block(app, title, focused).title_bottom(objects_legend(app, width, legend));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The visible rows of an object list in `area` (inside its border): mark and name, `selected` highlighted.
pub(super) fn object_lines(
    app: &App,
    doc: &DiffDoc,
    drifted: &[String],
    selected: Option<usize>,
    area: Rect,
) -> Vec<Line<'static>> {
    let height = usize::from(area.height.saturating_sub(2));
    let first = offset(selected.unwrap_or(0), height);
    let width = usize::from(area.width.saturating_sub(4));
    doc.files
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, f)| {
            let (mark, style) = change_mark(app, f.change, drifted.contains(&f.object));
            let line = Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::raw(truncate(&f.object, width)),
            ]);
            if selected == Some(i) {
                line.style(app.setup.theme.style("selection"))
            } else {
                line
            }
        })
        .collect()
}

/// The mark of an object: drifted, created, pruned, changed or in sync.
pub(super) fn change_mark(
    app: &App,
    change: Change,
    drifted: bool,
) -> (&'static str, ratatui::style::Style) {
    let t = &app.setup.theme;
    match (drifted, change, app.setup.ascii) {
        (true, _, false) => ("≠", t.style("drift")),
        (true, _, true) => ("!", t.style("drift")),
        (_, Change::Added, _) => ("+", t.style("diff.added")),
        (_, Change::Removed, _) => ("-", t.style("diff.removed")),
        (_, Change::Modified, _) => ("~", t.style("drift")),
        (_, Change::Unchanged, false) => ("·", t.style("muted")),
        (_, Change::Unchanged, true) => (" ", t.style("muted")),
    }
}

pub(super) fn loading_line<T>(app: &App, state: &Loadable<T>) -> Line<'static> {
    match state {
        Loadable::Failed(e) => Line::styled(e.clone(), app.setup.theme.style("message.error")),
        _ => muted(app, "loading..."),
    }
}

fn events(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.setup.theme;
    let focused = app.detail.pane == 1;
    let lines: Vec<Line> = match &app.detail.events {
        Some(Loadable::Ready(events)) if events.is_empty() => {
            vec![muted(app, "no events")]
        }
        Some(Loadable::Ready(events)) => {
            let rows = collapse(events);
            let height = usize::from(area.height.saturating_sub(2));
            let first = offset(app.detail.scroll[1], height);
            let line = |(i, r): (usize, &EventRow)| {
                let e = r.event;
                let style = severity_style(app, e.severity);
                let mut spans = vec![
                    Span::styled(
                        format!("{:>4} ", age(Some(e.time), app.now)),
                        t.style("muted"),
                    ),
                    Span::styled(format!("{} ", e.reason), style),
                ];
                if let Some(note) = r.repeat_note() {
                    spans.push(Span::styled(format!("{note} "), style));
                }
                spans.push(Span::styled(
                    e.revision
                        .as_ref()
                        .map(|r| format!("{} ", r.short_sha()))
                        .unwrap_or_default(),
                    t.style("muted"),
                ));
                spans.push(Span::raw(e.message.clone()));
                // A message longer than the pane ends in `…`: the whole of it is in `setpoint events`.
                let width = usize::from(area.width.saturating_sub(2));
                let line = Line::from(super::cut_spans(spans, width, app.setup.ascii));
                if focused && i == app.detail.scroll[1] {
                    line.style(t.style("selection"))
                } else {
                    line
                }
            };
            let mut lines: Vec<Line> = rows
                .iter()
                .enumerate()
                .skip(first)
                .take(height)
                .map(line)
                .collect();
            // The newest operator action stays in view: it takes the last row when scrolled away.
            let shown = first..first + lines.len();
            if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| is_operator(r.event))
                && !shown.contains(&i)
                && height > 1
                && lines.len() == height
            {
                lines.pop();
                let mut pinned = line((i, r));
                let mark = if app.setup.ascii { "^ " } else { "▲ " };
                pinned.spans.insert(0, Span::styled(mark, t.style("muted")));
                lines.push(pinned);
            }
            lines
        }
        Some(other) => vec![loading_line(app, other)],
        None => vec![],
    };
    // the local agent's events come from its journal; a cluster's are its Events
    let local = app
        .current_unit()
        .is_some_and(|u| u.backend == crate::model::BackendKind::Local);
    let title = if local {
        "Events (journal, newest first)"
    } else {
        "Events (newest first)"
    }
    .to_owned();
    panel(frame, app, area, title, focused, lines);
}
