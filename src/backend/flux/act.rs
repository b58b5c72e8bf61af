//! Actions as merge patches under the field manager `setpoint`, each recorded as an Event on its object.
//!
//! - suspend: `spec.suspend: true` plus who, why and when in annotations;
//! - resume: `spec.suspend: false`, those annotations removed, and a reconcile request whose result is awaited;
//! - sync: the `reconcile.fluxcd.io/requestedAt` token (on the sources first with "with source": a
//!   HelmRelease's GitRepository, then the HelmChart packaged from it), then a
//!   watch of the object until `status.lastHandledReconcileAt` equals the token: ready, failed with the
//!   condition's message, or timed out — never success for a reconcile that failed.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};

use super::connect::Conn;
use super::error::from_kube;
use super::events;
use super::ids::ObjectRef;
use super::map::{self, REQUESTED_AT, SUSPEND_REASON, SUSPENDED_AT, SUSPENDED_BY};
use crate::backend::BackendError;
use crate::model::StatusKind;

/// The field manager of every change setpoint makes (never one starting with `kubectl`: kustomize-controller
/// strips those managers' fields).
pub const FIELD_MANAGER: &str = "setpoint";

/// One object of one context, ready to be patched.
pub struct Target {
    pub obj: ObjectRef,
    pub ar: ApiResource,
    pub api: Api<DynamicObject>,
}

impl Target {
    pub fn new(conn: &Conn, obj: ObjectRef) -> Result<Self, BackendError> {
        let ar = conn.resource(obj.kind)?.clone();
        let api = Api::namespaced_with(conn.client.clone(), &obj.namespace, &ar);
        Ok(Self { obj, ar, api })
    }

    pub fn label(&self) -> String {
        format!(
            "{} {}/{}",
            self.obj.kind.kind, self.obj.namespace, self.obj.name
        )
    }

    pub async fn get(&self) -> Result<DynamicObject, BackendError> {
        self.api
            .get(&self.obj.name)
            .await
            .map_err(|e| from_kube(&self.label(), &e))
    }

    pub async fn patch(&self, what: &str, patch: &Value) -> Result<DynamicObject, BackendError> {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        self.api
            .patch(&self.obj.name, &params, &Patch::Merge(patch))
            .await
            .map_err(|e| from_kube(&format!("{what} {}", self.label()), &e))
    }

    /// Records the action as an Event on the object; a failure to record is said, never fatal.
    pub async fn record(
        &self,
        conn: &Conn,
        obj: &DynamicObject,
        action: &str,
        message: &str,
    ) -> String {
        events::record_said(&conn.client, obj, &self.ar, &self.label(), action, message).await
    }
}

pub async fn suspend(
    conn: &Conn,
    t: &Target,
    who: &str,
    reason: &str,
) -> Result<String, BackendError> {
    let now = Timestamp::now().to_string();
    let patch = json!({
        "metadata": {"annotations": {SUSPENDED_BY: who, SUSPEND_REASON: reason, SUSPENDED_AT: now}},
        "spec": {"suspend": true}
    });
    let obj = t.patch("suspend", &patch).await?;
    if !map::is_suspended(&obj) {
        return Err(BackendError::Failed(format!(
            "{}: spec.suspend is not true after the patch",
            t.label()
        )));
    }
    let note = t
        .record(
            conn,
            &obj,
            "suspend",
            &format!("suspended by {who}: {reason}"),
        )
        .await;
    Ok(format!(
        "suspended; {} stops applying and repairing{note}",
        controller(t)
    ))
}

/// Resumes `t`; with `want`, its reconcile must have attempted that revision (a source just released).
pub async fn resume(
    conn: &Conn,
    t: &Target,
    who: &str,
    want: Option<&str>,
    timeout: Duration,
) -> Result<String, BackendError> {
    let token = Timestamp::now().to_string();
    let patch = json!({
        "metadata": {"annotations": {SUSPENDED_BY: null, SUSPEND_REASON: null, SUSPENDED_AT: null, REQUESTED_AT: token}},
        "spec": {"suspend": false}
    });
    let obj = t.patch("resume", &patch).await?;
    let note = t
        .record(conn, &obj, "resume", &format!("resumed by {who}"))
        .await;
    let (result, _) = wait_handled(t, &token, want, timeout).await?;
    Ok(format!("resumed; {result}{note}"))
}

