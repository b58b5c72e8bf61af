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
    pub unit: String,
    pub action: ActionKind,
    pub reason: Option<String>,
    pub read_only: bool,
    pub result: AuditResult,
    pub detail: String,
}
