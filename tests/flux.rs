//! The Flux backend against the real tier (tests/k8s_tier): the watch, every action with the controllers'
//! reaction as the assertion, the viewer refused before anything is sent, an API server restart during a
//! watch, the CLI of the real binary, the console in tmux, and a watch resumed from its cache (flux/resume.rs).
//!
//! One `#[test]` owns the tier; it is stopped on every path (the guard's `Drop`, plus the tier's watchdog).

// the tmux harness shared with the console's tests panics on harness failures, as test code may
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod k8s_tier;
#[path = "flux/resume.rs"]
mod resume;
mod tmux_harness;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Event as KubeEvent, Namespace};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::{Value, json};
use setpoint::backend::flux::{FluxBackend, KindState};
use setpoint::backend::{Backend, BackendError, Update};
use setpoint::model::{Action, Permission, StatusKind};
use tokio::sync::mpsc;

use k8s_tier::watching::{next_snapshot, str_at, unit};
use k8s_tier::{
    BoxError, Check, Repo, Tier, TimedOut, config_map, err, git_repository, kustomization, wait_for,
};

const NS: &str = "fx";
const NAME: &str = "app";
const UNIT: &str = "flux/admin/fx/Kustomization/app";
const SOURCE: &str = "flux/admin/fx/GitRepository/app";
const POLL: Duration = Duration::from_millis(250);
const LONG: Duration = Duration::from_secs(120);

#[test]
fn flux_backend_on_the_tier() {
    k8s_tier::run_on_tier("flux test", |tier| Box::pin(run(tier)));
}

fn backend(tier: &Tier, context: &str) -> Result<FluxBackend, BoxError> {
    let kubeconfig = Kubeconfig::read_from(tier.kubeconfig())?;
    Ok(FluxBackend::with_kubeconfig(kubeconfig, Some(context))?
        .with_sync_timeout(Duration::from_secs(90)))
}

