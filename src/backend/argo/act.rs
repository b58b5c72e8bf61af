//! Actions on one Application, through the Kubernetes API alone (no Argo CD token): merge patches under the
//! field manager `setpoint`, each with the resourceVersion read just before (a conflict is refused, never
//! overwritten), then an Event on the Application saying who did what and why.
//!
//! - sync: `operation` as the Argo CD API server sets it (sync.revision(s), syncOptions, prune,
//!   initiatedBy.username, info) with `status.operationState: null`, refused while an operation is requested
//!   or running; then the Application is watched until the controller finishes *this* operation (found by the
//!   request token in `operation.info`), and its phase is the result.
//! - suspend: `spec.syncPolicy.automated` removed, the previous policy kept in an annotation; resume restores.
//! - rollback: automation removed (kept as for suspend) and a sync to the history revision, in one patch,
//!   held until resume.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};

use super::map::{
    self, PIN_REASON, PINNED_AT_REVISION, SAVED_AUTOMATED, SUSPEND_REASON, SUSPENDED_AT,
    SUSPENDED_BY,
};
use crate::backend::BackendError;
use crate::backend::flux::FIELD_MANAGER;
use crate::backend::flux::error::from_kube;
use crate::backend::flux::events;

/// The `info` entry that marks setpoint's own operation.
const TOKEN: &str = "setpoint-request";

/// One Application, ready to be patched.
pub struct App {
    pub api: Api<DynamicObject>,
    pub ar: ApiResource,
    pub namespace: String,
    pub name: String,
}

impl App {
    pub fn label(&self) -> String {
        format!("Application {}/{}", self.namespace, self.name)
    }

    pub async fn get(&self) -> Result<DynamicObject, BackendError> {
        self.api
            .get(&self.name)
            .await
            .map_err(|e| from_kube(&self.label(), &e))
    }

    /// A merge patch of `body` with `obj`'s resourceVersion as precondition.
    async fn patch(
        &self,
        what: &str,
        obj: &DynamicObject,
        mut body: Value,
    ) -> Result<DynamicObject, BackendError> {
        if let Some(meta) = body
            .as_object_mut()
            .map(|b| b.entry("metadata").or_insert_with(|| json!({})))
        {
            meta["resourceVersion"] = json!(obj.metadata.resource_version);
        }
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        self.api
            .patch(&self.name, &params, &Patch::Merge(&body))
            .await
            .map_err(|e| from_kube(&format!("{what} {}", self.label()), &e))
    }

    /// Records the action as an Event on the Application; a failure to record is said, never fatal.
    async fn record(
        &self,
        client: &kube::Client,
        obj: &DynamicObject,
        action: &str,
        message: &str,
    ) -> String {
        match events::record(
            client,
            obj,
            &self.ar.api_version,
            &self.ar.kind,
            action,
            message,
        )
        .await
        {
            Ok(()) => String::new(),
            Err(e) => {
                tracing::warn!(app = %self.label(), error = %e, "event not recorded");
                format!(" (the Event was not recorded: {e})")
            }
        }
    }
}

/// A warning when an ApplicationSet owns the Application (it reverts spec edits such as syncPolicy).
pub fn owner_warning(obj: &DynamicObject) -> Option<String> {
    let owner = obj
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.kind == "ApplicationSet")?;
    Some(format!(
        "warning: ApplicationSet {} owns this Application and may revert its syncPolicy edit",
        owner.name
    ))
}

fn refuse_if_busy(app: &App, obj: &DynamicObject) -> Result<(), BackendError> {
    if map::operation_in_progress(obj) {
        return Err(BackendError::Invalid(format!(
            "{}: an operation is already {} ({}); wait for it to finish (terminate is not offered by setpoint yet)",
            app.label(),
            map::operation_phase(obj).unwrap_or("requested"),
            obj.data
                .pointer("/status/operationState/message")
                .and_then(Value::as_str)
                .unwrap_or("no message"),
        )));
    }
    Ok(())
}

/// The `operation` the API server's Sync would set: the sources at `revisions` (one per source, from a
/// history entry), else at their targetRevisions.
fn operation(
    obj: &DynamicObject,
    revisions: Option<&[String]>,
    who: &str,
    token: &str,
    reason: &str,
) -> Value {
    let sources = map::sources(obj);
    let prune = obj
        .data
        .pointer("/spec/syncPolicy/automated/prune")
        .and_then(Value::as_bool)
        .or_else(|| {
            map::annotation(obj, SAVED_AUTOMATED)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|v| v.get("prune").and_then(Value::as_bool))
        })
        .unwrap_or(false);
    let mut sync = json!({"prune": prune});
    if let Some(opts) = obj.data.pointer("/spec/syncPolicy/syncOptions") {
        sync["syncOptions"] = opts.clone();
    }
    if obj
        .data
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty())
    {
        let revs: Vec<&str> = match revisions {
            Some(r) => r.iter().map(String::as_str).collect(),
            None => sources.iter().map(|s| s.1.as_str()).collect(),
        };
        sync["revisions"] = json!(revs);
    } else {
        let first = revisions.and_then(|r| r.first()).map(String::as_str);
        sync["revision"] = json!(
            first
                .or(sources.first().map(|s| s.1.as_str()))
                .unwrap_or("HEAD")
        );
    }
    json!({
        "sync": sync,
        "initiatedBy": {"username": who},
        "info": [{"name": TOKEN, "value": token}, {"name": "Reason", "value": reason}],
    })
}

