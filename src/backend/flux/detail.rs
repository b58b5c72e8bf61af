//! A unit's conditions and its inventory as a tree, as `flux tree kustomization` shows it: the objects of
//! `status.inventory.entries`, and under each Kustomization among them that Kustomization's own inventory
//! (read once per Kustomization, bounded in depth and count, a cycle cut and said).

use std::collections::BTreeSet;

use jiff::Timestamp;
use kube::api::DynamicObject;
use serde_json::Value;

use super::act::Target;
use super::connect::Conn;
use super::ids::ObjectRef;
use super::kinds;
use crate::model::{Condition, Detail, InventoryNode};

/// Kustomizations nested at most this deep.
const MAX_DEPTH: usize = 8;
/// Child Kustomizations read at most, per tree.
const MAX_READS: usize = 200;

/// Every condition of `obj`, in the controller's order.
pub fn conditions(obj: &DynamicObject) -> Vec<Condition> {
    let Some(list) = obj
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let s = |c: &Value, k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    list.iter()
        .map(|c| Condition {
            kind: s(c, "type"),
            status: s(c, "status"),
            reason: s(c, "reason"),
            message: s(c, "message"),
            since: c
                .get("lastTransitionTime")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<Timestamp>().ok()),
        })
        .collect()
}

/// One inventory id, `<namespace>_<name>_<group>_<kind>` (Flux's `ObjMetadata` form; names and namespaces
/// cannot hold `_`), as a node without children.
pub fn parse_id(id: &str) -> Option<InventoryNode> {
    let mut parts = id.splitn(4, '_');
    let (ns, name, group, kind) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (!name.is_empty() && !kind.is_empty()).then(|| InventoryNode {
        kind: kind.to_owned(),
        group: group.to_owned(),
        namespace: ns.to_owned(),
        name: name.to_owned(),
        children: Vec::new(),
        note: None,
    })
}

/// The objects of `obj`'s `status.inventory`, or why there are none.
pub fn inventory(obj: &DynamicObject) -> Result<Vec<InventoryNode>, String> {
    let Some(entries) = obj
        .data
        .pointer("/status/inventory/entries")
        .and_then(Value::as_array)
    else {
        return Err(if obj.data.pointer("/status/inventory").is_some() {
            "the inventory is empty".into()
        } else {
            "no inventory: nothing applied yet (or a kind that keeps none)".into()
        });
    };
    Ok(entries
        .iter()
        .filter_map(|e| e.get("id").and_then(Value::as_str).and_then(parse_id))
        .collect())
}

fn is_kustomization(n: &InventoryNode) -> bool {
    n.kind == kinds::KUSTOMIZATION.kind && n.group == kinds::KUSTOMIZATION.group
}

/// The detail of the unit `obj` (at `unit`): its conditions, and its inventory with every Kustomization's
/// own inventory under it.
pub async fn detail(conn: &Conn, unit: &str, me: &ObjectRef, obj: &DynamicObject) -> Detail {
    let mut out = Detail {
        unit: unit.to_owned(),
        conditions: conditions(obj),
        ..Detail::default()
    };
    match inventory(obj) {
        Ok(nodes) => {
            let mut seen = BTreeSet::from([(me.namespace.clone(), me.name.clone())]);
            let mut reads = 0usize;
            out.inventory = grow(conn, nodes, 1, &mut seen, &mut reads).await;
        }
        Err(why) => out.inventory_note = Some(why),
    }
    out
}

/// Fills in the children of every Kustomization among `nodes`, depth first.
async fn grow(
    conn: &Conn,
    mut nodes: Vec<InventoryNode>,
    depth: usize,
    seen: &mut BTreeSet<(String, String)>,
    reads: &mut usize,
) -> Vec<InventoryNode> {
    for n in nodes.iter_mut().filter(|n| is_kustomization(n)) {
        if !seen.insert((n.namespace.clone(), n.name.clone())) {
            n.note = Some("shown above (a cycle)".into());
            continue;
        }
        if depth >= MAX_DEPTH || *reads >= MAX_READS {
            n.note = Some(format!(
                "not expanded: at most {MAX_DEPTH} levels and {MAX_READS} Kustomizations are read"
            ));
            continue;
        }
        *reads += 1;
        let child = ObjectRef::new(kinds::KUSTOMIZATION, &n.namespace, &n.name);
        let obj = match Target::new(conn, child) {
            Ok(t) => t.get().await,
            Err(e) => Err(e),
        };
        match obj.map_err(|e| e.to_string()).and_then(|o| inventory(&o)) {
            Ok(children) => {
                n.children = Box::pin(grow(conn, children, depth + 1, seen, reads)).await;
            }
            Err(why) => n.note = Some(why),
        }
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_the_tier_fixture() {
        let obj: DynamicObject =
            serde_json::from_str(include_str!("fixtures/ks-ready.json")).unwrap();
        let inv = inventory(&obj).unwrap();
        assert!(!inv.is_empty());
        assert!(inv.iter().all(|n| !n.name.is_empty() && !n.kind.is_empty()));
        let conds = conditions(&obj);
        assert_eq!(conds[0].kind, "Ready");
        assert_eq!(conds[0].status, "True");
        assert!(conds[0].since.is_some());
        let cm = parse_id("apps_cm__ConfigMap").unwrap();
        assert_eq!(
            (cm.namespace.as_str(), cm.group.as_str(), cm.label()),
            ("apps", "", "ConfigMap/apps/cm".into())
        );
        let ns = parse_id("_apps__Namespace").unwrap();
        assert_eq!(ns.label(), "Namespace/apps");
        let ks = parse_id("apps_child_kustomize.toolkit.fluxcd.io_Kustomization").unwrap();
        assert!(is_kustomization(&ks));
        assert_eq!(parse_id("garbage"), None);
        let bad: DynamicObject =
            serde_json::from_str(include_str!("fixtures/ks-badpath.json")).unwrap();
        assert!(inventory(&bad).unwrap_err().contains("nothing applied"));
    }
}
