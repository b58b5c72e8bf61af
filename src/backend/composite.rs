//! One backend over many: the members (a local workspace, a Flux or Argo CD kube context) each wrapped in
//! their own ReadOnly and Audited decorators; their watches merged, calls routed by the unit's id.
//!
//! A member that fails or is slow never blocks or blanks the others: each is watched on its own task, its
//! last snapshot is kept when it cannot be read (and shown stale with its age), and reads that ask every
//! member wait for each at most [`MEMBER_TIMEOUT`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::{Audited, Backend, BackendError, BackendInfo, DiffBase, Update};
use crate::model::{
    Action, BackendKind, Capabilities, Comparison, ContextHealth, ContextState, Event,
    HistoryEntry, ObjectDiff, Outcome, Revision, Snapshot,
};

/// How long a read that asks every member waits for one of them.
pub const MEMBER_TIMEOUT: Duration = Duration::from_secs(10);

/// One context: its decorated backend, and what it said when it could not be opened at all.
#[derive(Clone)]
enum Member {
    Open(Arc<Audited>),
    Failed(ContextState),
}

impl Member {
    fn state(&self) -> ContextState {
        match self {
            Member::Open(b) => {
                let info = b.info();
                ContextState {
                    name: info.context,
                    backend: info.kind,
                    workspace: info.workspace,
                    read_only: info.read_only,
                    health: ContextHealth::Connecting,
                    since: None,
                    message: None,
                    reconciler: None,
                }
            }
            Member::Failed(s) => s.clone(),
        }
    }
}

/// The composite backend. Members can be added while it is watched (`:ctx NAME` of a context not open yet).
pub struct Composite {
    members: RwLock<Vec<Member>>,
    added: watch::Sender<usize>,
    /// How long a read that asks every member waits for one ([`MEMBER_TIMEOUT`]).
    timeout: Duration,
}

impl Composite {
    pub fn new(members: Vec<Arc<Audited>>) -> Self {
        let members: Vec<Member> = members.into_iter().map(Member::Open).collect();
        let (added, _) = watch::channel(members.len());
        Self {
            members: RwLock::new(members),
            added,
            timeout: MEMBER_TIMEOUT,
        }
    }

    /// Waits at most `timeout` for each member in reads that ask every member.
    pub fn member_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// A context that could not be opened: shown failed, with why, beside the others.
    pub fn add_failed(
        &self,
        name: &str,
        backend: BackendKind,
        workspace: Option<std::path::PathBuf>,
        message: String,
    ) {
        self.push(Member::Failed(ContextState {
            name: name.to_owned(),
            backend,
            workspace,
            read_only: false,
            health: ContextHealth::Failed,
            since: Some(Timestamp::now()),
            message: Some(message),
            reconciler: None,
        }));
    }

    /// Adds a member; a running watch starts watching it too.
    pub fn add(&self, member: Arc<Audited>) {
        self.push(Member::Open(member));
    }

