//! Argo CD Applications as setpoint units. Pure: an Application (as the API server returns it) in, a [`Unit`]
//! and its [`Source`]s out. The status table (also in the README, "Argo CD"), first match wins:
//!
//! | Application                                                      | setpoint      |
//! |------------------------------------------------------------------|---------------|
//! | suspended by setpoint (annotation `setpoint.dev/suspended-by`)    | suspended     |
//! | operationState.phase Running / Terminating                        | progressing   |
//! | operationState.phase Failed / Error                               | failed (its message) |
//! | a condition `*Error` (ComparisonError, InvalidSpecError, ...)     | failed (its message) |
//! | health Degraded                                                   | failed        |
//! | health Missing / Progressing                                      | progressing   |
//! | health Suspended (a paused resource)                              | suspended     |
//! | sync Unknown or health Unknown / absent                           | unknown       |
//! | sync OutOfSync, auto-sync on                                      | progressing   |
//! | sync OutOfSync, auto-sync off (drift nobody will apply)           | ready, drifted objects listed |
//! | sync Synced, health Healthy                                       | ready         |
//!
//! Revisions: applied = the newest `status.history` entry (what a sync deployed; `status.sync.revision` while
//! Synced when there is no history), latest = `status.sync.revision` (what targetRevision resolves to now),
//! attempted = the last operation's revision. Multi-source apps: the unit carries the first source's
//! revisions; each source is listed with its own (`status.sync.revisions[i]`).

use std::sync::Arc;

use jiff::Timestamp;
use kube::api::DynamicObject;
use serde_json::Value;

use crate::model::{
    BackendKind, HistoryEntry, Revision, Snapshot, Source, Status, StatusKind, Unit,
};

pub const KIND: &str = "Application";
pub use crate::backend::flux::map::annotation;
use crate::backend::flux::map::{str_at, time_at};
// who suspended it, why and when: the same annotations as on Flux objects
pub use crate::backend::flux::map::{PIN_REASON, SUSPEND_REASON, SUSPENDED_AT, SUSPENDED_BY};
/// The `spec.syncPolicy.automated` that suspend removed (JSON), restored by resume.
pub const SAVED_AUTOMATED: &str = "setpoint.dev/saved-automated";
/// The revision a rollback synced to, held (auto-sync off) until resume.
pub const PINNED_AT_REVISION: &str = "setpoint.dev/pinned-revision";

/// `argo/<context>/<namespace>/Application/<name>`.
pub fn unit_id(context: &str, namespace: &str, name: &str) -> String {
    format!("argo/{context}/{namespace}/{KIND}/{name}")
}

/// The (namespace, name) an id of `context` names, or `None`. The context may contain `/`.
pub fn parse_id<'a>(context: &str, id: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = id
        .strip_prefix("argo/")?
        .strip_prefix(context)?
        .strip_prefix('/')?;
    let mut parts = rest.splitn(3, '/');
    let (ns, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
    (kind == KIND && !ns.is_empty() && !name.is_empty() && !name.contains('/'))
        .then_some((ns, name))
}

/// Whether auto-sync is on: `spec.syncPolicy.automated` is set and not `enabled: false` (Argo CD 3.1+).
pub fn auto_sync(obj: &DynamicObject) -> bool {
    match obj.data.pointer("/spec/syncPolicy/automated") {
        Some(Value::Object(a)) => a.get("enabled").and_then(Value::as_bool) != Some(false),
        _ => false,
    }
}

pub fn is_suspended(obj: &DynamicObject) -> bool {
    annotation(obj, SUSPENDED_BY).is_some()
}

/// The phase of the last (or running) operation.
pub fn operation_phase(obj: &DynamicObject) -> Option<&str> {
    str_at(&obj.data, "/status/operationState/phase")
}

/// Whether an operation is requested or running (the API server refuses a new sync then).
pub fn operation_in_progress(obj: &DynamicObject) -> bool {
    obj.data.get("operation").is_some_and(|o| !o.is_null())
        || matches!(operation_phase(obj), Some("Running" | "Terminating"))
}

