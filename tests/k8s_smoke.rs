//! Smoke test of the Kubernetes test tier: real kube-apiserver, etcd and Flux controllers (see
//! tests/k8s_tier and scripts/k8s-tier), driven through kube the way setpoint's Flux adapter will drive them.
//!
//! One `#[test]` owns the tier: it is started once for this binary and stopped on every path (the guard's
//! `Drop`, plus the tier's watchdog if this process is killed).

mod k8s_tier;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use k8s_tier::objects::config_map_revision;
use k8s_tier::watching::str_at;
use k8s_tier::{
    BoxError, Check, Repo, Tier, TimedOut, config_map, err, git_repository, kustomization, wait_for,
};

const NS: &str = "smoke";
const NAME: &str = "smoke";
const FIELD_MANAGER: &str = "setpoint-k8s-smoke";
const POLL: Duration = Duration::from_millis(500);

#[test]
fn flux_reconciles_from_the_tier_git_server() {
    k8s_tier::run_on_tier("k8s smoke test", |tier| Box::pin(smoke(tier)));
}

fn ready(obj: &DynamicObject) -> Option<(String, String, String)> {
    let conds = obj.data.pointer("/status/conditions")?.as_array()?;
    let c = conds
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?;
    let s = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Some((s("status"), s("reason"), s("message")))
}

fn describe(obj: &DynamicObject) -> String {
    format!(
        "generation={:?} ready={:?} artifact={:?} lastApplied={:?} lastHandledReconcileAt={:?}",
        obj.metadata.generation,
        ready(obj),
        str_at(obj, "/status/artifact/revision"),
        str_at(obj, "/status/lastAppliedRevision"),
        str_at(obj, "/status/lastHandledReconcileAt"),
    )
}

/// Wait until the object is Ready=True at its current generation and `pointer` equals `want`
/// (and, with a token, the reconcile request `token` has been handled).
async fn wait_ready_at(
    api: &Api<DynamicObject>,
    what: &str,
    pointer: &str,
    want: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<DynamicObject, BoxError> {
    wait_for(what, timeout, POLL, || async {
        let obj = api.get(NAME).await?;
        let ok = ready(&obj).is_some_and(|(s, _, _)| s == "True")
            && obj
                .data
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
                == obj.metadata.generation
            && str_at(&obj, pointer) == want
            && token.is_none_or(|t| str_at(&obj, "/status/lastHandledReconcileAt") == t);
        Ok(if ok {
            Check::Done(obj)
        } else {
            Check::Pending(describe(&obj))
        })
    })
    .await
}

/// Ask Flux to reconcile now, as `flux reconcile` does: a merge patch of the requestedAt annotation.
async fn request_reconcile(api: &Api<DynamicObject>) -> Result<String, BoxError> {
    let token = jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(
        NAME,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        },
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(token)
}

async fn set_suspend(api: &Api<DynamicObject>, suspend: bool) -> Result<(), BoxError> {
    let patch = json!({"spec": {"suspend": suspend}});
    api.patch(
        NAME,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        },
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

fn expect_forbidden<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, kube::Error>,
) -> Result<(), BoxError> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
        other => Err(err(format!(
            "{what}: expected 403 Forbidden for the viewer, got {other:?}"
        ))),
    }
}

