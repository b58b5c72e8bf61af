//! A wrapper that records every attempted action in the audit log.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::{Backend, BackendError, BackendInfo, Update};
use crate::audit::{AuditLog, who};
use crate::model::{
    Action, AuditRecord, AuditResult, Capabilities, Event, HistoryEntry, ObjectDiff, Outcome,
    Snapshot,
};

/// Appends one [`AuditRecord`] per call of `act`: `ok`, `denied` or `failed`.
pub struct Audited {
    inner: Arc<dyn Backend>,
    log: AuditLog,
}

impl Audited {
    pub fn new(inner: Arc<dyn Backend>, log: AuditLog) -> Self {
        Self { inner, log }
    }

    /// Records an action that was refused before it reached any backend (e.g. the console's
    /// read-only key guard), so that every attempt is in the log.
    pub fn record_denied(&self, unit: &str, action: &Action, detail: &str) {
        self.record(unit, action, AuditResult::Denied, detail);
    }

    /// Records an action whose answer never came (the console closed first): failed, outcome unknown.
    pub fn record_failed(&self, unit: &str, action: &Action, detail: &str) {
        self.record(unit, action, AuditResult::Failed, detail);
    }

    fn record(&self, unit: &str, action: &Action, result: AuditResult, detail: &str) {
        let info = self.inner.info();
        let (user, host) = who();
        let rec = AuditRecord {
            time: Timestamp::now(),
            user,
            host,
            backend: info.kind.to_string(),
            context: info.context,
            workspace: info.workspace,
            unit: unit.to_owned(),
            action: action.kind(),
            reason: action.reason().map(str::to_owned),
            read_only: info.read_only,
            result,
            detail: detail.to_owned(),
            revision: match action {
                Action::Rollback { to, .. } => Some(to.clone()),
                _ => None,
            },
            options: AuditRecord::options_of(action),
            origin: None,
        };
        if let Err(e) = self.log.append(&rec) {
            tracing::error!(path = %self.log.path().display(), "cannot write audit record: {e}");
        }
    }
}

#[async_trait]
impl Backend for Audited {
    fn info(&self) -> BackendInfo {
        self.inner.info()
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

    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError> {
        self.inner.capabilities(unit).await
    }

    async fn act(&self, unit: &str, action: &Action) -> Result<Outcome, BackendError> {
        let result = self.inner.act(unit, action).await;
        match &result {
            Ok(outcome) => self.record(unit, action, AuditResult::Ok, &outcome.message),
            Err(e @ BackendError::Denied(_)) => {
                self.record(unit, action, AuditResult::Denied, &e.to_string())
            }
            Err(e) => self.record(unit, action, AuditResult::Failed, &e.to_string()),
        }
        result
    }

    /// A fetch is recorded as a sync with the source on the source's id.
    async fn fetch(&self, source: &str) -> Result<String, BackendError> {
        let action = Action::Sync { with_source: true };
        let result = self.inner.fetch(source).await;
        match &result {
            Ok(message) => self.record(source, &action, AuditResult::Ok, message),
            Err(e @ BackendError::Denied(_)) => {
                self.record(source, &action, AuditResult::Denied, &e.to_string())
            }
            Err(e) => self.record(source, &action, AuditResult::Failed, &e.to_string()),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ReadOnly;
    use crate::backend::scripted::{Scripted, every_action};
    use crate::model::ActionKind;

    fn log_in(dir: &tempfile::TempDir) -> AuditLog {
        AuditLog::new(dir.path().join("sub/audit.jsonl"))
    }

    #[tokio::test]
    async fn one_record_per_attempt_with_result() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(Scripted::demo());
        inner.fail_next_act("disk full");
        let audited = Audited::new(inner.clone(), log_in(&dir));

        let suspend = Action::Suspend {
            reason: "incident 7".into(),
        };
        assert!(audited.act("local/demo/staging", &suspend).await.is_err());
        assert!(audited.act("local/demo/staging", &suspend).await.is_ok());
        assert!(
            audited
                .act("local/demo/nope", &Action::Resume)
                .await
                .is_err()
        );

        let recs = log_in(&dir).read_all().unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].result, AuditResult::Failed);
        assert!(recs[0].detail.contains("disk full"));
        assert_eq!(recs[0].reason.as_deref(), Some("incident 7"));
        assert_eq!(recs[1].result, AuditResult::Ok);
        assert_eq!(recs[1].action, ActionKind::Suspend);
        assert_eq!(recs[1].unit, "local/demo/staging");
        assert_eq!(recs[1].backend, "local");
        assert!(!recs[1].read_only);
        assert_eq!(recs[2].result, AuditResult::Failed);
        assert_eq!(inner.act_calls(), 3);
    }

    #[tokio::test]
    async fn read_only_attempts_are_recorded_as_denied() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(Scripted::demo());
        let audited = Audited::new(Arc::new(ReadOnly::new(inner.clone())), log_in(&dir));
        for action in every_action() {
            assert!(matches!(
                audited.act("local/demo/prod", &action).await,
                Err(BackendError::Denied(_))
            ));
        }
        audited.record_denied("local/demo/prod", &Action::Resume, "key guard");
        let recs = log_in(&dir).read_all().unwrap();
        assert_eq!(recs.len(), every_action().len() + 1);
        assert!(
            recs.iter()
                .all(|r| r.result == AuditResult::Denied && r.read_only)
        );
        assert_eq!(inner.act_calls(), 0);
        let line = std::fs::read_to_string(log_in(&dir).path()).unwrap();
        let first: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        for key in [
            "time", "user", "host", "backend", "context", "unit", "action", "reason", "readOnly",
            "result", "detail",
        ] {
            assert!(
                first.get(key).is_some(),
                "audit record lacks {key}: {first}"
            );
        }
    }
}
