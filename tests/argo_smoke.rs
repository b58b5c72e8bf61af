//! Smoke test of Argo CD on the Kubernetes test tier: the real application-controller and repo-server (built
//! from the argo-cd module, see scripts/k8s-tier) sync an Application from the tier's git server into the
//! tier's own API server (the in-cluster destination), and auto-sync follows a new commit.
//!
//! One `#[test]` owns the tier: it is started once for this binary and stopped on every path.

mod k8s_tier;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use k8s_tier::objects::{config_map_revision, describe_application};
use k8s_tier::watching::str_at;
use k8s_tier::{
    ARGOCD_IN_CLUSTER, ARGOCD_NAMESPACE, BoxError, Check, Repo, Tier, app_project, application,
    config_map, err, wait_for,
};

const NAME: &str = "argo-smoke";
/// The namespace the Application deploys to (created by Argo CD's CreateNamespace sync option).
const DEST_NS: &str = "argo-smoke";
const FIELD_MANAGER: &str = "setpoint-argo-smoke";
const POLL: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(180);

#[test]
fn argocd_syncs_from_the_tier_git_server() {
    k8s_tier::run_on_tier_with_argo("Argo CD smoke test", |tier| Box::pin(smoke(tier)));
}

fn automated(app: &DynamicObject) -> Option<bool> {
    app.data
        .pointer("/status/operationState/operation/initiatedBy/automated")
        .and_then(Value::as_bool)
}

/// Wait until the application-controller reports the Application Synced and Healthy at `commit`, with a
/// finished, successful sync operation of that revision that auto-sync started.
async fn wait_synced_at(
    apps: &Api<DynamicObject>,
    what: &str,
    commit: &str,
) -> Result<DynamicObject, BoxError> {
    wait_for(what, LONG, POLL, || async {
        let app = apps.get(NAME).await?;
        let ok = str_at(&app, "/status/sync/status") == "Synced"
            && str_at(&app, "/status/sync/revision") == commit
            && str_at(&app, "/status/health/status") == "Healthy"
            && str_at(&app, "/status/operationState/phase") == "Succeeded"
            && str_at(&app, "/status/operationState/syncResult/revision") == commit
            && automated(&app) == Some(true);
        Ok(if ok {
            Check::Done(app)
        } else {
            Check::Pending(describe_application(&app))
        })
    })
    .await
}

/// Every ConfigMap of `want` has that revision (`None`: does not exist).
async fn expect_revisions(
    config_maps: &Api<ConfigMap>,
    when: &str,
    want: &[(&str, Option<&str>)],
) -> Result<(), BoxError> {
    for (name, revision) in want {
        let got = config_map_revision(config_maps, name).await?;
        if got.as_deref() != *revision {
            return Err(err(format!(
                "{when}: ConfigMap {DEST_NS}/{name} has revision {got:?}, want {revision:?}"
            )));
        }
    }
    Ok(())
}

/// Every listener of the tier is on loopback (`listeners` fails otherwise), Argo CD's servers among them.
fn check_argocd_listeners(tier: &Tier) -> Result<(), BoxError> {
    let listeners = tier.check_listeners()?;
    eprintln!("tier listeners:\n{listeners}");
    // ss names every argocd process after the one binary, so the addresses tell them apart
    for var in [
        "REDIS_ADDR",
        "ARGOCD_REPO_SERVER",
        "ARGOCD_SERVER_URL",
        "ARGOCD_CONTROLLER_HEALTH",
    ] {
        let value = tier.var(var)?;
        let addr = value.rsplit('/').next().unwrap_or(value);
        if !listeners.contains(&format!("{addr} ")) {
            return Err(err(format!(
                "{var}={value}: no listener on {addr} in:\n{listeners}"
            )));
        }
    }
    Ok(())
}

async fn smoke(tier: &Tier) -> Result<(), BoxError> {
    check_argocd_listeners(tier)?;
    let admin = tier.client("admin").await?;
    let viewer = tier.client("viewer").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "argo-smoke")?;

    let c1 = repo.commit(
        "first",
        &[
            (
                "deploy/settings.yaml",
                Some(&config_map(DEST_NS, "settings", "1")),
            ),
            ("deploy/old.yaml", Some(&config_map(DEST_NS, "old", "1"))),
        ],
    )?;

    // the default AppProject that `up` installed
    Api::<DynamicObject>::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &app_project())
        .get("default")
        .await?;

    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": NAME, "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": ARGOCD_IN_CLUSTER, "namespace": DEST_NS},
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": false},
                // the tier runs no kube-controller-manager, whose garbage collector removes the
                // finalizer of Argo CD's default foreground deletion: prune in the background
                "syncOptions": ["CreateNamespace=true", "PrunePropagationPolicy=background"]
            }
        }
    }))?;
    apps.create(
        &PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        },
        &app,
    )
    .await?;

    // 1. auto-sync applies the first commit
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), DEST_NS);
    let synced = wait_synced_at(&apps, "the Application synced at the first commit", &c1).await?;
    expect_revisions(
        &config_maps,
        "after the first sync",
        &[("settings", Some("1")), ("old", Some("1"))],
    )
    .await?;
    eprintln!(
        "argo smoke: first commit {c1} synced: {}",
        describe_application(&synced)
    );

    // 2. a new commit; a refresh (what a git webhook asks for) makes the controller look at the repository,
    //    and auto-sync (not this test) syncs it: `settings` changes, `extra` appears, `old` is pruned
    let c2 = repo.commit(
        "second",
        &[
            (
                "deploy/settings.yaml",
                Some(&config_map(DEST_NS, "settings", "2")),
            ),
            (
                "deploy/extra.yaml",
                Some(&config_map(DEST_NS, "extra", "2")),
            ),
            ("deploy/old.yaml", None),
        ],
    )?;
    let refresh = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}});
    apps.patch(
        NAME,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        },
        &Patch::Merge(&refresh),
    )
    .await?;
    let synced = wait_synced_at(&apps, "auto-sync of the second commit", &c2).await?;
    expect_revisions(
        &config_maps,
        "after the second sync",
        &[("settings", Some("2")), ("extra", Some("2")), ("old", None)],
    )
    .await?;
    let history: Vec<&str> = synced
        .data
        .pointer("/status/history")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .filter_map(|e| e.get("revision").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if history != [c1.as_str(), c2.as_str()] {
        return Err(err(format!(
            "status.history has revisions {history:?}, want [{c1}, {c2}]"
        )));
    }
    eprintln!(
        "argo smoke: second commit {c2} auto-synced, `old` pruned: {}",
        describe_application(&synced)
    );

    // 3. the viewer reads Applications (the tier's read-only ClusterRole covers every group)
    let listed = Api::<DynamicObject>::all_with(viewer.clone(), &application())
        .list(&ListParams::default())
        .await?;
    if !listed
        .items
        .iter()
        .any(|a| a.metadata.name.as_deref() == Some(NAME))
    {
        return Err(err("the viewer does not see the Application"));
    }

    check_argocd_listeners(tier)
}
