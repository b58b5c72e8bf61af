//! The embedded GitOps agent: the default backend. Desired state is a git repository of base + overlays,
//! live state is a directory per environment on this host. See docs/architecture.md and the README, "The embedded agent".

mod agent;
mod apply;
mod compare;
mod converge;
pub mod demo;
mod drift;
pub(crate) mod git;
mod git_error;
mod inventory_json;
mod outcome;
mod reconcile;
mod render;
pub mod spec;
pub(crate) mod state;
mod target_dir;
mod workspace;
mod yaml_check;

pub use agent::{Agent, LogSink};
pub use outcome::agent_holder;
pub use reconcile::{EnvRuntime, FetchOutcome, PassOutcome, fetch_source, reconcile_env};
pub use state::AgentLock;
pub use workspace::Workspace;

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::{Backend, BackendError, BackendInfo, DiffBase, Reconciler, Update};
use crate::config::{Settings, wildcard_match};
use crate::diff::mask::mask_secrets;
use crate::model::{
    Action, ActionKind, AuditRecord, AuditResult, BackendKind, Capabilities, Change, Comparison,
    Event, HistoryEntry, ObjectDiff, Outcome, Permission, Revision, Severity, Snapshot,
};
use reconcile::render_revision;
use spec::EnvSpec;
use state::{Intent, JournalEntry, Pin, SyncRequest, append_journal, read_journal};

/// How often `watch` looks at the state files.
const WATCH_POLL: Duration = Duration::from_millis(300);
/// The most commits `history` lists, and the most journal entries `events` lists.
pub const HISTORY_LIMIT: usize = 200;
pub const EVENTS_LIMIT: usize = 200;

/// The local backend over one workspace. Reads state files, writes operator intent; when no agent runs,
/// an action is carried out at once in this process.
pub struct LocalBackend {
    /// The workspace in force: replaced when the workspace file changes and is valid.
    ws: RwLock<Arc<Workspace>>,
    /// The workspace file's bytes last read, and its error when they did not load.
    spec_seen: Mutex<(Option<Vec<u8>>, Option<String>)>,
    protected: Vec<String>,
    /// The context name: the settings' `[workspaces."PATH"] name`, else the directory's name.
    context: String,
}

impl LocalBackend {
    pub fn open(dir: &Path, settings: &Settings) -> Result<Self, spec::SpecError> {
        Ok(Self::new(Workspace::load(dir)?, settings))
    }

    pub fn new(ws: Workspace, settings: &Settings) -> Self {
        let seen = std::fs::read(&ws.spec.file).ok();
        let context = settings
            .workspace_name(&ws.spec.dir)
            .unwrap_or_else(|| ws.spec.name());
        Self {
            ws: RwLock::new(Arc::new(ws)),
            spec_seen: Mutex::new((seen, None)),
            protected: settings.protected.clone(),
            context,
        }
    }

    /// The context name of this workspace.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The id of an environment or source of this workspace: `local/<context>/<name>`.
    fn id(&self, name: &str) -> String {
        format!("local/{}/{name}", self.context)
    }

