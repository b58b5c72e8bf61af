//! The HelmRelease diff on the tier: a HelmRelease `vals` whose values come from a ConfigMap (valuesFrom),
//! installed by the real helm-controller, diffed by the real binary. Without helm the header refuses
//! honestly (exit 2); with the tier's helm (`HELM_BIN`, opt-in build) a Ready release is in sync, a live edit
//! of one of its objects shows exactly that object, and a changed valuesFrom ConfigMap not yet reconciled
//! shows the change the next upgrade would make, and an object no longer rendered shows removed (the stored
//! release's manifest is the inventory). When the tier built no helm, the render is said NOT tested.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::k8s_tier::{BoxError, Check, Tier, err, wait_for};

const UNIT: &str = "flux/admin/hx/HelmRelease/vals";
const LONG: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(250);

/// `setpoint --backend flux --output json diff vals` with `helm` as SETPOINT_HELM (None: no helm anywhere):
/// (exit code, the JSON report).
fn diff(tier: &Tier, dirs: &Path, helm: Option<&str>) -> Result<(i32, Value), BoxError> {
    diff_as(tier, tier.kubeconfig(), "admin", dirs, helm)
}

/// The same diff through the context `context` of `kubeconfig`.
fn diff_as(
    tier: &Tier,
    kubeconfig: &Path,
    context: &str,
    dirs: &Path,
    helm: Option<&str>,
) -> Result<(i32, Value), BoxError> {
    let unit = UNIT.replace("/admin/", &format!("/{context}/"));
    diff_unit(tier, kubeconfig, context, &unit, dirs, helm)
}

/// `setpoint --backend flux --output json diff UNIT` through the context `context` of `kubeconfig`, with `helm`
/// as SETPOINT_HELM (None: no helm anywhere): (exit code, the JSON report).
pub(crate) fn diff_unit(
    tier: &Tier,
    kubeconfig: &Path,
    context: &str,
    unit: &str,
    dirs: &Path,
    helm: Option<&str>,
) -> Result<(i32, Value), BoxError> {
    let kustomize = tier.kustomize_bin()?; // for spec.postRenderers
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_setpoint"));
    match helm {
        Some(h) => cmd.env("SETPOINT_HELM", h),
        None => cmd.env_remove("SETPOINT_HELM"),
    };
    let out = cmd
        .args([
            "--backend",
            "flux",
            "--context",
            context,
            "--output",
            "json",
        ])
        .args(["diff", unit])
        .env("KUBECONFIG", kubeconfig)
        .env("SETPOINT_CONFIG_DIR", dirs.join("config"))
        .env("SETPOINT_DATA_DIR", dirs.join("data"))
        .env("HOME", dirs)
        .env("SETPOINT_KUSTOMIZE", kustomize)
        .env("PATH", "/usr/bin:/bin") // no helm but SETPOINT_HELM
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "setpoint diff {unit} -> {:?}\n{stdout}\n{stderr}",
        out.status.code()
    );
    let v: Value = serde_json::from_str(&stdout)
        .map_err(|e| err(format!("diff JSON ({stderr}): {e}: {stdout}")))?;
    Ok((out.status.code().unwrap_or(-1), v))
}

/// Whether a diff (its exit code and report) says exactly that `object` differs, by `change`.
pub(crate) fn only_changed(code: i32, v: &Value, object: &str, change: &str) -> bool {
    code == 1 && changed(v) == [(object.to_owned(), change.to_owned())]
}

