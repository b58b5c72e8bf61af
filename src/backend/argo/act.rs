//! Actions on one Application, through the Kubernetes API alone (no Argo CD token): merge patches under the
//! field manager `setpoint`, each built from the object as read just before and carrying its resourceVersion
//! (a concurrent change is never overwritten: on a conflict the object is read again and the patch built again
//! from it, a few times), then an Event on the Application saying who did what and why.
//!
//! - sync: see `sync.rs`.
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

    /// A merge patch built from the object as read now, with its resourceVersion as precondition; on a
    /// conflict (the controller wrote the object meanwhile) read and build again, at most 5 times in all.
    pub(super) async fn patch_retrying(
        &self,
        what: &str,
        build: impl Fn(&DynamicObject) -> Result<Value, BackendError>,
    ) -> Result<DynamicObject, BackendError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let obj = self.get().await?;
            let mut body = build(&obj)?;
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
            match self
                .api
                .patch(&self.name, &params, &Patch::Merge(&body))
                .await
            {
                Ok(o) => return Ok(o),
                Err(kube::Error::Api(s)) if s.code == 409 && tries < 5 => {
                    tracing::debug!(app = %self.label(), what, "conflict, reading again");
                }
                Err(e) => return Err(from_kube(&format!("{what} {}", self.label()), &e)),
            }
        }
    }

    /// Records the action as an Event on the Application; a failure to record is said, never fatal.
    pub(super) async fn record(
        &self,
        client: &kube::Client,
        obj: &DynamicObject,
        action: &str,
        message: &str,
    ) -> String {
        events::record_said(client, obj, &self.ar, &self.label(), action, message).await
    }
}

/// A warning when an ApplicationSet owns the Application: what the real applicationset-controller (3.3.0,
/// tested) does to setpoint's edits.
pub fn owner_warning(obj: &DynamicObject) -> Option<String> {
    map::application_set(obj).map(|set| {
        format!(
            "warning: {set} owns this Application: it reverts the syncPolicy edit unless its \
             ignoreApplicationDifferences covers /spec/syncPolicy, and removes setpoint's annotations unless its \
             preservedFields keep them"
        )
    })
}

/// How long suspend and rollback watch an Application an ApplicationSet owns for the set's reaction (the
/// applicationset-controller watches the Applications it owns and answers within a second on the tier).
const OWNER_WATCH: Duration = Duration::from_secs(5);

/// What the owning ApplicationSet made of setpoint's hold, checked after the fact.
pub(super) enum Owned {
    /// The hold is undone: the message says how.
    Reverted(String),
    /// The hold stands (possibly without setpoint's annotations): the message says what was seen.
    Kept(String),
}

/// What the owning ApplicationSet did to the edit: a failure worded by `reverted` when it undid it, else what
/// to add to the outcome (nothing when no set owns the Application).
async fn owner_verdict(
    app: &App,
    obj: &DynamicObject,
    reverted: impl FnOnce(String) -> String,
) -> Result<String, BackendError> {
    match owner_reaction(app, obj).await {
        Some(Owned::Reverted(why)) => Err(BackendError::Failed(format!(
            "{}: {}",
            app.label(),
            reverted(why)
        ))),
        Some(Owned::Kept(what)) => Ok(format!("; {what}")),
        None => Ok(String::new()),
    }
}

/// Watches the Application (at most [`OWNER_WATCH`]) until its owning ApplicationSet undoes the hold (auto-sync
/// on again, or setpoint's saved policy gone); `None` when no ApplicationSet owns it.
pub(super) async fn owner_reaction(app: &App, obj: &DynamicObject) -> Option<Owned> {
    let set = map::application_set(obj)?;
    let undone =
        |o: &DynamicObject| map::auto_sync(o) || map::annotation(o, SAVED_AUTOMATED).is_none();
    let cond = move |o: Option<&DynamicObject>| o.is_none_or(undone);
    let seen = tokio::time::timeout(
        OWNER_WATCH,
        await_condition(app.api.clone(), &app.name, cond),
    )
    .await;
    Some(match seen {
        Ok(Ok(Some(o))) if map::auto_sync(&o) => Owned::Reverted(format!(
            "{set} reverted the edit: auto-sync is on again (the set regenerates the spec; an \
             ignoreApplicationDifferences entry with /spec/syncPolicy keeps such an edit)"
        )),
        Ok(Ok(Some(_))) => Owned::Kept(format!(
            "auto-sync stays off (the set ignores /spec/syncPolicy), but {set} removed setpoint's annotations \
             (the saved policy, who and why): resume cannot restore the policy (the set's \
             preservedFields.annotations keep them)"
        )),
        Ok(Ok(None)) => Owned::Reverted(format!("{set} deleted the Application")),
        Ok(Err(e)) => Owned::Kept(format!(
            "{set} owns this Application; what it does to the edit could not be watched: {e}"
        )),
        Err(_) => Owned::Kept(format!(
            "{} (not reverted {} s later)",
            owner_warning(obj).unwrap_or(set),
            OWNER_WATCH.as_secs()
        )),
    })
}

