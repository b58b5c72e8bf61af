//! core/v1 Events: those of one unit and its source (listed for that object, never a cluster-wide watch),
//! and the Event each action records on its object so colleagues using kubectl or flux see it.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event as KubeEvent, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};

use super::error::from_kube;
use super::ids::ObjectRef;
use crate::backend::BackendError;
use crate::model::{Event, Severity};

/// The component named in the Events setpoint records.
pub const COMPONENT: &str = "setpoint";

/// A core/v1 Event as one of the unit's events. Pure.
/// `raw` as the unit's events, newest first.
pub fn newest_first(unit_id: &str, raw: &[KubeEvent]) -> Vec<Event> {
    let mut out: Vec<Event> = raw.iter().filter_map(|e| to_event(unit_id, e)).collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.time));
    out
}

pub fn to_event(unit_id: &str, e: &KubeEvent) -> Option<Event> {
    let time = e
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
    let severity = match e.type_.as_deref() {
        Some("Warning") => Severity::Warning,
        _ => Severity::Info,
    };
    // Flux's controllers annotate the revision as `<group>/revision`
    let revision = e.metadata.annotations.as_ref().and_then(|a| {
        a.iter()
            .find(|(k, _)| k.ends_with("/revision"))
            .and_then(|(_, v)| v.parse().ok())
    });
    let kind = e.involved_object.kind.as_deref().unwrap_or_default();
    let message = e.message.clone().unwrap_or_default();
    let message = if kind.is_empty() || unit_id.contains(&format!("/{kind}/")) {
        message
    } else {
        let name = e.involved_object.name.as_deref().unwrap_or_default();
        format!("{kind}/{name}: {message}")
    };
    Some(Event {
        time,
        unit: unit_id.to_owned(),
        severity,
        reason: e.reason.clone().unwrap_or_default(),
        message,
        revision,
    })
}

/// The Events of one object, by field selector in its namespace.
pub async fn of_object(client: &Client, obj: &ObjectRef) -> Result<Vec<KubeEvent>, BackendError> {
    let api: Api<KubeEvent> = Api::namespaced(client.clone(), &obj.namespace);
    let selector = format!(
        "involvedObject.kind={},involvedObject.name={}",
        obj.kind.kind, obj.name
    );
    let list = api
        .list(&ListParams::default().fields(&selector))
        .await
        .map_err(|e| from_kube(&format!("events of {}/{}", obj.namespace, obj.name), &e))?;
    Ok(list.items)
}

/// Records the action as an Event on `target` (of resource `ar`, named `label` in the log): the words to add to
/// the outcome, empty when it was recorded; a failure to record is said, never fatal.
pub async fn record_said(
    client: &Client,
    target: &DynamicObject,
    ar: &kube::api::ApiResource,
    label: &str,
    action: &str,
    message: &str,
) -> String {
    match record(client, target, &ar.api_version, &ar.kind, action, message).await {
        Ok(()) => String::new(),
        Err(e) => {
            tracing::warn!(target = %label, error = %e, "event not recorded");
            format!(" (the Event was not recorded: {e})")
        }
    }
}

/// Records on `target` that `who` did `action` (`reason` says why); the Event's reason is `Setpoint<Action>`.
pub async fn record(
    client: &Client,
    target: &DynamicObject,
    api_version: &str,
    kind: &str,
    action: &str,
    message: &str,
) -> Result<(), BackendError> {
    let ns = target.metadata.namespace.clone().unwrap_or_default();
    let name = target.metadata.name.clone().unwrap_or_default();
    let now = Timestamp::now();
    let mut reason: String = action
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    reason.insert_str(0, "Setpoint");
    let event = KubeEvent {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}.setpoint.")),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: target.metadata.uid.clone(),
            resource_version: target.metadata.resource_version.clone(),
            ..Default::default()
        },
        reason: Some(reason),
        message: Some(message.to_owned()),
        type_: Some("Normal".to_owned()),
        source: Some(EventSource {
            component: Some(COMPONENT.to_owned()),
            ..Default::default()
        }),
        reporting_component: Some(COMPONENT.to_owned()),
        reporting_instance: Some(whoami::hostname().unwrap_or_else(|_| "unknown".to_owned())),
        action: Some(action.to_owned()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        ..Default::default()
    };
    Api::<KubeEvent>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &event)
        .await
        .map_err(|e| from_kube(&format!("recording an event on {ns}/{name}"), &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_event_with_revision_and_a_source_event_named() {
        let e: KubeEvent = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x", "namespace": "apps",
                         "annotations": {"kustomize.toolkit.fluxcd.io/revision":
                             "main@sha1:112f5131c59ef7108dcc91a58cf45aca4309b2ee"}},
            "involvedObject": {"kind": "Kustomization", "name": "web", "namespace": "apps"},
            "reason": "ReconciliationSucceeded", "message": "Reconciliation finished", "type": "Normal",
            "lastTimestamp": "2026-11-27T02:14:07Z"
        }))
        .unwrap();
        let ev = to_event("flux/c/apps/Kustomization/web", &e).unwrap();
        assert_eq!(ev.severity, Severity::Info);
        assert_eq!(ev.reason, "ReconciliationSucceeded");
        assert_eq!(ev.message, "Reconciliation finished");
        assert!(ev.revision.is_some());
        let mut w = e.clone();
        w.type_ = Some("Warning".into());
        w.involved_object.kind = Some("GitRepository".into());
        w.involved_object.name = Some("apps".into());
        let ev = to_event("flux/c/apps/Kustomization/web", &w).unwrap();
        assert_eq!(ev.severity, Severity::Warning);
        assert_eq!(ev.message, "GitRepository/apps: Reconciliation finished");
    }
}
