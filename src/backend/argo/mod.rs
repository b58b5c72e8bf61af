//! Argo CD on Kubernetes: one kube context per [`ArgoBackend`]. Applications are units, their sources
//! (`spec.source` / `spec.sources`) sources. Everything goes through the Kubernetes API (the kube plumbing of
//! the Flux backend: client, error mapping, SelfSubjectAccessReview cache, Events); no Argo CD token. See the
//! README, "Argo CD", and `map.rs` for the status table.

mod act;
pub mod clusters;
mod commits;
pub mod detail;
pub mod diff;
pub mod map;
mod ops;
pub mod project;
mod schema;
mod sync;
mod watch;
pub mod windows;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Event as KubeEvent;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::config::Kubeconfig;
use tokio::sync::{OnceCell, mpsc};

use super::{Backend, BackendError, BackendInfo, Update};
use crate::backend::flux::connect;
use crate::backend::flux::enrich::{self, Enriching};
use crate::backend::flux::error::from_kube;
use crate::backend::flux::events;
use crate::backend::flux::map::str_at;
use crate::backend::flux::mirror::Mirrors;
use crate::backend::flux::rbac::{Access, AccessCache};
use crate::backend::flux::resume;
use crate::model::{
    Action, BackendKind, Capabilities, ContextState, Event, HistoryEntry, ObjectDiff, Outcome,
    Permission, Snapshot,
};
use act::App;
use watch::Refused;

/// How long a sync or rollback waits for the operation's result by default.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(180);
/// How often discovery runs again while Applications are not served (a CRD installed later appears).
pub const REDISCOVER: Duration = crate::backend::flux::REDISCOVER;
const GROUP: &str = "argoproj.io";
const PLURAL: &str = "applications";

/// Argo CD in the cluster of one kube context; connects on first use.
pub struct ArgoBackend {
    context: String,
    kubeconfig: Kubeconfig,
    client: OnceCell<kube::Client>,
    access: AccessCache,
    sync_timeout: Duration,
    rediscover_every: Duration,
    /// Whether the served Application CRD has `spec.syncPolicy.automated.enabled`, read once.
    automated_enabled: OnceCell<bool>,
    /// Mirrors of the Applications' git sources, when a data directory was given.
    mirrors: Option<Arc<Mirrors>>,
    /// The watch's cache file, when a data directory was given (`flux/resume.rs`).
    cache: Option<resume::Cache>,
}

/// How long the headless commands wait for the source mirrors' fetches in all.
const MIRROR_BUDGET: Duration = Duration::from_secs(20);

fn resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(GROUP, "v1alpha1", map::KIND);
    ApiResource::from_gvk_with_plural(&gvk, PLURAL)
}

fn deny(reason: impl Into<String>) -> Permission {
    Permission::Denied {
        reason: reason.into(),
    }
}

