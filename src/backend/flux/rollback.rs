//! Rollback by pinning the unit's GitRepository at a commit (`spec.ref.commit`, which wins over branch, tag and
//! semver), remembering the previous ref in an annotation; resume restores it. A pin moves every unit that
//! shares the source, and a GitRepository that is itself applied by a Kustomization is reverted at that
//! Kustomization's next apply: the outcome says both. A HelmRelease's chart packaged from a GitRepository (its
//! HelmChart) is rolled back the same way: the GitRepository is pinned, the HelmChart packages the chart of the
//! pinned commit and the HelmRelease upgrades to it.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::{Map, Value, json};

use super::act::{self, Target, artifact_revision, wait_handled};
use super::connect::Conn;
use super::error::from_kube;
use super::history;
use super::ids::ObjectRef;
use super::kinds;
use super::map::{
    self, PIN_REASON, PINNED_AT, PINNED_BY, PINNED_FROM, REQUESTED_AT, SUSPENDED_PARENT,
};
use crate::backend::BackendError;
use crate::model::Revision;

/// Why rollback is not offered for this unit's source, if it is not; `chart` is the HelmChart (of a
/// HelmRelease) that `source` packages the chart from.
pub fn refusal(source: &Target, chart: Option<&Target>) -> Option<String> {
    (source.obj.kind != kinds::GIT_REPOSITORY).then(|| match chart {
        Some(c) => format!(
            "rollback pins a GitRepository; this HelmRelease's chart ({} {}/{}) comes from {} ({}/{}), not \
             from git",
            c.obj.kind.kind,
            c.obj.namespace,
            c.obj.name,
            kinds::with_article(source.obj.kind.kind),
            source.obj.namespace,
            source.obj.name
        ),
        None => format!(
            "rollback pins a GitRepository; this unit's source is {} ({}/{})",
            kinds::with_article(source.obj.kind.kind),
            source.obj.namespace,
            source.obj.name
        ),
    })
}

/// The full commit id `to` names: as given, or completed from the unit's history and the source's revision.
fn full_sha(
    to: &Revision,
    unit: &DynamicObject,
    source: &DynamicObject,
) -> Result<String, BackendError> {
    if to.is_full() {
        return Ok(to.sha().to_owned());
    }
    let known = history::entries(unit)
        .into_iter()
        .map(|h| h.revision)
        .chain(artifact_revision(source).and_then(|r| r.parse().ok()));
    for r in known {
        if r.is_full() && r.same_commit(to) {
            return Ok(r.sha().to_owned());
        }
    }
    Err(BackendError::Invalid(format!(
        "{}: give the full commit id (40 hex digits); it is not among the revisions this unit reconciled",
        to.short()
    )))
}

/// Other units of the same kind that take their desired state from `source` (a HelmRelease: from `chart`).
async fn sharing(conn: &Conn, unit: &Target, source: &Target) -> Vec<String> {
    let Ok(ar) = conn.resource(unit.obj.kind) else {
        return Vec::new();
    };
    let api: Api<DynamicObject> = Api::all_with(conn.client.clone(), ar);
    match api.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .iter()
            .filter(|o| map::source_ref(unit.obj.kind, o).as_ref() == Some(&source.obj))
            .filter_map(|o| {
                let (ns, name) = (
                    o.metadata.namespace.as_deref()?,
                    o.metadata.name.as_deref()?,
                );
                (ns != unit.obj.namespace || name != unit.obj.name).then(|| format!("{ns}/{name}"))
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %from_kube("listing units", &e), "units sharing the source");
            Vec::new()
        }
    }
}

/// The Kustomization `ns/name` (as [`map::applied_by`] and the annotation [`SUSPENDED_PARENT`] name it).
pub fn kustomization(conn: &Conn, ns_name: &str) -> Result<Target, BackendError> {
    let (ns, name) = ns_name
        .split_once('/')
        .ok_or_else(|| BackendError::Invalid(format!("`{ns_name}` is not <namespace>/<name>")))?;
    Target::new(conn, ObjectRef::new(kinds::KUSTOMIZATION, ns, name))
}

/// The parent Kustomization a rollback is to suspend: the one that applies the GitRepository.
pub async fn parent_to_suspend(conn: &Conn, source: &Target) -> Result<Target, BackendError> {
    let src = source.get().await?;
    let p = map::applied_by(&src).ok_or_else(|| {
        BackendError::Invalid(format!(
            "--suspend-parent: no Kustomization applies {} (it has no kustomize.toolkit.fluxcd.io/name and \
             namespace labels)",
            source.label()
        ))
    })?;
    kustomization(conn, &p)
}

/// The parent Kustomization setpoint suspended for the pin of this source, to resume with it.
pub fn suspended_parent(conn: &Conn, source: &DynamicObject) -> Option<Target> {
    let p = source
        .metadata
        .annotations
        .as_ref()?
        .get(SUSPENDED_PARENT)?;
    kustomization(conn, p).ok()
}

/// Reconciles a HelmRelease's HelmChart on the source revision `artifact` (waiting until it packaged that
/// revision); returns the chart's artifact revision (its chart version) for the HelmRelease to attempt.
pub async fn repackage(
    conn: &Conn,
    chart: &Target,
    who: &str,
    artifact: Option<&str>,
    timeout: Duration,
) -> Result<(String, Option<String>), BackendError> {
    let (result, chart_artifact) = act::reconcile(conn, chart, who, artifact, timeout).await?;
    Ok((
        format!("; chart {}: {result}", chart.label()),
        chart_artifact,
    ))
}

