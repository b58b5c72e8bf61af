//! Flux on Kubernetes: one kube context per [`FluxBackend`]. Kustomizations and HelmReleases are units;
//! GitRepositories, OCIRepositories, HelmRepositories, HelmCharts and Buckets are sources. See the README,
//! "Flux", for the status mapping, and `map.rs` for its table.

mod act;
pub(crate) mod connect;
pub mod detail;
pub(crate) mod diff;
pub(crate) mod enrich;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod history;
mod ids;
pub mod kinds;
pub(crate) mod lean;
pub mod map;
pub(crate) mod mirror;
pub(crate) mod rbac;
pub(crate) mod resume;
mod rollback;
pub(crate) mod watch;

pub use act::FIELD_MANAGER;
pub use connect::KindState;
pub use ids::{ObjectRef, object_id};

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::Kubeconfig;
use tokio::sync::{RwLock, mpsc};

use super::{Backend, BackendError, BackendInfo, Update};
use crate::model::{
    Action, ActionKind, BackendKind, Capabilities, Event, HistoryEntry, ObjectDiff, Outcome,
    Permission, Snapshot,
};
use act::Target;
use connect::Conn;
use enrich::Enriching;
use error::from_kube;
use kinds::FluxKind;
use rbac::{Access, AccessCache};

/// How long a sync or resume waits for the controller's result by default.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(180);
/// How often discovery runs again while a Flux kind is not served (a CRD installed later appears).
pub const REDISCOVER: Duration = Duration::from_secs(60);

/// Flux in the cluster of one kube context. Connects on first use, so opening never blocks and an
/// unreachable cluster shows as unavailable rather than failing to open.
pub struct FluxBackend {
    context: String,
    kubeconfig: Kubeconfig,
    /// The client and what discovery found; replaced when a later discovery finds other kinds served.
    conn: RwLock<Option<Arc<Conn>>>,
    /// Kinds found refused or gone after discovery (by the watch or a list), overriding what discovery said.
    refused: Mutex<Vec<(FluxKind, KindState)>>,
    access: AccessCache,
    sync_timeout: Duration,
    /// Mirrors of the GitRepositories' URLs, when a data directory was given.
    mirrors: Option<Arc<mirror::Mirrors>>,
    /// The watch's cache file, when a data directory was given (`resume.rs`).
    cache: Option<resume::Cache>,
    rediscover_every: Duration,
}

/// How long the headless commands' snapshot waits for the source mirrors' fetches in all: well within the
/// composite's [`MEMBER_TIMEOUT`](crate::backend::MEMBER_TIMEOUT), so that a slow fetch leaves commits
/// behind unknown (said so) instead of making the whole context fail to answer.
pub const MIRROR_BUDGET: Duration = Duration::from_secs(4);

impl FluxBackend {
    /// The context `context` (or the current context) of the kubeconfig that `KUBECONFIG` names, or of
    /// `~/.kube/config`.
    pub fn open(context: Option<&str>) -> Result<Self, BackendError> {
        let kubeconfig = Kubeconfig::read()
            .map_err(|e| BackendError::Invalid(format!("reading the kubeconfig: {e}")))?;
        Self::with_kubeconfig(kubeconfig, context)
    }

    /// The current context of the kubeconfig that `KUBECONFIG` names (or of `~/.kube/config`).
    pub fn current_context() -> Result<String, BackendError> {
        let kubeconfig = Kubeconfig::read()
            .map_err(|e| BackendError::Invalid(format!("reading the kubeconfig: {e}")))?;
        connect::context_name(&kubeconfig, None)
    }