    /// The environment or source name an id (`local/<context>/prod`, `local/prod`, `prod`) names.
    fn name_in<'a>(&self, id: &'a str) -> &'a str {
        let prefix = format!("local/{}/", self.context);
        id.strip_prefix(prefix.as_str())
            .or_else(|| id.strip_prefix("local/"))
            .unwrap_or(id)
    }

    /// The id of a unit as the journal names it (`local/prod`, workspace-relative), as this backend does.
    fn journal_id(&self, journal_unit: &str) -> String {
        self.id(journal_unit.strip_prefix("local/").unwrap_or(journal_unit))
    }

    /// The workspace in force now.
    pub fn workspace(&self) -> Arc<Workspace> {
        match self.ws.read() {
            Ok(ws) => ws.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rereads the workspace file when it changed: a valid one replaces the workspace in force, an invalid
    /// one is kept as the error units show until it is fixed.
    fn reread_spec(&self) {
        let ws = self.workspace();
        let bytes = std::fs::read(&ws.spec.file).ok();
        let mut seen = match self.spec_seen.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.0 == bytes {
            return;
        }
        seen.0 = bytes;
        match Workspace::load(&ws.spec.file) {
            Ok(new) => {
                seen.1 = None;
                let mut slot = match self.ws.write() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                *slot = Arc::new(new);
            }
            Err(e) => seen.1 = Some(e.to_string()),
        }
    }

    /// Every user's operator actions on this workspace, from its journal, newest first, as audit records.
    pub fn operator_actions(&self, limit: usize) -> Result<Vec<AuditRecord>, String> {
        let ws = self.workspace();
        let entries = read_journal(&ws.state.journal(), |e| e.kind == "action", limit)?;
        let context = self.context.clone();
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let action = e.action?;
                let (user, host) = match e.by.as_deref().and_then(|b| b.rsplit_once('@')) {
                    Some((u, h)) => (u.to_owned(), h.to_owned()),
                    None => (
                        e.by.clone().unwrap_or_else(|| "unknown".into()),
                        String::new(),
                    ),
                };
                let options = (action == ActionKind::Sync && e.message.starts_with("fetch and"))
                    .then(|| "withSource".to_owned());
                Some(AuditRecord {
                    time: e.time,
                    user,
                    host,
                    backend: BackendKind::Local.to_string(),
                    context: context.clone(),
                    workspace: Some(ws.spec.dir.clone()),
                    unit: e.unit.map(|u| self.journal_id(&u)).unwrap_or_default(),
                    action,
                    reason: e.reason.filter(|r| !r.is_empty()),
                    read_only: false,
                    result: AuditResult::Ok,
                    detail: e.message,
                    revision: e.revision,
                    options,
                    origin: Some("workspace journal".into()),
                })
            })
            .collect())
    }

    fn env(&self, unit: &str) -> Result<EnvSpec, BackendError> {
        let name = self.name_in(unit);
        self.workspace()
            .spec
            .environment(name)
            .cloned()
            .ok_or_else(|| {
                BackendError::NotFound(format!(
                    "no environment `{unit}` in {}",
                    self.workspace().spec.file.display()
                ))
            })
    }

    fn snapshot_now(&self) -> Snapshot {
        let ws = self.workspace();
        let mut snap = ws.snapshot();
        for s in &mut snap.sources {
            let s = Arc::make_mut(s);
            s.id = self.id(&s.name);
            s.context = self.context.clone();
            s.workspace = Some(ws.spec.dir.clone());
        }
        let error = match self.spec_seen.lock() {
            Ok(g) => g.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        };
        for u in &mut snap.units {
            let u = Arc::make_mut(u);
            // Patterns written for the ids before contexts (`local/prod`) still protect.
            let old_id = u.id.clone();
            u.id = self.id(&u.name);
            u.context = self.context.clone();
            u.workspace = Some(ws.spec.dir.clone());
            u.protected |= self
                .protected
                .iter()
                .any(|p| wildcard_match(p, &u.id) || wildcard_match(p, &old_id));
            if let Some(e) = error
                .as_ref()
                .filter(|_| !u.status.message.contains("workspace file not applied"))
            {
                u.status.message = format!(
                    "{}; workspace file not applied, showing its last good version: {e}",
                    u.status.message
                );
            }
        }
        snap
    }

    fn capabilities_of(&self, env: &EnvSpec) -> Capabilities {
        let deny = |r: String| Permission::Denied { reason: r };
        let control = match self.workspace().try_control(&env.name) {
            Ok(c) => c,
            Err(e) => {
                // Acting on a corrupt control file would replace whatever intent it held.
                let why = format!("{e}; fix or remove the file first");
                return Capabilities {
                    suspend: deny(why.clone()),
                    resume: deny(why.clone()),
                    sync: deny(why.clone()),
                    rollback: deny(why),
                    terminate: Permission::argo_only(ActionKind::Terminate),
                    refresh: Permission::argo_only(ActionKind::Refresh),
                };
            }
        };
        let suspended = Workspace::suspension(env, &control);
        Capabilities {
            suspend: match &control.suspend {
                Some(_) => deny("already suspended".into()),
                None if env.suspend => deny(format!("suspended in {}", spec::FILE_NAME)),
                None => Permission::Allowed,
            },
            resume: if control.suspend.is_some() || control.pin.is_some() {
                Permission::Allowed
            } else if env.suspend {
                deny(format!(
                    "suspended by `suspend: true` in {}; edit the file to resume",
                    spec::FILE_NAME
                ))
            } else {
                deny("not suspended or pinned".into())
            },
            sync: match suspended {
                Some(_) => deny("suspended: resume it first".into()),
                None => Permission::Allowed,
            },
            rollback: Permission::Allowed,
            terminate: Permission::argo_only(ActionKind::Terminate),
            refresh: Permission::argo_only(ActionKind::Refresh),
        }
    }

    fn act_blocking(
        ws: &Workspace,
        env: &EnvSpec,
        action: &Action,
        caps: &Capabilities,
    ) -> Result<Outcome, BackendError> {
        if let Some(reason) = caps.get(action.kind()).denial() {
            return Err(BackendError::Denied(format!(
                "cannot {} {}: {reason}",
                action.kind(),
                env.name
            )));
        }
        let (user, host) = crate::audit::who();
        let intent = |reason: &str| Intent {
            by: format!("{user}@{host}"),
            at: Timestamp::now(),
            reason: reason.to_owned(),
        };
        let asked = intent("");
        let asked_at = asked.at;
        // Resolve a rollback's commit first: the control file is locked only for the change itself.
        let pin = match action {
            Action::Rollback {
                suspend_parent: true,
                ..
            } => {
                return Err(BackendError::Invalid(
                    "--suspend-parent: a local environment has no parent that applies its source"
                        .into(),
                ));
            }
            Action::Rollback { to, reason, .. } => {
                let mirror = ws.mirror(&env.source);
                let id = mirror
                    .resolve_commit(to.sha())
                    .map_err(|e| BackendError::NotFound(e.0))?;
                let revision = Revision::new(None, &id.to_string())
                    .map_err(|e| BackendError::Invalid(e.to_string()))?;
                Some(Pin {
                    revision,
                    intent: intent(reason),
                })
            }
            _ => None,
        };
        let change = |control: &mut state::Control| match action {
            Action::Suspend { reason } => {
                control.suspend = Some(intent(reason));
                format!("suspended: apply and repair stopped ({reason})")
            }
            Action::Resume => {
                let was_pinned = control
                    .pin
                    .take()
                    .map(|p| p.revision.short_sha().to_owned());
                control.suspend = None;
                // A resume asks for a pass now; the agent marks the request handled when it ran it.
                control.sync = Some(SyncRequest {
                    with_source: false,
                    intent: asked.clone(),
                });
                match was_pinned {
                    Some(p) => format!("resumed: pin at {p} released, following the source again"),
                    None => "resumed".into(),
                }
            }
            Action::Sync { with_source } => {
                control.sync = Some(SyncRequest {
                    with_source: *with_source,
                    intent: asked.clone(),
                });
                let what = if *with_source {
                    "fetch and reconcile requested"
                } else {
                    "reconcile requested"
                };
                what.to_owned()
            }
            Action::Rollback { reason, .. } => {
                let short = pin
                    .as_ref()
                    .map(|p| p.revision.short_sha().to_owned())
                    .unwrap_or_default();
                control.pin = pin.clone();
                control.sync = Some(SyncRequest {
                    with_source: false,
                    intent: asked.clone(),
                });
                format!("pinned at {short} until resumed ({reason})")
            }
            // refused by the capabilities above (Argo CD actions)
            Action::Terminate | Action::Refresh { .. } => String::new(),
        };
        let message = ws
            .update_control(&env.name, change)
            .map_err(BackendError::Failed)?;
        let mut j = JournalEntry::new("action", "accepted", message.clone());
        j.unit = Some(workspace::unit_id(&env.name));
        j.action = Some(action.kind());
        j.reason = action.reason().map(str::to_owned);
        j.by = Some(format!("{user}@{host}"));
        if let Action::Rollback { to, .. } = action {
            j.revision = Some(to.clone());
        }
        append_journal(&ws.state.journal(), &j).map_err(BackendError::Failed)?;
        let message = outcome::carry_out(ws, env, action, asked_at, &message)
            .map_err(BackendError::Failed)?;
        Ok(Outcome {
            unit: workspace::unit_id(&env.name),
            action: action.kind(),
            message,
        })
    }

    fn diff_blocking(ws: &Workspace, env: &EnvSpec) -> Result<Vec<ObjectDiff>, BackendError> {
        let st = ws.env_state(&env.name);
        let wanted = ws.target_revision(env).or(st.applied.clone());
        let Some(wanted) = wanted else {
            return Err(BackendError::Failed(format!(
                "{}: nothing fetched yet; start the agent first",
                env.name
            )));
        };
        let (desired, note) = match render_revision(ws, env, &wanted) {
            Ok(r) => (r, None),
            Err(e) => match st.applied.as_ref().filter(|a| !a.same_commit(&wanted)) {
                Some(applied) => {
                    let r = render_revision(ws, env, applied).map_err(BackendError::Failed)?;
                    (
                        r,
                        Some(format!(
                            "{} {} ({e}); showing the applied {}",
                            wanted.short(),
                            crate::model::NOT_RENDERED,
                            applied.short()
                        )),
                    )
                }
                None => return Err(BackendError::Failed(e)),
            },
        };
        Self::live_against(ws, env, &desired, note)
    }

    /// Live files against a render: what applying it would change.
    fn live_against(
        ws: &Workspace,
        env: &EnvSpec,
        desired: &render::Rendered,
        note: Option<String>,
    ) -> Result<Vec<ObjectDiff>, BackendError> {
        let inventory = ws.inventory(&env.name).map_err(BackendError::Failed)?;
        let mut out = Vec::new();
        for (rel, file) in desired {
            let live = apply::read_live(&env.target, rel);
            let change = match &live {
                None => Change::Added,
                Some(b) if *b == file.content => Change::Unchanged,
                Some(_) => Change::Modified,
            };
            out.push(object_diff(
                rel,
                change,
                Some(&file.content),
                live.as_deref(),
                note.clone(),
            ));
        }
        if env.prune {
            for rel in inventory.files.keys().filter(|k| !desired.contains_key(*k)) {
                if let Some(live) = apply::read_live(&env.target, rel) {
                    out.push(object_diff(
                        rel,
                        Change::Removed,
                        None,
                        Some(&live),
                        note.clone(),
                    ));
                }
            }
        }
        out.sort_by(|a, b| {
            (a.change == Change::Unchanged, &a.object)
                .cmp(&(b.change == Change::Unchanged, &b.object))
        });
        Ok(out)
    }

    /// A commit's render against live (`Live`: what a rollback to it would change) or against its
    /// parent's render (`Parent`: what the commit changed for this environment).
    fn diff_at_blocking(
        ws: &Workspace,
        env: &EnvSpec,
        revision: &Revision,
        base: DiffBase,
    ) -> Result<Vec<ObjectDiff>, BackendError> {
        let rendered = render_revision(ws, env, revision).map_err(BackendError::Failed)?;
        match base {
            DiffBase::Live => Self::live_against(ws, env, &rendered, None),
            DiffBase::Parent => {
                let mirror = ws.mirror(&env.source);
                let id = mirror
                    .resolve_commit(revision.sha())
                    .map_err(|e| BackendError::NotFound(e.0))?;
                let parent = mirror
                    .history(id, 2)
                    .map_err(|e| BackendError::Failed(e.0))?
                    .get(1)
                    .map(|c| c.id.to_string());
                let before = match parent {
                    Some(p) => {
                        let p = Revision::new(None, &p)
                            .map_err(|e| BackendError::Failed(e.to_string()))?;
                        // A parent that does not render counts as empty: everything is new.
                        render_revision(ws, env, &p).unwrap_or_default()
                    }
                    None => Default::default(),
                };
                Ok(renders_between(&rendered, &before, false))
            }
        }
    }

    fn history_blocking(ws: &Workspace, env: &EnvSpec) -> Result<Vec<HistoryEntry>, BackendError> {
        let src_spec = ws
            .spec
            .source(&env.source)
            .ok_or_else(|| BackendError::NotFound(env.source.clone()))?;
        let mirror = ws.mirror(&env.source);
        if !mirror.exists() {
            return Err(BackendError::Failed(format!(
                "source {} has not been fetched yet",
                env.source
            )));
        }
        let latest = mirror
            .resolve(&src_spec.reference)
            .map_err(|e| BackendError::Failed(e.0))?;
        let st = ws.env_state(&env.name);
        let pin = ws.control(&env.name).pin.map(|p| p.revision);
        let commits = mirror
            .history(latest, HISTORY_LIMIT)
            .map_err(|e| BackendError::Failed(e.0))?;
        let name = src_spec.reference.name();
        let same =
            |r: &Option<Revision>, sha: &str| r.as_ref().is_some_and(|r| sha.starts_with(r.sha()));
        commits
            .into_iter()
            .map(|c| {
                let sha = c.id.to_string();
                Ok(HistoryEntry {
                    revision: Revision::new(name, &sha)
                        .map_err(|e| BackendError::Failed(e.to_string()))?,
                    author: c.author,
                    time: Timestamp::from_second(c.time).unwrap_or(Timestamp::UNIX_EPOCH),
                    summary: c.summary,
                    applied: same(&st.applied, &sha),
                    last_good: same(&st.last_good, &sha),
                    failed: st.failed.contains(&sha),
                    pinned: same(&pin, &sha),
                })
            })
            .collect()
    }

    fn events_blocking(ws: &Workspace, env: &EnvSpec) -> Result<Vec<Event>, BackendError> {
        let id = workspace::unit_id(&env.name);
        let entries = read_journal(
            &ws.state.journal(),
            |e| {
                e.unit.as_deref() == Some(id.as_str())
                    || (e.kind == "fetch" && e.source.as_deref() == Some(env.source.as_str()))
            },
            EVENTS_LIMIT,
        )
        .map_err(BackendError::Failed)?;
        Ok(entries.into_iter().map(|e| journal_event(&id, e)).collect())
    }

    /// A cheap fingerprint of everything a snapshot is made of.
    fn fingerprint(ws: &Workspace) -> Vec<Option<(u64, SystemTime)>> {
        let stat = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.len(), m.modified().ok()?)))
        };
        let mut out = vec![stat(&ws.spec.file)];
        for e in &ws.spec.environments {
            out.push(stat(&ws.state.env_state(&e.name)));
            out.push(stat(&ws.state.control(&e.name)));
        }
        for s in &ws.spec.sources {
            out.push(stat(&ws.state.source_state(&s.name)));
        }
        out
    }
}

