//! The Flux backend's detail against the real tier (tests/k8s_tier): the source mirror (commits behind, which
//! commit broke a unit, the source's commits in history), conditions and the inventory tree of a parent
//! Kustomization, and a rollback that suspends the parent that would revert the pin, released by resume. The
//! controllers' reaction is the assertion.
//!
//! One `#[test]` owns the tier; it is stopped on every path (the guard's `Drop`, plus the tier's watchdog).

mod k8s_tier;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::{Value, json};
use setpoint::backend::Backend;
use setpoint::backend::flux::FluxBackend;
use setpoint::model::{Action, InventoryNode, Snapshot, StatusKind};
use tokio::sync::mpsc;

use k8s_tier::watching::{next_snapshot, str_at, unit};
use k8s_tier::{
    BoxError, Check, Repo, Tier, config_map, err, git_repository, kustomization, wait_for,
};

const NS: &str = "fd";
const APP: &str = "flux/admin/fd/Kustomization/app";
const ROOT: &str = "flux/admin/fd/Kustomization/root";
const POLL: Duration = Duration::from_millis(250);
const LONG: Duration = Duration::from_secs(120);

#[test]
fn flux_detail_on_the_tier() {
    k8s_tier::run_on_tier("flux detail test", |tier| Box::pin(run(tier)));
}

/// The manifests the root Kustomization applies: the GitRepository `app` and the Kustomization `app`.
fn parent_manifests(url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: {NS}\n\
         spec:\n  url: {url}\n  ref:\n    branch: main\n  interval: 10m\n  timeout: 30s\n---\n\
         apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: {NS}\n\
         spec:\n  sourceRef:\n    kind: GitRepository\n    name: app\n  path: ./deploy\n  prune: true\n  wait: false\n\
         \x20 interval: 10m\n  timeout: 1m\n"
    )
}

async fn request_reconcile(api: &Api<DynamicObject>, name: &str) -> Result<String, BoxError> {
    let t = jiff::Timestamp::now().to_string();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            &json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": t}}}),
        ),
    )
    .await?;
    Ok(t)
}

/// Waits until the object's `pointer` is `want`.
async fn wait_field(
    api: &Api<DynamicObject>,
    name: &str,
    pointer: &str,
    want: &str,
) -> Result<(), BoxError> {
    wait_for(
        &format!("{name} {pointer} = {want}"),
        LONG,
        POLL,
        || async {
            let obj = api.get_opt(name).await?;
            match obj {
                Some(o) if str_at(&o, pointer) == want => Ok(Check::Done(())),
                Some(o) => Ok(Check::Pending(format!("{:?}", o.data.get("status")))),
                None => Ok(Check::Pending("not there yet".into())),
            }
        },
    )
    .await
}