pub(super) fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The patch that turns automation off and remembers the policy (unless already remembered): with
/// `enabled_field` (the served CRD has `automated.enabled`), `enabled: false` keeping prune and selfHeal in
/// the spec; else `automated` removed.
pub(super) fn hold(obj: &DynamicObject, annotations: Value, enabled_field: bool) -> Value {
    let current = obj
        .data
        .pointer("/spec/syncPolicy/automated")
        .cloned()
        .unwrap_or(Value::Null);
    let saved = map::annotation(obj, SAVED_AUTOMATED)
        .map(str::to_owned)
        .unwrap_or_else(|| current.to_string());
    let off = if enabled_field && current.is_object() {
        json!({"enabled": false})
    } else if enabled_field {
        current // already off: nothing to turn off
    } else {
        Value::Null
    };
    let mut body = json!({
        "metadata": {"annotations": {SAVED_AUTOMATED: saved}},
        "spec": {"syncPolicy": {"automated": off}},
    });
    merge(&mut body, json!({"metadata": {"annotations": annotations}}));
    body
}

/// The `automated` a resume patches in: the remembered policy, with an `enabled: false` left by suspend
/// removed unless the policy had it.
pub(super) fn restored(saved: Value) -> Value {
    match saved {
        Value::Object(mut m) => {
            m.entry("enabled").or_insert(Value::Null);
            Value::Object(m)
        }
        other => other,
    }
}

pub async fn suspend(
    client: &kube::Client,
    app: &App,
    who: &str,
    reason: &str,
    enabled_field: bool,
) -> Result<String, BackendError> {
    let at = Timestamp::now().to_string();
    let was = std::sync::atomic::AtomicBool::new(false);
    let after = app
        .patch_retrying("suspend", |obj| {
            if map::is_suspended(obj) {
                return Err(BackendError::Invalid(format!(
                    "{} is already suspended",
                    app.label()
                )));
            }
            was.store(map::auto_sync(obj), std::sync::atomic::Ordering::Relaxed);
            Ok(hold(
                obj,
                json!({SUSPENDED_BY: who, SUSPEND_REASON: reason, SUSPENDED_AT: at}),
                enabled_field,
            ))
        })
        .await?;
    let was = was.load(std::sync::atomic::Ordering::Relaxed);
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
    let warn = owner_verdict(app, &after, |why| format!("suspended, then {why}{note}")).await?;
    let how = if enabled_field && was {
        "turned off (automated.enabled: false, prune and selfHeal kept)"
    } else if was {
        "turned off (automated removed)"
    } else {
        "was already off"
    };
    Ok(format!(
        "suspended: auto-sync {how} (policy kept for resume){warn}{note}"
    ))
}

/// Restores the remembered automation and drops setpoint's suspend and pin annotations.
pub async fn resume(client: &kube::Client, app: &App, who: &str) -> Result<String, BackendError> {
    let on = std::sync::atomic::AtomicBool::new(false);
    let after = app
        .patch_retrying("resume", |obj| {
            let Some(saved) = map::annotation(obj, SAVED_AUTOMATED) else {
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
            on.store(
                automated.is_object() && automated.get("enabled") != Some(&Value::Bool(false)),
                std::sync::atomic::Ordering::Relaxed,
            );
            Ok(json!({
                "metadata": {"annotations": {SAVED_AUTOMATED: null, SUSPENDED_BY: null, SUSPEND_REASON: null,
                    SUSPENDED_AT: null, PINNED_AT_REVISION: null, PIN_REASON: null}},
                "spec": {"syncPolicy": {"automated": restored(automated)}},
            }))
        })
        .await?;
    let on = on.load(std::sync::atomic::Ordering::Relaxed);
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
    enabled_field: bool,
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
    // built from the Application as the sync's patch reads it (again after a conflict)
    let extra = |o: &DynamicObject| {
        hold(
            o,
            json!({PINNED_AT_REVISION: sha, PIN_REASON: reason}),
            enabled_field,
        )
    };
    let done = super::sync::sync(
        client,
        app,
        Some(&revisions),
        &extra,
        who,
        reason,
        "rollback",
        timeout,
    )
    .await?;
    let warn = owner_verdict(app, &obj, |why| {
        format!("rolled back ({done}), then {why}: the controller will sync targetRevision again")
    })
    .await?;
    Ok(format!(
        "rolled back, auto-sync off until resume: {done}{warn}"
    ))
}
