//! A unit's diff laid out once, off the UI thread: per object, the unified lines with word emphasis,
//! the side-by-side rows, and where the hunks start. Rendering then only slices what is visible.

use std::time::Duration;

use crate::diff::{DiffLine, LineKind, Sides, hunks};
use crate::model::{Change, ObjectDiff};

/// How long the console's diff may search for a minimal result before it settles for a coarser one:
/// together with laying out the lines this keeps a 5 MB file within the 300 ms budget.
pub const DEADLINE: Duration = Duration::from_millis(150);

/// One line of the unified layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocLine {
    /// `@@ -a,b +c,d @@`
    Hunk(String),
    /// A remark about the object (created, pruned, binary, masked, in sync).
    Note(String),
    Line(DiffLine),
}

/// One row of the side-by-side layout: indices into [`DiffFile::lines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbsRow {
    /// A hunk header or a note, across both sides.
    Full(usize),
    Pair(Option<usize>, Option<usize>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffFile {
    pub object: String,
    pub change: Change,
    pub lines: Vec<DocLine>,
    /// Indices of the hunk headers in `lines`.
    pub hunks: Vec<usize>,
    pub sbs: Vec<SbsRow>,
    /// For each unified line, its side-by-side row.
    pub sbs_of_line: Vec<usize>,
    pub added: usize,
    pub removed: usize,
}

/// Every object of a unit's diff, changed ones first (as the backend sorted them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffDoc {
    pub files: Vec<DiffFile>,
    /// What the diff covers and what it could not (a backend's `DiffReport::header`), shown above the panes.
    pub header: Vec<String>,
}

impl DiffFile {
    /// The length in characters of the longest text line, for horizontal scrolling.
    pub fn longest_line(&self) -> usize {
        self.lines
            .iter()
            .map(|l| match l {
                DocLine::Line(d) => d.segments.iter().map(|(_, s)| s.chars().count()).sum(),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }
}

impl DiffDoc {
    pub fn build(objects: &[ObjectDiff]) -> Self {
        Self::build_between(objects, Sides::LiveDesired)
    }

    /// The objects' diffs, with remarks that name the two sides (`only in staging`).
    pub fn build_between(objects: &[ObjectDiff], sides: Sides<'_>) -> Self {
        Self {
            files: objects
                .iter()
                .map(|o| DiffFile::build_between(o, sides))
                .collect(),
            header: Vec::new(),
        }
    }

    /// A unit's diff report: its objects, and its coverage as the header.
    pub fn from_report(report: &crate::model::DiffReport) -> Self {
        Self {
            header: report.header(),
            ..Self::build(&report.objects)
        }
    }

    pub fn changed(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.change != Change::Unchanged)
            .count()
    }
}

impl DiffFile {
    pub fn build(o: &ObjectDiff) -> Self {
        Self::build_between(o, Sides::LiveDesired)
    }

    pub fn build_between(o: &ObjectDiff, sides: Sides<'_>) -> Self {
        let mut lines = Vec::new();
        if let Some(note) = &o.note {
            lines.push(DocLine::Note(note.clone()));
        }
        if o.masked {
            lines.push(DocLine::Note("secret values are masked".into()));
        }
        if let Some(remark) = sides.remark(o) {
            lines.push(DocLine::Note(remark));
        }
        let old = o.live.as_deref().unwrap_or("");
        let new = o.desired.as_deref().unwrap_or("");
        let mut hunk_idx = Vec::new();
        let (mut added, mut removed) = (0, 0);
        if o.change != Change::Unchanged {
            for h in hunks(old, new, DEADLINE) {
                hunk_idx.push(lines.len());
                lines.push(DocLine::Hunk(h.header));
                for l in h.lines {
                    match l.kind {
                        LineKind::Added => added += 1,
                        LineKind::Removed => removed += 1,
                        LineKind::Context => {}
                    }
                    lines.push(DocLine::Line(l));
                }
            }
        }
        let (sbs, sbs_of_line) = side_by_side(&lines);
        Self {
            object: o.object.clone(),
            change: o.change,
            lines,
            hunks: hunk_idx,
            sbs,
            sbs_of_line,
            added,
            removed,
        }
    }

    /// Unified lines whose text contains `needle` (ignoring ASCII case).
    pub fn search(&self, needle: &str) -> Vec<usize> {
        let needle = needle.to_ascii_lowercase();
        if needle.is_empty() {
            return Vec::new();
        }
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                let text = match l {
                    DocLine::Hunk(s) | DocLine::Note(s) => s.clone(),
                    DocLine::Line(d) => d.text(),
                };
                text.to_ascii_lowercase().contains(&needle)
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Pairs removed lines with the added lines that follow them; context lines face themselves.
fn side_by_side(lines: &[DocLine]) -> (Vec<SbsRow>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut of_line = vec![0; lines.len()];
    let mut removed: Vec<usize> = Vec::new();
    let mut added: Vec<usize> = Vec::new();
    let flush = |rows: &mut Vec<SbsRow>,
                 of_line: &mut Vec<usize>,
                 removed: &mut Vec<usize>,
                 added: &mut Vec<usize>| {
        for k in 0..removed.len().max(added.len()) {
            let (l, r) = (removed.get(k).copied(), added.get(k).copied());
            for i in [l, r].into_iter().flatten() {
                of_line[i] = rows.len();
            }
            rows.push(SbsRow::Pair(l, r));
        }
        removed.clear();
        added.clear();
    };
    for (i, line) in lines.iter().enumerate() {
        match line {
            DocLine::Line(d) if d.kind == LineKind::Removed => {
                if !added.is_empty() {
                    flush(&mut rows, &mut of_line, &mut removed, &mut added);
                }
                removed.push(i);
            }
            DocLine::Line(d) if d.kind == LineKind::Added => added.push(i),
            other => {
                flush(&mut rows, &mut of_line, &mut removed, &mut added);
                of_line[i] = rows.len();
                rows.push(match other {
                    DocLine::Line(_) => SbsRow::Pair(Some(i), Some(i)),
                    _ => SbsRow::Full(i),
                });
            }
        }
    }
    flush(&mut rows, &mut of_line, &mut removed, &mut added);
    (rows, of_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(live: &str, desired: &str) -> ObjectDiff {
        ObjectDiff {
            object: "app.yaml".into(),
            change: Change::Modified,
            desired: Some(desired.into()),
            live: Some(live.into()),
            masked: false,
            note: None,
        }
    }

    #[test]
    fn pairs_changes_side_by_side() {
        let f = DiffFile::build(&obj("a\nb\nc\n", "a\nB\nc\nd\n"));
        assert_eq!(f.hunks, vec![0]);
        assert_eq!((f.added, f.removed), (2, 1));
        // header, a, b|B, c, -|d
        assert_eq!(f.sbs.len(), 5);
        assert_eq!(f.sbs[2], SbsRow::Pair(Some(2), Some(3)));
        assert_eq!(f.sbs[4], SbsRow::Pair(None, Some(5)));
        assert_eq!(f.sbs_of_line[3], 2);
        assert_eq!(f.sbs_of_line[4], 3);
        assert_eq!(f.search("B"), vec![2, 3]);
    }
}