async fn run(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "fd")?;
    let c1 = repo.commit(
        "first",
        &[
            ("parent/all.yaml", Some(&parent_manifests(&repo.url))),
            ("deploy/cm.yaml", Some(&config_map(NS, "fd-cm", "1"))),
            ("deploy2/cm.yaml", Some(&config_map(NS, "fd-cm2", "1"))),
        ],
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
    let post = PostParams::default();
    gitrepos
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "root", "namespace": NS},
                "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "10m", "timeout": "30s"}
            }))?,
        )
        .await?;
    for (name, source, path) in [("root", "root", "./parent"), ("app2", "app", "./deploy2")] {
        kustomizations
            .create(
                &post,
                &serde_json::from_value(json!({
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": name, "namespace": NS},
                    "spec": {"sourceRef": {"kind": "GitRepository", "name": source}, "path": path,
                             "prune": true, "wait": false, "interval": "10m", "timeout": "1m"}
                }))?,
            )
            .await?;
    }
    let rev1 = format!("main@sha1:{c1}");
    wait_field(&kustomizations, "app", "/status/lastAppliedRevision", &rev1).await?;
    eprintln!("flux detail: root applied the GitRepository and Kustomization app; app at {rev1}");

    let kubeconfig = Kubeconfig::read_from(tier.kubeconfig())?;
    let flux = Arc::new(
        FluxBackend::with_kubeconfig(kubeconfig, Some("admin"))?
            .with_sync_timeout(Duration::from_secs(90))
            .with_data_dir(data.path()),
    );

    // --- detail: every condition, and the inventory tree with the child Kustomization's objects under it
    let d = flux.detail(ROOT).await?;
    if !d
        .conditions
        .iter()
        .any(|c| c.kind == "Ready" && c.status == "True" && c.since.is_some())
    {
        return Err(err(format!("root's conditions: {:?}", d.conditions)));
    }
    // depth from the drawn branch: four columns per level
    let labels: Vec<(usize, String)> = InventoryNode::tree(&d.inventory, true)
        .into_iter()
        .map(|(branch, n)| (branch.len() / 4 - 1, n.label()))
        .collect();
    for want in [
        (0, "GitRepository/fd/app".to_owned()),
        (0, "Kustomization/fd/app".to_owned()),
        (1, "ConfigMap/fd/fd-cm".to_owned()),
    ] {
        if !labels.contains(&want) {
            return Err(err(format!("root's tree lacks {want:?}: {labels:?}")));
        }
    }
    eprintln!("flux detail: root's tree {labels:?}");

    // --- the watch through the mirrors: app suspended, two commits pushed, the source fetches them; the
    // mirror (fetched off the watch path) says 2 commits behind
    let (tx, mut rx) = mpsc::channel(64);
    let watcher = flux.clone();
    let watch = tokio::spawn(async move { watcher.watch(tx).await });
    next_snapshot(
        &mut rx,
        APP,
        "app at the first commit, 0 behind",
        true,
        |s| unit(s, APP).is_some_and(|u| u.commits_behind == Some(0)),
    )
    .await?;
    flux.act(
        APP,
        &Action::Suspend {
            reason: "hold for the mirror test".into(),
        },
    )
    .await?;
    let _c2 = repo.commit(
        "second",
        &[("deploy/cm.yaml", Some(&config_map(NS, "fd-cm", "2")))],
    )?;
    let c3 = repo.commit(
        "third",
        &[("deploy/cm.yaml", Some(&config_map(NS, "fd-cm", "3")))],
    )?;
    let rev3 = format!("main@sha1:{c3}");
    request_reconcile(&gitrepos, "app").await?;
    let snap = next_snapshot(
        &mut rx,
        APP,
        "app 2 commits behind (from the mirror)",
        true,
        |s| {
            unit(s, APP).is_some_and(|u| {
                u.latest_revision.as_ref().map(ToString::to_string) == Some(rev3.clone())
                    && u.commits_behind == Some(2)
            })
        },
    )
    .await?;
    let u = unit(&snap, APP).ok_or("no app")?;
    if u.commits_behind_unknown.is_some() {
        return Err(err(format!("known and unknown at once: {u:?}")));
    }
    eprintln!("flux detail: the watch says app is 2 commits behind");
    // headless: the snapshot fetches (bounded) and says the same
    let headless = flux.snapshot().await?;
    if unit(&headless, APP).and_then(|u| u.commits_behind) != Some(2) {
        return Err(err(format!(
            "headless snapshot: {:?}",
            unit(&headless, APP)
        )));
    }
    let out = flux.act(APP, &Action::Resume).await?;
    eprintln!("flux detail: {}", out.message);
    next_snapshot(
        &mut rx,
        APP,
        "app at the third commit, 0 behind",
        true,
        |s| {
            unit(s, APP).is_some_and(|u| {
                u.applied_revision.as_ref().map(ToString::to_string) == Some(rev3.clone())
                    && u.commits_behind == Some(0)
            })
        },
    )
    .await?;

    // --- which commit broke it: a commit that does not build; the failing unit names it
    let c4 = repo.commit(
        "break the config map",
        &[(
            "deploy/bad.yaml",
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"),
        )],
    )?;
    let _ = flux.act(APP, &Action::Sync { with_source: true }).await;
    let snap = next_snapshot(
        &mut rx,
        APP,
        "app failed, broken by the fourth commit",
        true,
        |s| {
            unit(s, APP).is_some_and(|u| {
                u.status.kind == StatusKind::Failed
                    && u.broken_by.len() == 1
                    && u.broken_by[0].revision.sha() == c4
            })
        },
    )
    .await?;
    let u = unit(&snap, APP).ok_or("no app")?;
    if u.broken_by[0].summary != "break the config map" || u.broken_by[0].author.is_empty() {
        return Err(err(format!("broken_by: {:?}", u.broken_by)));
    }
    eprintln!(
        "flux detail: app failed; broken by {} {:?} ({} behind)",
        &c4[..12],
        u.broken_by[0].summary,
        u.commits_behind.map_or("unknown".into(), |n| n.to_string())
    );

    // --- history: status.history with the source's commits, marked
    let history = flux.history(APP).await?;
    let find = |sha: &str| history.iter().find(|h| h.revision.sha() == sha);
    match (find(&c4), find(&c3), find(&c1)) {
        (Some(h4), Some(h3), Some(h1))
            if h4.failed && h3.applied && h3.last_good && !h1.applied && h1.summary == "first" => {}
        _ => return Err(err(format!("history: {history:#?}"))),
    }
    if history.len() < 4 {
        return Err(err(format!(
            "history lacks the source's commits: {history:#?}"
        )));
    }

    // --- rollback with --suspend-parent: root (which applies the GitRepository) is suspended by setpoint,
    // the source pinned at c3; the outcome names the other unit sharing the source
    let out = flux
        .act(
            APP,
            &Action::Rollback {
                to: rev3.parse()?,
                reason: "bad config map".into(),
                suspend_parent: true,
            },
        )
        .await?;
    eprintln!("flux detail: {}", out.message);
    if !out.message.contains("fd/app2") || !out.message.contains("parent") {
        return Err(err(format!("rollback outcome: {}", out.message)));
    }
    let root = kustomizations.get("root").await?;
    let root_ann = root.metadata.annotations.clone().unwrap_or_default();
    if root.data.pointer("/spec/suspend") != Some(&json!(true))
        || root_ann
            .get("setpoint.dev/suspend-reason")
            .map(String::as_str)
            != Some("bad config map")
    {
        return Err(err(format!(
            "root after rollback: {:?} {root_ann:?}",
            root.data.get("spec")
        )));
    }
    let src = gitrepos.get("app").await?;
    let src_ann = src.metadata.annotations.clone().unwrap_or_default();
    if str_at(&src, "/spec/ref/commit") != c3
        || src_ann
            .get("setpoint.dev/suspended-parent")
            .map(String::as_str)
            != Some("fd/root")
    {
        return Err(err(format!(
            "source after rollback: {:?} {src_ann:?}",
            src.data.get("spec")
        )));
    }
    // the controller: root, suspended, does not revert the pin when asked to reconcile
    request_reconcile(&kustomizations, "root").await?;
    let token = request_reconcile(&gitrepos, "app").await?;
    wait_field(&gitrepos, "app", "/status/lastHandledReconcileAt", &token).await?;
    if !str_at(&gitrepos.get("app").await?, "/status/artifact/revision").ends_with(&c3) {
        return Err(err("the pinned source did not fetch the pinned commit"));
    }
    if str_at(&gitrepos.get("app").await?, "/spec/ref/commit") != c3 {
        return Err(err("the suspended parent reverted the pin"));
    }

    // --- resume: the fix pushed first; the ref is restored and root released by setpoint
    let c5 = repo.commit("fix", &[("deploy/bad.yaml", None)])?;
    let out = flux.act(APP, &Action::Resume).await?;
    eprintln!("flux detail: {}", out.message);
    let root = kustomizations.get("root").await?;
    let root_ann = root.metadata.annotations.clone().unwrap_or_default();
    let src = gitrepos.get("app").await?;
    if root.data.pointer("/spec/suspend") == Some(&json!(true))
        || root_ann.keys().any(|k| k.starts_with("setpoint.dev/"))
        || str_at(&src, "/spec/ref/branch") != "main"
        || !str_at(&src, "/spec/ref/commit").is_empty()
        || src
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("setpoint.dev/suspended-parent")
    {
        return Err(err(format!(
            "after resume: root {:?} {root_ann:?}; source {:?}",
            root.data.get("spec"),
            src.data.get("spec")
        )));
    }
    wait_field(
        &kustomizations,
        "app",
        "/status/lastAppliedRevision",
        &format!("main@sha1:{c5}"),
    )
    .await?;
    // root, released, handled the resume's reconcile request (its source did not move: still the first commit)
    let root = kustomizations.get("root").await?;
    let asked = root
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("reconcile.fluxcd.io/requestedAt"))
        .cloned()
        .unwrap_or_default();
    if asked.is_empty() || str_at(&root, "/status/lastHandledReconcileAt") != asked {
        return Err(err(format!(
            "root after resume: {:?}",
            root.data.get("status")
        )));
    }
    eprintln!("flux detail: resumed; root released, app at {}", &c5[..12]);

    // --- a CRD installed later appears: discovery runs again while a kind is not installed (HelmRelease: the
    // tier has no helm-controller), and the watch restarts with it
    rediscovery(tier).await?;

    // --- the real binary: tree and detail with --output json
    cli(tier).await?;

    watch.abort();
    Ok(())
}

