//! Live versus desired: the object list, and the selected object's diff with word-level emphasis,
//! unified or side by side.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::detail::{Legend, loading_line, object_lines};
use super::{block, muted, panel};
use crate::diff::{DiffLine, LineKind};
use crate::tui::app::{App, Loadable};
use crate::tui::diffdoc::{DiffDoc, DiffFile, DocLine, SbsRow};

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let unit = app.unit.clone().unwrap_or_default();
    let Loadable::Ready(doc) = &app.diff.doc else {
        let text = loading_line(app, &app.diff.doc);
        panel(frame, app, area, format!("Diff {unit}"), true, vec![text]);
        return;
    };
    if let (Some(c), true) = (&app.diff.commit, doc.files.is_empty()) {
        let none = muted(
            app,
            &format!(
                "commit {} changed nothing under this unit's path: {}",
                c.revision.short_sha(),
                c.summary
            ),
        );
        panel(
            frame,
            app,
            area,
            format!("Commit {}", c.revision.short_sha()),
            true,
            vec![none],
        );
        return;
    }
    let drifted: Vec<String> = app
        .current_unit()
        .map(|u| u.drifted_objects.clone())
        .unwrap_or_default();
    let arrow = if app.setup.ascii { "->" } else { "→" };
    let title = |file: &DiffFile| match &app.diff.commit {
        Some(c) => format!(
            "{unit}: {} +{} -{} (commit {}: parent {arrow} {})",
            file.object,
            file.added,
            file.removed,
            c.revision.short_sha(),
            c.revision.short_sha()
        ),
        None => format!(
            "{unit}: {} +{} -{} (live {arrow} desired)",
            file.object, file.added, file.removed
        ),
    };
    let empty = (
        "no objects: nothing is desired or live",
        format!("Diff {unit}"),
    );
    let list = (drifted.as_slice(), super::detail::LIVE_LEGEND);
    let area = coverage_header(frame, app, area, &doc.header);
    panes(frame, app, area, doc, list, &title, empty);
}

/// What the diff covers and what it could not, one line each (at most a third of the area), above the
/// panes; returns the area left for them.
fn coverage_header(frame: &mut Frame, app: &App, area: Rect, header: &[String]) -> Rect {
    if header.is_empty() {
        return area;
    }
    let n = u16::try_from(header.len())
        .unwrap_or(u16::MAX)
        .min(area.height / 3);
    let [top, rest] = Layout::vertical([Constraint::Length(n), Constraint::Min(0)]).areas(area);
    let lines: Vec<Line> = header
        .iter()
        .take(usize::from(n))
        .map(|h| {
            let style = if h.starts_with("not covered") {
                app.setup.theme.style("status.stalled")
            } else {
                app.setup.theme.style("muted")
            };
            Line::styled(h.clone(), style)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), top);
    rest
}

/// The object list (marked drifted as `list` says, with its legend) and the selected object's diff (as
/// `app.diff` navigates them) side by side in `area`; `title` names the text pane for a file, `empty` is
/// what it says (and its title) when there is none.
pub(super) fn panes(
    frame: &mut Frame,
    app: &App,
    area: Rect,
    doc: &DiffDoc,
    list: (&[String], &Legend),
    title: &dyn Fn(&DiffFile) -> String,
    empty: (&str, String),
) {
    let list_w = (area.width / 4).clamp(12, 32);
    let (drifted, legend) = list;
    let [list, text] =
        Layout::horizontal([Constraint::Length(list_w), Constraint::Min(0)]).areas(area);
    let lines = object_lines(app, doc, drifted, Some(app.diff.file), list);
    let list_title = format!("{} of {} differ", doc.changed(), doc.files.len());
    let focus = app.diff.list_focus;
    super::detail::legend_panel(frame, app, list, list_title, focus, lines, legend);

    let Some(file) = doc.files.get(app.diff.file) else {
        let none = muted(app, empty.0);
        panel(frame, app, text, empty.1, !app.diff.list_focus, vec![none]);
        return;
    };
    let title = title(file);
    let title = if app.diff.hscroll > 0 {
        let arrow = if app.setup.ascii { "<" } else { "◂" };
        format!("{arrow} col {}: {title}", app.diff.hscroll + 1)
    } else {
        title
    };
    let outer = block(app, title, !app.diff.list_focus);
    let inner = outer.inner(text);
    frame.render_widget(outer, text);
    let rows = usize::from(inner.height);
    let lines = if app.diff_side_by_side() {
        side_by_side(app, file, inner.width, rows)
    } else {
        unified(app, file, rows, usize::from(inner.width))
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

fn line_style(app: &App, kind: LineKind, emphasis: bool) -> Style {
    app.setup.theme.style(match (kind, emphasis) {
        (LineKind::Context, _) => "diff.context",
        (LineKind::Added, false) => "diff.added",
        (LineKind::Added, true) => "diff.added_word",
        (LineKind::Removed, false) => "diff.removed",
        (LineKind::Removed, true) => "diff.removed_word",
    })
}

fn is_match(app: &App, i: usize) -> bool {
    app.diff.matches.binary_search(&i).is_ok()
}

/// The line's text, without the first `app.diff.hscroll` characters (scrolled out on the left).
fn text_spans(app: &App, d: &DiffLine) -> Vec<Span<'static>> {
    let mut skip = app.diff.hscroll;
    d.segments
        .iter()
        .filter_map(|(emph, s)| {
            let s = s.replace('\t', "    ");
            let n = s.chars().count();
            if skip >= n {
                skip -= n;
                return None;
            }
            let rest: String = s.chars().skip(skip).collect();
            skip = 0;
            Some(Span::styled(rest, line_style(app, d.kind, *emph)))
        })
        .collect()
}

fn full_line(app: &App, l: &DocLine) -> Line<'static> {
    match l {
        DocLine::Hunk(h) => Line::styled(h.clone(), app.setup.theme.style("diff.hunk")),
        DocLine::Note(n) => Line::styled(format!("# {n}"), app.setup.theme.style("muted")),
        DocLine::Line(_) => Line::default(),
    }
}

