//! The record the audit log keeps of every attempted action.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ActionKind;

/// How an attempted action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditResult {
    Ok,
    Denied,
    Failed,
}

/// One JSON line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub time: Timestamp,
    pub user: String,
    pub host: String,
    pub backend: String,
    pub context: String,
    /// The workspace directory of a local context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<std::path::PathBuf>,
    pub unit: String,
    pub action: ActionKind,
    pub reason: Option<String>,
    pub read_only: bool,
    pub result: AuditResult,
    pub detail: String,
    /// The revision a rollback targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<super::Revision>,
    /// Options of the action (`withSource` for a sync that fetches first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// Where the record comes from when records are merged: `local log` or `workspace journal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl AuditRecord {
    /// The options of an action as an audit record names them.
    pub fn options_of(action: &super::Action) -> Option<String> {
        match action {
            super::Action::Sync { with_source: true } => Some("withSource".into()),
            super::Action::Refresh { hard: true } => Some("hard".into()),
            _ => None,
        }
    }
}