async fn run(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "fx")?;
    let c1 = repo.commit(
        "first",
        &[("deploy/cm.yaml", Some(&config_map(NS, "fx-cm", "1")))],
    )?;
    let rev1 = format!("main@sha1:{c1}");

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
    let post = PostParams::default();
    gitrepos
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": NAME, "namespace": NS},
                "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "10m", "timeout": "30s"}
            }))?,
        )
        .await?;
    kustomizations
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": NAME, "namespace": NS},
                "spec": {"sourceRef": {"kind": "GitRepository", "name": NAME}, "path": "./deploy",
                         "prune": true, "wait": false, "interval": "10m", "timeout": "1m"}
            }))?,
        )
        .await?;

    // --- discovery: the tier serves the source and kustomize kinds, not HelmRelease (no helm-controller)
    let flux = Arc::new(backend(tier, "admin")?);
    let kinds = flux.kinds().await?;
    let state_of = |k: &str| {
        kinds
            .iter()
            .find(|(x, _)| x.kind == k)
            .map(|(_, s)| s.clone())
    };
    if !matches!(state_of("Kustomization"), Some(KindState::Served(ar)) if ar.version == "v1") {
        return Err(err(format!("Kustomization not served at v1: {kinds:?}")));
    }
    if state_of("HelmRelease") != Some(KindState::NotInstalled) {
        return Err(err(format!(
            "HelmRelease should be not installed: {kinds:?}"
        )));
    }

    // --- the watch: the first update is a whole snapshot (after every kind's initial list), and the initial
    // lists arrive over the watches (streaming lists): no LIST request of a Flux kind
    let lists_before = requests(&admin, "LIST", None).await?;
    let (tx, mut rx) = mpsc::channel(64);
    let watcher = flux.clone();
    let watch = tokio::spawn(async move { watcher.watch(tx).await });
    let first = tokio::time::timeout(LONG, rx.recv())
        .await?
        .ok_or_else(|| err("the watch ended at once"))?;
    let Update::Snapshot(first) = first else {
        return Err(err(format!(
            "the first update is not a snapshot: {first:?}"
        )));
    };
    if unit(&first, UNIT).is_none() || !first.sources.iter().any(|s| s.id == SOURCE) {
        return Err(err(format!(
            "the first snapshot lacks the unit or its source: {first:?}"
        )));
    }
    let lists_after = requests(&admin, "LIST", None).await?;
    eprintln!(
        "flux: LIST requests of Flux kinds (by anyone) before the watch {lists_before}, after {lists_after}"
    );
    if lists_before == 0.0 || lists_after != lists_before {
        return Err(err(format!(
            "the watch made LIST requests: {lists_before} before, {lists_after} after"
        )));
    }
    next_snapshot(
        &mut rx,
        UNIT,
        "the unit ready at the first commit",
        false,
        |s| {
            unit(s, UNIT).is_some_and(|u| {
                u.status.kind == StatusKind::Ready
                    && u.applied_revision.as_ref().map(ToString::to_string) == Some(rev1.clone())
                    && u.latest_revision == u.applied_revision
                    && u.commits_behind == Some(0)
            })
        },
    )
    .await?;
    eprintln!("flux: watch shows {UNIT} ready at {rev1}");

    // --- capabilities of the admin
    let caps = flux.capabilities(UNIT).await?;
    if caps.suspend != Permission::Allowed || caps.sync != Permission::Allowed {
        return Err(err(format!("admin capabilities: {caps:?}")));
    }

    // --- suspend: spec.suspend and who/why/when; the watch shows it; sync is refused; nothing is applied
    let out = flux
        .act(
            UNIT,
            &Action::Suspend {
                reason: "tier test".into(),
            },
        )
        .await?;
    eprintln!("flux: {}", out.message);
    let ks = kustomizations.get(NAME).await?;
    let ann = ks.metadata.annotations.clone().unwrap_or_default();
    if ks.data.pointer("/spec/suspend") != Some(&json!(true))
        || ann.get("setpoint.dev/suspend-reason").map(String::as_str) != Some("tier test")
        || !ann.contains_key("setpoint.dev/suspended-by")
        || !ann.contains_key("setpoint.dev/suspended-at")
    {
        return Err(err(format!(
            "after suspend: {:?} {ann:?}",
            ks.data.get("spec")
        )));
    }
    next_snapshot(&mut rx, UNIT, "the unit suspended", false, |s| {
        unit(s, UNIT).is_some_and(|u| {
            u.status.kind == StatusKind::Suspended
                && u.suspend_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("tier test (by "))
        })
    })
    .await?;
    match flux.act(UNIT, &Action::Sync { with_source: false }).await {
        Err(BackendError::Invalid(m)) if m.contains("suspended") => {}
        other => return Err(err(format!("sync while suspended: {other:?}"))),
    }
    let c2 = repo.commit(
        "second",
        &[("deploy/cm.yaml", Some(&config_map(NS, "fx-cm", "2")))],
    )?;
    let rev2 = format!("main@sha1:{c2}");
    let t = jiff::Timestamp::now().to_string();
    gitrepos
        .patch(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": t}}}),
            ),
        )
        .await?;
    next_snapshot(
        &mut rx,
        UNIT,
        "the source at the second commit",
        false,
        |s| {
            s.sources.iter().any(|x| {
                x.id == SOURCE && x.revision.as_ref().map(ToString::to_string) == Some(rev2.clone())
            })
        },
    )
    .await?;
    kustomizations
        .patch(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "by-hand"}}})),
        )
        .await?;
    let applied = wait_for(
        "an apply while suspended",
        Duration::from_secs(10),
        POLL,
        || async {
            let obj = kustomizations.get(NAME).await?;
            if str_at(&obj, "/status/lastAppliedRevision") != rev1 {
                return Ok(Check::Done(()));
            }
            Ok(Check::Pending(
                str_at(&obj, "/status/lastAppliedRevision").to_owned(),
            ))
        },
    )
    .await;
    match applied {
        Ok(()) => return Err(err("the suspended Kustomization applied a new revision")),
        Err(e) if e.downcast_ref::<TimedOut>().is_some() => {}
        Err(e) => return Err(err(format!("watching the suspended Kustomization: {e}"))),
    }
    eprintln!("flux: suspended, {rev2} not applied");

    // --- resume: the annotations go, the controller applies the held commit, the outcome says ready
    let out = flux.act(UNIT, &Action::Resume).await?;
    eprintln!("flux: {}", out.message);
    if !out.message.contains("ready") {
        return Err(err(format!("resume outcome: {}", out.message)));
    }
    let ks = kustomizations.get(NAME).await?;
    let ann = ks.metadata.annotations.clone().unwrap_or_default();
    if str_at(&ks, "/status/lastAppliedRevision") != rev2
        || ann.keys().any(|k| k.starts_with("setpoint.dev/"))
        || ks.data.pointer("/spec/suspend") == Some(&json!(true))
    {
        return Err(err(format!("after resume: {:?} {ann:?}", ks.data)));
    }
    let cm = config_maps.get("fx-cm").await?;
    if cm.data.and_then(|d| d.get("revision").cloned()).as_deref() != Some("2") {
        return Err(err("after resume fx-cm is not at revision 2"));
    }

    // --- sync with source: the new commit is fetched and applied; lastHandledReconcileAt is the token
    let c3 = repo.commit(
        "third",
        &[("deploy/cm.yaml", Some(&config_map(NS, "fx-cm", "3")))],
    )?;
    let rev3 = format!("main@sha1:{c3}");
    let out = flux.act(UNIT, &Action::Sync { with_source: true }).await?;
    eprintln!("flux: {}", out.message);
    let ks = kustomizations.get(NAME).await?;
    let token = ks
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("reconcile.fluxcd.io/requestedAt"))
        .cloned()
        .unwrap_or_default();
    if str_at(&ks, "/status/lastAppliedRevision") != rev3
        || str_at(&ks, "/status/lastHandledReconcileAt") != token
    {
        return Err(err(format!(
            "after sync with source: {:?}",
            ks.data.get("status")
        )));
    }

    // --- a sync whose reconcile fails is a failure with the condition's message, never a success
    let _c4 = repo.commit(
        "broken",
        &[(
            "deploy/bad.yaml",
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"),
        )],
    )?;
    match flux.act(UNIT, &Action::Sync { with_source: true }).await {
        Err(BackendError::Failed(m)) if m.contains("reconcile failed") => {
            eprintln!("flux: broken commit: {m}");
        }
        other => return Err(err(format!("sync of a broken commit: {other:?}"))),
    }
    let ks = kustomizations.get(NAME).await?;
    if str_at(&ks, "/status/lastAppliedRevision") != rev3 {
        return Err(err("the broken commit was applied"));
    }
    next_snapshot(&mut rx, UNIT, "the unit failed", false, |s| {
        unit(s, UNIT).is_some_and(|u| u.status.kind == StatusKind::Failed)
    })
    .await?;
    let c5 = repo.commit("fixed", &[("deploy/bad.yaml", None)])?;
    flux.act(UNIT, &Action::Sync { with_source: true }).await?;

    // --- events: setpoint's own on the object, Flux's, and the source's; history
    let events = flux.events(UNIT).await?;
    for reason in [
        "SetpointSuspend",
        "SetpointResume",
        "SetpointSync",
        "ReconciliationSucceeded",
    ] {
        if !events.iter().any(|e| e.reason == reason) {
            return Err(err(format!("no {reason} event: {events:?}")));
        }
    }
    if !events
        .iter()
        .any(|e| e.message.starts_with("GitRepository/app: "))
    {
        return Err(err(format!("no event of the source: {events:?}")));
    }
    let history = flux.history(UNIT).await?;
    if !history
        .first()
        .is_some_and(|h| h.applied && h.revision.sha() == c5)
    {
        return Err(err(format!("history: {history:?}")));
    }
    eprintln!(
        "flux: {} events, {} history entries",
        events.len(),
        history.len()
    );

    // --- rollback: the GitRepository is pinned at the commit (the previous ref remembered), the unit applies
    // it; a second rollback by an abbreviated id (completed from status.history) keeps the first remembered
    // ref; resume restores the branch
    let rev5 = format!("main@sha1:{c5}");
    let out = flux
        .act(
            UNIT,
            &Action::Rollback {
                to: c1.parse()?,
                reason: "tier rollback".into(),
                suspend_parent: false,
            },
        )
        .await?;
    eprintln!("flux: {}", out.message);
    let gr = gitrepos.get(NAME).await?;
    let ks = kustomizations.get(NAME).await?;
    let pinned_from = gr
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("setpoint.dev/pinned-from"))
        .cloned()
        .unwrap_or_default();
    if gr.data.pointer("/spec/ref/commit") != Some(&json!(c1))
        || serde_json::from_str::<Value>(&pinned_from)? != json!({"branch": "main"})
        || str_at(&ks, "/status/lastAppliedRevision") != rev1
    {
        return Err(err(format!(
            "after rollback: {:?} {pinned_from} {:?}",
            gr.data.get("spec"),
            ks.data.get("status")
        )));
    }
    let cm = config_maps.get("fx-cm").await?;
    if cm.data.and_then(|d| d.get("revision").cloned()).as_deref() != Some("1") {
        return Err(err("after rollback fx-cm is not at revision 1"));
    }
    next_snapshot(
        &mut rx,
        UNIT,
        "the unit pinned at the first commit",
        false,
        |s| {
            unit(s, UNIT).is_some_and(|u| u.pinned_revision.as_ref().is_some_and(|p| p.sha() == c1))
        },
    )
    .await?;
    if flux.capabilities(UNIT).await?.resume != Permission::Allowed {
        return Err(err("a pinned unit cannot be resumed"));
    }
    flux.act(
        UNIT,
        &Action::Rollback {
            to: c2[..8].parse()?,
            reason: "again".into(),
            suspend_parent: false,
        },
    )
    .await?;
    let gr = gitrepos.get(NAME).await?;
    let again = gr
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("setpoint.dev/pinned-from"))
        .cloned();
    if gr.data.pointer("/spec/ref/commit") != Some(&json!(c2))
        || again.as_deref() != Some(pinned_from.as_str())
    {
        return Err(err(format!(
            "second rollback: {:?} {again:?}",
            gr.data.get("spec")
        )));
    }
    let out = flux.act(UNIT, &Action::Resume).await?;
    eprintln!("flux: {}", out.message);
    let gr = gitrepos.get(NAME).await?;
    let ks = kustomizations.get(NAME).await?;
    if gr.data.pointer("/spec/ref") != Some(&json!({"branch": "main"}))
        || gr
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.keys().any(|k| k.starts_with("setpoint.dev/")))
        || str_at(&ks, "/status/lastAppliedRevision") != rev5
    {
        return Err(err(format!(
            "after resume of the pin: {:?} {:?}",
            gr.data.get("spec"),
            ks.data.get("status")
        )));
    }
    eprintln!(
        "flux: rollback pinned and applied {c1}, resume restored the branch and applied {rev5}"
    );

    // --- the viewer reads everything and every action is refused before it is sent
    let viewer = backend(tier, "viewer")?;
    let vid = "flux/viewer/fx/Kustomization/app";
    let snap = viewer.snapshot().await?;
    if unit(&snap, vid).is_none() {
        return Err(err("the viewer does not see the unit"));
    }
    let caps = viewer.capabilities(vid).await?;
    for p in [&caps.suspend, &caps.resume, &caps.sync] {
        if !p
            .denial()
            .is_some_and(|r| r.contains("not allowed to patch"))
        {
            return Err(err(format!("viewer capabilities: {caps:?}")));
        }
    }
    let before = kustomizations.get(NAME).await?.metadata.resource_version;
    let events_before = Api::<KubeEvent>::namespaced(admin.clone(), NS)
        .list(&ListParams::default())
        .await?
        .items
        .len();
    for action in [
        Action::Suspend {
            reason: "viewer".into(),
        },
        Action::Sync { with_source: true },
        Action::Resume,
    ] {
        match viewer.act(vid, &action).await {
            Err(BackendError::Denied(_)) => {}
            other => return Err(err(format!("viewer {action}: {other:?}"))),
        }
    }
    let after = kustomizations.get(NAME).await?.metadata.resource_version;
    let events_after = Api::<KubeEvent>::namespaced(admin.clone(), NS)
        .list(&ListParams::default())
        .await?
        .items
        .len();
    if before != after || events_before != events_after {
        return Err(err("a refused viewer action changed something"));
    }
    eprintln!("flux: the viewer is refused before sending");

    // --- the API server goes away: unavailable, then it recovers by itself
    tier.restart_apiserver(Duration::from_secs(3))?;
    let recovered = async {
        let mut saw_unavailable = false;
        loop {
            match rx.recv().await {
                Some(Update::Unavailable(r)) => {
                    eprintln!("flux: unavailable: {r}");
                    saw_unavailable = true;
                }
                Some(Update::Snapshot(s)) if saw_unavailable && unit(&s, UNIT).is_some() => {
                    return Ok::<_, BoxError>(());
                }
                Some(_) => {}
                None => return Err(err("the watch ended")),
            }
        }
    };
    tokio::time::timeout(LONG, recovered)
        .await
        .map_err(|_| err("no Unavailable then Snapshot around the API server restart"))??;
    eprintln!("flux: the watch recovered after the API server restart");
    drop(rx);
    tokio::time::timeout(Duration::from_secs(10), watch).await???;

    limited(tier, &admin).await?;
    cli(tier, &kustomizations, &gitrepos, &c1).await?;
    console(tier, &kustomizations).await?;
    // last: its namespace's Kustomizations would be in the console's view above
    resume::run(tier, &admin).await?;
    Ok(())
}