/// One render against another, per file: `new` on the desired side, `old` on the live side; differing
/// files first, then by path. Files that are the same in both are listed only when `keep_unchanged`.
fn renders_between(
    new: &render::Rendered,
    old: &render::Rendered,
    keep_unchanged: bool,
) -> Vec<ObjectDiff> {
    let mut out: Vec<ObjectDiff> = Vec::new();
    for (rel, file) in new {
        let before = old.get(rel).map(|f| f.content.as_slice());
        let change = match before {
            None => Change::Added,
            Some(b) if b == file.content.as_slice() && !keep_unchanged => continue,
            Some(b) if b == file.content.as_slice() => Change::Unchanged,
            Some(_) => Change::Modified,
        };
        out.push(object_diff(rel, change, Some(&file.content), before, None));
    }
    for (rel, file) in old.iter().filter(|(k, _)| !new.contains_key(*k)) {
        out.push(object_diff(
            rel,
            Change::Removed,
            None,
            Some(&file.content),
            None,
        ));
    }
    out.sort_by(|a, b| {
        (a.change == Change::Unchanged, &a.object).cmp(&(b.change == Change::Unchanged, &b.object))
    });
    out
}

/// Who holds the workspace's agent lock: this process, another one, or nobody.
fn reconciler_of(ws: &Workspace) -> Reconciler {
    match agent_holder(ws) {
        None => Reconciler::None,
        Some(holder) if holder.starts_with(&format!("pid {} ", std::process::id())) => {
            Reconciler::Embedded
        }
        Some(holder) => Reconciler::Process(holder),
    }
}