/// The ApplicationSet that owns the Application (`ApplicationSet <namespace>/<name>`), which regenerates its
/// spec: edits such as a syncPolicy toggle are reverted unless the set ignores them.
pub fn application_set(obj: &DynamicObject) -> Option<String> {
    let owner = obj
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.kind == "ApplicationSet")?;
    Some(format!(
        "ApplicationSet {}/{}",
        obj.metadata.namespace.as_deref().unwrap_or_default(),
        owner.name
    ))
}

/// Each source: (repoURL, targetRevision, path or chart), `spec.sources` or else `spec.source`.
pub fn sources(obj: &DynamicObject) -> Vec<(String, String, String)> {
    let one = |s: &Value| {
        (
            str_at(s, "/repoURL").unwrap_or_default().to_owned(),
            str_at(s, "/targetRevision").unwrap_or("HEAD").to_owned(),
            str_at(s, "/path")
                .or_else(|| str_at(s, "/chart"))
                .unwrap_or_default()
                .to_owned(),
        )
    };
    match obj.data.pointer("/spec/sources").and_then(Value::as_array) {
        Some(many) if !many.is_empty() => many.iter().map(one).collect(),
        _ => obj
            .data
            .pointer("/spec/source")
            .map(one)
            .into_iter()
            .collect(),
    }
}

fn revision(reference: Option<&str>, sha: Option<&str>) -> Option<Revision> {
    let sha = sha?;
    Revision::new(reference, sha)
        .or_else(|_| Revision::new(None, sha))
        .ok()
}

/// The newest history entry's revision (first source's for multi-source).
fn history_revision(obj: &DynamicObject) -> Option<&str> {
    let last = obj
        .data
        .pointer("/status/history")
        .and_then(Value::as_array)?
        .last()?;
    str_at(last, "/revision").or_else(|| str_at(last, "/revisions/0"))
}

fn sync_revision(obj: &DynamicObject) -> Option<&str> {
    str_at(&obj.data, "/status/sync/revision")
        .or_else(|| str_at(&obj.data, "/status/sync/revisions/0"))
}

/// The status, by the table at the top of this file.
pub fn status(obj: &DynamicObject) -> Status {
    let d = &obj.data;
    let since = time_at(d, "/status/operationState/finishedAt")
        .or_else(|| time_at(d, "/status/reconciledAt"))
        .or_else(|| obj.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let sync = str_at(d, "/status/sync/status");
    let health = str_at(d, "/status/health/status");
    let health_msg = str_at(d, "/status/health/message").unwrap_or_default();
    let op_msg = str_at(d, "/status/operationState/message").unwrap_or_default();
    let with = |what: String, msg: &str| {
        if msg.is_empty() {
            what
        } else {
            format!("{what}: {msg}")
        }
    };
    if is_suspended(obj) {
        let why = annotation(obj, SUSPEND_REASON).unwrap_or_default();
        return Status::new(
            StatusKind::Suspended,
            with("auto-sync off (setpoint)".into(), why),
            since,
        );
    }
    match operation_phase(obj) {
        Some(p @ ("Running" | "Terminating")) => {
            let since = time_at(d, "/status/operationState/startedAt").unwrap_or(since);
            return Status::new(
                StatusKind::Progressing,
                with(format!("sync {p}"), op_msg),
                since,
            );
        }
        Some(p @ ("Failed" | "Error")) => {
            return Status::new(StatusKind::Failed, with(format!("sync {p}"), op_msg), since);
        }
        _ => {}
    }
    if let Some(c) = error_condition(obj) {
        return Status::new(StatusKind::Failed, c, since);
    }
    let sync_s = sync.unwrap_or("Unknown");
    let health_s = health.unwrap_or("Unknown");
    let both = format!("{sync_s}, {health_s}");
    let (kind, msg) = match (sync_s, health_s) {
        (_, "Degraded") => (StatusKind::Failed, with(both, health_msg)),
        (_, "Missing" | "Progressing") => (StatusKind::Progressing, with(both, health_msg)),
        (_, "Suspended") => (StatusKind::Suspended, with(both, health_msg)),
        ("Unknown", _) | (_, "Unknown") => (StatusKind::Unknown, both),
        ("OutOfSync", _) if auto_sync(obj) => {
            (StatusKind::Progressing, format!("{both}; auto-sync on"))
        }
        ("OutOfSync", _) => (
            StatusKind::Ready,
            format!("{both}; auto-sync off, not applied"),
        ),
        _ => (StatusKind::Ready, both),
    };
    Status::new(kind, msg, since)
}

/// The first condition whose type ends in `Error` (`ComparisonError`, `InvalidSpecError`, `SyncError`...).
pub fn error_condition(obj: &DynamicObject) -> Option<String> {
    obj.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|c| {
            let t = str_at(c, "/type")?;
            t.ends_with("Error")
                .then(|| format!("{t}: {}", str_at(c, "/message").unwrap_or_default()))
        })
}

