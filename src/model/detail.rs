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

    /// Every node of the tree under `nodes`, depth first, with the prefix that draws its branch as `flux
    /// tree` does (`├── `, `└── `, `│   ` under a sibling that follows); ASCII (`|-- `, `` `-- ``, `|   `)
    /// when `ascii`.
    pub fn tree(nodes: &[InventoryNode], ascii: bool) -> Vec<(String, &InventoryNode)> {
        let (mid, last, bar) = if ascii {
            ("|-- ", "`-- ", "|   ")
        } else {
            ("├── ", "└── ", "│   ")
        };
        fn go<'a>(
            n: &'a [InventoryNode],
            indent: &str,
            glyphs: (&str, &str, &str),
            out: &mut Vec<(String, &'a InventoryNode)>,
        ) {
            let (mid, last, bar) = glyphs;
            for (i, node) in n.iter().enumerate() {
                let is_last = i + 1 == n.len();
                out.push((format!("{indent}{}", if is_last { last } else { mid }), node));
                let below = format!("{indent}{}", if is_last { "    " } else { bar });
                go(&node.children, &below, glyphs, out);
            }
        }
        let mut out = Vec::new();
        go(nodes, "", (mid, last, bar), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::InventoryNode;

    fn node(name: &str, children: Vec<InventoryNode>) -> InventoryNode {
        InventoryNode {
            kind: "ConfigMap".into(),
            group: String::new(),
            namespace: "apps".into(),
            name: name.into(),
            children,
            note: None,
        }
    }

    #[test]
    fn the_tree_draws_branches_and_continues_the_bar_under_a_sibling_that_follows() {
        let nodes = vec![node("a", vec![node("a1", vec![]), node("a2", vec![])]), node("b", vec![])];
        let drawn: Vec<String> = InventoryNode::tree(&nodes, false)
            .into_iter()
            .map(|(p, n)| format!("{p}{}", n.name))
            .collect();
        assert_eq!(drawn, ["├── a", "│   ├── a1", "│   └── a2", "└── b"]);
        let ascii: Vec<String> = InventoryNode::tree(&nodes, true)
            .into_iter()
            .map(|(p, n)| format!("{p}{}", n.name))
            .collect();
        assert_eq!(ascii, ["|-- a", "|   |-- a1", "|   `-- a2", "`-- b"]);
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