async fn rediscovery(tier: &Tier) -> Result<(), BoxError> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let admin = tier.client("admin").await?;
    let kubeconfig = Kubeconfig::read_from(tier.kubeconfig())?;
    let flux = Arc::new(
        FluxBackend::with_kubeconfig(kubeconfig, Some("admin"))?
            .with_rediscover(Duration::from_millis(500)),
    );
    let (tx, mut rx) = mpsc::channel(64);
    let watcher = flux.clone();
    let watch = tokio::spawn(async move { watcher.watch(tx).await });
    let says_missing = |s: &Snapshot| {
        s.contexts.iter().any(|c| {
            c.message
                .as_deref()
                .is_some_and(|m| m.contains("HelmRelease"))
        })
    };
    next_snapshot(
        &mut rx,
        APP,
        "HelmRelease not installed",
        true,
        says_missing,
    )
    .await?;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "helmreleases.helm.toolkit.fluxcd.io"},
        "spec": {
            "group": "helm.toolkit.fluxcd.io",
            "names": {"kind": "HelmRelease", "plural": "helmreleases", "singular": "helmrelease",
                      "listKind": "HelmReleaseList"},
            "scope": "Namespaced",
            "versions": [{"name": "v2", "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))?;
    let crds: Api<CustomResourceDefinition> = Api::all(admin);
    crds.create(&PostParams::default(), &crd).await?;
    next_snapshot(
        &mut rx,
        APP,
        "HelmRelease served after discovery ran again",
        true,
        |s| !says_missing(s),
    )
    .await?;
    let kinds = flux.kinds().await?;
    if !kinds.iter().any(|(k, s)| {
        k.kind == "HelmRelease" && matches!(s, setpoint::backend::flux::KindState::Served(_))
    }) {
        return Err(err(format!("after the CRD: {kinds:?}")));
    }
    eprintln!("flux detail: a CRD installed later is discovered and watched");
    crds.delete("helmreleases.helm.toolkit.fluxcd.io", &Default::default())
        .await?;
    watch.abort();
    Ok(())
}

async fn cli(tier: &Tier) -> Result<(), BoxError> {
    let dirs = tempfile::tempdir()?;
    let run = |args: &[&str]| -> Result<(i32, String, String), BoxError> {
        let out = Command::new(env!("CARGO_BIN_EXE_setpoint"))
            .args(["--backend", "flux", "--context", "admin"])
            .args(args)
            .env("KUBECONFIG", tier.kubeconfig())
            .env("SETPOINT_CONFIG_DIR", dirs.path().join("config"))
            .env("SETPOINT_DATA_DIR", dirs.path().join("data"))
            .output()?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    };
    let (code, stdout, stderr) = run(&["tree", "root", "--output", "json"])?;
    let json: Value = serde_json::from_str(&stdout)
        .map_err(|e| err(format!("tree JSON ({code}, {stderr}): {e}: {stdout}")))?;
    let child = json["inventory"].as_array().and_then(|n| {
        n.iter()
            .find(|n| n["kind"] == "Kustomization" && n["name"] == "app")
    });
    let grandchild = child
        .and_then(|c| c["children"].as_array())
        .and_then(|c| c.first());
    if code != 0 || grandchild.map(|g| g["name"].clone()) != Some(json!("fd-cm")) {
        return Err(err(format!("tree --output json: {code} {stderr} {stdout}")));
    }
    let (code, stdout, stderr) = run(&["tree", "root"])?;
    // the grandchild drawn one level down, under the child's branch
    let nested = stdout.lines().any(|l| {
        l.starts_with("│   └── ConfigMap/fd/fd-cm") || l.starts_with("    └── ConfigMap/fd/fd-cm")
    });
    if code != 0 || !nested {
        return Err(err(format!("tree: {code} {stderr} {stdout}")));
    }
    let (code, stdout, stderr) = run(&["detail", "app", "--output", "json"])?;
    let json: Value = serde_json::from_str(&stdout)
        .map_err(|e| err(format!("detail JSON ({code}, {stderr}): {e}: {stdout}")))?;
    let ready = json["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    if code != 0 || ready.map(|r| r["status"].clone()) != Some(json!("True")) {
        return Err(err(format!(
            "detail --output json: {code} {stderr} {stdout}"
        )));
    }
    // status --output json: commits behind from the CLI's own mirror, and the sharing units' source
    let (code, stdout, stderr) = run(&["status", "--output", "json"])?;
    let json: Value = serde_json::from_str(&stdout)
        .map_err(|e| err(format!("status JSON ({code}, {stderr}): {e}: {stdout}")))?;
    let app = json["units"]
        .as_array()
        .and_then(|us| us.iter().find(|u| u["id"] == APP))
        .cloned()
        .unwrap_or_default();
    let src = json["sources"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find(|s| s["id"] == "flux/admin/fd/GitRepository/app")
        })
        .cloned()
        .unwrap_or_default();
    if code != 0 || app["commitsBehind"] != json!(0) || src["appliedBy"] != json!("fd/root") {
        return Err(err(format!(
            "status --output json: {code} {stderr} app {app} source {src}"
        )));
    }
    // --backend auto (the default), no workspace here: the kubeconfig's current context, where Flux is served
    let empty = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args(["status", "--output", "json"])
        .current_dir(empty.path())
        .env("KUBECONFIG", tier.kubeconfig())
        .env("SETPOINT_CONFIG_DIR", dirs.path().join("config"))
        .env("SETPOINT_DATA_DIR", dirs.path().join("data"))
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout).map_err(|e| {
        err(format!(
            "auto status JSON: {e}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    })?;
    let ids: Vec<&str> = json["units"]
        .as_array()
        .map(|us| us.iter().filter_map(|u| u["id"].as_str()).collect())
        .unwrap_or_default();
    if !out.status.success() || !ids.contains(&APP) {
        return Err(err(format!(
            "--backend auto without a workspace: {ids:?} {stdout}"
        )));
    }
    eprintln!("flux detail: CLI tree, detail and status agree; auto picks the Flux context");
    Ok(())
}