/// Whether the controller finished the operation carrying `token`.
fn finished(obj: &DynamicObject, token: &str) -> bool {
    let ours = obj
        .data
        .pointer("/status/operationState/operation/info")
        .and_then(Value::as_array)
        .is_some_and(|i| {
            i.iter()
                .any(|e| e.get("value").and_then(Value::as_str) == Some(token))
        });
    ours && obj
        .data
        .pointer("/status/operationState/finishedAt")
        .is_some_and(|f| !f.is_null())
}

/// Sends a sync (to `revision`, else the targetRevision; with `extra` merged into the same patch) and waits
/// for the controller's result: Ok(message) when it Succeeded, Err with its message otherwise.
#[allow(clippy::too_many_arguments)]
pub async fn sync(
    client: &kube::Client,
    app: &App,
    revisions: Option<&[String]>,
    extra: Value,
    who: &str,
    reason: &str,
    action: &str,
    timeout: Duration,
) -> Result<String, BackendError> {
    let obj = app.get().await?;
    refuse_if_busy(app, &obj)?;
    let token = format!("{who} {}", Timestamp::now());
    let mut body = json!({
        "operation": operation(&obj, revisions, who, &token, reason),
        "status": {"operationState": null},
    });
    merge(&mut body, extra);
    let sent = app.patch(action, &obj, body).await?;
    let note = app
        .record(
            client,
            &sent,
            action,
            &format!("{action} by {who}: {reason}"),
        )
        .await;
    let tok = token.clone();
    let cond = move |o: Option<&DynamicObject>| o.is_none_or(|o| finished(o, &tok));
    let done = match tokio::time::timeout(
        timeout,
        await_condition(app.api.clone(), &app.name, cond),
    )
    .await
    {
        Ok(Ok(Some(o))) => o,
        Ok(Ok(None)) => {
            return Err(BackendError::NotFound(format!(
                "{} was deleted",
                app.label()
            )));
        }
        Ok(Err(e)) => {
            return Err(BackendError::Unavailable(format!(
                "{}: watching for the result: {e}",
                app.label()
            )));
        }
        Err(_) => {
            let phase = app
                .get()
                .await
                .ok()
                .and_then(|o| map::operation_phase(&o).map(str::to_owned));
            return Err(BackendError::Failed(format!(
                "{}: the sync was sent but had not finished within {}s (operation phase: {}){note}",
                app.label(),
                timeout.as_secs(),
                phase.as_deref().unwrap_or("not started")
            )));
        }
    };
    let at = |p: &str| {
        done.data
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let phase = at("/status/operationState/phase");
    let message = at("/status/operationState/message");
    let rev = at("/status/operationState/syncResult/revision");
    let short = &rev[..rev.len().min(7)];
    if phase == "Succeeded" {
        Ok(format!("sync Succeeded at {short}: {message}{note}"))
    } else {
        Err(BackendError::Failed(format!(
            "{}: sync {phase}: {message}{note}",
            app.label()
        )))
    }
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The patch that turns automation off and remembers the policy (unless already remembered).
fn hold(obj: &DynamicObject, annotations: Value) -> Value {
    let saved = map::annotation(obj, SAVED_AUTOMATED)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            obj.data
                .pointer("/spec/syncPolicy/automated")
                .cloned()
                .unwrap_or(Value::Null)
                .to_string()
        });
    let mut body = json!({
        "metadata": {"annotations": {SAVED_AUTOMATED: saved}},
        "spec": {"syncPolicy": {"automated": null}},
    });
    merge(&mut body, json!({"metadata": {"annotations": annotations}}));
    body
}

pub async fn suspend(
    client: &kube::Client,
    app: &App,
    who: &str,
    reason: &str,
) -> Result<String, BackendError> {
    let obj = app.get().await?;
    if map::is_suspended(&obj) {
        return Err(BackendError::Invalid(format!(
            "{} is already suspended",
            app.label()
        )));
    }
    let was = map::auto_sync(&obj);
    let body = hold(
        &obj,
        json!({SUSPENDED_BY: who, SUSPEND_REASON: reason, SUSPENDED_AT: Timestamp::now().to_string()}),
    );
    let after = app.patch("suspend", &obj, body).await?;
    if map::auto_sync(&after) {
        return Err(BackendError::Failed(format!(
            "{}: auto-sync is still on after the patch",
            app.label()
        )));
    }
    let note = app
        .record(
            client,
            &after,
            "suspend",
            &format!("suspended by {who}: {reason}"),
        )
        .await;
    let warn = owner_warning(&after)
        .map(|w| format!("; {w}"))
        .unwrap_or_default();
    Ok(format!(
        "suspended: auto-sync {} (policy kept for resume){warn}{note}",
        if was { "turned off" } else { "was already off" }
    ))
}