/// The names and changes of the objects the report says differ.
pub(crate) fn changed(v: &Value) -> Vec<(String, String)> {
    v["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            (
                o["object"].as_str().unwrap_or("").to_owned(),
                o["change"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn greeting(cms: &Api<ConfigMap>) -> Result<Option<String>, BoxError> {
    Ok(cms
        .get_opt("vals-cm")
        .await?
        .and_then(|c| c.data?.get("greeting").cloned()))
}

pub async fn run(
    tier: &Tier,
    admin: &kube::Client,
    releases: &Api<DynamicObject>,
) -> Result<(), BoxError> {
    let dirs = tempfile::tempdir()?;
    let ns = "hx";
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    let post = PostParams::default();
    cms.create(
        &post,
        &serde_json::from_value(json!({"metadata": {"name": "vals-values", "namespace": ns},
                                       "data": {"values.yaml": "greeting: from-configmap\ntoken: first-token\n"}}))?,
    )
    .await?;
    releases
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "vals", "namespace": ns},
                "spec": {"interval": "10m", "timeout": "1m",
                         "values": {"greeting": "inline-wins"},
                         "commonMetadata": {"labels": {"team": "hx"}},
                         "postRenderers": [{"kustomize": {"patches": [{
                             "target": {"kind": "ConfigMap"},
                             "patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: any\n  labels:\n    patched: \"yes\"\n"
                         }]}}],
                         "valuesFrom": [{"kind": "ConfigMap", "name": "vals-values"},
                                        {"kind": "Secret", "name": "vals-secret-values",
                                         "optional": true}],
                         "chart": {"spec": {"chart": "charts/demo", "reconcileStrategy": "Revision",
                                            "interval": "10m",
                                            "sourceRef": {"kind": "GitRepository", "name": "charts"}}}}
            }))?,
        )
        .await?;
    wait_for("vals to be installed and ready", LONG, POLL, || async {
        let hr = releases.get("vals").await?;
        let ready = hr
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        let g = greeting(&cms).await?;
        // helm-controller post-rendered it: the in-sync diff below reproduced that
        let labels = cms
            .get_opt("vals-cm")
            .await?
            .and_then(|c| c.metadata.labels)
            .unwrap_or_default();
        let post_rendered = labels.get("patched").map(String::as_str) == Some("yes")
            && labels.get("team").map(String::as_str) == Some("hx");
        Ok(
            if ready && post_rendered && g.as_deref() == Some("inline-wins") {
                Check::Done(())
            } else {
                Check::Pending(format!("{g:?} {:?}", hr.data.get("status")))
            },
        )
    })
    .await?;

    // no helm: nothing rendered, and the header says so; exit 2 (cannot know), never "in sync"
    let (code, v) = diff(tier, dirs.path(), None)?;
    if code != 2
        || v["inSync"] != json!(false)
        || v["complete"] != json!(false)
        || !changed(&v).is_empty()
        || !v["uncovered"].to_string().contains("helm not on PATH")
    {
        return Err(err(format!("diff without helm: exit {code}: {v}")));
    }
    let Some(helm) = tier.helm_bin().map(str::to_owned) else {
        let banner = "!".repeat(100);
        eprintln!(
            "{banner}\n!!! the tier built no helm: the Flux HelmRelease diff's render was NOT tested, only its \
             refusal without helm (SETPOINT_K8S_HELM_CLI=on scripts/k8s-tier build)\n{banner}"
        );
        return uninstall(releases, "vals").await;
    };

    // reconciled Ready by helm-controller: in sync, built from the chart artifact, inventory read
    let (code, v) = diff(tier, dirs.path(), Some(&helm))?;
    let from = v["desiredFrom"].as_str().unwrap_or("");
    if code != 0
        || v["inSync"] != json!(true)
        || v["complete"] != json!(true)
        || !from.contains("source-controller artifact of HelmChart hx/hx-vals")
        || !from.contains("release vals in hx")
        || !from.contains("2 valuesFrom")
        || !from.contains("Helm's release storage (vals v1 deployed")
    {
        return Err(err(format!(
            "diff of the installed release: exit {code}: {v}"
        )));
    }
    eprintln!("flux helm diff: in sync after install: {from}");

    // an identity that may not read Secrets: the Secret of valuesFrom, Helm's release storage and the chart's
    // Secret cannot be read, and the header says each; exit 2, never "in sync"
    let kubeconfig = no_secrets_identity(tier, admin, dirs.path()).await?;
    let (code, v) = diff_as(tier, &kubeconfig, "nosecrets", dirs.path(), Some(&helm))?;
    let uncovered = v["uncovered"].to_string();
    if code != 2
        || v["inSync"] != json!(false)
        || !uncovered
            .contains("valuesFrom Secret vals-secret-values (key values.yaml) cannot be read")
        || !uncovered.contains("Helm's release storage cannot be read")
        || !uncovered.contains("Secret/hx/vals-secret")
        || !uncovered.contains("forbidden")
    {
        return Err(err(format!(
            "diff without access to Secrets: exit {code}: {v}"
        )));
    }
    eprintln!("flux helm diff: unreadable Secrets said in the header, exit 2");

    // a live edit of one of its objects (a merge patch, as kubectl patch sends): exactly that object
    let edit = PatchParams {
        field_manager: Some("kubectl-patch".into()),
        ..PatchParams::default()
    };
    cms.patch(
        "vals-cm",
        &edit,
        &Patch::Merge(json!({"data": {"greeting": "edited"}})),
    )
    .await?;
    let (code, v) = diff(tier, dirs.path(), Some(&helm))?;
    let objects = v["objects"].to_string();
    if !only_changed(code, &v, "ConfigMap/hx/vals-cm", "modified")
        || !objects.contains("edited")
        || !objects.contains("inline-wins")
    {
        return Err(err(format!("diff after a live edit: exit {code}: {v}")));
    }
    cms.patch(
        "vals-cm",
        &edit,
        &Patch::Merge(json!({"data": {"greeting": "inline-wins"}})),
    )
    .await?;
    eprintln!("flux helm diff: a live edit shows exactly that object");

    // the valuesFrom ConfigMap changed, not yet reconciled (interval 10m, not watched): the diff shows the
    // change the next upgrade makes (the greeting still the inline one, which wins; the token of the Secret
    // changed, masked), and the release is untouched
    cms.patch(
        "vals-values",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"data": {"values.yaml": "greeting: next-values\ntoken: next-token\n"}}),
        ),
    )
    .await?;
    let (code, v) = diff(tier, dirs.path(), Some(&helm))?;
    let secret = v["objects"]
        .as_array()
        .and_then(|os| os.iter().find(|o| o["object"] == "Secret/hx/vals-secret"))
        .cloned()
        .unwrap_or_default();
    let text = v["objects"].to_string();
    let leaked = [
        "first-token",
        "next-token",
        "Zmlyc3QtdG9rZW4=",
        "bmV4dC10b2tlbg==",
    ]
    .iter()
    .any(|t| text.contains(t));
    if !only_changed(code, &v, "Secret/hx/vals-secret", "modified")
        || secret["masked"] != json!(true)
        || !secret["desired"]
            .as_str()
            .unwrap_or("")
            .contains("(changed)")
        || leaked
    {
        return Err(err(format!(
            "diff after a valuesFrom change: exit {code}: {v}"
        )));
    }
    if greeting(&cms).await?.as_deref() != Some("inline-wins") {
        return Err(err(
            "the release was upgraded while the diff was expected to show the change",
        ));
    }
    eprintln!("flux helm diff: a changed valuesFrom ConfigMap shows the next upgrade's change");

    // values that no longer render the Secret: it is in the stored release's manifest (the inventory), so
    // shown removed, as the next upgrade deletes it
    cms.patch(
        "vals-values",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"values.yaml": "noSecret: true\n"}})),
    )
    .await?;
    let (code, v) = diff(tier, dirs.path(), Some(&helm))?;
    if !only_changed(code, &v, "Secret/hx/vals-secret", "removed")
        || v["objects"].to_string().contains("Zmlyc3QtdG9rZW4=")
    {
        return Err(err(format!(
            "diff with the Secret no longer rendered: exit {code}: {v}"
        )));
    }
    eprintln!(
        "flux helm diff: an object no longer rendered is shown removed (Helm's release storage)"
    );
    uninstall(releases, "vals").await
}

