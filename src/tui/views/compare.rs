//! Promotion compare: the two units and their applied revisions, the commits A runs that B has not got yet,
//! and below them the diff pane (B → A per file), drawn by the diff view.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};

use super::detail::loading_line;
use super::{muted, panel};
use crate::format::{age, truncate};
use crate::model::{Change, CompareSide, Comparison, Verdict};
use crate::tui::app::{App, Loadable};
use crate::tui::diffdoc::DiffFile;

/// The marks of A against B.
const COMPARE_LEGEND: &super::detail::Legend = &[
    (false, Change::Modified, "differs"),
    (false, Change::Added, "only A"),
    (false, Change::Removed, "only B"),
    (false, Change::Unchanged, "same"),
];

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let c = &app.compare;
    let arrow = if app.setup.ascii { "->" } else { "→" };
    let title = format!("Compare {} {arrow} {}", c.a, c.b);
    let Loadable::Ready(comparison) = &c.result else {
        let text = loading_line(app, &c.result);
        panel(frame, app, area, title, true, vec![text]);
        return;
    };
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines = summary(app, comparison, width);
    // The summary takes what it needs, up to two fifths of the body; the diff keeps the rest.
    let most = (usize::from(area.height) * 2 / 5).max(5).saturating_sub(2);
    if lines.len() > most {
        let more = lines.len() - most + 1;
        lines.truncate(most.saturating_sub(1));
        lines.push(muted(
            app,
            &format!(
                "… {more} more lines: `setpoint compare {} {}` lists them all",
                c.a, c.b
            ),
        ));
    }
    let top_h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(top_h), Constraint::Min(0)]).areas(area);
    panel(frame, app, top, title, false, lines);

    let Loadable::Ready(doc) = &app.diff.doc else {
        let text = loading_line(app, &app.diff.doc);
        panel(frame, app, bottom, "Diff".into(), true, vec![text]);
        return;
    };
    let (a, b) = (&comparison.a.unit, &comparison.b.unit);
    let file_title =
        |f: &DiffFile| format!("{b} {arrow} {a}: {} +{} -{}", f.object, f.added, f.removed);
    let empty = match comparison.verdict() {
        Verdict::Unknown => "desired states not compared: a side did not render (above)",
        _ => "no files in either desired state",
    };
    super::diff::panes(
        frame,
        app,
        bottom,
        doc,
        (&[], COMPARE_LEGEND),
        &file_title,
        (empty, format!("{b} {arrow} {a}")),
    );
}

/// The sides, what cannot be compared, the verdict and the commits not yet in B, one line each.
fn summary(app: &App, c: &Comparison, width: usize) -> Vec<Line<'static>> {
    let t = &app.setup.theme;
    let fit = |s: String| truncate(&s, width);
    let id_w = c.a.unit.chars().count().max(c.b.unit.chars().count());
    let side = |label: &str, s: &CompareSide| {
        let at = s
            .revision
            .as_ref()
            .map(|r| r.short())
            .unwrap_or_else(|| "nothing applied".into());
        Line::from(vec![
            Span::styled(format!("{label} "), t.style("muted")),
            Span::styled(
                fit(format!("{:<id_w$}  applied {at}", s.unit)),
                t.style("header"),
            ),
        ])
    };
    let mut out = vec![side("A", &c.a), side("B", &c.b)];
    for error in [&c.a.error, &c.b.error].into_iter().flatten() {
        out.push(Line::styled(fit(error.clone()), t.style("message.error")));
    }
    match c.verdict() {
        Verdict::Equal => out.push(Line::styled(
            fit(format!(
                "desired states are equal ({} files)",
                c.objects.len()
            )),
            t.style("message.ok"),
        )),
        Verdict::Unknown => out.push(Line::styled(
            "desired states not compared: a side did not render",
            t.style("message.error"),
        )),
        Verdict::Different => {}
    }
    let (a, b) = (&c.a.unit, &c.b.unit);
    match &c.commits {
        None => {}
        Some(list) if list.is_empty() => out.push(muted(
            app,
            &fit(format!("{b} has every commit of {a}'s revision")),
        )),
        Some(list) => {
            let s = if list.len() == 1 { "" } else { "s" };
            out.push(Line::styled(
                fit(format!("{} commit{s} in {a} not yet in {b}:", list.len())),
                t.style("header"),
            ));
            let author_w = list
                .iter()
                .map(|e| e.author.chars().count())
                .max()
                .unwrap_or(0)
                .min(20);
            for e in list {
                let rest = format!(
                    "{:<author_w$}  {:>4}  {}",
                    truncate(&e.author, author_w),
                    age(Some(e.time), app.now),
                    e.summary
                );
                let rest = truncate(&rest, width.saturating_sub(e.short_sha().len() + 2));
                out.push(Line::from(vec![
                    Span::styled(format!("{}  ", e.short_sha()), t.style("history.applied")),
                    Span::raw(rest),
                ]));
            }
        }
    }
    if let Some(note) = &c.commits_note {
        out.push(muted(app, &fit(format!("commits: {note}"))));
    }
    out
}