/// Restores the remembered automation and drops setpoint's suspend and pin annotations.
pub async fn resume(client: &kube::Client, app: &App, who: &str) -> Result<String, BackendError> {
    let obj = app.get().await?;
    let Some(saved) = map::annotation(&obj, SAVED_AUTOMATED) else {
        return Err(BackendError::Invalid(format!(
            "{} is not suspended or pinned by setpoint",
            app.label()
        )));
    };
    let automated: Value = serde_json::from_str(saved).map_err(|e| {
        BackendError::Invalid(format!(
            "{}: annotation {SAVED_AUTOMATED}: {e}",
            app.label()
        ))
    })?;
    let on = !automated.is_null();
    let body = json!({
        "metadata": {"annotations": {SAVED_AUTOMATED: null, SUSPENDED_BY: null, SUSPEND_REASON: null,
            SUSPENDED_AT: null, PINNED_AT_REVISION: null, PIN_REASON: null}},
        "spec": {"syncPolicy": {"automated": automated}},
    });
    let after = app.patch("resume", &obj, body).await?;
    if map::auto_sync(&after) != on {
        return Err(BackendError::Failed(format!(
            "{}: auto-sync was not restored",
            app.label()
        )));
    }
    let note = app
        .record(client, &after, "resume", &format!("resumed by {who}"))
        .await;
    Ok(format!(
        "resumed: {}{note}",
        if on {
            "auto-sync restored"
        } else {
            "auto-sync stays off (it was off before)"
        }
    ))
}

/// Auto-sync off (remembered) and a sync to `sha`, one patch; the result of that sync.
pub async fn rollback(
    client: &kube::Client,
    app: &App,
    sha: &str,
    who: &str,
    reason: &str,
    timeout: Duration,
) -> Result<String, BackendError> {
    let obj = app.get().await?;
    let entry = obj
        .data
        .pointer("/status/history")
        .and_then(Value::as_array)
        .and_then(|h| {
            h.iter().rev().find(|e| {
                e.get("revision").and_then(Value::as_str) == Some(sha)
                    || e.pointer("/revisions/0").and_then(Value::as_str) == Some(sha)
            })
        });
    let Some(entry) = entry else {
        return Err(BackendError::Invalid(format!(
            "{}: {sha} is not in status.history (rollback goes to a revision Argo CD deployed before)",
            app.label()
        )));
    };
    let revisions: Vec<String> = match entry.get("revisions").and_then(Value::as_array) {
        Some(r) if !r.is_empty() => r
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => vec![sha.to_owned()],
    };
    let extra = hold(&obj, json!({PINNED_AT_REVISION: sha, PIN_REASON: reason}));
    let warn = owner_warning(&obj)
        .map(|w| format!("; {w}"))
        .unwrap_or_default();
    let done = sync(
        client,
        app,
        Some(&revisions),
        extra,
        who,
        reason,
        "rollback",
        timeout,
    )
    .await?;
    Ok(format!(
        "rolled back, auto-sync off until resume: {done}{warn}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn operation_like_the_api_server_and_held_policy() {
        let o = app(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "a", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "u", "targetRevision": "main", "path": "p"},
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["X=y"]}}}),
        );
        let op = operation(&o, None, "me@h", "tok", "why");
        assert_eq!(
            op["sync"],
            json!({"prune": true, "syncOptions": ["X=y"], "revision": "main"})
        );
        assert_eq!(op["initiatedBy"]["username"], "me@h");
        let held = hold(&o, json!({"k": "v"}));
        assert_eq!(held["spec"]["syncPolicy"]["automated"], Value::Null);
        assert_eq!(
            held["metadata"]["annotations"][SAVED_AUTOMATED],
            r#"{"prune":true,"selfHeal":true}"#
        );
        assert_eq!(held["metadata"]["annotations"]["k"], "v");
        let multi = app(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "a"}, "spec": {"sources": [{"repoURL": "u", "targetRevision": "v1"},
            {"repoURL": "w", "targetRevision": "main"}]}}),
        );
        let revs = ["a1".to_owned(), "b2".to_owned()];
        assert_eq!(
            operation(&multi, Some(&revs), "w", "t", "r")["sync"]["revisions"],
            json!(["a1", "b2"])
        );
        assert_eq!(
            operation(&multi, None, "w", "t", "r")["sync"]["revisions"],
            json!(["v1", "main"])
        );
    }
}
