use super::*;
use serde_json::json;

fn removed(mut doc: Value, pointer: &str) -> Value {
    remove(&mut doc, pointer).unwrap();
    doc
}

fn deployment(name: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod", "labels": {"app": name}},
        "spec": {"replicas": replicas,
                 "template": {"spec": {"containers": [{"name": "a", "image": "a:1"},
                                                     {"name": "b", "image": "b:1"}]}}}
    })
}

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "prod"},
           "data": {"a/b": "1", "m~n": "2", "keep": "3"}})
}

fn spec(ignore: Value) -> Value {
    json!({"driftDetection": {"mode": "enabled", "ignore": ignore}})
}

#[test]
fn a_pointer_removes_a_key_or_an_array_element() {
    let d = removed(deployment("web", 3), "/spec/replicas");
    assert_eq!(d.pointer("/spec/replicas"), None);
    assert_eq!(
        d.pointer("/spec/template/spec/containers/1/name"),
        Some(&json!("b"))
    );
    let d = removed(deployment("web", 3), "/spec/template/spec/containers/0");
    assert_eq!(
        d.pointer("/spec/template/spec/containers/0/name"),
        Some(&json!("b"))
    );
    // a negative index counts from the end
    let d = removed(deployment("web", 3), "/spec/template/spec/containers/-1");
    assert_eq!(
        d.pointer("/spec/template/spec/containers"),
        Some(&json!([{"name": "a", "image": "a:1"}]))
    );
    let d = removed(
        deployment("web", 3),
        "/spec/template/spec/containers/-1/image",
    );
    assert_eq!(
        d.pointer("/spec/template/spec/containers/1"),
        Some(&json!({"name": "b"}))
    );
}

#[test]
fn escaped_segments_name_keys_with_slash_and_tilde() {
    let c = removed(config_map("c"), "/data/a~1b");
    assert_eq!(c["data"], json!({"m~n": "2", "keep": "3"}));
    let c = removed(c, "/data/m~0n");
    assert_eq!(c["data"], json!({"keep": "3"}));
    assert_eq!(unescape("~01"), "~1");
    assert_eq!(unescape("~2~"), "~2~");
}

#[test]
fn a_path_that_is_not_there_removes_nothing() {
    let d = deployment("web", 3);
    for p in [
        "/spec/paused",
        "/status/replicas",
        "/spec/replicas/x",
        "/spec/template/spec/containers/2",
        "/spec/template/spec/containers/-3",
        "/spec/template/spec/containers/x/image",
        "/metadata/labels/nope",
        "/",
        "no-slash",
    ] {
        assert_eq!(removed(d.clone(), p), d, "{p}");
    }
}

#[test]
fn a_pointer_is_read_from_its_first_slash_and_empty_segments_stay() {
    // as helm-controller's JSON patch library reads them
    assert_eq!(
        removed(deployment("web", 3), "spec/replicas"),
        deployment("web", 3)
    );
    let d = removed(deployment("web", 3), "x/spec/replicas");
    assert_eq!(d.pointer("/spec/replicas"), None);
    let d = removed(deployment("web", 3), "/spec//replicas");
    assert_eq!(d.pointer("/spec/replicas"), None);
}

#[test]
fn a_last_segment_that_is_not_an_index_of_an_array_fails() {
    let mut d = deployment("web", 3);
    let e = remove(&mut d, "/spec/template/spec/containers/-").unwrap_err();
    assert!(e.contains("not an index"), "{e}");
    assert_eq!(d, deployment("web", 3));
}

#[test]
fn strip_removes_from_both_sides_or_from_neither() {
    let (mut dry, mut live) = (deployment("web", 3), deployment("web", 5));
    live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("a:2");
    strip(&mut dry, &mut live, &vec![(0, "/spec/replicas".into())]).unwrap();
    assert_eq!(dry.pointer("/spec/replicas"), None);
    assert_eq!(live.pointer("/spec/replicas"), None);
    assert_eq!(
        live.pointer("/spec/template/spec/containers/0/image"),
        Some(&json!("a:2"))
    );
    let (mut dry, mut live) = (deployment("web", 3), deployment("web", 5));
    let paths = vec![
        (0, "/spec/replicas".into()),
        (1, "/spec/template/spec/containers/x".into()),
    ];
    let e = strip(&mut dry, &mut live, &paths).unwrap_err();
    assert!(
        e.starts_with("spec.driftDetection.ignore[1] path \"/spec/template/spec/containers/x\""),
        "{e}"
    );
    assert_eq!((dry, live), (deployment("web", 3), deployment("web", 5)));
}