    fn push(&self, member: Member) {
        let n = {
            let mut members = self.write();
            members.push(member);
            members.len()
        };
        self.added.send_replace(n);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Member>> {
        self.members.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Member>> {
        self.members.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The members that could be opened.
    pub fn members(&self) -> Vec<Arc<Audited>> {
        self.read()
            .iter()
            .filter_map(|m| match m {
                Member::Open(b) => Some(b.clone()),
                Member::Failed(_) => None,
            })
            .collect()
    }

    /// Every context, open or failed, as it was opened (health `Connecting` for open ones).
    pub fn contexts(&self) -> Vec<ContextState> {
        self.read().iter().map(Member::state).collect()
    }

    /// The member a unit or source id belongs to: the longest `kind/context/` prefix; with one member,
    /// that one (it resolves names and older ids itself).
    pub fn member_for(&self, id: &str) -> Result<Arc<Audited>, BackendError> {
        let members = self.members();
        let best = members
            .iter()
            .filter(|m| id.starts_with(&m.info().prefix()))
            .max_by_key(|m| m.info().prefix().len());
        match (best, members.as_slice()) {
            (Some(m), _) => Ok(m.clone()),
            (None, [only]) => Ok(only.clone()),
            (None, _) => {
                let names: Vec<String> = members.iter().map(|m| m.info().prefix()).collect();
                Err(BackendError::NotFound(format!(
                    "`{id}` belongs to no context shown; ids start with one of: {}",
                    names.join(", ")
                )))
            }
        }
    }

    /// Records an action refused before it reached any backend, as the unit's context's member.
    pub fn record_denied(&self, unit: &str, action: &Action, detail: &str) {
        match self.member_for(unit) {
            Ok(m) => m.record_denied(unit, action, detail),
            Err(e) => tracing::error!("cannot record a refused action on {unit}: {e}"),
        }
    }

    /// Records an action whose answer never came, as the unit's context's member.
    pub fn record_failed(&self, unit: &str, action: &Action, detail: &str) {
        match self.member_for(unit) {
            Ok(m) => m.record_failed(unit, action, detail),
            Err(e) => tracing::error!("cannot record an unanswered action on {unit}: {e}"),
        }
    }
}

/// What the merged watch keeps of one member.
struct Seen {
    state: ContextState,
    snapshot: Option<Snapshot>,
}

/// Units, sources and contexts of every member, most urgent first.
fn merge(seen: &[Seen]) -> Snapshot {
    let mut out = Snapshot::default();
    for s in seen {
        if let Some(snap) = &s.snapshot {
            out.units.extend(snap.units.iter().cloned());
            out.sources.extend(snap.sources.iter().cloned());
        }
        out.contexts.push(s.state.clone());
    }
    out.sort();
    out
}

/// Applies one member's update to what is kept of it.
fn apply(seen: &mut Seen, update: Update, now: Timestamp) {
    match update {
        Update::Snapshot(snap) => {
            // A member may say something about itself while live (kinds it cannot see, …).
            seen.state.message = snap.contexts.first().and_then(|c| c.message.clone());
            seen.snapshot = Some(snap);
            seen.state.health = ContextHealth::Live;
            seen.state.since = None;
        }
        Update::Unavailable(why) => {
            if seen.state.health != ContextHealth::Stale {
                seen.state.since = Some(now);
            }
            seen.state.health = if seen.snapshot.is_some() {
                ContextHealth::Stale
            } else {
                ContextHealth::Failed
            };
            seen.state.message = Some(why);
        }
        Update::Reconciler(r) => seen.state.reconciler = Some(r),
    }
}

/// Watches one member on its own task: its updates, tagged with its index; when its watch ends, why.
fn watch_member(
    tasks: &mut JoinSet<()>,
    i: usize,
    member: Arc<Audited>,
    tx: mpsc::Sender<(usize, Update)>,
) {
    tasks.spawn(async move {
        let (mtx, mut mrx) = mpsc::channel(16);
        let watch = member.watch(mtx);
        tokio::pin!(watch);
        let ended = loop {
            tokio::select! {
                r = &mut watch => break r,
                Some(u) = mrx.recv() => {
                    if tx.send((i, u)).await.is_err() {
                        return;
                    }
                }
            }
        };
        while let Ok(u) = mrx.try_recv() {
            let _ = tx.send((i, u)).await;
        }
        let why = match ended {
            Ok(()) => "stopped sending updates".to_owned(),
            Err(e) => e.to_string(),
        };
        let _ = tx.send((i, Update::Unavailable(why))).await;
    });
}

#[async_trait]
impl Backend for Composite {
    /// The kind of the first member, every context's name, read-only when every context is.
    fn info(&self) -> BackendInfo {
        let contexts = self.contexts();
        BackendInfo {
            kind: contexts
                .first()
                .map(|c| c.backend)
                .unwrap_or(BackendKind::Local),
            context: contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            read_only: !contexts.is_empty() && contexts.iter().all(|c| c.read_only),
            workspace: match contexts.as_slice() {
                [one] => one.workspace.clone(),
                _ => None,
            },
        }
    }

    /// Every member's snapshot, asked at once; a member that fails or does not answer within
    /// [`MEMBER_TIMEOUT`] is a failed context, not an error of the whole.
    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let members: Vec<Member> = self.read().clone();
        let mut tasks = JoinSet::new();
        let limit = self.timeout;
        for (i, m) in members.iter().enumerate() {
            if let Member::Open(b) = m {
                let b = b.clone();
                tasks.spawn(async move {
                    let r = match tokio::time::timeout(limit, b.snapshot()).await {
                        Ok(r) => r,
                        Err(_) => Err(BackendError::Unavailable(format!(
                            "no answer within {:.1} s",
                            limit.as_secs_f64()
                        ))),
                    };
                    (i, r)
                });
            }
        }
        let now = Timestamp::now();
        let mut seen: Vec<Seen> = members
            .iter()
            .map(|m| Seen {
                state: m.state(),
                snapshot: None,
            })
            .collect();
        while let Some(done) = tasks.join_next().await {
            let Ok((i, r)) = done else { continue };
            if let Some(s) = seen.get_mut(i) {
                let update = match r {
                    Ok(snap) => Update::Snapshot(snap),
                    Err(e) => Update::Unavailable(e.to_string()),
                };
                apply(s, update, now);
            }
        }
        Ok(merge(&seen))
    }

    /// Every member's watch on its own task, merged: a snapshot of everything whenever any member sends
    /// something (bursts coalesced), with each context's health. Members added meanwhile are watched too.
    async fn watch(&self, tx: mpsc::Sender<Update>) -> Result<(), BackendError> {
        let (mtx, mut mrx) = mpsc::channel::<(usize, Update)>(64);
        let mut added = self.added.subscribe();
        let mut tasks = JoinSet::new();
        let mut seen: Vec<Seen> = Vec::new();
        loop {
            let members: Vec<Member> = self.read().clone();
            for (i, m) in members.iter().enumerate().skip(seen.len()) {
                seen.push(Seen {
                    state: m.state(),
                    snapshot: None,
                });
                if let Member::Open(b) = m {
                    watch_member(&mut tasks, i, b.clone(), mtx.clone());
                }
            }
            // Nothing to show until some member has said something: not an empty list.
            let heard = seen
                .iter()
                .any(|s| s.state.health != ContextHealth::Connecting);
            if heard && tx.send(Update::Snapshot(merge(&seen))).await.is_err() {
                return Ok(());
            }
            tokio::select! {
                got = mrx.recv() => {
                    let Some((i, u)) = got else { return Ok(()) };
                    let now = Timestamp::now();
                    if let Some(s) = seen.get_mut(i) {
                        apply(s, u, now);
                    }
                    while let Ok((i, u)) = mrx.try_recv() {
                        if let Some(s) = seen.get_mut(i) {
                            apply(s, u, now);
                        }
                    }
                }
                changed = added.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                _ = tx.closed() => return Ok(()),
            }
        }
    }

    async fn diff(&self, unit: &str) -> Result<Vec<ObjectDiff>, BackendError> {
        self.member_for(unit)?.diff(unit).await
    }

    async fn diff_report(&self, unit: &str) -> Result<crate::model::DiffReport, BackendError> {
        self.member_for(unit)?.diff_report(unit).await
    }

    async fn history(&self, unit: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        self.member_for(unit)?.history(unit).await
    }

    async fn events(&self, unit: &str) -> Result<Vec<Event>, BackendError> {
        self.member_for(unit)?.events(unit).await
    }

    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError> {
        self.member_for(unit)?.capabilities(unit).await
    }

    async fn detail(&self, unit: &str) -> Result<crate::model::Detail, BackendError> {
        self.member_for(unit)?.detail(unit).await
    }

    async fn act(&self, unit: &str, action: &Action) -> Result<Outcome, BackendError> {
        self.member_for(unit)?.act(unit, action).await
    }

    async fn diff_at(
        &self,
        unit: &str,
        revision: &Revision,
        base: DiffBase,
    ) -> Result<Vec<ObjectDiff>, BackendError> {
        self.member_for(unit)?.diff_at(unit, revision, base).await
    }

    /// Both units must be of one context: a comparison reads one system's desired states.
    async fn compare(&self, a: &str, b: &str) -> Result<Comparison, BackendError> {
        let (ma, mb) = (self.member_for(a)?, self.member_for(b)?);
        if !Arc::ptr_eq(&ma, &mb) {
            return Err(BackendError::Invalid(format!(
                "{a} and {b} are in different contexts ({} and {}): compare units of one context",
                ma.info().context,
                mb.info().context
            )));
        }
        ma.compare(a, b).await
    }

    async fn fetch(&self, source: &str) -> Result<String, BackendError> {
        self.member_for(source)?.fetch(source).await
    }
}

#[cfg(test)]
#[path = "composite_tests.rs"]
mod tests;
