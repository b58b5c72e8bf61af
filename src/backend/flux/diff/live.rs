//! Desired (the server-side apply dry run) against live, as kustomize-controller and `flux diff` judge
//! drift: labels, annotations, and everything outside metadata and status. What is shown is stripped of
//! server noise (status, managedFields, resourceVersion, uid, generation, timestamps), Secrets masked.

use serde_json::{Map, Value, json};

use crate::diff::mask::MASK;

/// `Kind/namespace/name`, or `Kind/name` for a cluster-scoped object: as `flux diff` names objects.
pub fn object_name(obj: &Value) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let kind = s(obj.get("kind"));
    let meta = obj.get("metadata");
    let name = s(meta.and_then(|m| m.get("name")));
    match meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(ns) if !ns.is_empty() => format!("{kind}/{ns}/{name}"),
        _ => format!("{kind}/{name}"),
    }
}

fn meta_map(obj: &Value, field: &str) -> Map<String, Value> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn without_meta_and_status(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

/// Whether the dry-run result differs from live the way the controller would change it.
pub fn drifted(live: &Value, dry_run: &Value) -> bool {
    meta_map(live, "labels") != meta_map(dry_run, "labels")
        || meta_map(live, "annotations") != meta_map(dry_run, "annotations")
        || without_meta_and_status(live) != without_meta_and_status(dry_run)
}

/// The object as shown: apiVersion, kind, metadata name/namespace/labels/annotations, everything else but
/// status.
pub fn normalise(obj: &Value) -> Value {
    let mut out = without_meta_and_status(obj);
    let mut meta = Map::new();
    if let Some(m) = obj.get("metadata") {
        for key in ["name", "namespace"] {
            if let Some(v) = m.get(key) {
                meta.insert(key.into(), v.clone());
            }
        }
        for key in ["labels", "annotations"] {
            if let Some(v) = m
                .get(key)
                .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
            {
                meta.insert(key.into(), v.clone());
            }
        }
    }
    if let Some(o) = out.as_object_mut() {
        o.insert("metadata".into(), Value::Object(meta));
    }
    out
}

fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Masks the values of a Secret's data and stringData on both sides: equal values as the mask, a changed
/// value as the mask marked `(changed)` on the desired side. Returns whether anything was masked.
pub fn mask_secrets(live: Option<&mut Value>, desired: Option<&mut Value>) -> bool {
    let secret =
        live.as_deref().is_some_and(is_secret) || desired.as_deref().is_some_and(is_secret);
    if !secret {
        return false;
    }
    let before: Map<String, Value> = live
        .as_deref()
        .map(|l| {
            ["data", "stringData"]
                .iter()
                .fold(Map::new(), |mut acc, f| {
                    acc.extend(
                        l.get(*f)
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default(),
                    );
                    acc
                })
        })
        .unwrap_or_default();
    if let Some(d) = desired {
        for field in ["data", "stringData"] {
            if let Some(m) = d.get_mut(field).and_then(Value::as_object_mut) {
                for (k, v) in m.iter_mut() {
                    let same = before.get(k) == Some(v);
                    *v = if same || before.is_empty() {
                        json!(MASK)
                    } else {
                        json!(format!("{MASK} (changed)"))
                    };
                }
            }
        }
    }
    if let Some(l) = live {
        for field in ["data", "stringData"] {
            if let Some(m) = l.get_mut(field).and_then(Value::as_object_mut) {
                for v in m.values_mut() {
                    *v = json!(MASK);
                }
            }
        }
    }
    true
}

/// YAML text of an object for the diff view: apiVersion, kind and metadata first, as kubectl shows them,
/// then the rest in key order.
pub fn to_yaml(obj: &Value) -> String {
    let Some(map) = obj.as_object() else {
        return yaml(obj);
    };
    let (mut head, mut meta, mut rest) = (Map::new(), Map::new(), Map::new());
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => head.insert(k.clone(), v.clone()),
            "metadata" => meta.insert(k.clone(), v.clone()),
            _ => rest.insert(k.clone(), v.clone()),
        };
    }
    [head, meta, rest]
        .into_iter()
        .filter(|m| !m.is_empty())
        .map(|m| yaml(&Value::Object(m)))
        .collect()
}

fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# cannot show: {e}\n"))
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
