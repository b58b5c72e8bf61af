//! `spec.driftDetection` on the tier: a HelmRelease `drift` (mode enabled) whose ignore rules leave its
//! ConfigMap's `/data/greeting` out (a target by kind and a name regex) and select nothing with another
//! (a label selector no object matches); its Secret, marked live `helm.toolkit.fluxcd.io/driftDetection:
//! disabled`, is left out whole. A live edit of the ignored key is no difference for setpoint's diff;
//! an edit of another key of the same object shows, without the ignored key; then the real helm-controller,
//! asked to reconcile, corrects the other key and leaves the ignored one and the marked Secret, and setpoint's
//! diff is in sync with those edits still live. Needs the tier's helm (as tests/flux_helm/diff.rs); without it
//! the test says loudly that this was NOT tested.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::diff::{changed, diff_unit, only_changed, uninstall};
use super::k8s_tier::{BoxError, Check, Tier, err, wait_for};

const UNIT: &str = "flux/admin/hx/HelmRelease/drift";
const LONG: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(250);
/// "edited-secret", base64.
const EDITED_TOKEN: &str = "ZWRpdGVkLXNlY3JldA==";

/// The ConfigMap the chart renders for `drift`: (greeting, chart).
async fn data(cms: &Api<ConfigMap>) -> Result<(String, String), BoxError> {
    let d = cms.get("drift-cm").await?.data.unwrap_or_default();
    let get = |k: &str| d.get(k).cloned().unwrap_or_default();
    Ok((get("greeting"), get("chart")))
}

fn condition(hr: &DynamicObject, kind: &str) -> bool {
    hr.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
}

