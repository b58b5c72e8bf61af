use serde_json::json;

use super::*;

fn live_cm() -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "a", "namespace": "fx", "uid": "u-1", "resourceVersion": "42",
            "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "x"}],
            "labels": {"l": "1"},
        },
        "data": {"k": "v"},
    })
}

#[test]
fn names_objects_as_flux_diff_does() {
    assert_eq!(object_name(&live_cm()), "ConfigMap/fx/a");
    assert_eq!(
        object_name(&json!({"kind": "Namespace", "metadata": {"name": "fx"}})),
        "Namespace/fx"
    );
}

#[test]
fn normalise_drops_server_noise() {
    let n = normalise(&live_cm());
    assert_eq!(
        n,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "fx", "labels": {"l": "1"}},
            "data": {"k": "v"},
        })
    );
}

#[test]
fn drift_is_labels_annotations_and_content() {
    let live = live_cm();
    let mut same = live.clone();
    same["metadata"]["resourceVersion"] = json!("43");
    same["status"] = json!({"x": 1});
    assert!(
        !drifted(&live, &same),
        "server noise and status are not drift"
    );
    let mut data = live.clone();
    data["data"]["k"] = json!("w");
    assert!(drifted(&live, &data));
    let mut label = live.clone();
    label["metadata"]["labels"]["l"] = json!("2");
    assert!(drifted(&live, &label));
}

#[test]
fn secrets_are_masked_with_changes_marked() {
    let mut live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                          "data": {"a": "MQ==", "b": "Mg=="}});
    let mut desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                             "data": {"a": "MQ==", "b": "Mw=="}});
    assert!(mask_secrets(Some(&mut live), Some(&mut desired)));
    assert_eq!(live["data"], json!({"a": MASK, "b": MASK}));
    assert_eq!(
        desired["data"],
        json!({"a": MASK, "b": format!("{MASK} (changed)")})
    );
    let mut cm = live_cm();
    assert!(!mask_secrets(Some(&mut cm), None));
    assert_eq!(cm["data"]["k"], "v");
}

#[test]
fn yaml_shows_kind_and_metadata_first() {
    let text = to_yaml(&normalise(&live_cm()));
    assert_eq!(
        text,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    l: \"1\"\n  name: a\n  namespace: fx\ndata:\n  k: v\n"
    );
}
