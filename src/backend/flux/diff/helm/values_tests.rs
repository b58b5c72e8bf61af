use super::*;
use serde_json::json;

fn reference(kind: &str, name: &str, extra: Value) -> Reference {
    let mut r = json!({"kind": kind, "name": name});
    if let (Some(o), Some(e)) = (r.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    Reference::all(&json!({ "valuesFrom": [r] })).remove(0)
}

fn data(s: &str) -> Got {
    Got::Data(Some(s.to_owned()))
}

#[test]
fn references_default_to_the_values_yaml_key() {
    let r = reference("ConfigMap", "a", json!({}));
    assert_eq!(r.key, "values.yaml");
    assert!(!r.optional && r.target_path.is_empty());
    let r = reference(
        "Secret",
        "b",
        json!({"valuesKey": "x.yaml", "optional": true}),
    );
    assert_eq!((r.key.as_str(), r.optional), ("x.yaml", true));
}

#[test]
fn references_merge_in_order_and_inline_values_win() {
    let refs = vec![
        (
            reference("ConfigMap", "base", json!({})),
            data("image: {repo: a, tag: '1'}\nreplicas: 1\nlist: [1, 2]\n"),
        ),
        (
            reference("Secret", "over", json!({})),
            data("image: {tag: '2'}\nlist: [3]\n"),
        ),
    ];
    let inline = json!({"replicas": 3, "image": {"pullPolicy": "Always"}});
    let c = compose(&inline, &refs).unwrap();
    assert_eq!(
        Value::Object(c.values),
        json!({"image": {"repo": "a", "tag": "2", "pullPolicy": "Always"}, "replicas": 3, "list": [3]})
    );
    assert!(c.gaps.is_empty());
}

#[test]
fn a_mapping_replaces_a_flat_value_and_back() {
    let a = json!({"x": 1, "y": {"z": 1}});
    let b = json!({"x": {"deep": true}, "y": "flat"});
    let m = merge_maps(a.as_object().unwrap(), b.as_object().unwrap());
    assert_eq!(Value::Object(m), json!({"x": {"deep": true}, "y": "flat"}));
}

#[test]
fn target_paths_set_typed_values_as_helm_set_does() {
    let refs = vec![
        (
            reference("Secret", "s", json!({"targetPath": "db.password"})),
            data("s3cr3t"),
        ),
        (
            reference(
                "ConfigMap",
                "c",
                json!({"targetPath": "replicas", "valuesKey": "n"}),
            ),
            data("4"),
        ),
        (
            reference(
                "ConfigMap",
                "c",
                json!({"targetPath": "tag", "valuesKey": "t"}),
            ),
            data("\"0123\""),
        ),
        (
            reference(
                "ConfigMap",
                "c",
                json!({"targetPath": "a\\.b.on", "valuesKey": "b"}),
            ),
            data("TRUE"),
        ),
        (
            reference(
                "ConfigMap",
                "c",
                json!({"targetPath": "zip", "valuesKey": "z"}),
            ),
            data("0755"),
        ),
        (
            reference(
                "ConfigMap",
                "c",
                json!({"targetPath": "conf", "valuesKey": "l", "literal": true}),
            ),
            data("a,b={c}"),
        ),
    ];
    let c = compose(&json!({"db": {"user": "u"}}), &refs).unwrap();
    assert_eq!(
        Value::Object(c.values),
        json!({"db": {"user": "u", "password": "s3cr3t"}, "replicas": 4, "tag": "0123",
               "a.b": {"on": true}, "zip": "0755", "conf": "a,b={c}"})
    );
    assert!(c.gaps.is_empty(), "{:?}", c.gaps);
}

#[test]
fn what_set_parsing_would_read_further_is_a_gap() {
    let refs = vec![(
        reference("ConfigMap", "c", json!({"targetPath": "x"})),
        data("a,b=2"),
    )];
    let c = compose(&json!(null), &refs).unwrap();
    assert_eq!(Value::Object(c.values), json!({"x": "a"}));
    assert_eq!(c.gaps.len(), 1, "{:?}", c.gaps);
    let refs = vec![(
        reference("ConfigMap", "c", json!({"targetPath": "x[0]"})),
        data("a"),
    )];
    let c = compose(&json!(null), &refs).unwrap();
    assert!(c.values.is_empty() && c.gaps[0].contains("list index"));
}

#[test]
fn missing_references_fail_unless_optional_and_unreadable_ones_are_said() {
    let required = reference("ConfigMap", "gone", json!({}));
    let err = compose(&json!({}), &[(required.clone(), Got::NotFound)]).unwrap_err();
    assert!(
        err.contains("ConfigMap gone") && err.contains("not found"),
        "{err}"
    );
    let err = compose(&json!({}), &[(required, Got::Data(None))]).unwrap_err();
    assert!(err.contains("key is missing"), "{err}");
    let optional = reference("ConfigMap", "gone", json!({"optional": true}));
    let c = compose(&json!({"a": 1}), &[(optional.clone(), Got::NotFound)]).unwrap();
    assert_eq!(Value::Object(c.values), json!({"a": 1}));
    let c = compose(&json!({}), &[(optional, Got::Data(None))]).unwrap();
    assert!(c.gaps.is_empty());
    let secret = reference("Secret", "vals", json!({}));
    let c = compose(
        &json!({}),
        &[(secret, Got::Unreadable("403 forbidden".into()))],
    )
    .unwrap();
    assert!(
        c.gaps[0].contains("Secret vals") && c.gaps[0].contains("403"),
        "{:?}",
        c.gaps
    );
    let bad = reference("ConfigMap", "c", json!({}));
    assert!(compose(&json!({}), &[(bad, data("- a list"))]).is_err());
    let other = reference("Bucket", "b", json!({}));
    assert!(compose(&json!({}), &[(other, data("a: 1"))]).is_err());
}

#[test]
fn release_names_as_helm_controller_computes_them() {
    assert_eq!(release_name(&json!({}), "web"), "web");
    assert_eq!(
        release_name(&json!({"targetNamespace": "prod"}), "web"),
        "prod-web"
    );
    assert_eq!(
        release_name(
            &json!({"targetNamespace": "prod", "releaseName": "r"}),
            "web"
        ),
        "r"
    );
    let long = "some-front-appended-namespace-release-with-a-very-long-name-x";
    assert_eq!(
        release_name(&json!({"releaseName": long}), "web"),
        "some-front-appended-namespace-release-wi-22f6d0c03394"
    );
    let at_limit = "a".repeat(53);
    assert_eq!(release_name(&json!({}), &at_limit), at_limit);
}
