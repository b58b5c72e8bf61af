//! Rollback by pinning the unit's GitRepository at a commit (`spec.ref.commit`, which wins over branch, tag and
//! semver), remembering the previous ref in an annotation; resume restores it. A pin moves every unit that
//! shares the source, and a GitRepository that is itself applied by a Kustomization is reverted at that
//! Kustomization's next apply: the outcome says both.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::{Map, Value, json};

use super::act::{self, Target, artifact_revision, wait_handled};
use super::connect::Conn;
use super::error::from_kube;
use super::history;
use super::kinds;
use super::map::{self, PIN_REASON, PINNED_AT, PINNED_BY, PINNED_FROM, REQUESTED_AT};
use crate::backend::BackendError;
use crate::model::Revision;

/// Why rollback is not offered for this unit's source, if it is not.
pub fn refusal(source: &Target) -> Option<String> {
    (source.obj.kind != kinds::GIT_REPOSITORY).then(|| {
        format!(
            "rollback pins a GitRepository; this unit's source is a {} ({}/{})",
            source.obj.kind.kind, source.obj.namespace, source.obj.name
        )
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

/// Other units of the same kind that take their desired state from `source`.
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

/// The Kustomization that applies this GitRepository, when its labels say one does.
fn parent(source: &DynamicObject) -> Option<String> {
    let labels = source.metadata.labels.as_ref()?;
    let name = labels.get("kustomize.toolkit.fluxcd.io/name")?;
    let ns = labels.get("kustomize.toolkit.fluxcd.io/namespace")?;
    Some(format!("{ns}/{name}"))
}

pub async fn rollback(
    conn: &Conn,
    unit: &Target,
    source: &Target,
    to: &Revision,
    who: &str,
    reason: &str,
    timeout: Duration,
) -> Result<String, BackendError> {
    if let Some(why) = refusal(source) {
        return Err(BackendError::Invalid(why));
    }
    let unit_obj = unit.get().await?;
    let src = source.get().await?;
    let sha = full_sha(to, &unit_obj, &src)?;
    let mut annotations = Map::new();
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
    let others = sharing(conn, unit, source).await;
    if !others.is_empty() {
        notes.push_str(&format!("; the pin also moves {}", others.join(", ")));
    }
    if let Some(p) = parent(&src) {
        notes.push_str(&format!(
            "; warning: Kustomization {p} applies this GitRepository and reverts the pin at its next apply \
             unless it is suspended"
        ));
    }
    let (fetched, src_obj) = wait_handled(source, &token, None, timeout)
        .await
        .map_err(|e| {
            BackendError::Failed(format!("pinned at {sha}, but {e}; resume releases the pin"))
        })?;
    let artifact = artifact_revision(&src_obj);
    let result = if map::is_suspended(&unit_obj) {
        "the unit is suspended: the pinned commit is applied when it is resumed".to_owned()
    } else {
        act::reconcile(conn, unit, who, artifact.as_deref(), timeout)
            .await?
            .0
    };
    Ok(format!(
        "pinned {} at {}; source {fetched}; {result}{notes}",
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
    let token = Timestamp::now().to_string();
    let patch = json!({
        "metadata": {"annotations": {PINNED_FROM: null, PINNED_BY: null, PIN_REASON: null, PINNED_AT: null,
                                     REQUESTED_AT: token}},
        "spec": {"ref": reference}
    });
    let obj = source.patch("release the pin of", &patch).await?;
    let note = source
        .record(conn, &obj, "release", &format!("pin released by {who}"))
        .await;
    let (result, obj) = wait_handled(source, &token, None, timeout).await?;
    Ok((
        format!("released the pin of {}: {result}{note}", source.label()),
        artifact_revision(&obj),
    ))
}
