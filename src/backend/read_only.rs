//! The guarantee behind read-only audit mode: a wrapper that refuses every action.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Backend, BackendError, BackendInfo, Update};
use crate::model::{Action, Capabilities, Event, HistoryEntry, ObjectDiff, Outcome, Snapshot};

/// What every refused action says.
pub const READ_ONLY_REASON: &str = "read-only audit mode: not allowed";

/// What an action refused in the read-only context `context` says: which context refused it.
pub fn read_only_reason(context: &str) -> String {
    format!("{READ_ONLY_REASON} (context {context} is read-only)")
}

/// Wraps a backend so that no action can reach it: `act` never calls the wrapped backend, and nothing
/// hands the wrapped backend out again.
pub struct ReadOnly {
    inner: Arc<dyn Backend>,
}

impl ReadOnly {
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        Self { inner }
    }

    fn reason(&self) -> String {
        read_only_reason(&self.inner.info().context)
    }
}

#[async_trait]
impl Backend for ReadOnly {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            read_only: true,
            ..self.inner.info()
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        self.inner.snapshot().await
    }

    async fn watch(&self, tx: mpsc::Sender<Update>) -> Result<(), BackendError> {
        self.inner.watch(tx).await
    }

    async fn diff(&self, unit: &str) -> Result<Vec<ObjectDiff>, BackendError> {
        self.inner.diff(unit).await
    }

    async fn diff_report(&self, unit: &str) -> Result<crate::model::DiffReport, BackendError> {
        self.inner.diff_report(unit).await
    }

    async fn history(&self, unit: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        self.inner.history(unit).await
    }

    async fn events(&self, unit: &str) -> Result<Vec<Event>, BackendError> {
        self.inner.events(unit).await
    }

    async fn detail(&self, unit: &str) -> Result<crate::model::Detail, BackendError> {
        self.inner.detail(unit).await
    }

    async fn diff_at(
        &self,
        unit: &str,
        revision: &crate::model::Revision,
        base: super::DiffBase,
    ) -> Result<Vec<ObjectDiff>, BackendError> {
        self.inner.diff_at(unit, revision, base).await
    }

    /// A read: passed through.
    async fn compare(&self, a: &str, b: &str) -> Result<crate::model::Comparison, BackendError> {
        self.inner.compare(a, b).await
    }

    async fn capabilities(&self, _unit: &str) -> Result<Capabilities, BackendError> {
        Ok(Capabilities::all_denied(&self.reason()))
    }

    async fn act(&self, _unit: &str, _action: &Action) -> Result<Outcome, BackendError> {
        Err(BackendError::Denied(self.reason()))
    }

    async fn fetch(&self, _source: &str) -> Result<String, BackendError> {
        Err(BackendError::Denied(self.reason()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::scripted::{Scripted, every_action};

    #[tokio::test]
    async fn no_action_reaches_the_wrapped_backend() {
        let inner = Arc::new(Scripted::demo());
        let ro: Arc<dyn Backend> = Arc::new(ReadOnly::new(inner.clone()));
        let units: Vec<String> = inner
            .snapshot()
            .await
            .unwrap()
            .units
            .into_iter()
            .map(|u| u.id.clone())
            .collect();
        for unit in units.iter().map(String::as_str).chain(["no-such-unit", ""]) {
            for action in every_action() {
                let err = ro.act(unit, &action).await.unwrap_err();
                assert_eq!(err, BackendError::Denied(read_only_reason("demo")));
            }
            let caps = ro.capabilities(unit).await.unwrap();
            for kind in crate::model::ActionKind::ALL {
                assert_eq!(
                    caps.get(kind).denial(),
                    Some(read_only_reason("demo").as_str())
                );
            }
            // Reads still pass through: the same answers (or the same errors) as the wrapped backend's.
            assert_eq!(ro.diff(unit).await, inner.diff(unit).await, "{unit}");
            assert_eq!(ro.history(unit).await, inner.history(unit).await, "{unit}");
            assert_eq!(ro.events(unit).await, inner.events(unit).await, "{unit}");
            if units.iter().any(|u| u == unit) {
                assert!(!ro.history(unit).await.unwrap().is_empty(), "{unit}");
                assert!(!ro.events(unit).await.unwrap().is_empty(), "{unit}");
                assert_eq!(ro.diff(unit).await.unwrap().len(), 3, "{unit}");
            }
        }
        assert_eq!(ro.snapshot().await, inner.snapshot().await);
        let (tx, mut rx) = mpsc::channel(4);
        ro.watch(tx).await.unwrap();
        assert!(
            matches!(rx.recv().await, Some(Update::Snapshot(s)) if s == inner.snapshot().await.unwrap())
        );
        assert_eq!(
            inner.act_calls(),
            0,
            "an action reached the wrapped backend"
        );
        assert!(ro.info().read_only);
    }
}