/// The HelmRelease `name` uninstalled (deleted, and gone once helm-controller has uninstalled it), so the
/// later steps of the test have helm-controller to web alone.
pub(crate) async fn uninstall(releases: &Api<DynamicObject>, name: &str) -> Result<(), BoxError> {
    releases.delete(name, &Default::default()).await?;
    wait_for(&format!("{name} to be uninstalled"), LONG, POLL, || async {
        Ok(match releases.get_opt(name).await? {
            None => Check::Done(()),
            Some(hr) => Check::Pending(format!("{:?}", hr.data.get("status"))),
        })
    })
    .await
}

/// A kubeconfig with the context `nosecrets`: the admin's token impersonating the user `nosecrets`, bound to a
/// ClusterRole that reads the Flux kinds and ConfigMaps (and may patch ConfigMaps) but not Secrets.
async fn no_secrets_identity(
    tier: &Tier,
    admin: &kube::Client,
    dir: &Path,
) -> Result<std::path::PathBuf, BoxError> {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let read = ["get", "list", "watch"];
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": "hx-no-secrets"},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": [""], "resources": ["events", "namespaces"], "verbs": read},
            {"apiGroups": ["helm.toolkit.fluxcd.io", "source.toolkit.fluxcd.io",
                           "kustomize.toolkit.fluxcd.io"], "resources": ["*"], "verbs": read},
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"],
             "verbs": ["create"]}
        ]
    }))?;
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "hx-no-secrets"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "hx-no-secrets"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nosecrets"}]
    }))?;
    let post = PostParams::default();
    Api::<ClusterRole>::all(admin.clone())
        .create(&post, &role)
        .await?;
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&post, &binding)
        .await?;
    let config = tier.impersonating("nosecrets", "nosecrets")?;
    let path = dir.join("nosecrets.kubeconfig");
    std::fs::write(&path, serde_json::to_string(&config)?)?;
    // RBAC is applied by the authorizer's informer: wait until the identity reads a ConfigMap
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            config,
            &kube::config::KubeConfigOptions {
                context: Some("nosecrets".into()),
                ..Default::default()
            },
        )
        .await?,
    )?;
    let cms: Api<ConfigMap> = Api::namespaced(client, "hx");
    wait_for(
        "the nosecrets identity to read ConfigMaps",
        LONG,
        POLL,
        || async {
            Ok(match cms.get_opt("vals-values").await {
                Ok(Some(_)) => Check::Done(()),
                other => Check::Pending(format!("{other:?}")),
            })
        },
    )
    .await?;
    Ok(path)
}