pub async fn run(
    tier: &Tier,
    admin: &kube::Client,
    releases: &Api<DynamicObject>,
) -> Result<(), BoxError> {
    let Some(helm) = tier.helm_bin().map(str::to_owned) else {
        let banner = "!".repeat(100);
        eprintln!(
            "{banner}\n!!! the tier built no helm: spec.driftDetection.ignore in the HelmRelease diff was NOT \
             tested on the tier (SETPOINT_K8S_HELM_CLI=on scripts/k8s-tier build)\n{banner}"
        );
        return Ok(());
    };
    let dirs = tempfile::tempdir()?;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "hx");
    releases
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "drift", "namespace": "hx"},
                "spec": {"interval": "10m", "timeout": "1m",
                         "values": {"greeting": "hello"},
                         "driftDetection": {"mode": "enabled", "ignore": [
                             {"paths": ["/data/greeting"],
                              "target": {"kind": "ConfigMap", "name": "drift-c[m]"}},
                             {"paths": ["/data/chart"],
                              "target": {"labelSelector": "app.kubernetes.io/managed-by!=Helm"}}]},
                         "chart": {"spec": {"chart": "charts/demo", "reconcileStrategy": "Revision",
                                            "interval": "10m",
                                            "sourceRef": {"kind": "GitRepository", "name": "charts"}}}}
            }))?,
        )
        .await?;
    let installed = wait_for("drift to be installed and ready", LONG, POLL, || async {
        let hr = releases.get("drift").await?;
        let d = cms.get_opt("drift-cm").await?.and_then(|c| c.data);
        Ok(match d {
            Some(d)
                if condition(&hr, "Ready")
                    && d.get("greeting").map(String::as_str) == Some("hello") =>
            {
                Check::Done(d.get("chart").cloned().unwrap_or_default())
            }
            other => Check::Pending(format!("{other:?} {:?}", hr.data.get("status"))),
        })
    })
    .await?;
    let diff = || {
        diff_unit(
            tier,
            tier.kubeconfig(),
            "admin",
            UNIT,
            dirs.path(),
            Some(&helm),
        )
    };

    // in sync after install; the header names the mode and what each rule selected, and nothing "not applied"
    let (code, v) = diff()?;
    let notes = v["notes"].to_string();
    let selected = "spec.driftDetection.ignore[0]: \\\"/data/greeting\\\" left out of the comparison (both \
                    sides) of ConfigMap/hx/drift-cm";
    if code != 0
        || v["complete"] != json!(true)
        || !notes.contains("spec.driftDetection.mode enabled")
        || !notes.contains(selected)
        || !notes.contains("spec.driftDetection.ignore[1] (\\\"/data/chart\\\") selects none of the rendered objects")
        || v.to_string().contains("not applied")
    {
        return Err(err(format!("diff of drift after install: exit {code}: {v}")));
    }

    // a live edit of the ignored key: no difference
    let edit = PatchParams {
        field_manager: Some("kubectl-patch".into()),
        ..PatchParams::default()
    };
    cms.patch(
        "drift-cm",
        &edit,
        &Patch::Merge(json!({"data": {"greeting": "edited-live"}})),
    )
    .await?;
    let (code, v) = diff()?;
    if code != 0 || v["inSync"] != json!(true) || !changed(&v).is_empty() {
        return Err(err(format!(
            "diff after an edit of the ignored key: exit {code}: {v}"
        )));
    }
    eprintln!("flux helm drift: a live edit of an ignored path is no difference");

    // an edit of another key of the same object: the ConfigMap differs there, the ignored key not shown
    cms.patch(
        "drift-cm",
        &edit,
        &Patch::Merge(json!({"data": {"chart": "edited-chart"}})),
    )
    .await?;
    let (code, v) = diff()?;
    let objects = v["objects"].to_string();
    if !only_changed(code, &v, "ConfigMap/hx/drift-cm", "modified")
        || !objects.contains("edited-chart")
        || !objects.contains(&installed)
        || objects.contains("edited-live")
        || objects.contains("greeting")
    {
        return Err(err(format!(
            "diff after an edit of another key: exit {code}: {v}"
        )));
    }
    eprintln!(
        "flux helm drift: an edit of another path of the same object shows, without the ignored one"
    );

    // the live Secret marked out of drift detection (helm-controller's annotation) and edited: left out
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "hx");
    secrets
        .patch(
            "drift-secret",
            &edit,
            &Patch::Merge(json!({
                "metadata": {"annotations": {"helm.toolkit.fluxcd.io/driftDetection": "disabled"}},
                "data": {"token": EDITED_TOKEN}})),
        )
        .await?;
    let (code, v) = diff()?;
    if !only_changed(code, &v, "ConfigMap/hx/drift-cm", "modified")
        || !v["notes"].to_string().contains(
            "Secret/hx/drift-secret is left out: its live object is marked \
             helm.toolkit.fluxcd.io/driftDetection: disabled",
        )
    {
        return Err(err(format!(
            "diff after an edit of a Secret marked out of drift detection: exit {code}: {v}"
        )));
    }
    eprintln!("flux helm drift: an object marked out of drift detection is left out");

    // helm-controller (mode enabled), asked to reconcile: it corrects the other key, leaves the ignored one
    // and the marked Secret
    let token = "drift-ignore-test";
    releases
        .patch(
            "drift",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}}),
            ),
        )
        .await?;
    let (greeting, chart) = wait_for(
        "helm-controller to correct the drift",
        LONG,
        POLL,
        || async {
            let hr = releases.get("drift").await?;
            let handled = hr.data.pointer("/status/lastHandledReconcileAt") == Some(&json!(token));
            let (g, c) = data(&cms).await?;
            Ok(if handled && c != "edited-chart" {
                Check::Done((g, c))
            } else {
                Check::Pending(format!("{g} {c} {:?}", hr.data.get("status")))
            })
        },
    )
    .await?;
    let token_now = secrets.get("drift-secret").await?.data.and_then(|d| {
        d.get("token")
            .map(|t| String::from_utf8_lossy(&t.0).into_owned())
    });
    if greeting != "edited-live"
        || chart != installed
        || token_now.as_deref() != Some("edited-secret")
    {
        return Err(err(format!(
            "helm-controller's correction: greeting {greeting:?} (the ignored edit should stay), chart {chart:?} \
             (should be {installed:?}), the marked Secret's token {token_now:?} (should stay edited)"
        )));
    }
    let (code, v) = diff()?;
    if code != 0 || v["inSync"] != json!(true) {
        return Err(err(format!(
            "diff after helm-controller's correction: exit {code}: {v}"
        )));
    }
    eprintln!(
        "flux helm drift: helm-controller corrected the other path and left the ignored one; the diff agrees"
    );

    uninstall(releases, "drift").await
}
