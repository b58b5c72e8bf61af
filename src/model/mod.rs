//! Backend-neutral types shared by every adapter, the console and the CLI. No I/O here.

mod action;
mod audit;
mod compare;
mod context;
mod detail;
mod diff;
mod event;
mod revision;
mod status;
mod unit;

pub use action::{Action, ActionKind, Capabilities, Outcome, Permission};
pub use audit::{AuditRecord, AuditResult};
pub use compare::{CompareCommit, CompareSide, Comparison, ObjectComparison, Verdict};
pub use context::{ContextHealth, ContextState, Reconciler};
pub use detail::{Condition, Detail, InventoryNode};
pub use diff::{Change, DiffReport, NOT_RENDERED, ObjectDiff};
pub use event::{Event, STATUS_CHANGED, Severity};
pub use revision::{Revision, RevisionError};
pub use status::{Status, StatusKind};
pub use unit::{BackendKind, HistoryEntry, InventoryEntry, Snapshot, Source, SyncWindow, Unit};
