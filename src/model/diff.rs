//! Desired-versus-live differences of one object.

use serde::{Deserialize, Serialize};

/// How an object's live state relates to its desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Desired but not live.
    Added,
    /// Live but no longer desired (would be pruned).
    Removed,
    Modified,
    Unchanged,
}

/// One object (file, manifest) with both sides, ready to be diffed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    pub object: String,
    pub change: Change,
    /// Desired content, `None` when the object is not desired.
    pub desired: Option<String>,
    /// Live content, `None` when the object does not exist.
    pub live: Option<String>,
    /// Secret values were replaced with a mask before leaving the backend.
    pub masked: bool,
    /// Binary or oversized content is not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The words a backend's note carries when the desired revision does not render and the diff was made
/// against the applied one instead.
pub const NOT_RENDERED: &str = "does not render";

impl ObjectDiff {
    pub fn is_different(&self) -> bool {
        self.change != Change::Unchanged
    }

    /// The desired revision did not render: this object was diffed against the applied revision.
    pub fn desired_not_rendered(&self) -> bool {
        self.note
            .as_deref()
            .is_some_and(|n| n.contains(NOT_RENDERED))
    }
}

/// A unit's diff with what it covers: the objects, what the desired side was built from, and what the diff
/// could not look at. A diff with anything in `uncovered` never claims "in sync".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    pub objects: Vec<ObjectDiff>,
    /// Where the desired state came from (revision and how it was read), when the backend says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_from: Option<String>,
    /// What the diff could not cover (an unreadable Secret, a remote base, an object the dry run refused).
    #[serde(default)]
    pub uncovered: Vec<String>,
    /// What the diff left out on purpose (objects annotated to be skipped), for the reader's information.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl DiffReport {
    /// Objects only, everything covered: what backends without coverage knowledge return.
    pub fn complete(objects: Vec<ObjectDiff>) -> Self {
        Self {
            objects,
            ..Self::default()
        }
    }

    /// Whether every desired and live object was looked at.
    pub fn is_complete(&self) -> bool {
        self.uncovered.is_empty()
    }

    /// The lines a header shows: where the desired state came from, what is not covered, what was skipped.
    pub fn header(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(from) = &self.desired_from {
            out.push(format!("desired: {from}"));
        }
        out.extend(self.uncovered.iter().map(|u| format!("not covered: {u}")));
        out.extend(self.notes.iter().cloned());
        out
    }
}