impl ArgoBackend {
    /// The context `context` (or the current context) of the kubeconfig `KUBECONFIG` names.
    pub fn open(context: Option<&str>) -> Result<Self, BackendError> {
        let kubeconfig = Kubeconfig::read()
            .map_err(|e| BackendError::Invalid(format!("reading the kubeconfig: {e}")))?;
        Self::with_kubeconfig(kubeconfig, context)
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
            client: OnceCell::new(),
            access: AccessCache::default(),
            sync_timeout: SYNC_TIMEOUT,
            rediscover_every: REDISCOVER,
            automated_enabled: OnceCell::new(),
            mirrors: None,
            cache: None,
        })
    }

    /// Keeps mirrors of the Applications' git sources under `data_dir/argo-mirrors/` (commits behind, the
    /// source's commits in `history`, the checkout a local diff renders), and the watch's cache under
    /// `data_dir/watch-cache/` (a console started again resumes the watch from it).
    pub fn with_data_dir(mut self, data_dir: &Path) -> Self {
        self.mirrors = Some(commits::mirrors(data_dir));
        let file = resume::CacheFile::new(data_dir, "argo", &self.kubeconfig, &self.context);
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

    /// How long sync and rollback wait for the operation's result.
    pub fn with_sync_timeout(mut self, timeout: Duration) -> Self {
        self.sync_timeout = timeout;
        self
    }

    /// How often discovery runs again while Applications are not served (default [`REDISCOVER`]).
    pub fn with_rediscover(mut self, every: Duration) -> Self {
        self.rediscover_every = every;
        self
    }

    /// Whether the cluster of `context` serves Argo CD's Application kind (discovery of one API group),
    /// within `timeout`. Blocking (own thread and runtime), for `--backend auto`.
    pub fn serves_argo(context: &str, timeout: Duration) -> Result<(), String> {
        let backend = Self::open(Some(context)).map_err(|e| e.to_string())?;
        let probe = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = backend.client().await.map_err(|e| e.to_string())?;
                let found = tokio::time::timeout(
                    timeout,
                    kube::discovery::Discovery::new(client)
                        .filter(&[GROUP])
                        .run(),
                )
                .await
                .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
                .map_err(|e| e.to_string())?;
                match found.get(GROUP).and_then(|g| g.recommended_kind(map::KIND)) {
                    Some(_) => Ok(()),
                    None => Err("Argo CD's Application kind is not served".to_owned()),
                }
            })
        });
        probe
            .join()
            .map_err(|_| "the discovery thread failed".to_owned())?
    }

    async fn client(&self) -> Result<kube::Client, BackendError> {
        self.client
            .get_or_try_init(|| connect::client(self.kubeconfig.clone(), &self.context))
            .await
            .cloned()
    }

    async fn app(&self, unit: &str) -> Result<App, BackendError> {
        let (ns, name) = map::parse_id(&self.context, unit).ok_or_else(|| {
            BackendError::NotFound(format!(
                "{unit} is not an Argo CD Application id of context {c} (argo/{c}/<namespace>/Application/<name>)",
                c = self.context
            ))
        })?;
        let ar = resource();
        Ok(App {
            api: Api::namespaced_with(self.client().await?, ns, &ar),
            ar,
            namespace: ns.to_owned(),
            name: name.to_owned(),
        })
    }

    fn who() -> String {
        let (user, host) = crate::audit::who();
        format!("{user}@{host}")
    }

    async fn may_patch(&self, app: &App) -> Result<Permission, BackendError> {
        let access = Access {
            verb: "patch",
            group: GROUP.to_owned(),
            resource: PLURAL.to_owned(),
            namespace: app.namespace.clone(),
            name: app.name.clone(),
        };
        self.access.check(&self.client().await?, &access).await
    }

    /// Whether suspend can set `automated.enabled: false` (the served CRD has the field), read once per
    /// context from the OpenAPI document; when it cannot be read, `automated` is removed (and remembered).
    async fn enabled_field(&self) -> Result<bool, BackendError> {
        let client = self.client().await?;
        Ok(*self
            .automated_enabled
            .get_or_init(|| async {
                match schema::fetch(&client).await {
                    Ok(doc) => schema::has_automated_enabled(&doc),
                    Err(e) => {
                        tracing::warn!(context = %self.context, error = %e,
                            "the Application schema could not be read: suspend removes spec.syncPolicy.automated");
                        false
                    }
                }
            })
            .await)
    }

    /// The Application's AppProject, read in the Application's namespace; `Ok(None)` when it does not exist.
    async fn project(
        &self,
        app: &App,
        obj: &DynamicObject,
    ) -> Result<Option<DynamicObject>, String> {
        let project = str_at(&obj.data, "/spec/project").unwrap_or("default");
        let gvk = GroupVersionKind::gvk(GROUP, "v1alpha1", "AppProject");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "appprojects");
        let client = self.client().await.map_err(|e| e.to_string())?;
        let api: Api<DynamicObject> = Api::namespaced_with(client, &app.namespace, &ar);
        match api.get(project).await {
            Ok(p) => Ok(Some(p)),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(format!("AppProject {}/{project}: {e}", app.namespace)),
        }
    }

    /// The sync windows of the Application's AppProject judged now; `Ok(None)` when none applies (or the
    /// project does not exist: that is the project's verdict).
    async fn windows(
        &self,
        app: &App,
        obj: &DynamicObject,
    ) -> Result<Option<windows::Verdict>, String> {
        let Some(proj) = self.project(app, obj).await? else {
            return Ok(None);
        };
        Ok(windows::judge_app(
            &proj.data,
            &app.name,
            &obj.data,
            jiff::Timestamp::now(),
        ))
    }

    /// The AppProject's verdict on the Application (existence, sources, destination, resources).
    async fn project_verdict(
        &self,
        app: &App,
        obj: &DynamicObject,
    ) -> Result<project::Verdict, String> {
        let proj = self.project(app, obj).await?;
        let target = project::target(&obj.data);
        let judge = |clusters| {
            project::judge(
                proj.as_ref().map(|p| &p.data),
                &app.namespace,
                &target,
                clusters,
            )
        };
        // the cluster Secrets are read only when they can change the verdict
        let first = judge(clusters::Clusters::Unread(""));
        if !first.clusters_needed {
            return Ok(first);
        }
        Ok(match self.cluster_secrets(&app.namespace).await {
            Ok(list) => judge(clusters::Clusters::Read(&list)),
            Err(why) => judge(clusters::Clusters::Unread(&why)),
        })
    }

    /// Argo CD's cluster Secrets in `namespace` (the Application's, Argo CD's own), read with their label.
    async fn cluster_secrets(
        &self,
        namespace: &str,
    ) -> Result<Vec<clusters::ClusterSecret>, String> {
        let client = self.client().await.map_err(|e| e.to_string())?;
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, namespace);
        let list = api
            .list(&ListParams::default().labels(clusters::SECRET_TYPE_SELECTOR))
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) if s.code == 403 => {
                    format!("forbidden: Secrets in {namespace}: {}", s.message)
                }
                e => format!("Secrets in {namespace}: {e}"),
            })?;
        Ok(list
            .items
            .iter()
            .map(|secret| {
                let data = secret
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
                clusters::ClusterSecret::from_data(&data)
            })
            .collect())
    }

    /// Why the project refuses a sync now, if it does. A project that cannot be read is no refusal (the
    /// controller still judges it; its InvalidSpecError shows in the unit's status).
    async fn project_refusal(&self, app: &App) -> Result<Option<String>, BackendError> {
        let obj = app.get().await?;
        Ok(match self.project_verdict(app, &obj).await {
            Ok(v) => v.refusal(),
            Err(e) => {
                tracing::info!(app = %app.label(), error = %e, "project not read");
                None
            }
        })
    }

    /// Each unit's sync windows, from one list of the AppProjects of every namespace.
    async fn judge_windows(&self, snap: &mut Snapshot, apps: &[DynamicObject]) {
        let gvk = GroupVersionKind::gvk(GROUP, "v1alpha1", "AppProject");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "appprojects");
        let listed = match self.client().await {
            Ok(c) => Api::<DynamicObject>::all_with(c, &ar)
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        windows::judge_snapshot(
            snap,
            &self.context,
            apps.iter(),
            listed.as_deref().map_err(String::as_str),
            jiff::Timestamp::now(),
        );
    }

    /// Returns once discovery (of the argoproj.io group only, never a list of Applications), run every
    /// `rediscover_every`, finds the Application kind served.
    async fn until_served(&self, client: &kube::Client) {
        loop {
            tokio::time::sleep(self.rediscover_every).await;
            let found = kube::discovery::Discovery::new(client.clone())
                .filter(&[GROUP])
                .run()
                .await;
            match found {
                Ok(d)
                    if d.get(GROUP)
                        .and_then(|g| g.recommended_kind(map::KIND))
                        .is_some() =>
                {
                    tracing::info!(context = %self.context, "discovery: Applications served now");
                    return;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(context = %self.context, error = %e, "discovery again"),
            }
        }
    }

    /// Why a manual sync may not run now by the sync windows, if it may not. A project that cannot be read
    /// is no refusal (the controller still judges the windows; its hold shows as the operation's message).
    async fn window_refusal(&self, app: &App) -> Result<Option<String>, BackendError> {
        let obj = app.get().await?;
        if map::operation_in_progress(&obj) {
            return Ok(None); // refused as busy, with the offer to terminate
        }
        Ok(match self.windows(app, &obj).await {
            Ok(Some(v)) if !v.manual => Some(v.message),
            Ok(_) => None,
            Err(e) => {
                tracing::info!(app = %app.label(), error = %e, "sync windows not read");
                None
            }
        })
    }

    /// The context's note when Applications cannot be seen at all.
    fn noted(&self, why: &str) -> Snapshot {
        Snapshot {
            contexts: vec![ContextState {
                message: Some(why.to_owned()),
                ..ContextState::live_cluster(&self.context, BackendKind::Argo)
            }],
            ..Snapshot::default()
        }
    }

    /// One watch of Applications until the receiver is gone (`None`) or the watch is refused; with mirrors,
    /// its snapshots pass through their relay (fetches stay off the watch path).
    async fn watch_once(
        &self,
        client: &kube::Client,
        tx: &mpsc::Sender<Update>,
    ) -> Option<Refused> {
        let mirrors = self.mirrors.as_ref();
        enrich::relayed(mirrors, Enriching::Watch, tx, async |tx| {
            watch::run(
                &self.context,
                client.clone(),
                &resource(),
                mirrors,
                tx,
                self.cache.as_ref(),
            )
            .await
        })
        .await
    }

    fn refused_note(&self, r: &Refused) -> Snapshot {
        match r {
            Refused::NotInstalled => self.noted("not installed: Application (argoproj.io)"),
            Refused::Forbidden(m) => self.noted(&format!("forbidden: Application: {m}")),
        }
    }
}

