//! The reconciliation state of a unit or a source.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One of the six states every backend maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Failed,
    Stalled,
    Progressing,
    Unknown,
    Suspended,
    Ready,
}

impl StatusKind {
    /// Every state, most urgent first (the order of the units table).
    pub const ALL: [StatusKind; 6] = [
        StatusKind::Failed,
        StatusKind::Stalled,
        StatusKind::Progressing,
        StatusKind::Unknown,
        StatusKind::Suspended,
        StatusKind::Ready,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Ready => "ready",
            StatusKind::Progressing => "progressing",
            StatusKind::Failed => "failed",
            StatusKind::Stalled => "stalled",
            StatusKind::Suspended => "suspended",
            StatusKind::Unknown => "unknown",
        }
    }

    /// Lower is more urgent: failing units sort first.
    pub fn urgency(self) -> u8 {
        self as u8
    }

    /// Whether an on-call engineer should look at it.
    pub fn is_bad(self) -> bool {
        matches!(self, StatusKind::Failed | StatusKind::Stalled)
    }
}

impl fmt::Display for StatusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state with its explanation and the time it was entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(rename = "status")]
    pub kind: StatusKind,
    pub message: String,
    #[serde(rename = "statusSince")]
    pub since: Timestamp,
}

impl Status {
    pub fn new(kind: StatusKind, message: impl Into<String>, since: Timestamp) -> Self {
        Self {
            kind,
            message: message.into(),
            since,
        }
    }

    /// The same status with a new message/kind, keeping `since` when the kind did not change.
    pub fn transition(&self, kind: StatusKind, message: impl Into<String>, now: Timestamp) -> Self {
        let since = if kind == self.kind { self.since } else { now };
        Self {
            kind,
            message: message.into(),
            since,
        }
    }
}
