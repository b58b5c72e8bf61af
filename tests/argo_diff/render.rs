//! The local render of Helm and kustomize Applications against what the tier's Argo CD applied: a chart
//! (a `$values/...` value file from a second source with `ref`, valuesObject, a parameter with a build
//! variable, `.Capabilities` printed) and a kustomize app with `spec.source.kustomize` overrides (images,
//! namePrefix, replicas, commonLabels with a build variable), both synced by Argo CD: the local diff finds
//! them in sync (so it rendered what the controller applied), then a live edit of one object is exactly
//! what it shows. Without helm, the Helm app's header says so (exit 2).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::Cli;
use crate::k8s_tier::objects::describe_application;
use crate::k8s_tier::watching::str_at;
use crate::k8s_tier::{
    ARGOCD_IN_CLUSTER, ARGOCD_NAMESPACE, BoxError, Check, Repo, Tier, application, err, wait_for,
};

const NS: &str = "argo-render";
const POLL: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(180);

const CHART: &str = "apiVersion: v2\nname: settings\nversion: 0.1.0\n";
const VALUES: &str = "greeting: hello\ncolor: red\nenv: none\n";
const TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  namespace: {{ .Release.Namespace }}
data:
  greeting: {{ .Values.greeting | quote }}
  color: {{ .Values.color | quote }}
  env: {{ .Values.env | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  deployments: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}
"#;
const KUSTOMIZATION: &str = "resources:\n- deploy.yaml\n";
const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.0
"#;

fn app(name: &str, spec: Value) -> Result<DynamicObject, BoxError> {
    let mut spec = spec;
    spec["project"] = json!("default");
    spec["destination"] = json!({"server": ARGOCD_IN_CLUSTER, "namespace": NS});
    spec["syncPolicy"] = json!({"syncOptions": ["CreateNamespace=true"]});
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE}, "spec": spec
    }))?)
}

/// Syncs `name` (each source at its targetRevision) and waits until Argo CD reports it Synced.
async fn sync(apps: &Api<DynamicObject>, name: &str) -> Result<(), BoxError> {
    wait_for(&format!("{name} compared"), LONG, POLL, || async {
        let a = apps.get(name).await?;
        Ok(if str_at(&a, "/status/sync/status").is_empty() {
            Check::Pending(describe_application(&a))
        } else {
            Check::Done(())
        })
    })
    .await?;
    let op = json!({"operation": {"initiatedBy": {"username": "argo-render-test"},
        "sync": {"syncOptions": ["CreateNamespace=true"]}}});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&op))
        .await?;
    wait_for(&format!("{name} synced"), LONG, POLL, || async {
        let a = apps.get(name).await?;
        Ok(
            if str_at(&a, "/status/sync/status") == "Synced"
                && str_at(&a, "/status/operationState/phase") == "Succeeded"
            {
                Check::Done(())
            } else {
                Check::Pending(describe_application(&a))
            },
        )
    })
    .await
}

/// `diff` of `name`: in sync, rendered with `tool`, nothing uncovered.
fn in_sync(cli: &Cli<'_>, none: &std::path::Path, name: &str, tool: &str) -> Result<(), BoxError> {
    let (code, v, changed) = cli.diff(none, name)?;
    let from = v["desiredFrom"].as_str().unwrap_or_default();
    let uncovered = v["uncovered"].as_array().map_or(0, Vec::len);
    if code != 0
        || !changed.is_empty()
        || uncovered != 0
        || !from.starts_with("rendered locally:")
        || !from.contains(&format!("({tool}, from setpoint's mirror)"))
    {
        return Err(err(format!("{name} after sync: exit {code}: {v}")));
    }
    Ok(())
}

pub async fn steps(tier: &Tier, admin: &kube::Client) -> Result<(), BoxError> {
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "argo-render")?;
    repo.commit(
        "chart, values and a kustomize app",
        &[
            ("chart/Chart.yaml", Some(CHART)),
            ("chart/values.yaml", Some(VALUES)),
            ("chart/templates/configmap.yaml", Some(TEMPLATE)),
            ("values/prod.yaml", Some("env: prod\n")),
            ("kust/kustomization.yaml", Some(KUSTOMIZATION)),
            ("kust/deploy.yaml", Some(DEPLOY)),
        ],
    )?;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    let post = PostParams::default();
    let kust = app(
        "kust",
        json!({"source": {"repoURL": repo.url, "targetRevision": "main", "path": "kust",
            "kustomize": {"namePrefix": "pre-", "images": ["nginx=registry.example/nginx:1.2"],
                "replicas": [{"name": "web", "count": 2}],
                "commonLabels": {"team": "$ARGOCD_APP_NAME"}}}}),
    )?;
    apps.create(&post, &kust).await?;
    let helm = tier.helm_bin().map(str::to_owned);
    if helm.is_some() {
        let chart = app(
            "settings",
            json!({"sources": [
                {"repoURL": repo.url, "targetRevision": "main", "path": "chart",
                 "helm": {"valueFiles": ["$values/values/prod.yaml"],
                    "valuesObject": {"color": "blue"},
                    "parameters": [{"name": "greeting", "value": "hi-$ARGOCD_APP_NAME"}]}},
                {"repoURL": repo.url, "targetRevision": "main", "ref": "values"}]}),
        )?;
        apps.create(&post, &chart).await?;
    }
    let none = tempfile::tempdir()?; // no argocd CLI config: rendered locally
    let cli = Cli {
        tier,
        dirs: tempfile::tempdir()?,
        helm: helm.clone(),
    };

    // kustomize: the overrides applied as Argo CD applies them, so in sync after a sync
    sync(&apps, "kust").await?;
    in_sync(&cli, none.path(), "kust", "kustomize")?;

    if helm.is_none() {
        let banner = "!".repeat(100);
        eprintln!(
            "{banner}\n!!! the tier built no helm: the Argo CD diff's Helm render was NOT tested \
             (SETPOINT_K8S_HELM_CLI=on scripts/k8s-tier build)\n{banner}"
        );
        return Ok(());
    }
    sync(&apps, "settings").await?;
    in_sync(&cli, none.path(), "settings", "helm template")?;
    // what Argo CD applied is what the chart rendered with its values: the ref value file, valuesObject,
    // the parameter with its build variable
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);
    let live = cms.get("settings-settings").await?;
    let data = live.data.unwrap_or_default();
    let got = |k: &str| data.get(k).map(String::as_str).unwrap_or("");
    if (got("greeting"), got("color"), got("env")) != ("hi-settings", "blue", "prod") {
        return Err(err(format!(
            "the chart's ConfigMap as Argo CD applied it: {data:?}"
        )));
    }
    cms.patch(
        "settings-settings",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"color": "green"}})),
    )
    .await?;
    let (code, v, changed) = cli.diff(none.path(), "settings")?;
    let want = BTreeSet::from([format!("ConfigMap/{NS}/settings-settings modified")]);
    let object = v["objects"][0].to_string();
    if code != 1 || changed != want || !object.contains("green") || !object.contains("blue") {
        return Err(err(format!("settings after a live edit: exit {code}: {v}")));
    }

    // without helm: the header says what it could not cover, and the diff does not say in sync
    let no_helm = Cli {
        tier,
        dirs: tempfile::tempdir()?,
        helm: None,
    };
    let (code, v, _) = no_helm.diff(none.path(), "settings")?;
    if code != 2 || !v["uncovered"].to_string().contains("helm not on PATH") {
        return Err(err(format!("settings without helm: exit {code}: {v}")));
    }
    Ok(())
}
