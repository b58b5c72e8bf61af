//! Flux objects → setpoint's units and sources. Pure: objects in, model out; no I/O.
//!
//! # Status mapping
//!
//! The same for units (Kustomization, HelmRelease) and sources (GitRepository, OCIRepository, HelmRepository,
//! HelmChart, Bucket); the first row that matches wins. `since` is the deciding condition's
//! `lastTransitionTime` (the object's creation time when there is none).
//!
//! | Flux reports                                             | setpoint      | message                          |
//! |----------------------------------------------------------|---------------|----------------------------------|
//! | `spec.suspend: true`                                     | `suspended`   | who, why, since (setpoint's annotations) |
//! | no `Ready` condition                                     | `unknown`     | not reconciled yet               |
//! | `Stalled=True`                                           | `stalled`     | Stalled's reason and message     |
//! | `Ready=True`, `status.observedGeneration < generation`   | `progressing` | the new generation is not reconciled yet |
//! | `Ready=True`, `Reconciling=True`                         | `progressing` | Reconciling's message            |
//! | `Ready=True`                                             | `ready`       | Ready's message                  |
//! | `Ready=False`, reason `DependencyNotReady`               | `progressing` | waiting for the dependency       |
//! | `Ready=False` (also while `Reconciling=True` with `ProgressingWithRetry`) | `failed` | Ready's reason and message |
//! | `Ready=Unknown`, `Reconciling=True` or reason `Progressing` | `progressing` | Reconciling's or Ready's message |
//! | `Ready=Unknown`                                          | `unknown`     | Ready's message                  |

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use kube::api::DynamicObject;
use serde_json::Value;

use super::ids::{ObjectRef, object_id};
use super::kinds::{self, FluxKind};
use crate::model::{BackendKind, Revision, Snapshot, Source, Status, StatusKind, Unit};

/// Who suspended an object through setpoint (`user@host`).
pub const SUSPENDED_BY: &str = "setpoint.dev/suspended-by";
/// The operator's reason for the suspend.
pub const SUSPEND_REASON: &str = "setpoint.dev/suspend-reason";
/// When it was suspended (RFC 3339).
pub const SUSPENDED_AT: &str = "setpoint.dev/suspended-at";
/// `"true"` marks a unit whose actions need its name typed to confirm.
pub const PROTECTED: &str = "setpoint.dev/protected";
/// On a GitRepository pinned by setpoint's rollback: its `spec.ref` before the pin, as JSON.
pub const PINNED_FROM: &str = "setpoint.dev/pinned-from";
/// Who pinned it, why and when.
pub const PINNED_BY: &str = "setpoint.dev/pinned-by";
pub const PIN_REASON: &str = "setpoint.dev/pin-reason";
pub const PINNED_AT: &str = "setpoint.dev/pinned-at";
/// On a pinned GitRepository: the Kustomization (`<namespace>/<name>`) setpoint suspended with the pin, so
/// that resume releases it too.
pub const SUSPENDED_PARENT: &str = "setpoint.dev/suspended-parent";
/// Flux's reconcile request token.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// A condition of `status.conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub since: Option<Timestamp>,
    /// The generation the condition was written for (Flux sets it on Ready even when a reconcile failed,
    /// while `status.observedGeneration` stays at the last success, or -1).
    pub observed_generation: Option<i64>,
}

impl Condition {
    fn is(&self, status: &str) -> bool {
        self.status == status
    }

    /// `reason: message`, or whichever of them there is.
    fn text(&self) -> String {
        match (self.reason.is_empty(), self.message.is_empty()) {
            (false, false) => format!("{}: {}", self.reason, self.message),
            (true, false) => self.message.clone(),
            (false, true) => self.reason.clone(),
            (true, true) => String::new(),
        }
    }
}

/// The non-empty string at `pointer`.
pub(crate) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The time at `pointer` (RFC 3339).
pub(crate) fn time_at(v: &Value, pointer: &str) -> Option<Timestamp> {
    str_at(v, pointer).and_then(|s| s.parse().ok())
}

/// The condition of type `kind`, if the object has one.
pub fn condition(obj: &DynamicObject, kind: &str) -> Option<Condition> {
    let conds = obj.data.pointer("/status/conditions")?.as_array()?;
    let c = conds
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?;
    let s = |k: &str| str_at(c, &format!("/{k}")).unwrap_or_default().to_owned();
    Some(Condition {
        status: s("status"),
        reason: s("reason"),
        message: s("message"),
        since: time_at(c, "/lastTransitionTime"),
        observed_generation: c.get("observedGeneration").and_then(Value::as_i64),
    })
}

