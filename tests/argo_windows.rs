//! Sync windows in the console's watch, on the tier's real Argo CD 3.3.0: the AppProjects are watched beside
//! the Applications (streaming lists: no LIST of either while the watch starts or runs); a project whose deny
//! window covers now marks its Application in the first snapshot; a window added to another project while
//! watching, and one removed, reach the next snapshot without a restart; an identity that may not read
//! AppProjects sees its units with the windows unknown, said, and the refused watch is not retried. Every wait
//! is bounded.

mod k8s_tier;

use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::json;
use setpoint::backend::Backend;
use setpoint::backend::argo::ArgoBackend;
use setpoint::model::Snapshot;
use tokio::sync::mpsc;

use k8s_tier::watching::{next_snapshot, unit as unit_of};
use k8s_tier::{
    ARGOCD_IN_CLUSTER, ARGOCD_NAMESPACE, BoxError, Check, Repo, Tier, app_project, application,
    config_map, err, wait_for,
};

const FROZEN: &str = "win-frozen";
const PLAIN: &str = "win-plain";
const NS: &str = "argo-windows";

#[test]
fn sync_windows_in_the_watch_on_the_real_tier() {
    k8s_tier::run_on_tier_with_argo("Argo CD sync windows in the watch", |tier| {
        Box::pin(steps(tier))
    });
}

fn unit(context: &str, name: &str) -> String {
    format!("argo/{context}/{ARGOCD_NAMESPACE}/Application/{name}")
}

fn app(name: &str, project: &str, url: &str) -> Result<DynamicObject, BoxError> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": {"project": project,
            "source": {"repoURL": url, "targetRevision": "main", "path": "web"},
            "destination": {"server": ARGOCD_IN_CLUSTER, "namespace": NS}}
    }))?)
}

fn project(name: &str, windows: serde_json::Value) -> Result<DynamicObject, BoxError> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": {"sourceRepos": ["*"], "destinations": [{"namespace": "*", "server": "*"}],
            "syncWindows": windows}
    }))?)
}

/// The API server's count of `verb` requests of `resource`.
async fn requests(admin: &kube::Client, verb: &str, resource: &str) -> Result<f64, BoxError> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = admin.request_text(req).await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| {
            l.contains(&format!("verb=\"{verb}\""))
                && l.contains(&format!("resource=\"{resource}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// How many requests have been made by impersonation so far (only the limited identity impersonates).
async fn impersonated(admin: &kube::Client) -> Result<f64, BoxError> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = admin.request_text(req).await?;
    Ok(text
        .lines()
        .filter(|l| {
            l.starts_with("apiserver_impersonation_authorization_attempts_duration_seconds_count")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// The sync-window marker of unit `id` in `snap` (`-` when it has none, `absent` when the unit is not there).
fn marker(snap: &Snapshot, id: &str) -> String {
    match unit_of(snap, id) {
        Some(u) => u
            .sync_window
            .as_ref()
            .map_or_else(|| "-".to_owned(), |w| w.marker().to_owned()),
        None => "absent".to_owned(),
    }
}

async fn steps(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "argo-windows")?;
    repo.commit(
        "first",
        &[("web/web.yaml", Some(&config_map(NS, "web", "1")))],
    )?;
    let post = PostParams::default();
    let projects: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &app_project());
    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    // a deny window that covers now (it fires every minute and lasts an hour), and a project without one
    projects
        .create(
            &post,
            &project(
                "win-frozen",
                json!([{"kind": "deny", "schedule": "* * * * *", "duration": "1h",
                "applications": [FROZEN], "description": "change freeze"}]),
            )?,
        )
        .await?;
    projects
        .create(&post, &project("win-plain", json!([]))?)
        .await?;
    apps.create(&post, &app(FROZEN, "win-frozen", &repo.url)?)
        .await?;
    apps.create(&post, &app(PLAIN, "win-plain", &repo.url)?)
        .await?;

    // the watch: its first snapshot already judges the windows, and neither kind was LISTed to start it
    let lists = |a: kube::Client| async move {
        Ok::<_, BoxError>((
            requests(&a, "LIST", "applications").await?,
            requests(&a, "LIST", "appprojects").await?,
        ))
    };
    let before = lists(admin.clone()).await?;
    let argo =
        ArgoBackend::with_kubeconfig(Kubeconfig::read_from(tier.kubeconfig())?, Some("admin"))?;
    let (tx, mut rx) = mpsc::channel(64);
    let watch = tokio::spawn(async move { argo.watch(tx).await });
    let (frozen, plain) = (unit("admin", FROZEN), unit("admin", PLAIN));
    let first = next_snapshot(
        &mut rx,
        &frozen,
        "the first snapshot with both Applications",
        false,
        |s| unit_of(s, &frozen).is_some() && unit_of(s, &plain).is_some(),
    )
    .await?;
    let w = unit_of(&first, &frozen)
        .and_then(|u| u.sync_window.clone())
        .ok_or_else(|| err(format!("no window on {frozen} in the first snapshot")))?;
    if w.marker() != "sync denied" || !w.message.contains("change freeze") {
        return Err(err(format!("the frozen unit's window: {w:?}")));
    }
    if marker(&first, &plain) != "-" {
        return Err(err(format!(
            "a window on the plain unit: {}",
            marker(&first, &plain)
        )));
    }

    // a window added to the plain project while watching reaches the next snapshot (no restart)
    projects
        .patch(
            "win-plain",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"syncWindows": [
                {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["*"],
                 "manualSync": true}]}})),
        )
        .await?;
    next_snapshot(
        &mut rx,
        &plain,
        "the window added to win-plain",
        false,
        |s| marker(s, &plain) == "manual sync only",
    )
    .await?;
    // ...and the freeze lifted
    projects
        .patch(
            "win-frozen",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"syncWindows": null}})),
        )
        .await?;
    next_snapshot(
        &mut rx,
        &frozen,
        "the window removed from win-frozen",
        false,
        |s| marker(s, &frozen) == "-" && marker(s, &plain) == "manual sync only",
    )
    .await?;
    let after = lists(admin.clone()).await?;
    if after != before {
        return Err(err(format!(
            "LIST requests (applications, appprojects) went from {before:?} to {after:?} while watching"
        )));
    }
    watch.abort();

    limited(tier, &admin, &apps).await
}