pub async fn sync(
    conn: &Conn,
    t: &Target,
    sources: &[&Target],
    who: &str,
    timeout: Duration,
) -> Result<String, BackendError> {
    let mut done = Vec::new();
    // after the source, the unit's reconcile must have used the source's new revision: kustomize-controller
    // may handle the request before its cache has that revision, and then reconciles again when it does
    let mut want_revision: Option<String> = None;
    for target in sources.iter().copied().chain(std::iter::once(t)) {
        let (result, artifact) =
            reconcile(conn, target, who, want_revision.as_deref(), timeout).await?;
        want_revision = artifact;
        done.push(format!("{}: {result}", target.label()));
    }
    Ok(format!("sync ran; {}", done.join("; ")))
}

/// Requests a reconcile of `target` and waits for its result (with `want` as the revision attempted);
/// refused while suspended. Returns the result in words and the source artifact's revision, if any.
pub async fn reconcile(
    conn: &Conn,
    target: &Target,
    who: &str,
    want: Option<&str>,
    timeout: Duration,
) -> Result<(String, Option<String>), BackendError> {
    let current = target.get().await?;
    if map::is_suspended(&current) {
        return Err(BackendError::Invalid(format!(
            "{} is suspended: resume it first (Flux ignores reconcile requests of a suspended object)",
            target.label()
        )));
    }
    let token = Timestamp::now().to_string();
    let obj = target
        .patch(
            "sync",
            &json!({"metadata": {"annotations": {REQUESTED_AT: token}}}),
        )
        .await?;
    let note = target
        .record(conn, &obj, "sync", &format!("reconcile requested by {who}"))
        .await;
    let (result, obj) = wait_handled(target, &token, want, timeout).await?;
    let artifact = artifact_revision(&obj);
    Ok((format!("{result}{note}"), artifact))
}

pub fn artifact_revision(obj: &DynamicObject) -> Option<String> {
    obj.data
        .pointer("/status/artifact/revision")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn controller(t: &Target) -> &'static str {
    match t.obj.kind.group {
        "kustomize.toolkit.fluxcd.io" => "kustomize-controller",
        "helm.toolkit.fluxcd.io" => "helm-controller",
        _ => "source-controller",
    }
}

fn handled(obj: &DynamicObject, token: &str, revision: Option<&str>) -> bool {
    let text = |p: &str| obj.data.pointer(p).and_then(Value::as_str);
    // the Ready condition of this generation, decided (a failed reconcile leaves status.observedGeneration
    // at the last success)
    let ready = map::condition(obj, "Ready")
        .is_some_and(|c| c.status != "Unknown" && c.observed_generation >= obj.metadata.generation);
    // a HelmChart says which revision of its source it packaged in observedSourceArtifactRevision
    text("/status/lastHandledReconcileAt") == Some(token)
        && ready
        && revision.is_none_or(|r| {
            text("/status/lastAttemptedRevision") == Some(r)
                || text("/status/observedSourceArtifactRevision") == Some(r)
        })
}

/// Watches the object until its controller has handled `token` (with `revision` as the one attempted, when
/// given); the result in words and the object, or why it failed.
pub async fn wait_handled(
    t: &Target,
    token: &str,
    revision: Option<&str>,
    timeout: Duration,
) -> Result<(String, DynamicObject), BackendError> {
    let (token_owned, revision_owned) = (token.to_owned(), revision.map(str::to_owned));
    let cond = move |o: Option<&DynamicObject>| {
        o.is_some_and(|o| handled(o, &token_owned, revision_owned.as_deref()))
    };
    let waited =
        tokio::time::timeout(timeout, await_condition(t.api.clone(), &t.obj.name, cond)).await;
    let obj = match waited {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => {
            return Err(BackendError::NotFound(format!("{} was deleted", t.label())));
        }
        Ok(Err(e)) => {
            return Err(BackendError::Unavailable(format!(
                "{}: watching for the result: {e}",
                t.label()
            )));
        }
        Err(_) => {
            let last = t
                .get()
                .await
                .map(|o| map::status(&o).message)
                .unwrap_or_default();
            return Err(BackendError::Failed(format!(
                "{}: the reconcile was not handled within {}s (last status: {last})",
                t.label(),
                timeout.as_secs()
            )));
        }
    };
    let status = map::status(&obj);
    match status.kind {
        StatusKind::Ready => Ok((format!("ready: {}", status.message), obj)),
        kind => Err(BackendError::Failed(format!(
            "{}: reconcile {kind}: {}",
            t.label(),
            status.message
        ))),
    }
}