/// The value of annotation `key`.
pub fn annotation<'a>(obj: &'a DynamicObject, key: &str) -> Option<&'a str> {
    obj.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// The commit a source is pinned at by setpoint's rollback (its previous ref remembered in an annotation).
pub fn pin(obj: &DynamicObject) -> Option<Revision> {
    annotation(obj, PINNED_FROM)?;
    str_at(&obj.data, "/spec/ref/commit")?.parse().ok()
}

/// The previous `spec.ref` of a source pinned by setpoint.
pub fn pinned_from(obj: &DynamicObject) -> Option<Value> {
    serde_json::from_str(annotation(obj, PINNED_FROM)?).ok()
}

pub fn is_suspended(obj: &DynamicObject) -> bool {
    obj.data.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
}

fn created(obj: &DynamicObject) -> Timestamp {
    obj.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Why the object is suspended, in the words setpoint's annotations give: `incident 42 (by ann@bastion)`.
fn suspend_reason(obj: &DynamicObject) -> Option<String> {
    let reason = annotation(obj, SUSPEND_REASON);
    let who = annotation(obj, SUSPENDED_BY);
    match (reason, who) {
        (Some(r), Some(w)) => Some(format!("{r} (by {w})")),
        (Some(r), None) => Some(r.to_owned()),
        (None, Some(w)) => Some(format!("by {w}")),
        (None, None) => None,
    }
}

/// The status of any Flux object, by the table in this module's documentation.
pub fn status(obj: &DynamicObject) -> Status {
    let created = created(obj);
    if is_suspended(obj) {
        let since = annotation(obj, SUSPENDED_AT)
            .and_then(|s| s.parse().ok())
            .unwrap_or(created);
        let message = match suspend_reason(obj) {
            Some(r) => format!("suspended: {r}"),
            None => "suspended (spec.suspend is true; not set through setpoint)".to_owned(),
        };
        return Status::new(StatusKind::Suspended, message, since);
    }
    let Some(ready) = condition(obj, "Ready") else {
        return Status::new(StatusKind::Unknown, "not reconciled yet", created);
    };
    let since = ready.since.unwrap_or(created);
    if let Some(stalled) = condition(obj, "Stalled").filter(|c| c.is("True")) {
        let since = stalled.since.unwrap_or(since);
        return Status::new(StatusKind::Stalled, stalled.text(), since);
    }
    let reconciling = condition(obj, "Reconciling").filter(|c| c.is("True"));
    match ready.status.as_str() {
        "True" => {
            let generation = obj.metadata.generation;
            let observed = ready.observed_generation.or_else(|| {
                obj.data
                    .pointer("/status/observedGeneration")
                    .and_then(Value::as_i64)
            });
            if let (Some(g), Some(o)) = (generation, observed)
                && o < g
            {
                return Status::new(
                    StatusKind::Progressing,
                    format!("generation {g} not reconciled yet (last reconciled {o})"),
                    since,
                );
            }
            if let Some(r) = reconciling {
                return Status::new(StatusKind::Progressing, r.message, r.since.unwrap_or(since));
            }
            Status::new(StatusKind::Ready, ready.message, since)
        }
        "False" if ready.reason == "DependencyNotReady" => Status::new(
            StatusKind::Progressing,
            format!("waiting: {}", ready.message),
            since,
        ),
        "False" => Status::new(StatusKind::Failed, ready.text(), since),
        _ if reconciling.is_some() || ready.reason == "Progressing" => {
            let msg = reconciling
                .map(|r| r.message)
                .filter(|m| !m.is_empty())
                .unwrap_or(ready.message);
            Status::new(StatusKind::Progressing, msg, since)
        }
        _ => Status::new(StatusKind::Unknown, ready.text(), since),
    }
}

/// A revision in Flux's git form; other forms (OCI digests, chart versions) are not commits: `None`.
fn revision_at(obj: &DynamicObject, pointer: &str) -> Option<Revision> {
    str_at(&obj.data, pointer).and_then(|s| s.parse().ok())
}

/// The commit a chart version names: source-controller appends the first 12 hex digits of the commit to the
/// version of a chart it packages from a GitRepository with `reconcileStrategy: Revision`
/// (`0.2.0+1a2b3c4d5e6f`, `.<generation>` after it with values files). Other versions name no commit.
pub fn chart_commit(version: &str) -> Option<Revision> {
    let (_, meta) = version.split_once('+')?;
    let hex = meta.split('.').next()?;
    (hex.len() == 12).then(|| hex.parse().ok()).flatten()
}

/// A HelmRelease's applied revision: the commit of the chart of its deployed release (`status.history`,
/// newest first), when the chart version names one (see [`chart_commit`]); for a chart of an OCIRepository,
/// the artifact's digest (`ociDigest`): helm-controller puts its first 12 hex digits in the chart version,
/// which is then no commit.
fn helm_applied(obj: &DynamicObject) -> Option<Revision> {
    let newest = obj.data.pointer("/status/history/0")?;
    if str_at(newest, "/status") != Some("deployed") {
        return None;
    }
    release_revision(newest)
}

/// The revision of one Helm release of a HelmRelease's `status.history`: the artifact's digest (`ociDigest`)
/// for a chart of an OCIRepository, else the commit its chart version names ([`chart_commit`]).
pub fn release_revision(release: &Value) -> Option<Revision> {
    match str_at(release, "/ociDigest").filter(|d| !d.is_empty()) {
        Some(digest) => digest.parse().ok(),
        None => str_at(release, "/chartVersion").and_then(chart_commit),
    }
}

/// The revision a unit applied last: a Kustomization's `status.lastAppliedRevision`, a HelmRelease's
/// deployed chart's commit.
pub fn applied_revision(obj: &DynamicObject) -> Option<Revision> {
    revision_at(obj, "/status/lastAppliedRevision").or_else(|| helm_applied(obj))
}

/// The revision a unit attempted last (a HelmRelease's `lastAttemptedRevision` is a chart version; of a chart
/// of an OCIRepository, `lastAttemptedRevisionDigest` is the artifact's digest).
pub fn attempted_revision(obj: &DynamicObject) -> Option<Revision> {
    if let Some(digest) =
        str_at(&obj.data, "/status/lastAttemptedRevisionDigest").filter(|d| !d.is_empty())
    {
        return digest.parse().ok();
    }
    let raw = str_at(&obj.data, "/status/lastAttemptedRevision")?;
    raw.parse().ok().or_else(|| chart_commit(raw))
}

fn namespace(obj: &DynamicObject) -> &str {
    obj.metadata.namespace.as_deref().unwrap_or_default()
}

fn name(obj: &DynamicObject) -> &str {
    obj.metadata.name.as_deref().unwrap_or_default()
}

/// The source a unit takes its desired state from.
pub fn source_ref(kind: FluxKind, obj: &DynamicObject) -> Option<ObjectRef> {
    let ns = namespace(obj);
    let from = |v: &Value| -> Option<ObjectRef> {
        let k = kinds::by_name(str_at(v, "/kind")?)?;
        Some(ObjectRef::new(
            k,
            str_at(v, "/namespace").unwrap_or(ns),
            str_at(v, "/name")?,
        ))
    };
    if kind == kinds::HELM_RELEASE {
        // the HelmChart the controller made for it, when it says which; else what the spec names
        if let Some((cns, cname)) =
            str_at(&obj.data, "/status/helmChart").and_then(|s| s.split_once('/'))
            && let Some(k) = kinds::by_name("HelmChart")
        {
            return Some(ObjectRef::new(k, cns, cname));
        }
        return obj
            .data
            .pointer("/spec/chartRef")
            .and_then(from)
            .or_else(|| {
                obj.data
                    .pointer("/spec/chart/spec/sourceRef")
                    .and_then(from)
            });
    }
    obj.data.pointer("/spec/sourceRef").and_then(from)
}

/// The source a HelmChart is packaged from (`spec.sourceRef`, in the chart's namespace).
pub fn chart_source_ref(obj: &DynamicObject) -> Option<ObjectRef> {
    let k = kinds::by_name(str_at(&obj.data, "/spec/sourceRef/kind")?)?;
    Some(ObjectRef::new(
        k,
        namespace(obj),
        str_at(&obj.data, "/spec/sourceRef/name")?,
    ))
}

/// How a source is named in units and tables: `<namespace>/<name>`.
pub fn source_name(r: &ObjectRef) -> String {
    format!("{}/{}", r.namespace, r.name)
}

/// A Kustomization or HelmRelease as a unit; `sources` are this context's sources by id.
pub fn unit(
    context: &str,
    kind: FluxKind,
    obj: &DynamicObject,
    sources: &BTreeMap<String, Source>,
) -> Unit {
    let ns = namespace(obj);
    let src = source_ref(kind, obj);
    let latest = src
        .as_ref()
        .and_then(|r| sources.get(&r.id(context)))
        .and_then(|s| s.revision.clone());
    let applied = applied_revision(obj);
    let commits_behind = match (&applied, &latest) {
        (Some(a), Some(l)) if a.same_commit(l) => Some(0),
        _ => None, // unknown without the source's history (see `mirror.rs`)
    };
    let commits_behind_unknown = match (&src, &applied, &latest) {
        _ if commits_behind.is_some() => None,
        (None, _, _) => Some("the unit names no source".to_owned()),
        (Some(r), None, Some(_)) if r.kind.kind == "HelmChart" => Some(
            "the deployed chart's version names no commit (a HelmChart from a GitRepository names it with \
             reconcileStrategy: Revision)"
                .to_owned(),
        ),
        (Some(r), _, _) if !matches!(r.kind.kind, "GitRepository" | "HelmChart") => Some(format!(
            "the source is {}: its revisions are not git commits",
            kinds::with_article(r.kind.kind)
        )),
        (Some(_), None, _) => Some("nothing applied yet".to_owned()),
        (Some(_), _, None) => Some("the source has no revision yet".to_owned()),
        (Some(_), Some(_), Some(_)) => {
            Some("the source's git history is not read here (no mirror of its URL)".to_owned())
        }
    };
    let target_ns = str_at(&obj.data, "/spec/targetNamespace").unwrap_or(ns);
    let depends_on = obj
        .data
        .pointer("/spec/dependsOn")
        .and_then(Value::as_array)
        .map(|deps| {
            deps.iter()
                .filter_map(|d| {
                    let n = str_at(d, "/name")?;
                    Some(format!("{}/{n}", str_at(d, "/namespace").unwrap_or(ns)))
                })
                .collect()
        })
        .unwrap_or_default();
    let last_reconcile_at = time_at(&obj.data, "/status/history/0/lastReconciled")
        .or_else(|| time_at(&obj.data, "/status/history/0/lastDeployed"))
        .or_else(|| condition(obj, "Ready").and_then(|c| c.since));
    let suspended = is_suspended(obj);
    Unit {
        id: object_id(context, ns, kind.kind, name(obj)),
        name: name(obj).to_owned(),
        backend: BackendKind::Flux,
        context: context.to_owned(),
        workspace: None,
        kind: kind.kind.to_owned(),
        environment: format!("{context}/{target_ns}"),
        source: src.as_ref().map(source_name).unwrap_or_default(),
        status: status(obj),
        suspended,
        suspend_reason: suspended.then(|| suspend_reason(obj)).flatten(),
        protected: annotation(obj, PROTECTED) == Some("true"),
        applied_revision: applied,
        attempted_revision: attempted_revision(obj),
        latest_revision: latest,
        commits_behind,
        commits_behind_unknown,
        broken_by: Vec::new(),
        pinned_revision: None,
        drifted_objects: Vec::new(),
        last_reconcile_at,
        parent: None,
        sync_window: None,
        depends_on,
    }
}

/// What a source follows: `branch:main`, `tag:v1`, `commit:<sha>`, `semver:>=1`, `chart:podinfo@6.x`.
fn reference(kind: FluxKind, obj: &DynamicObject) -> String {
    let spec = obj.data.get("spec").unwrap_or(&Value::Null);
    if kind.kind == "HelmChart" {
        let chart = str_at(spec, "/chart").unwrap_or_default();
        return match str_at(spec, "/version") {
            Some(v) => format!("chart:{chart}@{v}"),
            None => format!("chart:{chart}"),
        };
    }
    // the order in which Flux gives them precedence
    for key in ["commit", "name", "digest", "semver", "tag", "branch"] {
        if let Some(v) = str_at(spec, &format!("/ref/{key}")) {
            return format!("{key}:{v}");
        }
    }
    String::new()
}

fn url(kind: FluxKind, obj: &DynamicObject) -> String {
    let spec = obj.data.get("spec").unwrap_or(&Value::Null);
    match kind.kind {
        "Bucket" => format!(
            "{}/{}",
            str_at(spec, "/endpoint").unwrap_or_default(),
            str_at(spec, "/bucketName").unwrap_or_default()
        ),
        "HelmChart" => {
            let k = str_at(spec, "/sourceRef/kind").unwrap_or_default();
            let n = str_at(spec, "/sourceRef/name").unwrap_or_default();
            format!("{k}/{}/{n}", namespace(obj))
        }
        _ => str_at(spec, "/url").unwrap_or_default().to_owned(),
    }
}

/// The Kustomization that applies this object, when its labels say one does: `<namespace>/<name>`.
pub fn applied_by(obj: &DynamicObject) -> Option<String> {
    let labels = obj.metadata.labels.as_ref()?;
    let name = labels.get("kustomize.toolkit.fluxcd.io/name")?;
    let ns = labels.get("kustomize.toolkit.fluxcd.io/namespace")?;
    Some(format!("{ns}/{name}"))
}

/// A GitRepository, OCIRepository, HelmRepository, HelmChart or Bucket as a source.
pub fn source(context: &str, kind: FluxKind, obj: &DynamicObject) -> Source {
    let r = ObjectRef::new(kind, namespace(obj), name(obj));
    Source {
        id: r.id(context),
        name: source_name(&r),
        backend: BackendKind::Flux,
        context: context.to_owned(),
        workspace: None,
        url: url(kind, obj),
        reference: reference(kind, obj),
        // a HelmChart's artifact revision is a chart version: the commit it was packaged from, if from git
        revision: revision_at(obj, "/status/artifact/revision")
            .or_else(|| revision_at(obj, "/status/observedSourceArtifactRevision")),
        status: status(obj),
        last_fetch_at: time_at(&obj.data, "/status/artifact/lastUpdateTime"),
        applied_by: applied_by(obj),
    }
}

/// Everything of one context: sources first (units name their latest revision), then units; sorted.
pub fn snapshot<'a>(
    context: &str,
    objects: impl IntoIterator<Item = (FluxKind, &'a DynamicObject)>,
) -> Snapshot {
    let (unit_objs, source_objs): (Vec<_>, Vec<_>) = objects
        .into_iter()
        .partition(|(k, _)| k.role == kinds::Role::Unit);
    snapshot_of(context, source_objs, unit_objs)
}

/// [`snapshot`] from the sources and the units apart, each object looked at once and in turn, so they can
/// be made one at a time (the watch keeps them serialized, not parsed).
pub fn snapshot_of<S: Borrow<DynamicObject>, U: Borrow<DynamicObject>>(
    context: &str,
    source_objs: impl IntoIterator<Item = (FluxKind, S)>,
    unit_objs: impl IntoIterator<Item = (FluxKind, U)>,
) -> Snapshot {
    let mut pins: BTreeMap<String, Revision> = BTreeMap::new();
    // a HelmChart's id -> the id of the source it is packaged from (a pin of that source moves the chart)
    let mut chart_from: BTreeMap<String, String> = BTreeMap::new();
    let sources: BTreeMap<String, Source> = source_objs
        .into_iter()
        .map(|(k, o)| {
            let o = o.borrow();
            let s = source(context, k, o);
            if let Some(p) = pin(o) {
                pins.insert(s.id.clone(), p);
            }
            if k.kind == "HelmChart"
                && let Some(from) = chart_source_ref(o)
            {
                chart_from.insert(s.id.clone(), from.id(context));
            }
            (s.id.clone(), s)
        })
        .collect();
    let units = unit_objs
        .into_iter()
        .map(|(k, o)| {
            let o = o.borrow();
            let mut u = unit(context, k, o, &sources);
            let src_id = source_ref(k, o).map(|r| r.id(context));
            u.pinned_revision = src_id
                .as_ref()
                .map(|id| chart_from.get(id).unwrap_or(id))
                .and_then(|id| pins.get(id).cloned());
            // why it is not reconciling: a source that is not ready is named, with its message
            if let Some(s) = src_id.as_ref().and_then(|id| sources.get(id))
                && !matches!(u.status.kind, StatusKind::Ready | StatusKind::Suspended)
                && s.status.kind != StatusKind::Ready
            {
                u.status.message = format!(
                    "source {} is {}: {}; {}",
                    s.name, s.status.kind, s.status.message, u.status.message
                );
            }
            if u.pinned_revision.is_some() {
                // the source's revision is the pin, not the branch: how far behind the branch is unknown
                u.commits_behind = None;
                u.commits_behind_unknown = Some(
                    "the source is pinned by setpoint: its revision is the pin, not its branch"
                        .into(),
                );
            }
            Arc::new(u)
        })
        .collect();
    let mut snap = Snapshot {
        units,
        sources: sources.into_values().map(Arc::new).collect(),
        ..Snapshot::default()
    };
    snap.sort();
    snap
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "map_helm_tests.rs"]
mod helm_tests;