    /// Whether the cluster of kube context `context` serves any Flux kind (discovery), within `timeout`: the
    /// served kinds, or why not. Blocking (its own thread and runtime), for the choice of `--backend auto`
    /// before anything else runs.
    pub fn serves_flux(context: &str, timeout: Duration) -> Result<Vec<&'static str>, String> {
        let backend = Self::open(Some(context)).map_err(|e| e.to_string())?;
        let probe = std::thread::spawn(move || -> Result<Vec<&'static str>, String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let kinds = tokio::time::timeout(timeout, backend.kinds())
                    .await
                    .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
                    .map_err(|e| e.to_string())?;
                let served: Vec<&'static str> = kinds
                    .iter()
                    .filter(|(_, s)| matches!(s, KindState::Served(_)))
                    .map(|(k, _)| k.kind)
                    .collect();
                if served.is_empty() {
                    Err("no Flux kind is served".to_owned())
                } else {
                    Ok(served)
                }
            })
        });
        probe
            .join()
            .map_err(|_| "the discovery thread failed".to_owned())?
    }

    /// The context `context` (or the current context) of `kubeconfig`.
    pub fn with_kubeconfig(
        kubeconfig: Kubeconfig,
        context: Option<&str>,
    ) -> Result<Self, BackendError> {
        let context = connect::context_name(&kubeconfig, context)?;
        Ok(Self {
            context,
            kubeconfig,
            conn: RwLock::new(None),
            refused: Mutex::new(Vec::new()),
            access: AccessCache::default(),
            sync_timeout: SYNC_TIMEOUT,
            mirrors: None,
            cache: None,
            rediscover_every: REDISCOVER,
        })
    }

    /// Keeps mirrors of the GitRepositories' URLs under `data_dir/flux-mirrors/` (commits behind, which
    /// commit broke a unit, the source's commits in `history`), and the watch's cache under
    /// `data_dir/watch-cache/` (a console started again resumes the watch from it).
    pub fn with_data_dir(mut self, data_dir: &Path) -> Self {
        self.mirrors = Some(mirror::Mirrors::new(data_dir.join("flux-mirrors")));
        let file = resume::CacheFile::new(data_dir, "flux", &self.kubeconfig, &self.context);
        self.cache = Some(resume::Cache::new(file));
        self
    }

    /// Keeps the watch's cache only when `on` (the settings' `watch_cache`; off: every watch lists anew).
    pub fn with_watch_cache(mut self, on: bool) -> Self {
        if !on {
            self.cache = None;
        }
        self
    }

    /// How often discovery runs again while a Flux kind is not served (default [`REDISCOVER`]).
    pub fn with_rediscover(mut self, every: Duration) -> Self {
        self.rediscover_every = every;
        self
    }

    /// How long sync and resume wait for the controller's result.
    pub fn with_sync_timeout(mut self, timeout: Duration) -> Self {
        self.sync_timeout = timeout;
        self
    }

    /// The kube context this backend talks to.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// Which Flux kinds the cluster serves (discovery), and which of them turned out refused or gone since;
    /// connects first if needed.
    pub async fn kinds(&self) -> Result<Vec<(FluxKind, KindState)>, BackendError> {
        Ok(self.kinds_of(&*self.conn().await?))
    }

    /// What discovery found on `conn`, with the kinds refused or gone since.
    fn kinds_of(&self, conn: &Conn) -> Vec<(FluxKind, KindState)> {
        let mut kinds = conn.kinds.clone();
        if let Ok(refused) = self.refused.lock() {
            for (kind, state) in kinds.iter_mut() {
                if let Some((_, r)) = refused.iter().find(|(k, _)| k == kind) {
                    *state = r.clone();
                }
            }
        }
        kinds
    }

    fn note_refused(&self, kind: FluxKind, state: KindState) {
        if let Ok(mut refused) = self.refused.lock() {
            refused.retain(|(k, _)| *k != kind);
            refused.push((kind, state));
        }
    }

    async fn conn(&self) -> Result<Arc<Conn>, BackendError> {
        if let Some(c) = self.conn.read().await.as_ref() {
            return Ok(Arc::clone(c));
        }
        let mut slot = self.conn.write().await;
        if let Some(c) = slot.as_ref() {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(connect::connect(self.kubeconfig.clone(), &self.context).await?);
        *slot = Some(Arc::clone(&c));
        Ok(c)
    }

    /// While a kind is not served (not installed, or gone since), discovery runs again every
    /// [`REDISCOVER`] (a few requests for the API groups, never a list of Flux objects); returns the new
    /// connection once what is served changed, so the watch restarts with it.
    async fn rediscover(&self, conn: &Conn) -> Arc<Conn> {
        loop {
            tokio::time::sleep(self.rediscover_every).await;
            if self
                .kinds_of(conn)
                .iter()
                .all(|(_, s)| matches!(s, KindState::Served(_)))
            {
                continue;
            }
            let kinds = match connect::discover(&conn.client, &self.context).await {
                Ok(k) => k,
                Err(e) => {
                    tracing::info!(context = %self.context, error = %e, "discovery again");
                    continue;
                }
            };
            let served = |k: &[(FluxKind, KindState)]| -> Vec<FluxKind> {
                k.iter()
                    .filter(|(_, s)| matches!(s, KindState::Served(_)))
                    .map(|(k, _)| *k)
                    .collect()
            };
            if served(&kinds) == served(&self.kinds_of(conn)) {
                continue;
            }
            tracing::info!(context = %self.context, served = ?served(&kinds), "discovery: other kinds served now");
            let fresh = Arc::new(Conn {
                client: conn.client.clone(),
                kinds,
            });
            if let Ok(mut refused) = self.refused.lock() {
                refused.clear();
            }
            *self.conn.write().await = Some(Arc::clone(&fresh));
            return fresh;
        }
    }

    fn object(&self, unit: &str) -> Result<ObjectRef, BackendError> {
        ids::parse(&self.context, unit).ok_or_else(|| {
            BackendError::NotFound(format!(
                "{unit} is not a Flux object id of context {} (flux/{}/<namespace>/<Kind>/<name>)",
                self.context, self.context
            ))
        })
    }

    fn who() -> String {
        let (user, host) = crate::audit::who();
        format!("{user}@{host}")
    }

    /// May this identity patch the object? Asked of the API server (SelfSubjectAccessReview), cached briefly.
    async fn may_patch(&self, conn: &Conn, t: &Target) -> Result<Permission, BackendError> {
        let access = Access {
            verb: "patch",
            group: t.obj.kind.group.to_owned(),
            resource: t.obj.kind.plural.to_owned(),
            namespace: t.obj.namespace.clone(),
            name: t.obj.name.clone(),
        };
        self.access.check(&conn.client, &access).await
    }

    async fn source_target(&self, conn: &Conn, t: &Target) -> Result<Target, BackendError> {
        let obj = t.get().await?;
        let src = map::source_ref(t.obj.kind, &obj).ok_or_else(|| {
            BackendError::Invalid(format!(
                "{}/{} names no source",
                t.obj.namespace, t.obj.name
            ))
        })?;
        Target::new(conn, src)
    }

    /// The unit's source and, for a HelmRelease whose chart is packaged by a HelmChart, that HelmChart: the
    /// source is then the one the HelmChart packages from (its GitRepository, HelmRepository or Bucket).
    async fn sources_of(
        &self,
        conn: &Conn,
        t: &Target,
    ) -> Result<(Option<Target>, Target), BackendError> {
        let direct = self.source_target(conn, t).await?;
        if t.obj.kind != kinds::HELM_RELEASE || direct.obj.kind.kind != "HelmChart" {
            return Ok((None, direct));
        }
        let chart = direct.get().await?;
        let from = map::chart_source_ref(&chart)
            .ok_or_else(|| BackendError::Invalid(format!("{} names no source", direct.label())))?;
        Ok((Some(direct), Target::new(conn, from)?))
    }
}

