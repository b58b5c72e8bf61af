//! Rendering: a pure function of `&App`. Views ask the theme for semantic keys only; keys shown in hints
//! and help come from the keymap.

mod compare;
mod contexts;
mod detail;
mod dialog;
mod diff;
mod help;
mod history;
mod prompt;
mod sources;
mod units;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::app::{App, View};
use crate::backend::Reconciler;
use crate::model::{StatusKind, Unit};

/// Borders drawn with ASCII only (`--ascii`).
const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let message_lines = prompt::message_lines(app, area.width);
    // The context bar only where there is room for it; the message never takes the rows of the
    // header and the hints (ratatui's solver is left no over-full layout to choose between).
    let bar_rows = u16::from(app.several_contexts() && area.height >= 10);
    let message_rows = u16::try_from(message_lines.len())
        .unwrap_or(1)
        .clamp(1, area.height.saturating_sub(2 + bar_rows).max(1));
    let [header, bar, body, message, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(bar_rows),
        Constraint::Min(0),
        Constraint::Length(message_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header_fit(app, header.width)), header);
    if bar_rows > 0 {
        let line = contexts::bar(app);
        let line = Line::from(cut_spans(
            line.spans,
            usize::from(bar.width),
            app.setup.ascii,
        ));
        frame.render_widget(Paragraph::new(line), bar);
    }
    match app.view() {
        View::Units => units::render(frame, app, body),
        View::Sources => sources::render(frame, app, body),
        View::Detail => detail::render(frame, app, body),
        View::Diff => diff::render(frame, app, body),
        View::Compare => compare::render(frame, app, body),
        View::History => history::render(frame, app, body),
        View::Help => help::render(frame, app, body),
    }
    frame.render_widget(Paragraph::new(message_lines), message);
    frame.render_widget(Paragraph::new(prompt::hint_line(app, hints.width)), hints);
    if app.dialog.is_some() {
        dialog::render(frame, app, body);
    }
    if app.setup.ascii {
        ascii_only(frame.buffer_mut());
    }
}

/// ASCII mode draws only ASCII, whatever the text holds (a cut marked `…` by a shared helper, a commit
/// message or an object name in another script): `…` becomes `~`, any other character `?`.
fn ascii_only(buf: &mut ratatui::buffer::Buffer) {
    for cell in &mut buf.content {
        if !cell.symbol().is_ascii() {
            cell.set_symbol(if cell.symbol() == "…" { "~" } else { "?" });
        }
    }
}

/// The header at `width`: the total of units goes first when it does not fit, then the line is cut with `…`.
fn header_fit(app: &App, width: u16) -> Line<'static> {
    let mut line = header_line(app);
    let len = |l: &Line| {
        l.spans
            .iter()
            .map(|s| s.content.chars().count())
            .sum::<usize>()
    };
    if len(&line) > usize::from(width) {
        line.spans.pop();
    }
    Line::from(cut_spans(line.spans, usize::from(width), app.setup.ascii))
}

/// Badges first (READ-ONLY is visible at any width), then the context and the counts by status.
fn header_line(app: &App) -> Line<'static> {
    let t = &app.setup.theme;
    let mut spans = Vec::new();
    if app.setup.read_only {
        spans.push(Span::styled(" READ-ONLY ", t.style("badge.read_only")));
        spans.push(Span::raw(" "));
    }
    // One context: its health and reconciler here; several: each in the context bar below.
    let single = match app.contexts() {
        [one] => Some(one),
        _ => None,
    };
    if let Some((since, reason)) = &app.stale {
        let age = crate::format::age(Some(*since), app.now);
        spans.push(Span::styled(
            format!(" STALE {age} "),
            t.style("badge.stale"),
        ));
        spans.push(Span::styled(format!(" {reason} "), t.style("muted")));
    } else if let Some(c) = single {
        // Stale or failed with why; live with what it says of itself (kinds it cannot see, …).
        spans.extend(contexts::health_spans(app, c));
        if let Some(m) = &c.message {
            spans.push(Span::styled(format!("{m} "), t.style("muted")));
        }
    }
    spans.push(Span::styled("setpoint ", t.style("title")));
    let several = app.contexts().len();
    let context = if several > 1 {
        format!("{} contexts ", several)
    } else {
        format!("{}:{} ", app.setup.backend, app.setup.context)
    };
    spans.push(Span::styled(context, t.style("badge.context")));
    if several <= 1 {
        spans.extend(reconciler_spans(
            app,
            single.and_then(|c| c.reconciler.as_ref()),
        ));
    }
    // counted when the snapshot was set (this line is drawn with each frame)
    let (by_kind, held) = app.shown_counts;
    for (kind, n) in StatusKind::ALL.into_iter().zip(by_kind) {
        if n > 0 {
            spans.push(Span::styled(
                format!(" {} {n} {kind}", status_mark(kind, app.setup.ascii)),
                status_style(app, kind),
            ));
        }
        if kind == StatusKind::Suspended && held > 0 {
            spans.push(Span::styled(
                format!(" {} {held} pinned", pinned_mark(app.setup.ascii)),
                t.style("badge.held"),
            ));
        }
    }
    let failed_sources = app.failed_sources.len();
    if failed_sources > 0 {
        spans.push(Span::styled(
            format!(
                " {} {failed_sources} source{} failed",
                status_mark(StatusKind::Failed, app.setup.ascii),
                if failed_sources == 1 { "" } else { "s" }
            ),
            status_style(app, StatusKind::Failed),
        ));
    }
    spans.push(Span::styled(
        format!("  {} units", app.snapshot.units.len()),
        t.style("muted"),
    ));
    Line::from(spans)
}

