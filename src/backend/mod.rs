//! The adapter layer: one trait for every system that reconciles units, and decorators that wrap any of them.
//!
//! Nothing here knows the console; the console and the CLI only know this trait.

pub mod argo;
mod audited;
mod composite;
mod error;
pub mod flux;
pub(crate) mod helm_cli;
pub mod local;
mod read_only;
mod resolve;
#[cfg(test)]
pub(crate) mod scripted;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::model::{
    Action, Capabilities, Comparison, Event, HistoryEntry, ObjectDiff, Outcome, Revision, Snapshot,
};

pub use crate::model::Reconciler;

pub use audited::Audited;
pub use composite::{Composite, MEMBER_TIMEOUT};
pub use error::BackendError;
pub use read_only::{READ_ONLY_REASON, ReadOnly, read_only_reason};
pub use resolve::{ResolveError, resolve_unit};

/// Who a backend is: its kind and the context (cluster context, workspace name) it talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    pub kind: crate::model::BackendKind,
    pub context: String,
    /// Whether actions are refused by a [`ReadOnly`] wrapper.
    pub read_only: bool,
    /// The workspace directory of a local backend.
    pub workspace: Option<std::path::PathBuf>,
}

impl BackendInfo {
    /// The id prefix of every unit and source of this backend: `local/eu-prod/`.
    pub fn prefix(&self) -> String {
        format!("{}/{}/", self.kind, self.context)
    }
}

/// What the update stream carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Everything the backend knows now; replaces the previous snapshot.
    Snapshot(Snapshot),
    /// The backend could not be read; the last snapshot is now stale.
    Unavailable(String),
    /// Who reconciles now: sent first, then whenever it changes.
    Reconciler(Reconciler),
}

/// What a revision's desired state is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffBase {
    /// The live objects: what moving the unit to the revision would change.
    Live,
    /// The parent revision's desired state: what the revision itself changed.
    Parent,
}

/// One system that reconciles units: the embedded agent, Flux, Argo CD.
#[async_trait]
pub trait Backend: Send + Sync {
    fn info(&self) -> BackendInfo;

    /// Everything known now: all units and sources.
    async fn snapshot(&self) -> Result<Snapshot, BackendError>;

    /// Sends an initial snapshot, then one whenever something changes, until `tx` is closed.
    /// Watches where the system supports it; never a busy poll.
    async fn watch(&self, tx: mpsc::Sender<Update>) -> Result<(), BackendError>;

    /// Desired versus live, per object, with secrets masked.
    async fn diff(&self, unit: &str) -> Result<Vec<ObjectDiff>, BackendError>;

    /// The diff with what it covers: backends that cannot see everything (Flux: an unreadable Secret, a
    /// remote base) say so here. By default the objects of `diff`, everything covered.
    async fn diff_report(&self, unit: &str) -> Result<crate::model::DiffReport, BackendError> {
        Ok(crate::model::DiffReport::complete(self.diff(unit).await?))
    }

    /// Revisions that can be rolled back to, newest first.
    async fn history(&self, unit: &str) -> Result<Vec<HistoryEntry>, BackendError>;

    /// What happened to the unit, newest first.
    async fn events(&self, unit: &str) -> Result<Vec<Event>, BackendError>;

    /// Which actions are allowed now, and why not when they are not.
    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError>;

    /// Asks for an action; returns once the backend accepted it. Progress arrives through `watch`.
    async fn act(&self, unit: &str, action: &Action) -> Result<Outcome, BackendError>;

    /// A revision's desired state against live or against its parent revision, per object.
    async fn diff_at(
        &self,
        unit: &str,
        revision: &Revision,
        base: DiffBase,
    ) -> Result<Vec<ObjectDiff>, BackendError> {
        let _ = (revision, base);
        Err(BackendError::Invalid(format!(
            "{}: diffs of {unit} at a chosen revision are not supported by this backend",
            self.info().kind
        )))
    }

    /// Promotion compare of two units fed by the same source: the commits in A's applied revision that
    /// B's has not got yet, and A's desired state against B's, per object. A side that cannot be rendered
    /// (nothing applied, a commit that does not render) is reported in the result, not as an error.
    async fn compare(&self, a: &str, b: &str) -> Result<Comparison, BackendError> {
        Err(BackendError::Invalid(format!(
            "{}: comparing {a} with {b} is not supported by this backend",
            self.info().kind
        )))
    }

    /// Every condition of the unit and what it manages as a tree. Backends without them are refused.
    async fn detail(&self, unit: &str) -> Result<crate::model::Detail, BackendError> {
        Err(BackendError::Invalid(format!(
            "{}: conditions and an inventory tree of {unit} are not supported by this backend",
            self.info().kind
        )))
    }

    /// Fetches a source now (by id or name); says what came of it. Backends that cannot are refused.
    async fn fetch(&self, source: &str) -> Result<String, BackendError> {
        Err(BackendError::Invalid(format!(
            "{}: fetching {source} on demand is not supported by this backend",
            self.info().kind
        )))
    }
}
