//! The sync operation, as the Argo CD API server starts it: `operation` (sync.revision(s), syncOptions,
//! prune, initiatedBy.username, info) with `status.operationState: null` in one merge patch, refused while an
//! operation is requested or running; then the Application is watched (not polled) until the controller
//! finishes *this* operation (found by the request token in `operation.info`), and its phase is the result.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::DynamicObject;
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};

use super::act::{App, merge};
use super::map::{self, SAVED_AUTOMATED};
use crate::backend::BackendError;

/// The `info` entry that marks setpoint's own operation.
const TOKEN: &str = "setpoint-request";

fn refuse_if_busy(app: &App, obj: &DynamicObject) -> Result<(), BackendError> {
    if map::operation_in_progress(obj) {
        return Err(BackendError::Invalid(format!(
            "{}: an operation is already {} ({}); terminate it (setpoint terminate) or wait for it to finish",
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

/// Sends a sync (to `revisions`, else the targetRevision; with `extra(obj)` merged into the same patch) and
/// waits for the controller's result: Ok(message) when it Succeeded, Err with its message otherwise. A
/// conflict (the controller wrote the Application meanwhile, e.g. right after an operation ended) reads it
/// again and builds the patch again from what it holds now, as the API server's SetAppOperation retries.
#[allow(clippy::too_many_arguments)]
pub async fn sync(
    client: &kube::Client,
    app: &App,
    revisions: Option<&[String]>,
    extra: &(dyn Fn(&DynamicObject) -> Value + Send + Sync),
    who: &str,
    reason: &str,
    action: &str,
    timeout: Duration,
) -> Result<String, BackendError> {
    let token = format!("{who} {}", Timestamp::now());
    let sent = app
        .patch_retrying(action, |obj| {
            refuse_if_busy(app, obj)?;
            let mut body = json!({
                "operation": operation(obj, revisions, who, &token, reason),
                "status": {"operationState": null},
            });
            merge(&mut body, extra(obj));
            Ok(body)
        })
        .await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::argo::act::hold;

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
        let held = hold(&o, json!({"k": "v"}), false);
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