/// Who reconciles: `agent: embedded`, `agent: pid 123`, or NO AGENT.
pub(super) fn reconciler_spans(app: &App, r: Option<&Reconciler>) -> Vec<Span<'static>> {
    let t = &app.setup.theme;
    match r {
        Some(Reconciler::Embedded) => vec![Span::styled("agent: embedded ", t.style("muted"))],
        Some(Reconciler::Process(holder)) => {
            let pid = holder
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            vec![Span::styled(format!("agent: {pid} "), t.style("muted"))]
        }
        Some(Reconciler::None) => vec![
            Span::styled(" NO AGENT ", t.style("badge.stale")),
            Span::raw(" "),
        ],
        None => Vec::new(),
    }
}

/// How a unit's state is shown: a unit pinned by a rollback is held, never shown as healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shown {
    Kind(StatusKind),
    /// Ready at a pinned commit: held by a rollback until resumed.
    Pinned,
}

pub(super) fn shown(u: &Unit) -> Shown {
    if u.pinned_revision.is_some() && u.status.kind == StatusKind::Ready {
        Shown::Pinned
    } else {
        Shown::Kind(u.status.kind)
    }
}

pub(super) fn pinned_mark(ascii: bool) -> &'static str {
    if ascii { "P" } else { "◆" }
}

/// Cuts styled spans to `width` characters, ending a cut with `…` (`~` in ASCII mode).
pub(super) fn cut_spans(
    spans: Vec<Span<'static>>,
    width: usize,
    ascii: bool,
) -> Vec<Span<'static>> {
    let total: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    if total <= width || width == 0 {
        return spans;
    }
    let ellipsis = if ascii { "~" } else { "…" };
    let mut left = width.saturating_sub(1);
    let mut out = Vec::new();
    for s in spans {
        let n = s.content.chars().count();
        if n <= left {
            left -= n;
            out.push(s);
            continue;
        }
        let part: String = s.content.chars().take(left).collect();
        out.push(Span::styled(format!("{part}{ellipsis}"), s.style));
        return out;
    }
    out
}

/// The mark and word of a unit's state, styled: `◆ pinned` for a held unit.
pub(super) fn unit_state(app: &App, u: &Unit) -> Span<'static> {
    match shown(u) {
        Shown::Kind(kind) => Span::styled(
            format!("{} {kind}", status_mark(kind, app.setup.ascii)),
            status_style(app, kind),
        ),
        Shown::Pinned => Span::styled(
            format!("{} pinned", pinned_mark(app.setup.ascii)),
            app.setup.theme.style("badge.held"),
        ),
    }
}

/// The unit's source, when its last fetch failed.
pub(super) fn failed_source<'a>(app: &'a App, u: &Unit) -> Option<&'a crate::model::Source> {
    (app.failed_sources.iter())
        .map(|s| &**s)
        .find(|s| s.name == u.source && s.backend == u.backend && s.context == u.context)
}

pub(super) fn status_mark(kind: StatusKind, ascii: bool) -> &'static str {
    match (kind, ascii) {
        (StatusKind::Ready, false) => "●",
        (StatusKind::Progressing, false) => "◌",
        (StatusKind::Failed, false) => "✗",
        (StatusKind::Stalled, false) => "‼",
        (StatusKind::Suspended, false) => "‖",
        (StatusKind::Unknown, false) => "?",
        (StatusKind::Ready, true) => "*",
        (StatusKind::Progressing, true) => "~",
        (StatusKind::Failed, true) => "x",
        (StatusKind::Stalled, true) => "!",
        (StatusKind::Suspended, true) => "=",
        (StatusKind::Unknown, true) => "?",
    }
}

pub(super) fn status_style(app: &App, kind: StatusKind) -> Style {
    app.setup.theme.style(match kind {
        StatusKind::Ready => "status.ready",
        StatusKind::Progressing => "status.progressing",
        StatusKind::Failed => "status.failed",
        StatusKind::Stalled => "status.stalled",
        StatusKind::Suspended => "status.suspended",
        StatusKind::Unknown => "status.unknown",
    })
}

/// A bordered block in the theme, with ASCII borders when asked.
pub(super) fn block(app: &App, title: String, focused: bool) -> Block<'static> {
    let border = if focused { "border.focused" } else { "border" };
    let b = Block::bordered()
        .border_style(app.setup.theme.style(border))
        .title(Span::styled(
            format!(" {title} "),
            app.setup.theme.style("title"),
        ));
    if app.setup.ascii {
        b.border_set(ASCII_BORDER)
    } else {
        b
    }
}

/// A bordered panel holding `lines`.
pub(super) fn panel(
    frame: &mut Frame,
    app: &App,
    area: Rect,
    title: String,
    focused: bool,
    lines: Vec<Line<'static>>,
) {
    let outer = block(app, title, focused);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A muted one-line remark (loading, nothing to show).
pub(super) fn muted(app: &App, text: &str) -> Line<'static> {
    Line::styled(text.to_owned(), app.setup.theme.style("muted"))
}

/// The first visible row so that `selected` is on screen in `height` rows.
pub(super) fn offset(selected: usize, height: usize) -> usize {
    selected.saturating_sub(height.saturating_sub(1))
}

/// A short revision or `-`.
pub(super) fn short(r: Option<&crate::model::Revision>) -> String {
    r.map(|r| r.short_sha().to_owned())
        .unwrap_or_else(|| "-".into())
}

/// A rectangle of at most `w`x`h` centred in `area`.
pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
