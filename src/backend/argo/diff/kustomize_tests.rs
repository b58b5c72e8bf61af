use super::*;

fn env() -> BuildEnv {
    crate::backend::argo::diff::env::sample("web")
}

fn edited(k: Value, opts: Value) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("comp")).unwrap();
    let mut k = k;
    edit(&mut k, &opts, &env(), dir.path()).map(|()| k)
}

#[test]
fn prefix_suffix_namespace_and_patches() {
    let k = json!({"resources": ["a.yaml"], "patches": [{"path": "p.yaml"}]});
    let got = edited(
        k,
        json!({"namePrefix": "pre-", "nameSuffix": "-suf", "namespace": "other",
            "patches": [{"patch": "- op: add", "target": {"kind": "ConfigMap"}}]}),
    )
    .unwrap();
    assert_eq!(
        got,
        json!({"resources": ["a.yaml"], "namePrefix": "pre-", "nameSuffix": "-suf",
            "namespace": "other",
            "patches": [{"path": "p.yaml"}, {"patch": "- op: add", "target": {"kind": "ConfigMap"}}]})
    );
}

#[test]
fn images_as_kustomize_edit_set_image() {
    let k = json!({"images": [
        {"name": "nginx", "newTag": "1.0"},
        {"name": "redis", "newName": "my/redis", "newTag": "6"},
        {"name": "keep", "newTag": "x"}]});
    let got = edited(
        k,
        json!({"images": [
            "nginx=registry:5000/nginx:${ARGOCD_APP_REVISION_SHORT}",
            "redis=*:7",
            "alpine@sha256:abc",
            "busybox:1.36"]}),
    )
    .unwrap();
    assert_eq!(
        got["images"],
        json!([
            {"name": "alpine", "digest": "sha256:abc"},
            {"name": "busybox", "newTag": "1.36"},
            {"name": "keep", "newTag": "x"},
            {"name": "nginx", "newName": "registry:5000/nginx", "newTag": "0123456"},
            {"name": "redis", "newName": "my/redis", "newTag": "7"}])
    );
    assert!(edited(json!({}), json!({"images": ["nginx"]})).is_err());
    assert_eq!(
        split_image("reg:5000/a/b:t@sha256:1"),
        ("reg:5000/a/b", "t", "sha256:1")
    );
    assert_eq!(split_image("a"), ("a", "", ""));
}

#[test]
fn replicas_labels_and_annotations() {
    let k = json!({"replicas": [{"name": "a", "count": 1}, {"name": "b", "count": 1}],
        "commonLabels": {"team": "x"}});
    let got = edited(
        k.clone(),
        json!({"replicas": [{"name": "b", "count": "3"}],
            "commonLabels": {"app": "$ARGOCD_APP_NAME"},
            "commonAnnotations": {"rev": "$ARGOCD_APP_REVISION_SHORT"}}),
    )
    .unwrap();
    assert_eq!(
        got["replicas"],
        json!([{"name": "a", "count": 1}, {"name": "b", "count": 3}])
    );
    assert_eq!(got["commonLabels"], json!({"team": "x", "app": "web"}));
    // annotations are substituted only with commonAnnotationsEnvsubst
    assert_eq!(
        got["commonAnnotations"],
        json!({"rev": "$ARGOCD_APP_REVISION_SHORT"})
    );
    let subst = edited(
        json!({}),
        json!({"commonAnnotations": {"rev": "$ARGOCD_APP_REVISION_SHORT"},
            "commonAnnotationsEnvsubst": true}),
    )
    .unwrap();
    assert_eq!(subst["commonAnnotations"], json!({"rev": "0123456"}));
    // an existing label: kustomize edit refuses it unless forced
    let refused = edited(k.clone(), json!({"commonLabels": {"team": "y"}}));
    assert!(
        refused
            .unwrap_err()
            .contains("team already in kustomization file")
    );
    let forced = edited(
        k,
        json!({"commonLabels": {"team": "y"}, "forceCommonLabels": true}),
    )
    .unwrap();
    assert_eq!(forced["commonLabels"], json!({"team": "y"}));
    let without = edited(
        json!({"labels": [{"pairs": {"a": "1"}, "includeSelectors": true}]}),
        json!({"commonLabels": {"b": "2"}, "labelWithoutSelector": true,
            "labelIncludeTemplates": true}),
    )
    .unwrap();
    assert_eq!(
        without["labels"],
        json!([{"pairs": {"a": "1"}, "includeSelectors": true},
            {"pairs": {"b": "2"}, "includeTemplates": true}])
    );
    assert!(
        edited(
            json!({}),
            json!({"replicas": [{"name": "a", "count": "x"}]})
        )
        .is_err()
    );
}

#[test]
fn components_must_exist_unless_ignored() {
    let got = edited(
        json!({"components": ["comp"]}),
        json!({"components": ["comp"]}),
    )
    .unwrap();
    assert_eq!(got["components"], json!(["comp"]));
    assert!(
        edited(json!({}), json!({"components": ["missing"]}))
            .unwrap_err()
            .contains("missing has no match")
    );
    let ignored = edited(
        json!({}),
        json!({"components": ["missing", "comp"], "ignoreMissingComponents": true}),
    )
    .unwrap();
    assert_eq!(ignored["components"], json!(["comp"]));
}

#[test]
fn what_is_not_applied_is_said() {
    let gaps = not_applied(&json!({"version": "v5.4.0", "kubeVersion": "1.30"}));
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert!(gaps[0].contains("kustomize.version v5.4.0"));
    assert!(gaps[1].contains("kustomize.kubeVersion"));
    assert!(!edits(&json!({"version": "v5.4.0"})));
    assert!(edits(&json!({"namePrefix": "x"})));
}
