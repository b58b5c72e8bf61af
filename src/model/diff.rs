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
