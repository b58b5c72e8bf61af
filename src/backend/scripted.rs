//! An in-memory backend for tests only: deterministic data, counts the actions it receives.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::{Backend, BackendError, BackendInfo, Update, resolve_unit};
use crate::model::*;

pub(crate) const T0: i64 = 1_790_000_000;

pub(crate) fn ts(offset: i64) -> Timestamp {
    Timestamp::from_second(T0 + offset).unwrap()
}

pub(crate) fn rev(n: u8) -> Revision {
    let sha: String = std::iter::repeat_n(format!("{n:02x}"), 20).collect();
    Revision::new(Some("main"), &sha).unwrap()
}

/// A ready unit with the given id; tests change what they need.
pub(crate) fn unit(id: &str) -> Unit {
    let name = id.rsplit('/').next().unwrap_or(id).to_owned();
    Unit {
        id: id.to_owned(),
        name: name.clone(),
        backend: BackendKind::Local,
        kind: "environment".into(),
        environment: format!("live/{name}"),
        source: "platform-config".into(),
        status: Status::new(
            StatusKind::Ready,
            format!("applied {}", rev(3).short()),
            ts(0),
        ),
        suspended: false,
        suspend_reason: None,
        protected: false,
        applied_revision: Some(rev(3)),
        attempted_revision: Some(rev(3)),
        latest_revision: Some(rev(3)),
        commits_behind: Some(0),
        pinned_revision: None,
        drifted_objects: vec![],
        last_reconcile_at: Some(ts(-30)),
        depends_on: vec![],
    }
}

/// Every action variant, for tests that must cover them all.
pub(crate) fn every_action() -> Vec<Action> {
    vec![
        Action::Suspend { reason: "r".into() },
        Action::Resume,
        Action::Sync { with_source: false },
        Action::Sync { with_source: true },
        Action::Rollback {
            to: rev(1),
            reason: "r".into(),
        },
    ]
}

/// dev ready, staging drifted, prod failed and protected; one source.
pub(crate) fn demo_snapshot() -> Snapshot {
    let dev = unit("local/dev");
    let mut staging = unit("local/staging");
    staging.drifted_objects = vec!["app.yaml".into()];
    staging.depends_on = vec!["dev".into()];
    let mut prod = unit("local/prod");
    prod.protected = true;
    prod.status = Status::new(
        StatusKind::Failed,
        "render failed: app.patch.yaml:3: bad YAML",
        ts(-60),
    );
    prod.attempted_revision = Some(rev(4));
    prod.latest_revision = Some(rev(4));
    prod.commits_behind = Some(1);
    prod.depends_on = vec!["staging".into()];
    let source = Source {
        id: "local/platform-config".into(),
        name: "platform-config".into(),
        backend: BackendKind::Local,
        url: "./repos/platform-config.git".into(),
        reference: "branch:main".into(),
        revision: Some(rev(4)),
        status: Status::new(StatusKind::Ready, "fetched", ts(-10)),
        last_fetch_at: Some(ts(-10)),
    };
    let mut snap = Snapshot {
        units: vec![dev, staging, prod],
        sources: vec![source],
    };
    snap.sort();
    snap
}

pub(crate) struct Scripted {
    snapshot: Mutex<Snapshot>,
    acts: AtomicUsize,
    fail_next: Mutex<Option<String>>,
}

impl Scripted {
    pub(crate) fn new(snapshot: Snapshot) -> Self {
        Self {
            snapshot: Mutex::new(snapshot),
            acts: AtomicUsize::new(0),
            fail_next: Mutex::new(None),
        }
    }

    /// dev ready, staging drifted, prod failed and protected.
    pub(crate) fn demo() -> Self {
        Self::new(demo_snapshot())
    }

    pub(crate) fn act_calls(&self) -> usize {
        self.acts.load(Ordering::SeqCst)
    }

    pub(crate) fn fail_next_act(&self, msg: &str) {
        *self.fail_next.lock().unwrap() = Some(msg.to_owned());
    }

    fn find(&self, unit: &str) -> Result<Unit, BackendError> {
        let snap = self.snapshot.lock().unwrap();
        resolve_unit(&snap.units, unit)
            .cloned()
            .map_err(|e| BackendError::NotFound(e.to_string()))
    }
}

#[async_trait]
impl Backend for Scripted {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Local,
            context: "demo".into(),
            read_only: false,
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        Ok(self.snapshot.lock().unwrap().clone())
    }

    async fn watch(&self, tx: mpsc::Sender<Update>) -> Result<(), BackendError> {
        let snap = self.snapshot.lock().unwrap().clone();
        let _ = tx.send(Update::Snapshot(snap)).await;
        Ok(())
    }

    async fn diff(&self, unit: &str) -> Result<Vec<ObjectDiff>, BackendError> {
        let u = self.find(unit)?;
        Ok(u.drifted_objects
            .iter()
            .map(|o| ObjectDiff {
                object: o.clone(),
                change: Change::Modified,
                desired: Some("replicas: 3\nimage: web:1.4.2\n".into()),
                live: Some("replicas: 5\nimage: web:1.4.2\n".into()),
                masked: false,
                note: None,
            })
            .collect())
    }

    async fn history(&self, unit: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        let u = self.find(unit)?;
        Ok((1..=4u8)
            .rev()
            .map(|n| HistoryEntry {
                revision: rev(n),
                author: "Ada Lovelace".into(),
                time: ts(-3600 * i64::from(5 - n)),
                summary: format!("change {n}"),
                applied: u.applied_revision.as_ref() == Some(&rev(n)),
                last_good: n == 3,
                failed: n == 4 && u.status.kind == StatusKind::Failed,
                pinned: u.pinned_revision.as_ref() == Some(&rev(n)),
            })
            .collect())
    }

    async fn events(&self, unit: &str) -> Result<Vec<Event>, BackendError> {
        let u = self.find(unit)?;
        Ok(vec![Event {
            time: ts(-30),
            unit: u.id,
            severity: Severity::Info,
            reason: "Applied".into(),
            message: "applied 3 files".into(),
            revision: Some(rev(3)),
        }])
    }

    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError> {
        self.find(unit)?;
        Ok(Capabilities::all_allowed())
    }

    async fn act(&self, unit: &str, action: &Action) -> Result<Outcome, BackendError> {
        self.acts.fetch_add(1, Ordering::SeqCst);
        if let Some(msg) = self.fail_next.lock().unwrap().take() {
            return Err(BackendError::Failed(msg));
        }
        let u = self.find(unit)?;
        let mut snap = self.snapshot.lock().unwrap();
        if let Some(target) = snap.units.iter_mut().find(|x| x.id == u.id) {
            match action {
                Action::Suspend { reason } => {
                    target.suspended = true;
                    target.suspend_reason = Some(reason.clone());
                }
                Action::Resume => {
                    target.suspended = false;
                    target.pinned_revision = None;
                }
                Action::Sync { .. } => {}
                Action::Rollback { to, .. } => target.pinned_revision = Some(to.clone()),
            }
        }
        Ok(Outcome {
            unit: u.id,
            action: action.kind(),
            message: format!("{action} accepted"),
        })
    }
}