fn deny(reason: impl Into<String>) -> Permission {
    Permission::Denied {
        reason: reason.into(),
    }
}

#[async_trait]
impl Backend for FluxBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Flux,
            context: self.context.clone(),
            read_only: false,
            workspace: None,
        }
    }

    /// One list per served kind (the console uses `watch`, which lists once and then follows changes).
    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let shared = self.conn().await?;
        let conn = &*shared;
        let mut objects: Vec<(FluxKind, DynamicObject)> = Vec::new();
        for (kind, state) in &conn.kinds {
            let KindState::Served(ar) = state else {
                continue;
            };
            let api: Api<DynamicObject> = Api::all_with(conn.client.clone(), ar);
            match api.list(&ListParams::default()).await {
                Ok(list) => objects.extend(list.items.into_iter().map(|o| (*kind, o))),
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    tracing::warn!(context = %self.context, kind = kind.kind, "forbidden: {}", s.message);
                    self.note_refused(*kind, KindState::Forbidden(s.message.clone()));
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    tracing::warn!(context = %self.context, kind = kind.kind, "not installed any more");
                    self.note_refused(*kind, KindState::NotInstalled);
                }
                Err(e) => return Err(from_kube(&format!("listing {}", kind.plural), &e)),
            }
        }
        let mut snap = map::snapshot(&self.context, objects.iter().map(|(k, o)| (*k, o)));
        if let Some(m) = &self.mirrors {
            enrich::fetch_wanted(m, &snap, MIRROR_BUDGET).await;
            snap = enrich::enriched(m, snap).await;
        }
        Ok(connect::with_note(
            snap,
            &self.context,
            &self.kinds_of(conn),
        ))
    }

    async fn watch(&self, tx: mpsc::Sender<Update>) -> Result<(), BackendError> {
        let mut delay = connect::FIRST_RECONNECT;
        loop {
            match self.conn().await {
                Ok(conn) => {
                    let stopped = |kind: FluxKind, state: KindState| self.note_refused(kind, state);
                    let watching =
                        enrich::relayed(self.mirrors.as_ref(), Enriching::Relay, &tx, async |tx| {
                            watch::run(&self.context, &conn, tx, &stopped, self.cache.as_ref())
                                .await
                        });
                    tokio::select! {
                        () = watching => return Ok(()),
                        // other kinds are served now: the watch starts again with them
                        _ = self.rediscover(&conn) => delay = connect::FIRST_RECONNECT,
                    }
                }
                Err(e) => {
                    if !connect::unreachable(&tx, &e, &mut delay).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn diff(&self, unit: &str) -> Result<Vec<ObjectDiff>, BackendError> {
        Ok(self.diff_report(unit).await?.objects)
    }

    /// A Kustomization's desired state (built as kustomize-controller builds it) or a HelmRelease's (rendered
    /// as helm-controller renders it) against live; see `diff/mod.rs` and `diff/helm/mod.rs`.
    async fn diff_report(&self, unit: &str) -> Result<crate::model::DiffReport, BackendError> {
        let conn = self.conn().await?;
        let obj = self.object(unit)?;
        let kind = obj.kind;
        let t = Target::new(&conn, obj)?;
        if kind == kinds::HELM_RELEASE {
            return diff::helm::report(&conn, &t.get().await?).await;
        }
        if kind != kinds::KUSTOMIZATION {
            return Err(BackendError::Invalid(format!(
                "flux: diffs of {} are not supported (only Kustomizations and HelmReleases)",
                kind.kind
            )));
        }
        diff::report(&conn, &t.get().await?).await
    }

    async fn history(&self, unit: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        let shared = self.conn().await?;
        let conn = &*shared;
        let t = Target::new(conn, self.object(unit)?)?;
        let obj = t.get().await?;
        let reported = history::entries(&obj);
        let Some(mirrors) = &self.mirrors else {
            return Ok(reported);
        };
        // the source's commits when its mirror can be read (a HelmRelease's: its chart's GitRepository)
        let Some(src) = self
            .sources_of(conn, &t)
            .await
            .ok()
            .map(|(_, s)| s)
            .filter(|s| s.obj.kind == kinds::GIT_REPOSITORY)
        else {
            return Ok(reported);
        };
        let src_obj = src.get().await?;
        let snap = map::snapshot(&self.context, [(src.obj.kind, &src_obj)]);
        let Some(source) = snap.sources.first() else {
            return Ok(reported);
        };
        let Some(latest) = source.revision.clone() else {
            return Ok(reported);
        };
        enrich::fetch_wanted(mirrors, &snap, MIRROR_BUDGET).await;
        let (m, url) = (Arc::clone(mirrors), source.url.clone());
        let commits = tokio::task::spawn_blocking(move || {
            m.commits(&url, &latest, crate::backend::local::HISTORY_LIMIT)
        })
        .await
        .map_err(|e| BackendError::Failed(format!("reading the source's commits: {e}")))?;
        match commits {
            Ok(commits) => {
                let marks = history::Marks::of(&obj, map::pin(&src_obj));
                Ok(history::merge(reported, commits, &marks))
            }
            Err(why) => {
                tracing::warn!(unit, %why, "history without the source's commits");
                Ok(reported)
            }
        }
    }

    async fn events(&self, unit: &str) -> Result<Vec<Event>, BackendError> {
        let shared = self.conn().await?;
        let conn = &*shared;
        let t = Target::new(conn, self.object(unit)?)?;
        let mut raw = events::of_object(&conn.client, &t.obj).await?;
        if let Some(src) = map::source_ref(t.obj.kind, &t.get().await?) {
            // the source's events matter as much; not being allowed to read them is not fatal
            match events::of_object(&conn.client, &src).await {
                Ok(more) => raw.extend(more),
                Err(e) => tracing::warn!(error = %e, "events of the source"),
            }
        }
        Ok(events::newest_first(unit, &raw))
    }

    async fn detail(&self, unit: &str) -> Result<crate::model::Detail, BackendError> {
        let shared = self.conn().await?;
        let conn = &*shared;
        let t = Target::new(conn, self.object(unit)?)?;
        let obj = t.get().await?;
        Ok(detail::detail(conn, unit, &t.obj, &obj).await)
    }

    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError> {
        let shared = self.conn().await?;
        let conn = &*shared;
        let t = Target::new(conn, self.object(unit)?)?;
        let obj = t.get().await?;
        if let Permission::Denied { reason } = self.may_patch(conn, &t).await? {
            return Ok(Capabilities::all_denied(&reason));
        }
        let (chart, source) = match map::source_ref(t.obj.kind, &obj) {
            Some(_) => match self.sources_of(conn, &t).await {
                Ok((c, s)) => (c, Some(s)),
                Err(e) => {
                    tracing::warn!(unit, error = %e, "the unit's source");
                    (None, None)
                }
            },
            None => (None, None),
        };
        let pinned = match &source {
            Some(s) => s.get().await.ok().and_then(|o| map::pin(&o)).is_some(),
            None => false,
        };
        let source_perm = match &source {
            Some(s) => self.may_patch(conn, s).await?,
            None => deny("the unit names no source this backend can read"),
        };
        let rollback = match source
            .as_ref()
            .and_then(|s| rollback::refusal(s, chart.as_ref()))
        {
            Some(why) => deny(why),
            None => source_perm.clone(),
        };
        let suspended = map::is_suspended(&obj);
        Ok(Capabilities {
            suspend: if suspended {
                deny("already suspended")
            } else {
                Permission::Allowed
            },
            resume: if pinned {
                source_perm
            } else if suspended {
                Permission::Allowed
            } else {
                deny("not suspended or pinned")
            },
            sync: if suspended {
                deny(
                    "suspended: resume it first (Flux ignores reconcile requests of a suspended object)",
                )
            } else {
                Permission::Allowed
            },
            rollback,
            terminate: Permission::argo_only(ActionKind::Terminate),
            refresh: Permission::argo_only(ActionKind::Refresh),
        })
    }

    async fn act(&self, unit: &str, action: &Action) -> Result<Outcome, BackendError> {
        if matches!(action, Action::Terminate | Action::Refresh { .. }) {
            return Err(BackendError::Invalid(format!(
                "{} is an Argo CD action (Applications only); on Flux, sync reconciles now",
                action.kind()
            )));
        }
        let shared = self.conn().await?;
        let conn = &*shared;
        let t = Target::new(conn, self.object(unit)?)?;
        // the source too, when the action patches it (and a HelmRelease's HelmChart between them)
        let (chart, source) = match action {
            Action::Sync { with_source: true } | Action::Rollback { .. } => {
                let (c, s) = self.sources_of(conn, &t).await?;
                (c, Some(s))
            }
            Action::Resume => match self.sources_of(conn, &t).await {
                Ok((c, src)) if src.get().await.ok().and_then(|o| map::pin(&o)).is_some() => {
                    (c, Some(src))
                }
                _ => (None, None),
            },
            _ => (None, None),
        };
        if let (Action::Rollback { .. }, Some(src)) = (action, &source)
            && let Some(why) = rollback::refusal(src, chart.as_ref())
        {
            return Err(BackendError::Invalid(why));
        }
        // the parent Kustomization a rollback suspends, or a resume releases
        let parent = match (action, &source) {
            (
                Action::Rollback {
                    suspend_parent: true,
                    ..
                },
                Some(src),
            ) => {
                let p = rollback::parent_to_suspend(conn, src).await?;
                if p.obj == t.obj {
                    return Err(BackendError::Invalid(format!(
                        "--suspend-parent: {} applies its own GitRepository; suspending it would stop the \
                         rollback too",
                        t.label()
                    )));
                }
                Some(p)
            }
            (Action::Resume, Some(src)) => rollback::suspended_parent(conn, &src.get().await?),
            _ => None,
        };
        // refused before anything is sent: RBAC for every object the action patches
        for target in std::iter::once(&t)
            .chain(source.as_ref())
            .chain(chart.as_ref())
            .chain(parent.as_ref())
        {
            if let Permission::Denied { reason } = self.may_patch(conn, target).await? {
                return Err(BackendError::Denied(reason));
            }
        }
        let who = Self::who();
        let timeout = self.sync_timeout;
        let message = match (action, &source) {
            (Action::Suspend { reason }, _) => {
                if reason.trim().is_empty() {
                    return Err(BackendError::Invalid("suspend needs a reason".into()));
                }
                act::suspend(conn, &t, &who, reason).await?
            }
            (Action::Resume, Some(src)) => {
                // a pinned unit: the source's ref first, then the unit on the released revision
                let (mut released, mut artifact) =
                    rollback::release(conn, src, &who, timeout).await?;
                if let Some(c) = &chart {
                    let (said, chart_artifact) =
                        rollback::repackage(conn, c, &who, artifact.as_deref(), timeout).await?;
                    released.push_str(&said);
                    artifact = chart_artifact;
                }
                let unit_result = if map::is_suspended(&t.get().await?) {
                    act::resume(conn, &t, &who, artifact.as_deref(), timeout).await?
                } else {
                    act::reconcile(conn, &t, &who, artifact.as_deref(), timeout)
                        .await?
                        .0
                };
                format!("{released}; {unit_result}")
            }
            (Action::Resume, None) => act::resume(conn, &t, &who, None, timeout).await?,
            (Action::Sync { .. }, _) => {
                let sources: Vec<&Target> = source.iter().chain(chart.iter()).collect();
                act::sync(conn, &t, &sources, &who, timeout).await?
            }
            (Action::Rollback { to, reason, .. }, Some(src)) => {
                if reason.trim().is_empty() {
                    return Err(BackendError::Invalid("rollback needs a reason".into()));
                }
                rollback::rollback(
                    conn,
                    &t,
                    src,
                    chart.as_ref(),
                    parent.as_ref(),
                    to,
                    &who,
                    reason,
                    timeout,
                )
                .await?
            }
            (Action::Rollback { .. }, None) => {
                return Err(BackendError::Invalid("the unit names no source".into()));
            }
            (Action::Terminate | Action::Refresh { .. }, _) => {
                return Err(BackendError::Invalid(format!(
                    "{} is an Argo CD action",
                    action.kind()
                )));
            }
        };
        Ok(Outcome {
            unit: unit.to_owned(),
            action: action.kind(),
            message,
        })
    }
}