#[async_trait]
impl Backend for ArgoBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Argo,
            context: self.context.clone(),
            read_only: false,
            workspace: None,
        }
    }

    /// One list of the Applications of every namespace (the console uses `watch`).
    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let api: Api<DynamicObject> = Api::all_with(self.client().await?, &resource());
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                let mut snap = map::snapshot(&self.context, list.items.iter());
                self.judge_windows(&mut snap, &list.items).await;
                Ok(match &self.mirrors {
                    Some(m) => {
                        enrich::fetch_wanted(m, &snap, MIRROR_BUDGET).await;
                        enrich::enriched(m, snap).await
                    }
                    None => snap,
                })
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                Ok(self.refused_note(&Refused::NotInstalled))
            }
            Err(kube::Error::Api(s)) if s.code == 403 => {
                Ok(self.refused_note(&Refused::Forbidden(s.message.clone())))
            }
            Err(e) => Err(from_kube(
                &format!("kube context {}: listing Applications", self.context),
                &e,
            )),
        }
    }

    async fn watch(&self, tx: mpsc::Sender<Update>) -> Result<(), BackendError> {
        let mut delay = connect::FIRST_RECONNECT;
        loop {
            match self.client().await {
                Ok(client) => loop {
                    let Some(refused) = self.watch_once(&client, &tx).await else {
                        return Ok(());
                    };
                    tracing::warn!(context = %self.context, ?refused, "Applications not watched");
                    if tx
                        .send(Update::Snapshot(self.refused_note(&refused)))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                    if refused != Refused::NotInstalled {
                        tx.closed().await;
                        return Ok(());
                    }
                    // not installed: discovery again every `rediscover_every` until the kind is served
                    tokio::select! {
                        () = self.until_served(&client) => {}
                        () = tx.closed() => return Ok(()),
                    }
                },
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

    /// From the Argo CD API server when the argocd CLI is logged in to one serving this Application, else
    /// rendered here; see `diff/mod.rs`.
    async fn diff_report(&self, unit: &str) -> Result<crate::model::DiffReport, BackendError> {
        let app = self.app(unit).await?;
        let obj = app.get().await?;
        diff::report(&self.client().await?, &obj, self.mirrors.as_ref()).await
    }

    /// `status.history`, merged into the source's commits when the mirrors can read them.
    async fn history(&self, unit: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        let obj = self.app(unit).await?.get().await?;
        let reported = map::history(&obj);
        let Some(mirrors) = &self.mirrors else {
            return Ok(reported);
        };
        let u = map::unit(&self.context, &obj);
        if let Some(w) = u
            .latest_revision
            .as_ref()
            .and_then(|l| mirrors.want(&u.source, l.sha()))
        {
            enrich::fetch(Arc::clone(mirrors), w).await;
        }
        let failed = u
            .attempted_revision
            .clone()
            .filter(|_| u.status.kind == crate::model::StatusKind::Failed);
        let (m, fallback) = (Arc::clone(mirrors), reported.clone());
        match tokio::task::spawn_blocking(move || commits::history(&m, &u, reported, failed)).await
        {
            Ok(Ok(merged)) => Ok(merged),
            Ok(Err(why)) => {
                tracing::warn!(unit, %why, "history without the source's commits");
                Ok(fallback)
            }
            Err(e) => Err(BackendError::Invalid(format!("reading the history: {e}"))),
        }
    }

    async fn events(&self, unit: &str) -> Result<Vec<Event>, BackendError> {
        let app = self.app(unit).await?;
        let api: Api<KubeEvent> = Api::namespaced(self.client().await?, &app.namespace);
        let selector = format!(
            "involvedObject.kind={},involvedObject.name={}",
            map::KIND,
            app.name
        );
        let list = api
            .list(&ListParams::default().fields(&selector))
            .await
            .map_err(|e| from_kube(&format!("events of {}", app.label()), &e))?;
        Ok(events::newest_first(unit, &list.items))
    }

    /// Sync, health, the last operation and Argo CD's conditions; `status.resources` as the inventory.
    async fn detail(&self, unit: &str) -> Result<crate::model::Detail, BackendError> {
        let app = self.app(unit).await?;
        let obj = app.get().await?;
        let mut d = detail::detail(unit, &obj);
        d.conditions
            .push(match self.project_verdict(&app, &obj).await {
                Ok(v) => detail::project(&v),
                Err(e) => detail::project_unknown(&e),
            });
        d.conditions.push(match self.windows(&app, &obj).await {
            Ok(v) => detail::window(v.as_ref()),
            Err(e) => detail::window_unknown(&e),
        });
        Ok(d)
    }

    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError> {
        let app = self.app(unit).await?;
        let obj = app.get().await?;
        if let Permission::Denied { reason } = self.may_patch(&app).await? {
            return Ok(Capabilities::all_denied(&reason));
        }
        let held = map::annotation(&obj, map::SAVED_AUTOMATED).is_some();
        let busy = map::operation_in_progress(&obj);
        let op = || {
            deny(format!(
                "an operation is already {}: terminate it (setpoint terminate) or wait for it to finish",
                map::operation_phase(&obj).unwrap_or("requested")
            ))
        };
        // a sync window that denies a manual sync now (one that cannot be read is said, not enforced)
        let window = match self.windows(&app, &obj).await {
            Ok(Some(v)) if !v.manual => Some(v.message),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(unit, error = %e, "sync windows not read");
                None
            }
        };
        // the project refuses the sync (one that cannot be read is not enforced)
        let refused = match self.project_verdict(&app, &obj).await {
            Ok(v) => v.refusal(),
            Err(e) => {
                tracing::debug!(unit, error = %e, "project not read");
                None
            }
        };
        Ok(Capabilities {
            suspend: if map::is_suspended(&obj) {
                deny("already suspended")
            } else {
                Permission::Allowed
            },
            resume: if held {
                Permission::Allowed
            } else {
                deny("not suspended or rolled back by setpoint")
            },
            sync: if busy {
                op()
            } else if map::annotation(&obj, map::PINNED_AT_REVISION).is_some() {
                deny("rolled back and held: resume it first")
            } else if let Some(r) = &refused {
                deny(r.clone())
            } else if let Some(w) = &window {
                deny(w.clone())
            } else {
                Permission::Allowed
            },
            rollback: if busy {
                op()
            } else if let Some(r) = refused {
                deny(r)
            } else if let Some(w) = window {
                deny(w)
            } else {
                Permission::Allowed
            },
            terminate: match ops::nothing_to_terminate(&obj) {
                Some(why) => deny(why),
                None => Permission::Allowed,
            },
            refresh: Permission::Allowed,
        })
    }

    async fn act(&self, unit: &str, action: &Action) -> Result<Outcome, BackendError> {
        let app = self.app(unit).await?;
        // refused before anything is sent
        if let Permission::Denied { reason } = self.may_patch(&app).await? {
            return Err(BackendError::Denied(reason));
        }
        let client = self.client().await?;
        let who = Self::who();
        let timeout = self.sync_timeout;
        let message = match action {
            Action::Suspend { reason } => {
                if reason.trim().is_empty() {
                    return Err(BackendError::Invalid("suspend needs a reason".into()));
                }
                act::suspend(&client, &app, &who, reason, self.enabled_field().await?).await?
            }
            Action::Resume => act::resume(&client, &app, &who).await?,
            Action::Sync { .. }
                if map::annotation(&app.get().await?, map::PINNED_AT_REVISION).is_some() =>
            {
                return Err(BackendError::Invalid(format!(
                    "{} is rolled back and held: resume it first (a sync would deploy targetRevision again)",
                    app.label()
                )));
            }
            Action::Sync { .. } | Action::Rollback { .. }
                if let Some(why) = self.project_refusal(&app).await? =>
            {
                return Err(BackendError::Denied(format!(
                    "{}: {why} (the controller would refuse the sync: nothing was sent)",
                    app.label()
                )));
            }
            Action::Sync { .. } | Action::Rollback { .. }
                if let Some(why) = self.window_refusal(&app).await? =>
            {
                return Err(BackendError::Denied(format!(
                    "{}: {why} (the controller would hold the operation until the window allows it)",
                    app.label()
                )));
            }
            Action::Sync { with_source } => {
                // with the source: a hard refresh (manifests generated again) in the same patch
                let hard = *with_source;
                let extra = move |_: &DynamicObject| {
                    if hard {
                        serde_json::json!({"metadata": {"annotations": {ops::REFRESH: "hard"}}})
                    } else {
                        serde_json::json!({})
                    }
                };
                sync::sync(
                    &client,
                    &app,
                    None,
                    &extra,
                    &who,
                    "sync requested",
                    "sync",
                    timeout,
                )
                .await?
            }
            Action::Rollback { to, reason, .. } => {
                if reason.trim().is_empty() {
                    return Err(BackendError::Invalid("rollback needs a reason".into()));
                }
                let enabled = self.enabled_field().await?;
                act::rollback(&client, &app, to.sha(), &who, reason, timeout, enabled).await?
            }
            Action::Terminate => ops::terminate(&client, &app, &who, timeout).await?,
            Action::Refresh { hard } => ops::refresh(&client, &app, &who, *hard, timeout).await?,
        };
        Ok(Outcome {
            unit: unit.to_owned(),
            action: action.kind(),
            message,
        })
    }
}
