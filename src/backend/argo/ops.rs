//! Terminate and refresh, through the Kubernetes API alone.
//!
//! - terminate: what the Argo CD API server's TerminateOperation does (server/application/application.go):
//!   with an operation requested and its state present, `status.operationState.phase = Terminating`
//!   (Applications have no status subresource: a merge patch of the object), retried on a conflict since the
//!   controller writes the status while it runs. The controller then stops the sync (running hooks deleted) and
//!   ends the operation; its final phase and message are the result.
//! - refresh: the annotation `argocd.argoproj.io/refresh: normal|hard`; done when the controller has removed it
//!   and written a `status.reconciledAt` later than the one before the request (or, within the same second,
//!   not older than the request).

use std::time::Duration;

use jiff::Timestamp;
use kube::api::DynamicObject;
use kube::runtime::wait::await_condition;
use serde_json::json;

use super::act::App;
use super::map::{self, annotation};
use crate::backend::BackendError;
use crate::backend::flux::map::{str_at, time_at};

/// The annotation the controller handles and removes.
pub const REFRESH: &str = "argocd.argoproj.io/refresh";

/// Why `obj` has no operation to terminate, as the API server would refuse it.
pub fn nothing_to_terminate(obj: &DynamicObject) -> Option<String> {
    let requested = obj.data.get("operation").is_some_and(|o| !o.is_null());
    let state = obj
        .data
        .pointer("/status/operationState")
        .is_some_and(|o| !o.is_null());
    if !requested || !state {
        return Some(match map::operation_phase(obj) {
            Some(p) => format!("no operation is in progress (the last one ended {p})"),
            None => "no operation is in progress".to_owned(),
        });
    }
    None
}

/// Waits (a watch, not polling) until `cond` holds for the Application, at most `timeout`.
async fn wait(
    app: &App,
    timeout: Duration,
    what: &str,
    cond: impl Fn(&DynamicObject) -> bool + Send + 'static,
) -> Result<DynamicObject, BackendError> {
    let c = move |o: Option<&DynamicObject>| o.is_none_or(&cond);
    match tokio::time::timeout(timeout, await_condition(app.api.clone(), &app.name, c)).await {
        Ok(Ok(Some(o))) => Ok(o),
        Ok(Ok(None)) => Err(BackendError::NotFound(format!(
            "{} was deleted",
            app.label()
        ))),
        Ok(Err(e)) => Err(BackendError::Unavailable(format!(
            "{}: watching for {what}: {e}",
            app.label()
        ))),
        Err(_) => {
            let now = app.get().await.ok();
            Err(BackendError::Failed(format!(
                "{}: sent, but {what} had not happened within {}s (operation phase now: {})",
                app.label(),
                timeout.as_secs(),
                now.as_ref()
                    .and_then(map::operation_phase)
                    .unwrap_or("none")
            )))
        }
    }
}

fn ended(obj: &DynamicObject) -> bool {
    matches!(
        map::operation_phase(obj),
        Some("Succeeded" | "Failed" | "Error")
    )
}

pub async fn terminate(
    client: &kube::Client,
    app: &App,
    who: &str,
    timeout: Duration,
) -> Result<String, BackendError> {
    let sent = app
        .patch_retrying("terminate", |obj| {
            if let Some(why) = nothing_to_terminate(obj) {
                return Err(BackendError::Invalid(format!("{}: {why}", app.label())));
            }
            Ok(json!({"status": {"operationState": {"phase": "Terminating"}}}))
        })
        .await?;
    let note = app
        .record(
            client,
            &sent,
            "terminate",
            &format!("terminate of the running operation by {who}"),
        )
        .await;
    let started = str_at(&sent.data, "/status/operationState/startedAt")
        .unwrap_or_default()
        .to_owned();
    // the operation that was running ends (a new one would have another startedAt)
    let done = wait(app, timeout, "the end of the operation", move |o| {
        ended(o) || str_at(&o.data, "/status/operationState/startedAt") != Some(started.as_str())
    })
    .await?;
    let phase = map::operation_phase(&done).unwrap_or("none");
    let message = str_at(&done.data, "/status/operationState/message").unwrap_or_default();
    match phase {
        "Failed" | "Error" => Ok(format!(
            "terminated: the controller ended the operation {phase}: {message}{note}"
        )),
        _ => Err(BackendError::Failed(format!(
            "{}: the operation was not terminated: it ended {phase}: {message}{note}",
            app.label()
        ))),
    }
}

pub async fn refresh(
    client: &kube::Client,
    app: &App,
    who: &str,
    hard: bool,
    timeout: Duration,
) -> Result<String, BackendError> {
    // reconciledAt has whole seconds: the request's second is the bound
    let asked = Timestamp::from_second(Timestamp::now().as_second())
        .map_err(|e| BackendError::Failed(e.to_string()))?;
    let kind = if hard { "hard" } else { "normal" };
    let before = time_at(&app.get().await?.data, "/status/reconciledAt");
    let sent = app
        .patch_retrying("refresh", |_| {
            Ok(json!({"metadata": {"annotations": {REFRESH: kind}}}))
        })
        .await?;
    let note = app
        .record(
            client,
            &sent,
            "refresh",
            &format!("{kind} refresh by {who}"),
        )
        .await;
    let done = wait(app, timeout, "the controller's refresh", move |o| {
        // advanced past the comparison before the request, or (same second) not older than the request by
        // this host's clock: a controller whose clock is behind still passes the first
        annotation(o, REFRESH).is_none()
            && time_at(&o.data, "/status/reconciledAt")
                .is_some_and(|t| before.is_none_or(|b| t > b) || t >= asked)
    })
    .await?;
    let rev = str_at(&done.data, "/status/sync/revision").unwrap_or_default();
    let mut said = format!(
        "refreshed ({kind}): compared with {}: {}, {}",
        &rev[..rev.len().min(7)],
        str_at(&done.data, "/status/sync/status").unwrap_or("Unknown"),
        str_at(&done.data, "/status/health/status").unwrap_or("Unknown"),
    );
    if let Some(c) = map::error_condition(&done) {
        said.push_str(&format!("; {c}"));
    }
    Ok(format!("{said}{note}"))
}

/// An Application with an operation in `phase`, for tests.
#[cfg(test)]
fn running(phase: &str) -> DynamicObject {
    let v: serde_json::Value = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "a", "namespace": "argocd"},
        "operation": {"sync": {"revision": "main"}},
        "status": {"operationState": {"phase": phase, "startedAt": "2026-01-01T00:00:00Z"}}});
    serde_json::from_value(v).unwrap_or_else(|_| DynamicObject::new("a", &super::resource()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn terminate_needs_a_requested_operation_with_its_state() {
        assert_eq!(nothing_to_terminate(&running("Running")), None);
        let mut done = running("Succeeded");
        done.data["operation"] = Value::Null;
        assert_eq!(
            nothing_to_terminate(&done).as_deref(),
            Some("no operation is in progress (the last one ended Succeeded)")
        );
        let mut requested = running("Running");
        requested.data["status"] = json!({});
        assert!(nothing_to_terminate(&requested).is_some());
        assert!(ended(&running("Failed")) && !ended(&running("Terminating")));
    }
}
