use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn generated_lists_yaml_files_and_kustomized_subdirectories() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.yaml", "kind: ConfigMap\n");
    write(d.path(), "nested/b.yml", "kind: ConfigMap\n");
    write(d.path(), "nested/notes.txt", "not yaml\n");
    write(d.path(), "base/kustomization.yaml", "resources: [c.yaml]\n");
    write(d.path(), "base/c.yaml", "kind: ConfigMap\n");
    let k = generated(d.path()).unwrap();
    assert_eq!(
        k["resources"],
        json!(["./a.yaml", "./base", "./nested/b.yml"])
    );
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        generated(empty.path()).unwrap()["namespace"],
        "_placeholder"
    );
}

#[test]
fn overlay_applies_the_kustomization_spec() {
    let d = tempfile::tempdir().unwrap();
    let k = json!({
        "resources": ["x.yaml"],
        "images": [{"name": "nginx", "newTag": "1.0", "digest": "sha256:old"}],
        "patches": [{"path": "p.yaml"}],
    });
    let spec = json!({
        "targetNamespace": "prod", "namePrefix": "p-", "nameSuffix": "-s",
        "patches": [{"patch": "- op: add\n  path: /x\n  value: 1", "target": {"kind": "ConfigMap"}}],
        "images": [{"name": "nginx", "newTag": "2.0"}, {"name": "redis", "newName": "valkey"}],
        "components": ["../outside"],
    });
    assert!(
        overlay(&mut k.clone(), &spec, d.path()).is_err(),
        "a component outside is refused"
    );
    let mut k2 = k.clone();
    let mut spec2 = spec.clone();
    spec2.as_object_mut().unwrap().remove("components");
    overlay(&mut k2, &spec2, d.path()).unwrap();
    assert_eq!(k2["namespace"], "prod");
    assert_eq!(k2["namePrefix"], "p-");
    assert_eq!(k2["nameSuffix"], "-s");
    assert_eq!(k2["patches"].as_array().unwrap().len(), 2);
    assert_eq!(k2["patches"][1]["target"]["kind"], "ConfigMap");
    assert_eq!(
        k2["images"],
        json!([
            {"name": "nginx", "newTag": "2.0", "digest": ""},
            {"name": "redis", "newName": "valkey"}
        ])
    );
}

#[test]
fn objects_are_substituted_labelled_and_given_common_metadata() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  env: ${env}\n  r: ${region:=eu}\n---\n\
                apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n    \
                kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  env: ${env}\n";
    let vars: BTreeMap<String, String> = [("env".to_owned(), "prod".to_owned())].into();
    let spec = json!({"commonMetadata": {"labels": {"team": "x"}, "annotations": {"owner": "y"}}});
    let objs = objects(yaml, Some(&vars), &spec, "fx", "app").unwrap();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0]["data"], json!({"env": "prod", "r": "eu"}));
    assert_eq!(
        objs[1]["data"]["env"], "${env}",
        "substitution disabled by annotation"
    );
    let labels = &objs[0]["metadata"]["labels"];
    assert_eq!(labels["kustomize.toolkit.fluxcd.io/name"], "app");
    assert_eq!(labels["kustomize.toolkit.fluxcd.io/namespace"], "fx");
    assert_eq!(labels["team"], "x");
    assert_eq!(objs[0]["metadata"]["annotations"]["owner"], "y");
    // without postBuild (or with no variables) nothing is substituted
    let plain = objects(yaml, None, &json!({}), "fx", "app").unwrap();
    assert_eq!(plain[0]["data"]["env"], "${env}");
}
