//! The events pane's rows: identical repeats collapse into one row (`×12 over 5m`), so that a failure
//! journaled every few seconds does not push the operator's own actions out of view.

use jiff::Timestamp;

use crate::model::Event;

/// One row of the events pane: the newest event of a run of identical ones.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow<'a> {
    pub event: &'a Event,
    /// How many identical events in a row this stands for (1 when it is alone).
    pub count: usize,
    /// The oldest of them.
    pub oldest: Timestamp,
}

impl EventRow<'_> {
    /// `×12 over 5m`, or nothing for a single event.
    pub fn repeat_note(&self) -> Option<String> {
        (self.count > 1).then(|| {
            format!(
                "×{} over {}",
                self.count,
                crate::format::age(Some(self.oldest), self.event.time)
            )
        })
    }
}

/// The message without the pass duration the journal adds (`… (12 ms)`), which differs every time.
fn essence(message: &str) -> &str {
    match message.rsplit_once(" (") {
        Some((head, tail))
            if tail
                .strip_suffix(" ms)")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            head
        }
        _ => message,
    }
}

fn same(a: &Event, b: &Event) -> bool {
    a.reason == b.reason
        && a.severity == b.severity
        && a.revision == b.revision
        && essence(&a.message) == essence(&b.message)
}

/// Whether an operator asked for this (suspend, resume, sync, rollback).
pub fn is_operator(e: &Event) -> bool {
    e.reason.starts_with("Operator")
}

/// Collapses runs of identical events (newest first in, newest first out).
pub fn collapse(events: &[Event]) -> Vec<EventRow<'_>> {
    let mut rows: Vec<EventRow> = Vec::new();
    for e in events {
        match rows.last_mut() {
            Some(last) if same(last.event, e) => {
                last.count += 1;
                last.oldest = e.time;
            }
            _ => rows.push(EventRow {
                event: e,
                count: 1,
                oldest: e.time,
            }),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::scripted::ts;
    use crate::model::Severity;

    fn ev(at: i64, reason: &str, message: &str) -> Event {
        Event {
            time: ts(at),
            unit: "local/prod".into(),
            severity: Severity::Error,
            reason: reason.into(),
            message: message.into(),
            revision: None,
        }
    }

    #[test]
    fn repeats_collapse_with_count_and_span_and_keep_order() {
        let mut events: Vec<Event> = (0..12)
            .map(|i| {
                ev(
                    -i * 25,
                    "ReconcileFailed",
                    &format!("render failed ({} ms)", 10 + i),
                )
            })
            .collect();
        events.push(ev(
            -400,
            "OperatorRollback",
            "pinned at 0303030 (by ann@bastion)",
        ));
        events.push(ev(-500, "ReconcileFailed", "render failed (3 ms)"));
        let rows = collapse(&events);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].count, 12);
        assert_eq!(rows[0].repeat_note().as_deref(), Some("×12 over 4m"));
        assert!(is_operator(rows[1].event));
        assert_eq!(rows[2].repeat_note(), None);
    }
}
