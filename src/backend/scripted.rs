//! An in-memory backend for tests only: deterministic data, counts the actions it receives.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::{Backend, BackendError, BackendInfo, Update, resolve_unit};
use crate::model::*;

pub(crate) mod world;

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
        context: "demo".into(),
        workspace: None,
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
        commits_behind_unknown: None,
        broken_by: Vec::new(),
        pinned_revision: None,
        drifted_objects: vec![],
        last_reconcile_at: Some(ts(-30)),
        parent: None,
        sync_window: None,
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
            suspend_parent: false,
        },
    ]
}

/// The world of [`world`]: dev ready, staging ready with two drifted files, prod failed and protected,
/// qa suspended; one source at the newest commit.
pub(crate) fn demo_snapshot() -> Snapshot {
    let mut snap = Snapshot {
        units: world::UNITS
            .iter()
            .map(|n| Arc::new(world::unit(n)))
            .collect(),
        sources: vec![Arc::new(world::source())],
        contexts: Vec::new(),
    };
    snap.sort();
    snap
}

pub(crate) struct Scripted {
    context: String,
    snapshot: Mutex<Snapshot>,
    acts: AtomicUsize,
    fail_next: Mutex<Option<String>>,
    /// How long each action takes before it is answered.
    act_delay: Mutex<std::time::Duration>,
}

impl Scripted {
    pub(crate) fn new(snapshot: Snapshot) -> Self {
        Self {
            context: "demo".into(),
            snapshot: Mutex::new(snapshot),
            acts: AtomicUsize::new(0),
            fail_next: Mutex::new(None),
            act_delay: Mutex::new(std::time::Duration::ZERO),
        }
    }

    /// The world of [`world`].
    pub(crate) fn demo() -> Self {
        Self::new(demo_snapshot())
    }

    /// The world of [`world`] in the context `name`: ids `local/<name>/…`.
    pub(crate) fn in_context(name: &str) -> Self {
        let mut snap = demo_snapshot();
        for u in snap.units.iter_mut().map(Arc::make_mut) {
            u.id = u.id.replacen("local/demo/", &format!("local/{name}/"), 1);
            u.context = name.to_owned();
        }
        for s in snap.sources.iter_mut().map(Arc::make_mut) {
            s.id = s.id.replacen("local/demo/", &format!("local/{name}/"), 1);
            s.context = name.to_owned();
        }
        Self {
            context: name.to_owned(),
            ..Self::new(snap)
        }
    }

    pub(crate) fn act_calls(&self) -> usize {
        self.acts.load(Ordering::SeqCst)
    }

    /// Every action from now on takes `delay` before it is answered.
    pub(crate) fn slow_acts(&self, delay: std::time::Duration) {
        *self.act_delay.lock().unwrap() = delay;
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
            context: self.context.clone(),
            read_only: false,
            workspace: None,
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
        Ok(world::diff(&self.find(unit)?))
    }

    async fn history(&self, unit: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        Ok(world::history(&self.find(unit)?))
    }

    async fn events(&self, unit: &str) -> Result<Vec<Event>, BackendError> {
        Ok(world::events(&self.find(unit)?))
    }

    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError> {
        self.find(unit)?;
        Ok(Capabilities::all_allowed())
    }

    async fn act(&self, unit: &str, action: &Action) -> Result<Outcome, BackendError> {
        self.acts.fetch_add(1, Ordering::SeqCst);
        let delay = *self.act_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if let Some(msg) = self.fail_next.lock().unwrap().take() {
            return Err(BackendError::Failed(msg));
        }
        let u = self.find(unit)?;
        let mut snap = self.snapshot.lock().unwrap();
        if let Some(target) = snap
            .units
            .iter_mut()
            .map(Arc::make_mut)
            .find(|x| x.id == u.id)
        {
            match action {
                Action::Suspend { reason } => {
                    target.suspended = true;
                    target.suspend_reason = Some(reason.clone());
                }
                Action::Resume => {
                    target.suspended = false;
                    target.pinned_revision = None;
                }
                Action::Sync { .. } | Action::Terminate | Action::Refresh { .. } => {}
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
