//! Text diffs of live versus desired content, with word-level emphasis, for every backend and the CLI.
//!
//! The old side is the live state and the new side the desired state: a diff reads as what the next apply
//! would change. Large inputs are bounded by a deadline so a pathological diff degrades, never hangs.

pub mod mask;

use std::time::{Duration, Instant};

use similar::{
    Algorithm, ChangeTag, DiffTag, TextDiff, capture_diff_slices_deadline, group_diff_ops,
};

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

/// Inputs with more lines than this (both sides together) are diffed with Myers instead of Patience:
/// Patience reads better on small files, but on a 5 MB file it needs twice as long and, against the
/// console's deadline, would give up and show the whole file replaced.
pub const PATIENCE_MAX_LINES: usize = 20_000;

/// Diffs `old` (live) against `new` (desired) into hunks with word-level emphasis.
pub fn hunks(old: &str, new: &str, deadline: Duration) -> Vec<Hunk> {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let algorithm = if old_lines.len() + new_lines.len() <= PATIENCE_MAX_LINES {
        Algorithm::Patience
    } else {
        Algorithm::Myers
    };
    let ops = capture_diff_slices_deadline(
        algorithm,
        &old_lines,
        &new_lines,
        Some(Instant::now() + deadline),
    );
    let mut out = Vec::new();
    for group in group_diff_ops(ops, CONTEXT) {
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
            let (o, n) = (op.old_range(), op.new_range());
            match op.tag() {
                DiffTag::Equal => lines.extend(
                    o.clone()
                        .zip(n.clone())
                        .map(|(i, j)| plain(LineKind::Context, Some(i), Some(j), old_lines[i])),
                ),
                // Word emphasis only where it helps a reader and stays cheap: a deadline fallback can
                // turn a whole large file into one replace, and refining that word by word would take
                // seconds.
                DiffTag::Replace if o.len() + n.len() <= INLINE_MAX_LINES => lines.extend(inline(
                    &old_lines[o.clone()],
                    &new_lines[n.clone()],
                    o.start,
                    n.start,
                )),
                _ => {
                    lines.extend(o.map(|i| plain(LineKind::Removed, Some(i), None, old_lines[i])));
                    lines.extend(n.map(|j| plain(LineKind::Added, None, Some(j), new_lines[j])));
                }
            }
        }
        out.push(Hunk { header, lines });
    }
    out
}

/// A line without emphasis; indices are 0-based.
fn plain(kind: LineKind, old: Option<usize>, new: Option<usize>, text: &str) -> DiffLine {
    let text = text.trim_end_matches(['\n', '\r']);
    DiffLine {
        kind,
        old_no: old.map(|i| i + 1),
        new_no: new.map(|i| i + 1),
        segments: if text.is_empty() {
            Vec::new()
        } else {
            vec![(false, text.to_owned())]
        },
    }
}

/// The lines of one replaced block with the changed words marked; `old_start`/`new_start` place the
/// block in the whole file.
fn inline(old: &[&str], new: &[&str], old_start: usize, new_start: usize) -> Vec<DiffLine> {
    let (old, new) = (old.concat(), new.concat());
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .diff_lines(&old, &new);
    let mut lines = Vec::new();
    for op in diff.ops() {
        for change in diff.iter_inline_changes(op) {
            let segments = change
                .iter_strings_lossy()
                .map(|(emph, s)| (emph, s.trim_end_matches(['\n', '\r']).to_owned()))
                .filter(|(_, s)| !s.is_empty())
                .collect();
            lines.push(DiffLine {
                kind: kind_of(change.tag()),
                old_no: change.old_index().map(|i| old_start + i + 1),
                new_no: change.new_index().map(|j| new_start + j + 1),
                segments,
            });
        }
    }
    lines
}

/// What the two sides of a diff are: live and desired (`setpoint diff`), or two units' desired states
/// (`setpoint compare`, old side B, new side A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sides<'a> {
    LiveDesired,
    Units { old: &'a str, new: &'a str },
}

