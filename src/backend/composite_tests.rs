//! The composite backend: merged watches, a hung or failing member beside live ones, routing by id.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::*;
use crate::audit::AuditLog;
use crate::backend::ReadOnly;
use crate::backend::scripted::Scripted;
use crate::model::AuditResult;

/// A member that never answers: its watch and its snapshot wait forever.
struct Hung(&'static str);

#[async_trait]
impl Backend for Hung {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Local,
            context: self.0.into(),
            read_only: false,
            workspace: None,
        }
    }
    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        std::future::pending().await
    }
    async fn watch(&self, _: mpsc::Sender<Update>) -> Result<(), BackendError> {
        std::future::pending().await
    }
    async fn diff(&self, _: &str) -> Result<Vec<ObjectDiff>, BackendError> {
        std::future::pending().await
    }
    async fn history(&self, _: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        std::future::pending().await
    }
    async fn events(&self, _: &str) -> Result<Vec<Event>, BackendError> {
        std::future::pending().await
    }
    async fn capabilities(&self, _: &str) -> Result<Capabilities, BackendError> {
        std::future::pending().await
    }
    async fn act(&self, _: &str, _: &Action) -> Result<Outcome, BackendError> {
        std::future::pending().await
    }
}

fn member(b: Arc<dyn Backend>, log: &AuditLog) -> Arc<Audited> {
    Arc::new(Audited::new(b, log.clone()))
}

/// Receives merged snapshots until one satisfies `ok` (at most 5 s).
async fn until(rx: &mut mpsc::Receiver<Update>, ok: impl Fn(&Snapshot) -> bool) -> Snapshot {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Some(Update::Snapshot(s)) if ok(&s) => return s,
                Some(_) => {}
                None => panic!("the composite's watch ended"),
            }
        }
    })
    .await
    .expect("the merged snapshot within 5 s")
}

#[tokio::test]
async fn a_hung_member_neither_blocks_nor_blanks_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.jsonl"));
    let composite = Arc::new(
        Composite::new(vec![
            member(Arc::new(Hung("stuck")), &log),
            member(Arc::new(Scripted::in_context("eu")), &log),
            member(Arc::new(Scripted::in_context("us")), &log),
        ])
        .member_timeout(Duration::from_millis(300)),
    );
    let (tx, mut rx) = mpsc::channel(16);
    let watch = tokio::spawn({
        let c = composite.clone();
        async move { c.watch(tx).await }
    });
    // The scripted members' watches end after their one snapshot: they are then stale, with the reason,
    // and their units stay; the hung one is still connecting.
    let stale = |s: &Snapshot| {
        s.contexts
            .iter()
            .filter(|c| c.health == ContextHealth::Stale)
            .count()
    };
    let snap = until(&mut rx, |s| s.units.len() == 8 && stale(s) == 2).await;
    assert_eq!(snap.contexts[0].name, "stuck");
    assert_eq!(snap.contexts[0].health, ContextHealth::Connecting);
    assert!(snap.units.iter().any(|u| u.id == "local/eu/prod"));
    assert!(snap.units.iter().any(|u| u.id == "local/us/prod"));
    assert!(
        snap.contexts[1]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("stopped sending updates"))
    );
    // A headless snapshot waits for the hung member only as long as its timeout.
    let t = std::time::Instant::now();
    let snap = composite.snapshot().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(snap.units.len(), 8);
    assert_eq!(snap.contexts[0].health, ContextHealth::Failed);
    assert!(
        snap.contexts[0]
            .message
            .as_deref()
            .unwrap()
            .contains("no answer")
    );
    watch.abort();
}

#[tokio::test]
async fn calls_are_routed_by_the_ids_context_and_each_member_keeps_its_own_decorators() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.jsonl"));
    let eu = Arc::new(Scripted::in_context("eu"));
    let us = Arc::new(Scripted::in_context("us"));
    let composite = Composite::new(vec![
        member(Arc::new(ReadOnly::new(eu.clone())), &log),
        member(us.clone(), &log),
    ]);
    let suspend = Action::Suspend { reason: "r".into() };
    let denied = composite.act("local/eu/prod", &suspend).await.unwrap_err();
    assert!(
        matches!(&denied, BackendError::Denied(m) if m.contains("context eu is read-only")),
        "{denied:?}"
    );
    composite.act("local/us/prod", &suspend).await.unwrap();
    assert_eq!((eu.act_calls(), us.act_calls()), (0, 1));
    let recs = log.read_all().unwrap();
    let got: Vec<(&str, &str, AuditResult)> = recs
        .iter()
        .map(|r| (r.context.as_str(), r.unit.as_str(), r.result))
        .collect();
    assert_eq!(
        got,
        [
            ("eu", "local/eu/prod", AuditResult::Denied),
            ("us", "local/us/prod", AuditResult::Ok)
        ]
    );
    assert!(composite.history("local/eu/staging").await.is_ok());
    let unknown = composite.events("local/nowhere/prod").await.unwrap_err();
    assert!(
        matches!(&unknown, BackendError::NotFound(m) if m.contains("local/eu/")),
        "{unknown:?}"
    );
    let across = composite
        .compare("local/eu/staging", "local/us/prod")
        .await
        .unwrap_err();
    assert!(matches!(across, BackendError::Invalid(_)), "{across:?}");
    let info = composite.info();
    assert_eq!(info.context, "eu,us");
    assert!(!info.read_only, "one member is writable");
}

#[tokio::test]
async fn a_member_added_while_watched_is_watched_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.jsonl"));
    let composite = Arc::new(Composite::new(vec![member(
        Arc::new(Scripted::in_context("eu")),
        &log,
    )]));
    let (tx, mut rx) = mpsc::channel(16);
    let watch = tokio::spawn({
        let c = composite.clone();
        async move { c.watch(tx).await }
    });
    until(&mut rx, |s| s.units.len() == 4).await;
    composite.add(member(Arc::new(Scripted::in_context("us")), &log));
    let snap = until(&mut rx, |s| s.units.len() == 8).await;
    assert_eq!(snap.contexts.len(), 2);
    composite.add_failed("gone", BackendKind::Local, None, "no setpoint.yaml".into());
    let snap = until(&mut rx, |s| s.contexts.len() == 3).await;
    assert_eq!(snap.contexts[2].health, ContextHealth::Failed);
    assert_eq!(snap.units.len(), 8);
    watch.abort();
}

#[tokio::test]
async fn what_a_live_member_says_of_itself_is_the_contexts_message() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.jsonl"));
    let mut snap = Scripted::in_context("eu").snapshot().await.unwrap();
    snap.contexts = vec![ContextState {
        name: "eu".into(),
        backend: BackendKind::Local,
        workspace: None,
        read_only: false,
        health: ContextHealth::Live,
        since: None,
        message: Some("not installed: HelmRelease".into()),
        reconciler: None,
    }];
    let composite = Composite::new(vec![member(Arc::new(Scripted::new(snap)), &log)]);
    let merged = composite.snapshot().await.unwrap();
    assert_eq!(
        merged.contexts.len(),
        1,
        "one context, however the member described itself"
    );
    assert_eq!(merged.contexts[0].health, ContextHealth::Live);
    assert_eq!(
        merged.contexts[0].message.as_deref(),
        Some("not installed: HelmRelease")
    );
}