/// The objects Argo CD reports OutOfSync (`status.resources`), as `Kind namespace/name`.
fn out_of_sync(obj: &DynamicObject) -> Vec<String> {
    let Some(res) = obj
        .data
        .pointer("/status/resources")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    res.iter()
        .filter(|r| str_at(r, "/status") == Some("OutOfSync"))
        .map(|r| {
            let ns = str_at(r, "/namespace")
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            format!(
                "{} {ns}{}",
                str_at(r, "/kind").unwrap_or_default(),
                str_at(r, "/name").unwrap_or_default()
            )
        })
        .collect()
}

/// The API server URL of the cluster Argo CD runs in, which Argo CD calls `in-cluster`.
const IN_CLUSTER_URL: &str = "https://kubernetes.default.svc";

pub fn unit(context: &str, obj: &DynamicObject) -> Unit {
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    let srcs = sources(obj);
    let target = srcs.first().map(|s| s.1.as_str());
    let synced = str_at(&obj.data, "/status/sync/status") == Some("Synced");
    let applied_sha = history_revision(obj).or_else(|| sync_revision(obj).filter(|_| synced));
    let applied = revision(target, applied_sha);
    let latest = revision(target, sync_revision(obj));
    let attempted = revision(
        target,
        str_at(&obj.data, "/status/operationState/syncResult/revision")
            .or_else(|| str_at(&obj.data, "/status/operationState/operation/sync/revision")),
    );
    let commits_behind = match (&applied, &latest) {
        (Some(a), Some(l)) if a.same_commit(l) => Some(0),
        _ => None,
    };
    let suspended = is_suspended(obj);
    let dest_ns = str_at(&obj.data, "/spec/destination/namespace").unwrap_or_default();
    // the name Argo CD itself gives the cluster it runs in, instead of a URL cut to its prefix in a column
    let dest = str_at(&obj.data, "/spec/destination/name")
        .or_else(|| {
            str_at(&obj.data, "/spec/destination/server")
                .map(|s| if s == IN_CLUSTER_URL { "in-cluster" } else { s })
        })
        .unwrap_or_default();
    Unit {
        id: unit_id(context, ns, name),
        name: name.to_owned(),
        backend: BackendKind::Argo,
        context: context.to_owned(),
        workspace: None,
        kind: KIND.to_owned(),
        environment: format!("{dest}/{dest_ns}"),
        source: srcs.first().map(|s| s.0.clone()).unwrap_or_default(),
        status: status(obj),
        suspended,
        suspend_reason: suspended
            .then(|| annotation(obj, SUSPEND_REASON).map(str::to_owned))
            .flatten(),
        protected: false,
        applied_revision: applied,
        attempted_revision: attempted,
        latest_revision: latest,
        commits_behind,
        commits_behind_unknown: commits_behind
            .is_none()
            .then(|| "the source has not been fetched into a mirror here".to_owned()),
        broken_by: Vec::new(),
        pinned_revision: revision(None, annotation(obj, PINNED_AT_REVISION)),
        drifted_objects: out_of_sync(obj),
        last_reconcile_at: time_at(&obj.data, "/status/reconciledAt"),
        depends_on: Vec::new(),
        parent: application_set(obj),
        sync_window: None,
    }
}

