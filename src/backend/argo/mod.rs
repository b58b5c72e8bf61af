//! Argo CD on Kubernetes: one kube context per [`ArgoBackend`]. Applications are units, their sources
//! (`spec.source` / `spec.sources`) sources. Everything goes through the Kubernetes API (the kube plumbing of
//! the Flux backend: client, error mapping, SelfSubjectAccessReview cache, Events); no Argo CD token. See the
//! README, "Argo CD", and `map.rs` for the status table.

mod act;
mod commits;
mod detail;
pub mod diff;
pub mod map;
mod sync;
mod watch;

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
use crate::backend::flux::enrich;
use crate::backend::flux::error::from_kube;
use crate::backend::flux::events;
use crate::backend::flux::mirror::Mirrors;
use crate::backend::flux::rbac::{Access, AccessCache};
use crate::model::{
    Action, BackendKind, Capabilities, ContextHealth, ContextState, Event, HistoryEntry,
    ObjectDiff, Outcome, Permission, Snapshot,
};
use act::App;
use watch::Refused;

/// How long a sync or rollback waits for the operation's result by default.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(180);
const GROUP: &str = "argoproj.io";
const PLURAL: &str = "applications";

/// Argo CD in the cluster of one kube context; connects on first use.
pub struct ArgoBackend {
    context: String,
    kubeconfig: Kubeconfig,
    client: OnceCell<kube::Client>,
    access: AccessCache,
    sync_timeout: Duration,
    /// Mirrors of the Applications' git sources, when a data directory was given.
    mirrors: Option<Arc<Mirrors>>,
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
            mirrors: None,
        })
    }

    /// Keeps mirrors of the Applications' git sources under `data_dir/argo-mirrors/` (commits behind, the
    /// source's commits in `history`, the checkout a local diff renders).
    pub fn with_data_dir(mut self, data_dir: &Path) -> Self {
        self.mirrors = Some(commits::mirrors(data_dir));
        self
    }

    /// How long sync and rollback wait for the operation's result.
    pub fn with_sync_timeout(mut self, timeout: Duration) -> Self {
        self.sync_timeout = timeout;
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

    /// The context's note when Applications cannot be seen at all.
    fn noted(&self, why: &str) -> Snapshot {
        Snapshot {
            contexts: vec![ContextState {
                name: self.context.clone(),
                backend: BackendKind::Argo,
                workspace: None,
                read_only: false,
                health: ContextHealth::Live,
                since: None,
                message: Some(why.to_owned()),
                reconciler: None,
            }],
            ..Snapshot::default()
        }
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
                let snap = map::snapshot(&self.context, list.items.iter());
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
                Ok(client) => {
                    let refused = match &self.mirrors {
                        None => watch::run(&self.context, client, &resource(), &tx).await,
                        Some(mirrors) => {
                            // the watch's snapshots pass through the mirrors' relay (fetches off the watch path)
                            let (inner_tx, inner_rx) = mpsc::channel(16);
                            let watch = async move {
                                watch::run(&self.context, client, &resource(), &inner_tx).await
                            };
                            let relay = enrich::relay(Arc::clone(mirrors), inner_rx, &tx);
                            tokio::join!(watch, relay).0
                        }
                    };
                    if let Some(refused) = refused {
                        tracing::warn!(context = %self.context, ?refused, "Applications not watched");
                        let _ = tx.send(Update::Snapshot(self.refused_note(&refused))).await;
                        tx.closed().await;
                    }
                    return Ok(());
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
        Ok(detail::detail(unit, &self.app(unit).await?.get().await?))
    }

    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError> {
        let app = self.app(unit).await?;
        let obj = app.get().await?;
        if let Permission::Denied { reason } = self.may_patch(&app).await? {
            return Ok(Capabilities::all_denied(&reason));
        }
        let held = map::annotation(&obj, map::SAVED_AUTOMATED).is_some();
        let busy = map::operation_in_progress(&obj);
        let op = || deny("an operation is running: wait for it to finish");
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
            } else {
                Permission::Allowed
            },
            rollback: if busy { op() } else { Permission::Allowed },
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
                act::suspend(&client, &app, &who, reason).await?
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
            Action::Sync { with_source } => {
                // with the source: a hard refresh (manifests generated again) in the same patch
                let extra = if *with_source {
                    serde_json::json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})
                } else {
                    serde_json::json!({})
                };
                sync::sync(
                    &client,
                    &app,
                    None,
                    extra,
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
                act::rollback(&client, &app, to.sha(), &who, reason, timeout).await?
            }
        };
        Ok(Outcome {
            unit: unit.to_owned(),
            action: action.kind(),
            message,
        })
    }
}
