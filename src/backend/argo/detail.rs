//! An Application's detail (pure): its conditions as Argo CD wrote them, preceded by its sync, health and last
//! operation as conditions, and the objects it manages (`status.resources`) with their sync status and health.

use kube::api::DynamicObject;
use serde_json::Value;

use crate::model::{Condition, Detail, InventoryNode};

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn time(v: &Value, pointer: &str) -> Option<jiff::Timestamp> {
    v.pointer(pointer)?.as_str()?.parse().ok()
}

pub fn detail(unit: &str, obj: &DynamicObject) -> Detail {
    let d = &obj.data;
    let mut conditions = vec![
        Condition {
            kind: "Sync".into(),
            status: s(d, "/status/sync/status").into(),
            reason: String::new(),
            message: format!("revision {}", s(d, "/status/sync/revision")),
            since: time(d, "/status/reconciledAt"),
        },
        Condition {
            kind: "Health".into(),
            status: s(d, "/status/health/status").into(),
            reason: String::new(),
            message: s(d, "/status/health/message").into(),
            since: time(d, "/status/health/lastTransitionTime"),
        },
    ];
    if d.pointer("/status/operationState")
        .is_some_and(|o| !o.is_null())
    {
        conditions.push(Condition {
            kind: "Operation".into(),
            status: s(d, "/status/operationState/phase").into(),
            reason: s(d, "/status/operationState/operation/initiatedBy/username").into(),
            message: s(d, "/status/operationState/message").into(),
            since: time(d, "/status/operationState/finishedAt")
                .or_else(|| time(d, "/status/operationState/startedAt")),
        });
    }
    for c in d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        conditions.push(Condition {
            kind: s(c, "/type").into(),
            status: "True".into(),
            reason: String::new(),
            message: s(c, "/message").into(),
            since: time(c, "/lastTransitionTime"),
        });
    }
    let inventory: Vec<InventoryNode> = d
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let health = s(r, "/health/status");
            let mut note = s(r, "/status").to_owned();
            if !health.is_empty() {
                note = format!("{note}, {health}");
            }
            if r.get("requiresPruning").and_then(Value::as_bool) == Some(true) {
                note.push_str(", requires pruning");
            }
            InventoryNode {
                kind: s(r, "/kind").into(),
                group: s(r, "/group").into(),
                namespace: s(r, "/namespace").into(),
                name: s(r, "/name").into(),
                children: Vec::new(),
                note: (!note.is_empty()).then_some(note),
            }
        })
        .collect();
    Detail {
        unit: unit.to_owned(),
        inventory_note: inventory
            .is_empty()
            .then(|| "status.resources is empty (nothing compared or deployed yet)".to_owned()),
        conditions,
        inventory,
    }
}

/// The sync windows' verdict as a condition: `Denied`, `ManualOnly`, `Allowed`, or `None` when no window of
/// the project applies.
pub fn window(v: Option<&super::windows::Verdict>) -> Condition {
    let (status, message) = match v {
        None => ("None", "no sync window of the project applies".to_owned()),
        Some(v) if !v.manual => ("Denied", v.message.clone()),
        Some(v) if !v.automatic => ("ManualOnly", v.message.clone()),
        Some(v) => ("Allowed", v.message.clone()),
    };
    Condition {
        kind: "SyncWindow".into(),
        status: status.into(),
        reason: String::new(),
        message,
        since: None,
    }
}

/// The AppProject's verdict as a condition: `Permitted` or `Denied` (the rules that refuse, and what could
/// not be judged).
pub fn project(v: &super::project::Verdict) -> Condition {
    let mut said: Vec<&str> = v.refusals.iter().map(String::as_str).collect();
    said.extend(v.notes.iter().map(String::as_str));
    Condition {
        kind: "Project".into(),
        status: if v.refusals.is_empty() {
            "Permitted"
        } else {
            "Denied"
        }
        .into(),
        reason: String::new(),
        message: if said.is_empty() {
            "the project permits the sources, the destination and the known objects".into()
        } else {
            said.join("; ")
        },
        since: None,
    }
}

pub fn project_unknown(why: &str) -> Condition {
    Condition {
        kind: "Project".into(),
        status: "Unknown".into(),
        reason: String::new(),
        message: format!("the project could not be read: {why}"),
        since: None,
    }
}

pub fn window_unknown(why: &str) -> Condition {
    Condition {
        kind: "SyncWindow".into(),
        status: "Unknown".into(),
        reason: String::new(),
        message: format!("the project could not be read: {why}"),
        since: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_and_resources_of_a_failed_sync() {
        let path = format!(
            "{}/src/backend/argo/fixtures/rejected.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let obj: DynamicObject =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let d = detail("u", &obj);
        let kinds: Vec<&str> = d.conditions.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["Sync", "Health", "Operation", "SyncError"]);
        assert_eq!(d.conditions[0].status, "OutOfSync");
        assert_eq!(d.conditions[2].status, "Failed");
        assert!(d.conditions[2].message.contains("Not_Valid"));
        assert_eq!(d.inventory.len(), 1);
        assert_eq!(d.inventory[0].label(), "ConfigMap/fx/Not_Valid");
        assert_eq!(d.inventory[0].note.as_deref(), Some("OutOfSync"));
        assert_eq!(d.inventory_note, None);
    }
}