fn unified(app: &App, file: &DiffFile, rows: usize, width: usize) -> Vec<Line<'static>> {
    file.lines
        .iter()
        .enumerate()
        .skip(app.diff.scroll)
        .take(rows)
        .map(|(i, l)| match l {
            DocLine::Line(d) => {
                let sign = match d.kind {
                    LineKind::Context => " ",
                    LineKind::Added => "+",
                    LineKind::Removed => "-",
                };
                let sign_style = if is_match(app, i) {
                    app.setup.theme.style("diff.match")
                } else {
                    line_style(app, d.kind, false)
                };
                let mut spans = vec![Span::styled(sign, sign_style)];
                spans.extend(text_spans(app, d));
                // A line longer than the pane ends in `…`; scroll right to read the rest.
                let spans = super::cut_spans(spans, width, app.setup.ascii);
                // A search match marks the whole line, not only its sign.
                if is_match(app, i) {
                    Line::from(spans).style(app.setup.theme.style("diff.match"))
                } else {
                    Line::from(spans)
                }
            }
            other => full_line(app, other),
        })
        .collect()
}

fn side_by_side(app: &App, file: &DiffFile, width: u16, rows: usize) -> Vec<Line<'static>> {
    let half = usize::from(width.saturating_sub(1) / 2);
    let sep = if app.setup.ascii { "|" } else { "│" };
    file.sbs
        .iter()
        .skip(app.diff.scroll)
        .take(rows)
        .map(|row| match *row {
            SbsRow::Full(i) => file
                .lines
                .get(i)
                .map(|l| full_line(app, l))
                .unwrap_or_default(),
            SbsRow::Pair(l, r) => {
                let matched = |i: Option<usize>| i.is_some_and(|i| is_match(app, i));
                let mut spans = side(app, file, l, half, true);
                spans.push(Span::styled(sep, app.setup.theme.style("border")));
                spans.extend(side(app, file, r, half, false));
                if matched(l) || matched(r) {
                    Line::from(spans).style(app.setup.theme.style("diff.match"))
                } else {
                    Line::from(spans)
                }
            }
        })
        .collect()
}

/// One half of a side-by-side row, padded or cut to `width` columns.
fn side(
    app: &App,
    file: &DiffFile,
    idx: Option<usize>,
    width: usize,
    old: bool,
) -> Vec<Span<'static>> {
    let Some(DocLine::Line(d)) = idx.and_then(|i| file.lines.get(i)) else {
        return vec![Span::raw(" ".repeat(width))];
    };
    let no = if old { d.old_no } else { d.new_no };
    let gutter_style = if idx.is_some_and(|i| is_match(app, i)) {
        app.setup.theme.style("diff.match")
    } else {
        app.setup.theme.style("muted")
    };
    // The sign carries what colour carries (NO_COLOR, mono): `-` removed, `+` added.
    let sign = match d.kind {
        LineKind::Context => " ",
        LineKind::Added => "+",
        LineKind::Removed => "-",
    };
    let mut spans = vec![
        Span::styled(
            format!("{:>4}", no.map(|n| n.to_string()).unwrap_or_default()),
            gutter_style,
        ),
        Span::styled(sign, line_style(app, d.kind, false)),
    ];
    let mut left = width.saturating_sub(5);
    let text = text_spans(app, d);
    let total: usize = text.iter().map(|s| s.content.chars().count()).sum();
    // A line longer than its half ends in `…`, never silently cut.
    if total > left {
        left = left.saturating_sub(1);
    }
    let cut_any = total > width.saturating_sub(5);
    for s in text {
        if left == 0 {
            break;
        }
        let n = s.content.chars().count();
        if n <= left {
            left -= n;
            spans.push(s);
        } else {
            let cut: String = s.content.chars().take(left).collect();
            left = 0;
            spans.push(Span::styled(cut, s.style));
        }
    }
    if cut_any && width > 5 {
        let ellipsis = if app.setup.ascii { "~" } else { "…" };
        spans.push(Span::styled(ellipsis, app.setup.theme.style("muted")));
    }
    spans.push(Span::raw(" ".repeat(left)));
    spans
}
