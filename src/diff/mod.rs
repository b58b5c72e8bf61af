//! Text diffs of live versus desired content, with word-level emphasis, for every backend and the CLI.
//!
//! The old side is the live state and the new side the desired state: a diff reads as what the next apply
//! would change. Large inputs are bounded by a deadline so a pathological diff degrades, never hangs.

pub mod mask;

use std::time::{Duration, Instant};

use similar::{Algorithm, ChangeTag, TextDiff};

use crate::model::{Change, ObjectDiff};

/// How long a diff may search for a minimal result before it settles for a coarser one.
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(250);

/// Lines of context around each change.
pub const CONTEXT: usize = 3;

/// Changes spanning more lines than this (both sides together) are shown without word emphasis.
pub const INLINE_MAX_LINES: usize = 200;

fn kind_of(tag: ChangeTag) -> LineKind {
    match tag {
        ChangeTag::Equal => LineKind::Context,
        ChangeTag::Insert => LineKind::Added,
        ChangeTag::Delete => LineKind::Removed,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Context,
    Added,
    Removed,
}

/// One diff line, split into runs; `true` runs are the words that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: LineKind,
    pub old_no: Option<usize>,
    pub new_no: Option<usize>,
    pub segments: Vec<(bool, String)>,
}

impl DiffLine {
    pub fn text(&self) -> String {
        self.segments.iter().map(|(_, s)| s.as_str()).collect()
    }
}

/// A group of changes with context, under its `@@ -a,b +c,d @@` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub header: String,
    pub lines: Vec<DiffLine>,
}

/// Diffs `old` (live) against `new` (desired) into hunks with word-level emphasis.
pub fn hunks(old: &str, new: &str, deadline: Duration) -> Vec<Hunk> {
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .deadline(Instant::now() + deadline)
        .diff_lines(old, new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let header = format!(
            "@@ -{},{} +{},{} @@",
            old_range.start + 1,
            old_range.len(),
            new_range.start + 1,
            new_range.len()
        );
        let mut lines = Vec::new();
        for op in &group {
            // Word emphasis only where it helps a reader and stays cheap: a deadline fallback can turn a
            // whole large file into one replace, and refining that word by word would take seconds.
            if op.old_range().len() + op.new_range().len() > INLINE_MAX_LINES {
                for change in diff.iter_changes(op) {
                    let text = change.to_string_lossy();
                    let text = text.trim_end_matches(['\n', '\r']);
                    lines.push(DiffLine {
                        kind: kind_of(change.tag()),
                        old_no: change.old_index().map(|i| i + 1),
                        new_no: change.new_index().map(|i| i + 1),
                        segments: if text.is_empty() {
                            Vec::new()
                        } else {
                            vec![(false, text.to_owned())]
                        },
                    });
                }
                continue;
            }
            for change in diff.iter_inline_changes(op) {
                let kind = kind_of(change.tag());
                let segments = change
                    .iter_strings_lossy()
                    .map(|(emph, s)| (emph, s.trim_end_matches(['\n', '\r']).to_owned()))
                    .filter(|(_, s)| !s.is_empty())
                    .collect();
                lines.push(DiffLine {
                    kind,
                    old_no: change.old_index().map(|i| i + 1),
                    new_no: change.new_index().map(|i| i + 1),
                    segments,
                });
            }
        }
        out.push(Hunk { header, lines });
    }
    out
}

/// A unified diff of one object, as `setpoint diff` prints it.
pub fn unified(o: &ObjectDiff) -> String {
    let mut out = format!("--- live/{}\n+++ desired/{}\n", o.object, o.object);
    if let Some(note) = &o.note {
        out.push_str(&format!("# {note}\n"));
    }
    match o.change {
        Change::Added if o.live.is_none() => {
            out.push_str("# not present live: apply would create it\n")
        }
        Change::Removed if o.desired.is_none() => {
            out.push_str("# no longer desired: apply would prune it\n")
        }
        _ => {}
    }
    let old = o.live.as_deref().unwrap_or("");
    let new = o.desired.as_deref().unwrap_or("");
    for hunk in hunks(old, new, DEFAULT_DEADLINE) {
        out.push_str(&hunk.header);
        out.push('\n');
        for line in hunk.lines {
            let sign = match line.kind {
                LineKind::Context => ' ',
                LineKind::Added => '+',
                LineKind::Removed => '-',
            };
            out.push(sign);
            out.push_str(&line.text());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_with_word_emphasis() {
        let live = "a: 1\nreplicas: 5\nb: 2\n";
        let desired = "a: 1\nreplicas: 3\nb: 2\n";
        let h = hunks(live, desired, DEFAULT_DEADLINE);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].header, "@@ -1,3 +1,3 @@");
        let removed = h[0]
            .lines
            .iter()
            .find(|l| l.kind == LineKind::Removed)
            .unwrap();
        assert_eq!(removed.text(), "replicas: 5");
        assert!(removed.segments.iter().any(|(emph, s)| *emph && s == "5"));
        let added = h[0]
            .lines
            .iter()
            .find(|l| l.kind == LineKind::Added)
            .unwrap();
        assert_eq!((added.old_no, added.new_no), (None, Some(2)));
    }

    #[test]
    fn large_changes_skip_word_emphasis() {
        let old: String = (0..150).map(|i| format!("a{i} x\n")).collect();
        let new: String = (0..150).map(|i| format!("b{i} x\n")).collect();
        let h = hunks(&old, &new, DEFAULT_DEADLINE);
        let lines: Vec<&DiffLine> = h.iter().flat_map(|h| &h.lines).collect();
        assert_eq!(lines.len(), 300);
        assert!(
            lines
                .iter()
                .all(|l| l.segments.iter().all(|(emph, _)| !emph))
        );
        assert_eq!(lines[0].text(), "a0 x");
    }

    #[test]
    fn unified_text() {
        let o = ObjectDiff {
            object: "app.yaml".into(),
            change: Change::Modified,
            desired: Some("x: 2\n".into()),
            live: Some("x: 1\n".into()),
            masked: false,
            note: None,
        };
        assert_eq!(
            unified(&o),
            "--- live/app.yaml\n+++ desired/app.yaml\n@@ -1,1 +1,1 @@\n-x: 1\n+x: 2\n"
        );
    }
}