impl Sides<'_> {
    /// The labels of the old and new side.
    pub fn labels(&self) -> (&str, &str) {
        match self {
            Sides::LiveDesired => ("live", "desired"),
            Sides::Units { old, new } => (old, new),
        }
    }

    /// What an object only one side has, or the same on both, means.
    pub fn remark(&self, o: &ObjectDiff) -> Option<String> {
        let only_new = o.live.is_none() && o.change == Change::Added;
        let only_old = o.desired.is_none() && o.change == Change::Removed;
        match (self, o.change) {
            (Sides::LiveDesired, _) if only_new => {
                Some("not present live: apply would create it".into())
            }
            (Sides::LiveDesired, _) if only_old => {
                Some("no longer desired: apply would prune it".into())
            }
            (Sides::LiveDesired, Change::Unchanged) => Some("in sync".into()),
            (Sides::Units { new, .. }, _) if only_new => {
                Some(format!("only in {new}: promotion would add it"))
            }
            (Sides::Units { old, .. }, _) if only_old => {
                Some(format!("only in {old}: promotion would remove it"))
            }
            (Sides::Units { .. }, Change::Unchanged) => Some("the same in both".into()),
            _ => None,
        }
    }
}

/// A unified diff of one object, as `setpoint diff` prints it.
pub fn unified(o: &ObjectDiff) -> String {
    unified_between(o, Sides::LiveDesired)
}

/// A unified diff of one object between two sides, labelled `--- OLD/object` and `+++ NEW/object`.
pub fn unified_between(o: &ObjectDiff, sides: Sides<'_>) -> String {
    let (old_label, new_label) = sides.labels();
    let mut out = format!(
        "--- {old_label}/{}\n+++ {new_label}/{}\n",
        o.object, o.object
    );
    if let Some(note) = &o.note {
        out.push_str(&format!("# {note}\n"));
    }
    if o.change != Change::Unchanged
        && let Some(remark) = sides.remark(o)
    {
        out.push_str(&format!("# {remark}\n"));
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

    fn first(hunk: &Hunk, kind: LineKind) -> &DiffLine {
        hunk.lines.iter().find(|l| l.kind == kind).unwrap()
    }

    #[test]
    fn hunks_with_word_emphasis() {
        let live = "a: 1\nreplicas: 5\nb: 2\n";
        let desired = "a: 1\nreplicas: 3\nb: 2\n";
        let h = hunks(live, desired, DEFAULT_DEADLINE);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].header, "@@ -1,3 +1,3 @@");
        let removed = first(&h[0], LineKind::Removed);
        assert_eq!(removed.text(), "replicas: 5");
        assert!(removed.segments.iter().any(|(emph, s)| *emph && s == "5"));
        let added = first(&h[0], LineKind::Added);
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
    fn large_files_get_small_hunks_with_emphasis() {
        // Above PATIENCE_MAX_LINES: one changed value every 997 lines must stay 41 small hunks, not a
        // whole-file replace (which is what Patience under the console's deadline produced).
        let file = |seed: usize| -> String {
            (0..40_000)
                .map(|i| {
                    let v = if i % 997 == 0 { i + seed } else { i };
                    format!("  key_{i:07}: value-{v:07}\n")
                })
                .collect()
        };
        let h = hunks(&file(1), &file(2), Duration::from_secs(30));
        assert_eq!(h.len(), 41);
        assert!(h.iter().all(|h| h.lines.len() == 5 || h.lines.len() == 8));
        let added = first(&h[2], LineKind::Added);
        assert_eq!(added.text(), "  key_0001994: value-0001996");
        assert_eq!((added.old_no, added.new_no), (None, Some(1995)));
        assert!(added.segments.iter().any(|(emph, _)| *emph));
        assert_eq!(h[2].header, "@@ -1992,7 +1992,7 @@");
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