/// The API server's count of requests with `verb` on Flux's kinds (or only `code`), from its /metrics.
async fn requests(admin: &kube::Client, verb: &str, code: Option<&str>) -> Result<f64, BoxError> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = admin.request_text(req).await?;
    let plurals = [
        "kustomizations",
        "helmreleases",
        "gitrepositories",
        "ocirepositories",
        "helmrepositories",
        "helmcharts",
        "buckets",
    ];
    Ok(text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| l.contains(&format!("verb=\"{verb}\"")))
        .filter(|l| code.is_none_or(|c| l.contains(&format!("code=\"{c}\""))))
        .filter(|l| {
            plurals
                .iter()
                .any(|p| l.contains(&format!("resource=\"{p}\"")))
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

/// An identity that may read Kustomizations only: the units are shown, the source kinds are reported
/// forbidden, and their watches are not retried (no storm of 403s).
async fn limited(tier: &Tier, admin: &kube::Client) -> Result<(), BoxError> {
    Tier::grant(
        admin,
        "fx-limited",
        "limited",
        json!([{"apiGroups": ["kustomize.toolkit.fluxcd.io"], "resources": ["kustomizations"],
                           "verbs": ["get", "list", "watch"]}]),
    )
    .await?;
    // the admin's credentials impersonating the user `limited`
    let kc = tier.impersonating("limited", "limited")?;
    let flux = Arc::new(FluxBackend::with_kubeconfig(kc, Some("limited"))?);

    let (tx, mut rx) = mpsc::channel(64);
    let watcher = flux.clone();
    let watch = tokio::spawn(async move { watcher.watch(tx).await });
    let first = tokio::time::timeout(LONG, rx.recv())
        .await?
        .ok_or_else(|| err("the limited watch ended at once"))?;
    let Update::Snapshot(first) = first else {
        return Err(err(format!(
            "limited: the first update is not a snapshot: {first:?}"
        )));
    };
    if unit(&first, "flux/limited/fx/Kustomization/app").is_none() || !first.sources.is_empty() {
        return Err(err(format!(
            "limited: units without sources expected: {first:?}"
        )));
    }
    // ...and the context says which kinds it cannot see, with the snapshot (not only in the log).
    let note = first
        .contexts
        .first()
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    if !(note.contains("not installed: HelmRelease")
        && note
            .contains("forbidden: GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket"))
    {
        return Err(err(format!("limited: the context's note is {note:?}")));
    }
    let kinds = flux.kinds().await?;
    for (kind, state) in &kinds {
        let ok = match kind.kind {
            "Kustomization" => matches!(state, KindState::Served(_)),
            "HelmRelease" => *state == KindState::NotInstalled,
            _ => matches!(state, KindState::Forbidden(m) if m.contains("forbidden")),
        };
        if !ok {
            return Err(err(format!("limited: {} is {state:?}", kind.kind)));
        }
    }
    // no retry storm: the limited identity's watch makes no request at all while nothing changes (a refusal
    // is not counted in apiserver_request_total; every request by impersonation is counted here)
    let made = impersonated(admin).await?;
    if made == 0.0 {
        return Err(err("limited: no request by impersonation counted"));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let made_later = impersonated(admin).await?;
    if made_later != made {
        return Err(err(format!(
            "the refused kinds are retried: {made} requests, then {made_later} 5 s later"
        )));
    }
    drop(rx);
    tokio::time::timeout(Duration::from_secs(10), watch).await???;
    eprintln!(
        "flux: limited identity: units shown, source kinds forbidden, {made} requests in all, none more in 5 s"
    );
    Ok(())
}

/// The real binary: `status --output json`, suspend, resume, sync; the viewer refused with exit 3.
async fn cli(
    tier: &Tier,
    kustomizations: &Api<DynamicObject>,
    gitrepos: &Api<DynamicObject>,
    c1: &str,
) -> Result<(), BoxError> {
    let dirs = tempfile::tempdir()?;
    let run = |context: &str, args: &[&str]| -> Result<(i32, String, String), BoxError> {
        let out = Command::new(env!("CARGO_BIN_EXE_setpoint"))
            .args(["--backend", "flux", "--context", context])
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
    let (code, stdout, stderr) = run("admin", &["status", "--output", "json"])?;
    let json: Value = serde_json::from_str(&stdout)
        .map_err(|e| err(format!("status JSON ({code}, {stderr}): {e}: {stdout}")))?;
    let status = json["units"]
        .as_array()
        .and_then(|us| us.iter().find(|u| u["id"] == UNIT))
        .map(|u| u["status"].clone());
    if code != 0 || status != Some(json!("ready")) {
        return Err(err(format!(
            "status --output json: {code} {stderr} {stdout}"
        )));
    }
    let suspended = || async {
        Ok::<_, BoxError>(
            kustomizations
                .get(NAME)
                .await?
                .data
                .pointer("/spec/suspend")
                == Some(&json!(true)),
        )
    };
    let (code, _, stderr) = run("admin", &["suspend", NAME, "--reason", "cli test"])?;
    if code != 0 || !suspended().await? {
        return Err(err(format!("cli suspend: {code} {stderr}")));
    }
    let (code, stdout, stderr) = run("viewer", &["resume", NAME])?;
    if code != 3 || !stderr.contains("not allowed") || !suspended().await? {
        return Err(err(format!("viewer resume: {code} {stdout} {stderr}")));
    }
    let (code, stdout, stderr) = run("admin", &["resume", NAME])?;
    if code != 0 || suspended().await? || !stdout.contains("ready") {
        return Err(err(format!("cli resume: {code} {stdout} {stderr}")));
    }
    let (code, stdout, stderr) = run("admin", &["sync", NAME, "--with-source"])?;
    if code != 0 || !stdout.contains("sync ran") {
        return Err(err(format!("cli sync: {code} {stdout} {stderr}")));
    }
    let (code, stdout, stderr) = run(
        "admin",
        &["rollback", NAME, "--to", c1, "--reason", "cli rollback"],
    )?;
    let pin = gitrepos
        .get(NAME)
        .await?
        .data
        .pointer("/spec/ref/commit")
        .cloned();
    if code != 0 || pin != Some(json!(c1)) {
        return Err(err(format!(
            "cli rollback: {code} {stdout} {stderr} {pin:?}"
        )));
    }
    let (code, stdout, stderr) = run("admin", &["resume", NAME])?;
    let pin = gitrepos
        .get(NAME)
        .await?
        .data
        .pointer("/spec/ref/commit")
        .cloned();
    if code != 0 || pin.is_some() {
        return Err(err(format!(
            "cli resume of the pin: {code} {stdout} {stderr} {pin:?}"
        )));
    }
    eprintln!("flux: CLI status/suspend/resume/sync/rollback work; the viewer gets exit 3");
    Ok(())
}

/// The console in tmux on the tier: the unit listed, suspend and resume with the controllers' reaction,
/// the viewer refused with the reason, read-only refusing before anything else.
async fn console(tier: &Tier, kustomizations: &Api<DynamicObject>) -> Result<(), BoxError> {
    if !tmux_harness::have_tmux() {
        return Ok(());
    }
    let env = tmux_harness::Env::new();
    let start = |context: &str, extra: &str| {
        env.start_cmd(&format!(
            "env KUBECONFIG='{}' SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' TERM=xterm-256color '{}' \
             --backend flux --context {context} {extra}",
            tier.kubeconfig().display(),
            env.config.display(),
            env.data.display(),
            tmux_harness::BIN
        ))
    };
    let suspended = || async {
        Ok::<_, BoxError>(
            kustomizations
                .get(NAME)
                .await?
                .data
                .pointer("/spec/suspend")
                == Some(&json!(true)),
        )
    };
    start("admin", "");
    env.wait_for("Units (1)");
    env.wait_for("ready");
    env.keys(&["s"]);
    env.wait_for("Confirm suspend");
    env.type_text("console test");
    env.keys(&["Enter"]);
    env.wait_for("✓ suspend");
    env.wait_for("suspended");
    if !suspended().await? {
        return Err(err("the console's suspend did not reach the cluster"));
    }
    env.keys(&["r"]);
    env.wait_for("Confirm resume");
    env.keys(&["Enter"]);
    env.wait_for("✓ resume");
    if suspended().await? {
        return Err(err("the console's resume did not reach the cluster"));
    }
    // the detail view: every condition and the inventory tree, read from the cluster for this unit
    env.keys(&["Enter"]);
    env.wait_for("Ready=True");
    env.wait_for("ConfigMap/fx/fx-cm");
    env.keys(&["Escape"]);
    env.quit();

    // the console asks the backend for the selected unit's capabilities (SelfSubjectAccessReview) and, once
    // it has the answer, refuses with the reason before opening any confirmation; a key pressed before the
    // answer came opens the dialog, which is cancelled and the key pressed again
    start("viewer", "");
    env.wait_for("Units (1)");
    let mut refused = false;
    for _ in 0..20 {
        env.keys(&["s"]);
        let screen = env.wait_until("a refusal or the confirmation", |s| {
            s.contains("not possible now") || s.contains("Confirm suspend")
        });
        if screen.contains("not possible now") {
            if !screen.contains("not allowed to patch") {
                return Err(err(format!(
                    "the viewer's refusal lacks the reason:\n{screen}"
                )));
            }
            refused = true;
            break;
        }
        env.keys(&["Escape"]);
        env.wait_until("the dialog to close", |s| !s.contains("Confirm suspend"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if !refused {
        return Err(err(format!(
            "the viewer's suspend was never refused up front:\n{}",
            env.screen()
        )));
    }
    env.quit();

    start("admin", "--read-only");
    env.wait_for("READ-ONLY");
    env.wait_for("Units (1)");
    env.keys(&["s"]);
    env.wait_for("read-only audit mode: not allowed");
    env.quit();
    if suspended().await? {
        return Err(err("a refused console action changed the cluster"));
    }
    eprintln!("flux: the console suspends and resumes; the viewer and read-only are refused");
    Ok(())
}