fn object_diff(
    rel: &str,
    change: Change,
    desired: Option<&[u8]>,
    live: Option<&[u8]>,
    note: Option<String>,
) -> ObjectDiff {
    let text = |b: &[u8]| -> Option<String> {
        if b.contains(&0) {
            return None;
        }
        String::from_utf8(b.to_vec()).ok()
    };
    let binary =
        desired.is_some_and(|b| text(b).is_none()) || live.is_some_and(|b| text(b).is_none());
    let mut masked = false;
    let mut side = |b: Option<&[u8]>| {
        b.and_then(text).map(|t| {
            let (t, m) = mask_secrets(&t);
            masked |= m;
            t
        })
    };
    let (desired_text, live_text) = (side(desired), side(live));
    let note = match (binary, note) {
        (true, Some(n)) => Some(format!("binary content; {n}")),
        (true, None) => Some("binary content is not shown".into()),
        (false, n) => n,
    };
    ObjectDiff {
        object: rel.to_owned(),
        change,
        desired: desired_text,
        live: live_text,
        masked,
        note,
    }
}

fn journal_event(unit: &str, e: JournalEntry) -> Event {
    let severity = match e.outcome.as_str() {
        "failed" => Severity::Error,
        "waiting" | "interrupted" => Severity::Warning,
        _ if e.message.contains("drifted") => Severity::Warning,
        _ => Severity::Info,
    };
    let reason = match (e.kind.as_str(), e.outcome.as_str()) {
        ("fetch", "failed") => "FetchFailed".to_owned(),
        ("fetch", _) => "Fetched".to_owned(),
        ("action", _) => e
            .action
            .map(|a| format!("Operator{}", capitalize(a.as_str())))
            .unwrap_or_else(|| "Operator".into()),
        ("reconcile", "unchanged") => "InSync".into(),
        ("reconcile", "failed") => "ReconcileFailed".into(),
        ("status", _) => crate::model::STATUS_CHANGED.into(),
        (_, other) => capitalize(other),
    };
    let message = match (&e.by, &e.duration_ms) {
        (Some(by), _) => format!("{} (by {by})", e.message),
        (None, Some(ms)) => format!("{} ({ms} ms)", e.message),
        _ => e.message,
    };
    Event {
        time: e.time,
        unit: unit.to_owned(),
        severity,
        reason,
        message,
        revision: e.revision,
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Runs blocking workspace code on a worker thread.
async fn blocking<T: Send + 'static>(
    ws: &Arc<Workspace>,
    f: impl FnOnce(&Workspace) -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    let ws = ws.clone();
    tokio::task::spawn_blocking(move || f(&ws))
        .await
        .map_err(|e| BackendError::Failed(format!("worker failed: {e}")))?
}

#[async_trait]
impl Backend for LocalBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Local,
            context: self.context.clone(),
            read_only: false,
            workspace: Some(self.workspace().spec.dir.clone()),
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        Ok(self.snapshot_now())
    }

    async fn watch(&self, tx: mpsc::Sender<Update>) -> Result<(), BackendError> {
        let mut last = None;
        let mut last_reconciler = None;
        loop {
            self.reread_spec();
            let ws = self.workspace();
            let reconciler = reconciler_of(&ws);
            if last_reconciler.as_ref() != Some(&reconciler) {
                if tx
                    .send(Update::Reconciler(reconciler.clone()))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                last_reconciler = Some(reconciler);
            }
            let fp = Self::fingerprint(&ws);
            if last.as_ref() != Some(&fp) {
                let update = if self.workspace().state.root().exists() || last.is_none() {
                    Update::Snapshot(self.snapshot_now())
                } else {
                    Update::Unavailable(format!(
                        "{} disappeared",
                        self.workspace().state.root().display()
                    ))
                };
                if tx.send(update).await.is_err() {
                    return Ok(());
                }
                last = Some(fp);
            }
            tokio::select! {
                _ = tokio::time::sleep(WATCH_POLL) => {}
                _ = tx.closed() => return Ok(()),
            }
        }
    }

    async fn diff(&self, unit: &str) -> Result<Vec<ObjectDiff>, BackendError> {
        let env = self.env(unit)?;
        blocking(&self.workspace(), move |ws| Self::diff_blocking(ws, &env)).await
    }

    async fn history(&self, unit: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        let env = self.env(unit)?;
        blocking(&self.workspace(), move |ws| {
            Self::history_blocking(ws, &env)
        })
        .await
    }

    async fn events(&self, unit: &str) -> Result<Vec<Event>, BackendError> {
        let env = self.env(unit)?;
        let id = self.id(&env.name);
        let mut events =
            blocking(&self.workspace(), move |ws| Self::events_blocking(ws, &env)).await?;
        for e in &mut events {
            e.unit = id.clone();
        }
        Ok(events)
    }

    async fn capabilities(&self, unit: &str) -> Result<Capabilities, BackendError> {
        let env = self.env(unit)?;
        Ok(self.capabilities_of(&env))
    }

    async fn diff_at(
        &self,
        unit: &str,
        revision: &Revision,
        base: DiffBase,
    ) -> Result<Vec<ObjectDiff>, BackendError> {
        let env = self.env(unit)?;
        let revision = revision.clone();
        blocking(&self.workspace(), move |ws| {
            Self::diff_at_blocking(ws, &env, &revision, base)
        })
        .await
    }

    async fn compare(&self, a: &str, b: &str) -> Result<Comparison, BackendError> {
        let (a, b) = (self.env(a)?, self.env(b)?);
        let (id_a, id_b) = (self.id(&a.name), self.id(&b.name));
        let mut c = blocking(&self.workspace(), move |ws| {
            Ok(compare::compare_blocking(ws, &a, &b))
        })
        .await?;
        c.a.unit = id_a;
        c.b.unit = id_b;
        Ok(c)
    }

    async fn fetch(&self, source: &str) -> Result<String, BackendError> {
        let name = self.name_in(source).to_owned();
        let ws = self.workspace();
        if ws.spec.source(&name).is_none() {
            return Err(BackendError::NotFound(format!(
                "no source `{name}` in {}",
                ws.spec.file.display()
            )));
        }
        blocking(&self.workspace(), move |ws| {
            outcome::fetch_now(ws, &name).map_err(BackendError::Failed)
        })
        .await
    }

    async fn act(&self, unit: &str, action: &Action) -> Result<Outcome, BackendError> {
        let env = self.env(unit)?;
        let caps = self.capabilities_of(&env);
        let action = action.clone();
        let id = self.id(&env.name);
        let outcome = blocking(&self.workspace(), move |ws| {
            Self::act_blocking(ws, &env, &action, &caps)
        })
        .await?;
        Ok(Outcome {
            unit: id,
            ..outcome
        })
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod fetch_tests;