/// An identity that may read Applications but not AppProjects: its units come, their windows unknown and
/// said, and the refused AppProject watch is not tried again while the Applications change.
async fn limited(
    tier: &Tier,
    admin: &kube::Client,
    apps: &Api<DynamicObject>,
) -> Result<(), BoxError> {
    Tier::grant(
        admin,
        "win-limited",
        "win-limited",
        json!([{"apiGroups": ["argoproj.io"], "resources": ["applications"],
                           "verbs": ["get", "list", "watch"]}]),
    )
    .await?;
    // the admin's credentials impersonating `win-limited`
    let kc = tier.impersonating("limited", "win-limited")?;
    // the binding takes effect when the API server's authorizer has seen it: until the identity may read
    // Applications (a watch refused then would stop for good, rightly)
    let config = kube::Config::from_custom_kubeconfig(
        kc.clone(),
        &kube::config::KubeConfigOptions {
            context: Some("limited".into()),
            ..Default::default()
        },
    )
    .await?;
    let as_limited: Api<DynamicObject> =
        Api::all_with(kube::Client::try_from(config)?, &application());
    wait_for(
        "the limited identity may list Applications",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            Ok(
                match as_limited.list(&ListParams::default().limit(1)).await {
                    Ok(_) => Check::Done(()),
                    Err(kube::Error::Api(s)) if s.code == 403 => Check::Pending(s.message),
                    Err(e) => return Err(e.into()),
                },
            )
        },
    )
    .await?;
    let argo = ArgoBackend::with_kubeconfig(kc, Some("limited"))?;
    let (tx, mut rx) = mpsc::channel(64);
    let watch = tokio::spawn(async move { argo.watch(tx).await });
    let frozen = unit("limited", FROZEN);
    let first = next_snapshot(&mut rx, &frozen, "the limited watch's units", false, |s| {
        unit_of(s, &frozen).is_some()
    })
    .await?;
    let w = unit_of(&first, &frozen)
        .and_then(|u| u.sync_window.clone())
        .ok_or_else(|| err("limited: no window state on the unit"))?;
    if w.marker() != "sync window ?" || !w.message.contains("forbidden") {
        return Err(err(format!(
            "limited: the window is not said unknown: {w:?}"
        )));
    }
    // no retry storm: the limited identity makes no request while an Application goes away and the watch
    // shows it (a refusal is not counted in apiserver_request_total; every impersonated request is counted)
    let made = impersonated(admin).await?;
    if made == 0.0 {
        return Err(err("limited: no request by impersonation counted"));
    }
    apps.delete(PLAIN, &DeleteParams::default()).await?;
    let plain = unit("limited", PLAIN);
    next_snapshot(
        &mut rx,
        &frozen,
        "the limited watch without win-plain",
        false,
        |s| unit_of(s, &plain).is_none() && marker(s, &frozen) == "sync window ?",
    )
    .await?;
    let made_later = impersonated(admin).await?;
    if made_later != made {
        return Err(err(format!(
            "limited: {made} requests by impersonation at the first snapshot, {made_later} after a change"
        )));
    }
    watch.abort();
    Ok(())
}