async fn smoke(tier: &Tier) -> Result<(), BoxError> {
    let listeners = tier.check_listeners()?;
    eprintln!("tier listeners:\n{listeners}");

    let admin = tier.client("admin").await?;
    let viewer = tier.client("viewer").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "smoke")?;

    let c1 = repo.commit(
        "first",
        &[(
            "deploy/settings.yaml",
            Some(&config_map(NS, "smoke-settings", "1")),
        )],
    )?;

    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await?;
    let gitrepos: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &git_repository());
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), NS, &kustomization());
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);

    let gr: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "10m", "timeout": "30s"}
    }))?;
    gitrepos
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &gr,
        )
        .await?;
    let ks: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": NAME},
            "path": "./deploy", "prune": true, "wait": false, "interval": "10m", "timeout": "1m"
        }
    }))?;
    kustomizations
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &ks,
        )
        .await?;

    // 1. first commit: source Ready at main@sha1:c1, Kustomization applied it, the object exists
    let rev1 = format!("main@sha1:{c1}");
    let long = Duration::from_secs(120);
    wait_ready_at(
        &gitrepos,
        "GitRepository Ready at the first commit",
        "/status/artifact/revision",
        &rev1,
        None,
        long,
    )
    .await?;
    wait_ready_at(
        &kustomizations,
        "Kustomization applied the first commit",
        "/status/lastAppliedRevision",
        &rev1,
        None,
        long,
    )
    .await?;
    let got = config_map_revision(&config_maps, "smoke-settings").await?;
    if got.as_deref() != Some("1") {
        return Err(err(format!(
            "after the first commit smoke-settings has revision {got:?}, want \"1\""
        )));
    }
    eprintln!("smoke: first commit {rev1} applied");

    // 2. a new commit, then reconcile on request (source first, then the Kustomization: `--with-source`)
    let c2 = repo.commit(
        "second",
        &[
            (
                "deploy/settings.yaml",
                Some(&config_map(NS, "smoke-settings", "2")),
            ),
            (
                "deploy/extra.yaml",
                Some(&config_map(NS, "smoke-extra", "2")),
            ),
        ],
    )?;
    let rev2 = format!("main@sha1:{c2}");
    let t = request_reconcile(&gitrepos).await?;
    wait_ready_at(
        &gitrepos,
        "GitRepository at the second commit",
        "/status/artifact/revision",
        &rev2,
        Some(&t),
        long,
    )
    .await?;
    let t = request_reconcile(&kustomizations).await?;
    wait_ready_at(
        &kustomizations,
        "Kustomization applied the second commit",
        "/status/lastAppliedRevision",
        &rev2,
        Some(&t),
        long,
    )
    .await?;
    for name in ["smoke-settings", "smoke-extra"] {
        let got = config_map_revision(&config_maps, name).await?;
        if got.as_deref() != Some("2") {
            return Err(err(format!(
                "after the second commit {name} has revision {got:?}, want \"2\""
            )));
        }
    }
    eprintln!("smoke: second commit {rev2} applied on request");

    // 3. suspended: the source moves on, the Kustomization applies nothing, even when asked
    set_suspend(&kustomizations, true).await?;
    let c3 = repo.commit(
        "third",
        &[(
            "deploy/settings.yaml",
            Some(&config_map(NS, "smoke-settings", "3")),
        )],
    )?;
    let rev3 = format!("main@sha1:{c3}");
    let t = request_reconcile(&gitrepos).await?;
    wait_ready_at(
        &gitrepos,
        "GitRepository at the third commit",
        "/status/artifact/revision",
        &rev3,
        Some(&t),
        long,
    )
    .await?;
    request_reconcile(&kustomizations).await?;
    // A reconcile request is handled within about a second when not suspended (step 2); watch for 15 s that
    // nothing is applied. Any apply ends the watch with an error.
    let watch = Duration::from_secs(15);
    let applied: Result<(), BoxError> =
        wait_for("an apply while suspended", watch, POLL, || async {
            let obj = kustomizations.get(NAME).await?;
            let cm = config_map_revision(&config_maps, "smoke-settings").await?;
            if str_at(&obj, "/status/lastAppliedRevision") != rev2 || cm.as_deref() != Some("2") {
                return Ok(Check::Done(()));
            }
            Ok(Check::Pending(format!(
                "{} smoke-settings={cm:?}",
                describe(&obj)
            )))
        })
        .await;
    // Only the timeout proves that nothing was applied: an error while looking proves nothing.
    match applied {
        Ok(()) => return Err(err("the suspended Kustomization applied a new revision")),
        Err(e) if e.downcast_ref::<TimedOut>().is_some() => {}
        Err(e) => return Err(err(format!("watching the suspended Kustomization: {e}"))),
    }
    eprintln!("smoke: suspended, {rev3} was not applied within {watch:?}");

    // 4. the viewer reads everything and may change nothing
    let v_ks: Api<DynamicObject> = Api::all_with(viewer.clone(), &kustomization());
    let listed = v_ks.list(&ListParams::default()).await?;
    if !listed
        .items
        .iter()
        .any(|k| k.metadata.name.as_deref() == Some(NAME))
    {
        return Err(err("the viewer does not see the Kustomization"));
    }
    Api::<DynamicObject>::all_with(viewer.clone(), &git_repository())
        .list(&ListParams::default())
        .await?;
    Api::<ConfigMap>::namespaced(viewer.clone(), NS)
        .get("smoke-settings")
        .await?;
    Api::<Namespace>::all(viewer.clone())
        .list(&ListParams::default())
        .await?;
    Api::<Secret>::all(viewer.clone())
        .list(&ListParams::default())
        .await?;
    Api::<CustomResourceDefinition>::all(viewer.clone())
        .list(&ListParams::default())
        .await?;
    let v_ks_ns: Api<DynamicObject> = Api::namespaced_with(viewer.clone(), NS, &kustomization());
    expect_forbidden(
        "viewer patches the Kustomization",
        v_ks_ns
            .patch(
                NAME,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"suspend": false}})),
            )
            .await,
    )?;
    expect_forbidden(
        "viewer patches a ConfigMap",
        Api::<ConfigMap>::namespaced(viewer.clone(), NS)
            .patch(
                "smoke-settings",
                &PatchParams::default(),
                &Patch::Merge(&json!({"data": {"revision": "x"}})),
            )
            .await,
    )?;
    eprintln!("smoke: viewer reads everything, gets 403 on patches");

    // 5. resume: the held revision is applied (so the watch in step 3 was meaningful)
    set_suspend(&kustomizations, false).await?;
    wait_ready_at(
        &kustomizations,
        "Kustomization applied the third commit after resume",
        "/status/lastAppliedRevision",
        &rev3,
        None,
        long,
    )
    .await?;
    let got = config_map_revision(&config_maps, "smoke-settings").await?;
    if got.as_deref() != Some("3") {
        return Err(err(format!(
            "after resume smoke-settings has revision {got:?}, want \"3\""
        )));
    }
    eprintln!("smoke: resumed, {rev3} applied");

    // every listener, now that every server of the tier has started (source-controller's artifact server too)
    let listeners = tier.check_listeners()?;
    eprintln!("tier listeners after the run:\n{listeners}");
    Ok(())
}
