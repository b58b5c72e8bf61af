//! Promotion compare: two units fed by the same source, side by side. What A runs that B has not got yet
//! (commits), and A's desired state against B's, per object.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Change, ObjectDiff, Revision};

/// One unit's side of a comparison: the revision it applied, and why its desired state could not be
/// rendered when it could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompareSide {
    pub unit: String,
    /// The name of the unit's source.
    pub source: String,
    /// The revision compared: the unit's applied revision, `None` when it has applied nothing yet.
    pub revision: Option<Revision>,
    /// Why the desired state at `revision` is not compared (nothing applied, the commit does not render);
    /// `None` when it rendered.
    #[serde(default)]
    pub error: Option<String>,
}

/// A commit of A's revision that B's revision does not contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompareCommit {
    /// The full commit id (40 hex digits).
    pub sha: String,
    pub author: String,
    pub time: Timestamp,
    pub summary: String,
}

impl CompareCommit {
    /// The first seven hex digits.
    pub fn short_sha(&self) -> &str {
        self.sha
            .get(..super::revision::SHORT_LEN)
            .unwrap_or(&self.sha)
    }
}

/// One object (file, manifest) in A's desired state against B's. `change` reads as what promoting A to B
/// would do to B: `added` is only in A, `removed` only in B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectComparison {
    pub object: String,
    pub change: Change,
    /// A's content, `None` when A does not have the object.
    pub a: Option<String>,
    /// B's content, `None` when B does not have the object.
    pub b: Option<String>,
    /// Secret values were replaced with a mask before leaving the backend.
    pub masked: bool,
    /// Binary or oversized content is not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ObjectComparison {
    /// Both sides as a diff from B (old) to A (new), for the diff renderers: `live` holds B, `desired` A.
    pub fn as_diff(&self) -> ObjectDiff {
        ObjectDiff {
            object: self.object.clone(),
            change: self.change,
            desired: self.a.clone(),
            live: self.b.clone(),
            masked: self.masked,
            note: self.note.clone(),
        }
    }

    /// The inverse of [`ObjectComparison::as_diff`]: a diff whose desired side is A and live side is B.
    pub fn from_diff(d: ObjectDiff) -> Self {
        Self {
            object: d.object,
            change: d.change,
            a: d.desired,
            b: d.live,
            masked: d.masked,
            note: d.note,
        }
    }
}

/// What `compare` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub a: CompareSide,
    pub b: CompareSide,
    /// Commits in A's revision that B's has not got yet, newest first; `None` when that cannot be said
    /// (different sources, a side without a revision), with the reason in `commits_note`.
    pub commits: Option<Vec<CompareCommit>>,
    #[serde(default)]
    pub commits_note: Option<String>,
    /// Every object of either side, differing ones first; empty when a side did not render.
    pub objects: Vec<ObjectComparison>,
}

/// How two desired states relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Equal,
    Different,
    /// A side could not be rendered: nothing can be claimed.
    Unknown,
}

impl Comparison {
    pub fn verdict(&self) -> Verdict {
        if self.a.error.is_some() || self.b.error.is_some() {
            Verdict::Unknown
        } else if self.objects.iter().any(|o| o.change != Change::Unchanged) {
            Verdict::Different
        } else {
            Verdict::Equal
        }
    }

    /// The objects that differ.
    pub fn differing(&self) -> impl Iterator<Item = &ObjectComparison> {
        self.objects
            .iter()
            .filter(|o| o.change != Change::Unchanged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(unit: &str, error: Option<&str>) -> CompareSide {
        CompareSide {
            unit: unit.into(),
            source: "src".into(),
            revision: None,
            error: error.map(str::to_owned),
        }
    }

    fn object(change: Change) -> ObjectComparison {
        ObjectComparison {
            object: "app.yaml".into(),
            change,
            a: Some("x: 2\n".into()),
            b: Some("x: 1\n".into()),
            masked: false,
            note: None,
        }
    }

    #[test]
    fn verdict_never_claims_equal_when_a_side_did_not_render() {
        let mut c = Comparison {
            a: side("a", None),
            b: side("b", None),
            commits: Some(Vec::new()),
            commits_note: None,
            objects: vec![object(Change::Unchanged)],
        };
        assert_eq!(c.verdict(), Verdict::Equal);
        c.objects.push(object(Change::Modified));
        assert_eq!(c.verdict(), Verdict::Different);
        assert_eq!(c.differing().count(), 1);
        c.objects.clear();
        c.b = side("b", Some("nothing applied yet"));
        assert_eq!(c.verdict(), Verdict::Unknown);
    }

    #[test]
    fn a_diff_runs_from_b_to_a() {
        let o = object(Change::Modified);
        let d = o.as_diff();
        assert_eq!(d.live.as_deref(), Some("x: 1\n"));
        assert_eq!(d.desired.as_deref(), Some("x: 2\n"));
        assert_eq!(ObjectComparison::from_diff(d), o);
    }
}
