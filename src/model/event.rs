//! Things that happened to a unit.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Revision;

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// The reason of the event a backend records when a unit's status changes kind (`ready` → `failed`);
/// the console's status history lists these.
pub const STATUS_CHANGED: &str = "StatusChanged";

/// One entry of a unit's event list (a reconciliation, a drift, an operator action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub time: Timestamp,
    pub unit: String,
    pub severity: Severity,
    /// A short machine-friendly word: `Applied`, `Failed`, `Drift`, `Suspended`, …
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
}
