//! What a unit's detail adds to its row: every condition its controller reports, and what it manages as a
//! tree (a Flux Kustomization's inventory, with the inventories of the Kustomizations it applies under them).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A condition as the controller wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    /// `lastTransitionTime`.
    pub since: Option<Timestamp>,
}

/// One object a unit manages; a Kustomization's own inventory is under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryNode {
    pub kind: String,
    /// API group (empty for the core group).
    pub group: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<InventoryNode>,
    /// Why the children are not shown (the object could not be read, a cycle, the depth limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl InventoryNode {
    /// `Kind/namespace/name`, or `Kind/name` when cluster-scoped: as `flux tree` names objects.
    pub fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// Every node of the tree under `nodes`, depth first, with its depth.
    pub fn walk(nodes: &[InventoryNode]) -> Vec<(usize, &InventoryNode)> {
        fn go<'a>(n: &'a [InventoryNode], depth: usize, out: &mut Vec<(usize, &'a InventoryNode)>) {
            for node in n {
                out.push((depth, node));
                go(&node.children, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        go(nodes, 0, &mut out);
        out
    }
}

/// A unit's conditions and inventory tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub unit: String,
    pub conditions: Vec<Condition>,
    pub inventory: Vec<InventoryNode>,
    /// Why there is no inventory, when there is none (never applied, a kind without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_note: Option<String>,
}