/// The Application's sources, ids `<unit id>/source/<i>`; `u` is the Application as a [`unit`].
fn app_sources(obj: &DynamicObject, u: &Unit) -> Vec<Source> {
    sources(obj)
        .into_iter()
        .enumerate()
        .map(|(i, (url, target, path))| {
            let sha = str_at(&obj.data, &format!("/status/sync/revisions/{i}"))
                .or_else(|| (i == 0).then(|| sync_revision(obj)).flatten());
            Source {
                id: format!("{}/source/{i}", u.id),
                name: if path.is_empty() {
                    url.clone()
                } else {
                    format!("{url} {path}")
                },
                backend: BackendKind::Argo,
                context: u.context.clone(),
                workspace: None,
                url,
                reference: format!("revision:{target}"),
                revision: revision(Some(&target), sha),
                status: source_status(obj, u, sha),
                last_fetch_at: u.last_reconcile_at,
                applied_by: None,
            }
        })
        .collect()
}

/// What Argo CD says of reading a source: failed when it could not generate the manifests
/// (`ComparisonError`: the repository unreachable, the path missing, a file that does not parse), ready with
/// the commit it resolved, unknown before its first comparison. A failed sync or an unhealthy object is the
/// Application's state, not its source's.
fn source_status(obj: &DynamicObject, u: &Unit, sha: Option<&str>) -> Status {
    let since = u.last_reconcile_at.unwrap_or(u.status.since);
    let comparison_error = obj
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| str_at(c, "/type") == Some("ComparisonError"));
    match (comparison_error, sha) {
        (Some(c), _) => Status::new(
            StatusKind::Failed,
            format!(
                "ComparisonError: {}",
                str_at(c, "/message").unwrap_or_default()
            ),
            since,
        ),
        (None, Some(sha)) => Status::new(StatusKind::Ready, format!("resolved {sha}"), since),
        (None, None) => Status::new(StatusKind::Unknown, "not compared yet", since),
    }
}

pub fn snapshot(
    context: &str,
    apps: impl IntoIterator<Item = impl std::borrow::Borrow<DynamicObject>>,
) -> Snapshot {
    assemble(apps.into_iter().map(|app| mapped(context, app.borrow())))
}

/// One Application as the snapshot shows it: its unit and its sources. Applications are mapped each on its
/// own (nothing of one depends on another), so the watch maps each as it arrives and keeps only this.
pub type Mapped = (Arc<Unit>, Vec<Arc<Source>>);

pub fn mapped(context: &str, app: &DynamicObject) -> Mapped {
    let u = unit(context, app);
    let mapped = app_sources(app, &u);
    // not collected in place: that would keep the `Source`-sized buffer for a few pointers
    let mut sources = Vec::with_capacity(mapped.len());
    sources.extend(mapped.into_iter().map(Arc::new));
    (Arc::new(u), sources)
}

/// The snapshot of mapped Applications, sorted.
pub fn assemble(apps: impl IntoIterator<Item = Mapped>) -> Snapshot {
    let mut snap = Snapshot::default();
    for (u, sources) in apps {
        snap.sources.extend(sources);
        snap.units.push(u);
    }
    snap.sort();
    snap.sources.sort_by(|a, b| a.id.cmp(&b.id));
    snap
}

/// `status.history`, newest first: what each successful sync deployed, and who started it.
pub fn history(obj: &DynamicObject) -> Vec<HistoryEntry> {
    let applied = history_revision(obj).map(str::to_owned);
    let pinned = annotation(obj, PINNED_AT_REVISION);
    let Some(h) = obj
        .data
        .pointer("/status/history")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let n = h.len();
    h.iter()
        .enumerate()
        .rev()
        .filter_map(|(i, e)| {
            let sha = str_at(e, "/revision").or_else(|| str_at(e, "/revisions/0"))?;
            let rev = Revision::new(None, sha).ok()?;
            let who = if e.pointer("/initiatedBy/automated").and_then(Value::as_bool) == Some(true)
            {
                "auto-sync".to_owned()
            } else {
                str_at(e, "/initiatedBy/username")
                    .unwrap_or("unknown")
                    .to_owned()
            };
            Some(HistoryEntry {
                revision: rev,
                author: who,
                time: time_at(e, "/deployedAt").unwrap_or(Timestamp::UNIX_EPOCH),
                summary: format!(
                    "deployment {} (history id {})",
                    i + 1,
                    e.get("id").map(Value::to_string).unwrap_or_default()
                ),
                applied: i + 1 == n && applied.as_deref() == Some(sha),
                last_good: i + 1 == n,
                failed: false,
                pinned: pinned == Some(sha),
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
