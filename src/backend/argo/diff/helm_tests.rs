use super::*;
use crate::backend::argo::diff::env::BuildEnv;
use serde_json::json;
use std::collections::BTreeMap;

fn env() -> BuildEnv {
    crate::backend::argo::diff::env::sample("charts/web")
}

#[test]
fn helm_template_as_the_repo_server_runs_it() {
    let (env, refs) = (env(), BTreeMap::new());
    let cluster = Cluster {
        kube_version: "1.36.3".into(),
        api_versions: vec!["v1".into(), "apps/v1".into(), "apps/v1/Deployment".into()],
    };
    let ctx = Ctx {
        app_name: "web",
        dest_ns: "prod",
        env: &env,
        refs: &refs,
        cluster: Some(&cluster),
    };
    let h = json!({
        "valueFiles": ["values-prod.yaml", "/common/values.yaml"],
        "valuesObject": {"replicas": 2},
        "values": "ignored: true",
        "parameters": [
            {"name": "image.tag", "value": "$ARGOCD_APP_REVISION_SHORT"},
            {"name": "list", "value": "{a,b}"},
            {"name": "csv", "value": "a,b", "forceString": true}],
        "fileParameters": [{"name": "cfg", "path": "files/cfg.txt"}],
        "skipTests": true
    });
    let p = plan(
        Path::new("/r/charts/web"),
        Path::new("/r"),
        &h,
        &ctx,
        Path::new("/t/values.yaml"),
    )
    .unwrap();
    let want: Vec<String> = [
        "template",
        "/r/charts/web",
        "--name-template",
        "web",
        "--namespace",
        "prod",
        "--kube-version",
        "1.36.3",
        "--set",
        "image.tag=0123456",
        "--set",
        "list={a,b}",
        "--set-string",
        "csv=a\\,b",
        "--set-file",
        "cfg=/r/charts/web/files/cfg.txt",
        "--values",
        "/r/charts/web/values-prod.yaml",
        "--values",
        "/r/common/values.yaml",
        "--values",
        "/t/values.yaml",
        "--api-versions",
        "v1",
        "--api-versions",
        "apps/v1",
        "--api-versions",
        "apps/v1/Deployment",
        "--include-crds",
        "--skip-tests",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(p.args, want);
    assert_eq!(p.inline_values.as_deref(), Some(r#"{"replicas":2}"#));
    assert!(p.gaps.is_empty(), "{:?}", p.gaps);
}

#[test]
fn overrides_refs_remote_files_and_escapes() {
    let env = env();
    let refs = BTreeMap::from([("$values".to_owned(), PathBuf::from("/v"))]);
    let ctx = Ctx {
        app_name: "web",
        dest_ns: "prod",
        env: &env,
        refs: &refs,
        cluster: None,
    };
    let h = json!({
        "releaseName": "rel", "namespace": "other", "kubeVersion": "1.30.0",
        "apiVersions": ["x/v1"], "skipCrds": true, "skipSchemaValidation": true,
        "values": "a: 1",
        "valueFiles": ["$values/envs/prod.yaml", "https://example.com/v.yaml"]
    });
    let p = plan(
        Path::new("/r/c"),
        Path::new("/r"),
        &h,
        &ctx,
        Path::new("/t/v.yaml"),
    )
    .unwrap();
    let s = p.args.join(" ");
    assert_eq!(
        s,
        "template /r/c --name-template rel --namespace other --kube-version 1.30.0 \
         --values /v/envs/prod.yaml --values /t/v.yaml --api-versions x/v1 --skip-schema-validation"
    );
    assert_eq!(p.inline_values.as_deref(), Some("a: 1"));
    assert_eq!(p.gaps.len(), 2, "{:?}", p.gaps);
    assert!(p.gaps[0].contains("https://example.com/v.yaml is not fetched"));
    assert!(p.gaps[1].contains("could not be read"));
    // never outside the repository
    let out = plan(
        Path::new("/r/c"),
        Path::new("/r"),
        &json!({"valueFiles": ["../../etc/passwd"]}),
        &ctx,
        Path::new("/t/v.yaml"),
    );
    assert!(out.unwrap_err().contains("outside the repository root"));
    let scheme = plan(
        Path::new("/r/c"),
        Path::new("/r"),
        &json!({"valueFiles": ["file:///etc/passwd"]}),
        &ctx,
        Path::new("/t/v.yaml"),
    );
    assert!(scheme.unwrap_err().contains("'file' is not allowed"));
}

#[test]
fn missing_value_files_skipped_only_when_asked() {
    let (env, refs) = (env(), BTreeMap::new());
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("here.yaml"), "a: 1\n").unwrap();
    let ctx = Ctx {
        app_name: "web",
        dest_ns: "",
        env: &env,
        refs: &refs,
        cluster: Some(&Cluster::default()),
    };
    let h = json!({"valueFiles": ["here.yaml", "gone.yaml"], "ignoreMissingValueFiles": true});
    let p = plan(d.path(), d.path(), &h, &ctx, Path::new("/t/v.yaml")).unwrap();
    let values: Vec<&String> = p
        .args
        .iter()
        .skip_while(|a| *a != "--values")
        .skip(1)
        .step_by(2)
        .collect();
    assert_eq!(values.len(), 1);
    assert!(values[0].ends_with("here.yaml"));
    let h = json!({"valueFiles": ["here.yaml", "gone.yaml"]});
    let p = plan(d.path(), d.path(), &h, &ctx, Path::new("/t/v.yaml")).unwrap();
    assert_eq!(p.args.iter().filter(|a| *a == "--values").count(), 2);
    assert!(!p.args.contains(&"--namespace".to_owned()));
}

#[test]
fn kube_version_as_parse_generic() {
    assert_eq!(generic_version("v1.36.3"), "1.36.3");
    assert_eq!(generic_version("v1.30.2+k3s1"), "1.30.2");
    assert_eq!(generic_version("v1.31.0-rc.1"), "1.31.0");
    assert_eq!(generic_version("1.30+"), "1.30");
}
