//! The context bar under the header when several contexts are shown: for each, its name (the one `:ctx`
//! shows highlighted), READ-ONLY, whether it is current (STALE with its age, FAILED, connecting), who
//! reconciles it, and its units by status.

use ratatui::text::{Line, Span};

use super::{reconciler_spans, status_mark, status_style};
use crate::model::{ContextHealth, ContextState, StatusKind};
use crate::tui::app::App;

pub(super) fn bar(app: &App) -> Line<'static> {
    let t = &app.setup.theme;
    let mut spans = Vec::new();
    for (i, c) in app.contexts().iter().enumerate() {
        let shown = app.context_filter.as_deref().is_none_or(|f| f == c.name);
        let style = if app.context_filter.as_deref() == Some(c.name.as_str()) {
            t.style("selection")
        } else if shown {
            t.style("badge.context")
        } else {
            t.style("muted")
        };
        spans.push(Span::styled(format!(" {} ", c.name), style));
        if c.read_only && !app.setup.read_only {
            spans.push(Span::styled(" RO ", t.style("badge.read_only")));
        }
        spans.extend(health_spans(app, c));
        if let (ContextHealth::Live, Some(note)) = (c.health, &c.message) {
            spans.push(Span::styled(
                format!("{note} "),
                app.setup.theme.style("muted"),
            ));
        }
        spans.extend(reconciler_spans(app, c.reconciler.as_ref()));
        let counts = app.context_counts.get(i).copied().unwrap_or_default();
        for (kind, n) in StatusKind::ALL.into_iter().zip(counts) {
            if n > 0 {
                spans.push(Span::styled(
                    format!("{}{n} ", status_mark(kind, app.setup.ascii)),
                    status_style(app, kind),
                ));
            }
        }
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// STALE with its age, FAILED, or connecting…; nothing for a live context.
pub(super) fn health_spans(app: &App, c: &ContextState) -> Vec<Span<'static>> {
    let t = &app.setup.theme;
    let age = crate::format::age(c.since, app.now);
    match c.health {
        ContextHealth::Live => Vec::new(),
        ContextHealth::Connecting => {
            let dots = if app.setup.ascii { "..." } else { "…" };
            vec![Span::styled(format!("connecting{dots} "), t.style("muted"))]
        }
        ContextHealth::Stale => vec![
            Span::styled(format!(" STALE {age} "), t.style("badge.stale")),
            Span::raw(" "),
        ],
        ContextHealth::Failed => vec![
            Span::styled(" FAILED ", status_style(app, StatusKind::Failed)),
            Span::raw(" "),
        ],
    }
}