#[test]
fn targets_select_the_objects_a_rule_applies_to() {
    let mut rules = Rules::of(&spec(json!([
        {"paths": ["/spec/replicas"], "target": {"kind": "Deployment", "name": "web-.*"}},
        {"paths": ["/data/keep"], "target": {"kind": "ConfigMap", "labelSelector": "app=c"}},
        {"paths": ["/metadata/labels/app"]},
    ])));
    assert!(rules.problems.is_empty() && rules.quirks.is_empty());
    let paths = |rules: &mut Rules, o: &Value| {
        rules.paths_for(o, &super::super::super::live::object_name(o))
    };
    assert_eq!(
        paths(&mut rules, &deployment("web-api", 1)),
        vec![
            (0, "/spec/replicas".to_owned()),
            (2, "/metadata/labels/app".to_owned())
        ]
    );
    assert_eq!(
        paths(&mut rules, &deployment("web", 1)),
        vec![(2, "/metadata/labels/app".to_owned())]
    );
    assert_eq!(
        paths(&mut rules, &config_map("c")),
        vec![(2, "/metadata/labels/app".to_owned())]
    );
    let notes = rules.notes();
    assert_eq!(
        notes[0],
        "spec.driftDetection.ignore[0]: \"/spec/replicas\" left out of the comparison (both sides) of \
         Deployment/prod/web-api, as helm-controller's drift detection ignores it"
    );
    assert_eq!(
        notes[1],
        "spec.driftDetection.ignore[1] (\"/data/keep\") selects none of the rendered objects"
    );
    assert!(
        notes[2].contains("Deployment/prod/web-api, Deployment/prod/web, ConfigMap/prod/c"),
        "{}",
        notes[2]
    );
}

#[test]
fn of_several_rules_without_a_target_only_the_last_applies() {
    let mut rules = Rules::of(&spec(json!([
        {"paths": ["/spec/replicas"]},
        {"paths": ["/data/keep"], "target": {"kind": "ConfigMap"}},
        {"paths": ["/spec/paused"]},
    ])));
    assert_eq!(
        rules.quirks,
        [
            "spec.driftDetection.ignore[0] is not applied: helm-controller keeps the paths of only the last rule \
          without a target (ignore[2])"
        ]
    );
    assert_eq!(
        rules.paths_for(&deployment("web", 1), "d"),
        vec![(2, "/spec/paused".to_owned())]
    );
}

#[test]
fn rules_that_cannot_apply_are_said() {
    let rules = Rules::of(&spec(json!([
        {"paths": ["/spec/replicas"], "target": {"labelSelector": "app in web"}},
        {"paths": ["spec/replicas", 3], "target": {"kind": "Deployment"}},
    ])));
    assert_eq!(rules.problems.len(), 2, "{:?}", rules.problems);
    assert!(rules.problems[0].starts_with("spec.driftDetection.ignore[0].target: labelSelector"));
    assert!(rules.problems[0].contains("helm-controller's drift detection fails on it"));
    assert_eq!(
        rules.problems[1],
        "spec.driftDetection.ignore[1]: a path that is not a string: 3"
    );
    assert_eq!(rules.quirks.len(), 1);
    assert!(
        rules.quirks[0].contains("\"spec/replicas\" is not a JSON pointer"),
        "{:?}",
        rules.quirks
    );
    assert!(
        rules.quirks[0].contains("(\"/replicas\")"),
        "{:?}",
        rules.quirks
    );
}

#[test]
fn the_root_path_leaves_the_object_out_whole() {
    let mut rules = Rules::of(&spec(
        json!([{"paths": [""], "target": {"kind": "Secret"}}]),
    ));
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    assert_eq!(whole(&rules.paths_for(&secret, "Secret/s")), Some(0));
    assert_eq!(
        whole(&rules.paths_for(&config_map("c"), "ConfigMap/prod/c")),
        None
    );
}

#[test]
fn the_mode_is_said_when_drift_detection_is_set() {
    assert_eq!(mode_note(&json!({})), None);
    assert!(
        mode_note(&spec(json!([])))
            .unwrap()
            .contains("mode enabled: helm-controller corrects drift")
    );
    let m = mode_note(&json!({"driftDetection": {"ignore": []}})).unwrap();
    assert!(m.contains("disabled (the default)"), "{m}");
    assert!(
        mode_note(&json!({"driftDetection": {"mode": "warn"}}))
            .unwrap()
            .contains("does not correct")
    );
}

#[test]
fn an_object_marked_drift_detection_disabled_is_left_out() {
    let mut marked = config_map("c");
    marked["metadata"]["annotations"] = json!({EXCLUDE_KEY: "Disabled"});
    assert_eq!(excluded(&marked, None), Some("rendered"));
    assert_eq!(excluded(&config_map("c"), Some(&marked)), Some("live"));
    let mut labelled = config_map("c");
    labelled["metadata"]["labels"] = json!({EXCLUDE_KEY: "disabled"});
    assert_eq!(excluded(&config_map("c"), Some(&labelled)), Some("live"));
    let mut other = config_map("c");
    other["metadata"]["labels"] = json!({EXCLUDE_KEY: "enabled"});
    assert_eq!(excluded(&other, Some(&config_map("c"))), None);
}