/// Pins `source` at `to`; with `parent` (see [`parent_to_suspend`]) suspends that Kustomization first, with
/// the same reason, and records on the source that setpoint did (resume releases it). `chart`: the HelmChart
/// between the source and a HelmRelease, packaged again from the pinned commit before the HelmRelease runs.
#[allow(clippy::too_many_arguments)]
pub async fn rollback(
    conn: &Conn,
    unit: &Target,
    source: &Target,
    chart: Option<&Target>,
    parent: Option<&Target>,
    to: &Revision,
    who: &str,
    reason: &str,
    timeout: Duration,
) -> Result<String, BackendError> {
    if let Some(why) = refusal(source, chart) {
        return Err(BackendError::Invalid(why));
    }
    let unit_obj = unit.get().await?;
    let src = source.get().await?;
    let sha = full_sha(to, &unit_obj, &src)?;
    let mut annotations = Map::new();
    let mut parent_note = String::new();
    if let Some(p) = parent {
        if map::is_suspended(&p.get().await?) {
            // suspended by someone else: not setpoint's to resume
            parent_note = format!(
                "; {} was suspended already (left to whoever suspended it)",
                p.label()
            );
        } else {
            let done = act::suspend(conn, p, who, reason).await?;
            annotations.insert(
                SUSPENDED_PARENT.into(),
                json!(format!("{}/{}", p.obj.namespace, p.obj.name)),
            );
            parent_note = format!("; parent {}: {done}", p.label());
        }
    }
    if map::pinned_from(&src).is_none() {
        // the ref before the first pin; a second rollback keeps it
        let previous = src.data.pointer("/spec/ref").cloned().unwrap_or(json!({}));
        annotations.insert(PINNED_FROM.into(), Value::String(previous.to_string()));
    }
    let token = Timestamp::now().to_string();
    annotations.insert(PINNED_BY.into(), json!(who));
    annotations.insert(PIN_REASON.into(), json!(reason));
    annotations.insert(PINNED_AT.into(), json!(token));
    annotations.insert(REQUESTED_AT.into(), json!(token));
    let patch = json!({"metadata": {"annotations": annotations}, "spec": {"ref": {"commit": sha}}});
    let pinned = source.patch("rollback", &patch).await?;
    let mut notes = source
        .record(
            conn,
            &pinned,
            "rollback",
            &format!("pinned at {sha} by {who}: {reason}"),
        )
        .await;
    let others = sharing(conn, unit, chart.unwrap_or(source)).await;
    if !others.is_empty() {
        notes.push_str(&format!("; the pin also moves {}", others.join(", ")));
    }
    notes.push_str(&parent_note);
    if let (Some(p), None) = (map::applied_by(&src), parent) {
        notes.push_str(&format!(
            "; warning: Kustomization {p} applies this GitRepository and reverts the pin at its next apply \
             unless it is suspended (--suspend-parent)"
        ));
    }
    let (fetched, src_obj) = wait_handled(source, &token, None, timeout)
        .await
        .map_err(|e| {
            BackendError::Failed(format!("pinned at {sha}, but {e}; resume releases the pin"))
        })?;
    let mut artifact = artifact_revision(&src_obj);
    let mut packaged = String::new();
    if let Some(c) = chart {
        (packaged, artifact) = repackage(conn, c, who, artifact.as_deref(), timeout).await?;
    }
    let result = if map::is_suspended(&unit_obj) {
        "the unit is suspended: the pinned commit is applied when it is resumed".to_owned()
    } else {
        act::reconcile(conn, unit, who, artifact.as_deref(), timeout)
            .await?
            .0
    };
    Ok(format!(
        "pinned {} at {}; source {fetched}{packaged}; {result}{notes}",
        source.label(),
        &sha[..sha.len().min(12)]
    ))
}

/// Restores the ref a pinned GitRepository had before setpoint's rollback; returns what happened and the
/// source's new artifact revision.
pub async fn release(
    conn: &Conn,
    source: &Target,
    who: &str,
    timeout: Duration,
) -> Result<(String, Option<String>), BackendError> {
    let src = source.get().await?;
    let Some(previous) = map::pinned_from(&src) else {
        return Ok((String::new(), artifact_revision(&src)));
    };
    // a merge patch of the whole ref: keys the old ref lacks are removed
    let mut reference = Map::new();
    if let Some(now) = src.data.pointer("/spec/ref").and_then(Value::as_object) {
        for k in now.keys() {
            reference.insert(k.clone(), Value::Null);
        }
    }
    if let Some(prev) = previous.as_object() {
        reference.extend(prev.clone());
    }
    let parent = suspended_parent(conn, &src);
    let token = Timestamp::now().to_string();
    let patch = json!({
        "metadata": {"annotations": {PINNED_FROM: null, PINNED_BY: null, PIN_REASON: null, PINNED_AT: null,
                                     SUSPENDED_PARENT: null, REQUESTED_AT: token}},
        "spec": {"ref": reference}
    });
    let obj = source.patch("release the pin of", &patch).await?;
    let note = source
        .record(conn, &obj, "release", &format!("pin released by {who}"))
        .await;
    let (result, obj) = wait_handled(source, &token, None, timeout).await?;
    let mut message = format!("released the pin of {}: {result}{note}", source.label());
    if let Some(p) = parent {
        // what setpoint suspended for the pin is resumed with it
        let resumed = act::resume(conn, &p, who, None, timeout).await?;
        message.push_str(&format!("; parent {}: {resumed}", p.label()));
    }
    Ok((message, artifact_revision(&obj)))
}
