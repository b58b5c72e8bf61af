//! A watch started again on the same context resumes from the cache the last one wrote (src/backend/flux/
//! resume.rs), on the real API server: changes made while no watch ran (an object created, one deleted, one
//! changed) are in its first snapshot, and no list was made to get there (the API server's own count of
//! streaming lists, `apiserver_watch_list_duration_seconds_count`, and of LIST requests, stay). A cache whose
//! version the server no longer has, and a corrupt one, are listed again: the first snapshot is then as
//! correct, and costs one streaming list. An API server restart under a resumed watch makes it unavailable,
//! then it recovers by itself. An identity that lost the right to read a kind since its cache was
//! written is not shown that kind's cached objects.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use setpoint::backend::flux::FluxBackend;
use setpoint::backend::{Backend, Update};
use setpoint::model::Snapshot;
use tokio::sync::mpsc;

use super::k8s_tier::objects::deleted;
use super::k8s_tier::watching::{cache_written, unit, watch_lists};
use super::k8s_tier::{BoxError, Check, Tier, err, git_repository, kustomization, wait_for};
use super::{backend, requests};

const NS: &str = "fr";
/// Kustomizations made for this test: a relist of them could not pass for a resumed watch's replay.
const COUNT: usize = 30;

fn id(name: &str) -> String {
    format!("flux/admin/{NS}/Kustomization/{name}")
}

fn object(name: &str) -> Result<DynamicObject, BoxError> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "none"}, "path": "./",
                 "prune": false, "interval": "10m", "suspend": true}
    }))?)
}

/// A watch's first snapshot, its task and its receiver.
type Started = (
    Snapshot,
    tokio::task::JoinHandle<()>,
    mpsc::Receiver<Update>,
);

/// A watch of the admin's backend with data directory `data`, until its first snapshot.
async fn first_snapshot(tier: &Tier, data: &Path) -> Result<Started, BoxError> {
    first_snapshot_of(backend(tier, "admin")?.with_data_dir(data)).await
}

/// A watch of `flux` until its first snapshot.
async fn first_snapshot_of(flux: FluxBackend) -> Result<Started, BoxError> {
    let flux = Arc::new(flux);
    let (tx, mut rx) = mpsc::channel(64);
    let watch = tokio::spawn(async move {
        let _ = flux.watch(tx).await;
    });
    let deadline = Duration::from_secs(60);
    loop {
        match tokio::time::timeout(deadline, rx.recv()).await? {
            Some(Update::Snapshot(s)) => return Ok((s, watch, rx)),
            Some(Update::Unavailable(why)) => {
                return Err(err(format!("unavailable before the first snapshot: {why}")));
            }
            Some(_) => {}
            None => return Err(err("the watch ended before a snapshot")),
        }
    }
}

fn names(s: &Snapshot) -> Vec<String> {
    let prefix = id("");
    let mut v: Vec<String> = s
        .units
        .iter()
        .filter_map(|u| u.id.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    v.sort();
    v
}

pub async fn run(tier: &Tier, admin: &kube::Client) -> Result<(), BoxError> {
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await?;
    let ks: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &kustomization());
    for i in 0..COUNT {
        ks.create(&PostParams::default(), &object(&format!("k{i}"))?)
            .await?;
    }
    let data = tempfile::tempdir()?;

    // --- a first watch: all of them, and its cache written once it is quiet
    let started = std::time::SystemTime::now();
    let (first, watch, rx) = first_snapshot(tier, data.path()).await?;
    if names(&first).len() != COUNT {
        return Err(err(format!("first watch: {:?}", names(&first))));
    }
    let file = cache_written(data.path(), started).await?;
    watch.abort();
    let _ = watch.await;
    drop(rx);
    eprintln!(
        "flux resume: cache written ({} bytes)",
        std::fs::metadata(&file)?.len()
    );

    // --- while no watch runs: one created, one deleted, one resumed (spec.suspend false)
    ks.create(&PostParams::default(), &object("k-new")?).await?;
    ks.patch(
        "k2",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": false}})),
    )
    .await?;
    // the delete is complete once its finalizer (if the controller added one) is gone
    deleted(&ks, "k1").await?;

    // --- the second watch resumes: the changes are in its first snapshot, and nothing was listed
    let expect = |s: &Snapshot| -> Result<(), BoxError> {
        let n = names(s);
        let k2 = unit(s, &id("k2")).map(|u| u.suspended);
        if n.len() != COUNT || !n.contains(&"k-new".to_owned()) || n.contains(&"k1".to_owned()) {
            return Err(err(format!("units after the gap: {n:?}")));
        }
        if k2 != Some(false) {
            return Err(err(format!("k2 suspended after the gap: {k2:?}")));
        }
        Ok(())
    };
    let (lists, streamed) = (
        requests(admin, "LIST", None).await?,
        watch_lists(admin, "kustomizations").await?,
    );
    let (second, watch, mut rx) = first_snapshot(tier, data.path()).await?;
    let (lists2, streamed2) = (
        requests(admin, "LIST", None).await?,
        watch_lists(admin, "kustomizations").await?,
    );
    expect(&second)?;
    eprintln!(
        "flux resume: resumed with the gap's changes; streaming lists of Kustomizations {streamed} -> \
         {streamed2}, LIST requests {lists} -> {lists2}"
    );
    if streamed2 != streamed || lists2 != lists {
        return Err(err(format!(
            "the resumed watch listed: streaming lists {streamed} -> {streamed2}, LIST {lists} -> {lists2}"
        )));
    }

    // --- the API server restarts under the resumed watch (its watch cache then begins after the cached
    // version): unavailable, then it recovers by itself and shows a change made after the restart
    tier.restart_apiserver(Duration::from_secs(3))?;
    ks.patch(
        "k3",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": false}})),
    )
    .await?;
    let recovered = async {
        let mut unavailable = None;
        loop {
            match rx.recv().await {
                Some(Update::Unavailable(why)) => unavailable = Some(why),
                Some(Update::Snapshot(s))
                    if unavailable.is_some()
                        && unit(&s, &id("k3")).is_some_and(|u| !u.suspended) =>
                {
                    return Ok::<_, BoxError>(unavailable);
                }
                Some(_) => {}
                None => return Err(err("the resumed watch ended")),
            }
        }
    };
    let why = tokio::time::timeout(Duration::from_secs(120), recovered)
        .await
        .map_err(|_| err("no Unavailable then the change after the restart"))??;
    eprintln!(
        "flux resume: the resumed watch went stale ({why:?}) and recovered after the API server restart"
    );
    watch.abort();
    let _ = watch.await;
    drop(rx);

    // --- a cache older than the server remembers (version 1), and a corrupt one: listed again, as correct
    let text = std::fs::read_to_string(&file)?;
    let url = "\"url\":\"/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations\",\"newest\":";
    let at = text
        .find(url)
        .ok_or_else(|| err("no Kustomizations in the cache"))?
        + url.len();
    let end = at + text[at..].find(',').ok_or_else(|| err("cache line"))?;
    let expired = format!("{}1{}", &text[..at], &text[end..]);
    for (what, content) in [
        ("expired", expired),
        ("corrupt", text[..text.len() / 2].to_owned()),
    ] {
        std::fs::write(&file, content)?;
        let streamed = watch_lists(admin, "kustomizations").await?;
        let (snap, watch, rx) = first_snapshot(tier, data.path()).await?;
        let streamed2 = watch_lists(admin, "kustomizations").await?;
        watch.abort();
        let _ = watch.await;
        drop(rx);
        expect(&snap)?;
        eprintln!(
            "flux resume: the {what} cache is listed again: streaming lists {streamed} -> {streamed2}"
        );
        if streamed2 <= streamed {
            return Err(err(format!("the {what} cache was not listed again")));
        }
    }
    forbidden_since(tier, admin).await
}

/// An identity that could read GitRepositories when its cache was written and no longer can: the cached
/// GitRepositories are not shown, the kind is said forbidden.
async fn forbidden_since(tier: &Tier, admin: &kube::Client) -> Result<(), BoxError> {
    Tier::grant(
        admin,
        "fr-git",
        "limited",
        json!([{"apiGroups": ["source.toolkit.fluxcd.io"], "resources": ["gitrepositories"],
                "verbs": ["get", "list", "watch"]}]),
    )
    .await?;
    let data = tempfile::tempdir()?;
    let limited = || -> Result<FluxBackend, BoxError> {
        let kc = tier.impersonating("limited", "limited")?;
        Ok(FluxBackend::with_kubeconfig(kc, Some("limited"))?.with_data_dir(data.path()))
    };
    let started = std::time::SystemTime::now();
    let (first, watch, rx) = first_snapshot_of(limited()?).await?;
    if first.sources.is_empty() {
        return Err(err("limited with GitRepositories granted: no sources"));
    }
    cache_written(data.path(), started).await?;
    watch.abort();
    let _ = watch.await;
    drop(rx);
    Api::<ClusterRoleBinding>::all(admin.clone())
        .delete("fr-git", &DeleteParams::default())
        .await?;
    let options = kube::config::KubeConfigOptions {
        context: Some("limited".into()),
        ..Default::default()
    };
    let config =
        kube::Config::from_custom_kubeconfig(tier.impersonating("limited", "limited")?, &options)
            .await?;
    let repos: Api<DynamicObject> =
        Api::all_with(kube::Client::try_from(config)?, &git_repository());
    wait_for(
        "the grant revoked",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || {
            let repos = repos.clone();
            async move {
                Ok(match repos.list(&Default::default()).await {
                    Err(kube::Error::Api(e)) if e.code == 403 => Check::Done(()),
                    other => Check::Pending(format!("{:?}", other.map(|l| l.items.len()))),
                })
            }
        },
    )
    .await?;
    let (second, watch, rx) = first_snapshot_of(limited()?).await?;
    watch.abort();
    let _ = watch.await;
    drop(rx);
    let note = second.contexts.first().and_then(|c| c.message.clone());
    if !second.sources.is_empty()
        || !note
            .as_deref()
            .unwrap_or_default()
            .contains("GitRepository")
    {
        return Err(err(format!(
            "cached GitRepositories shown to an identity that can no longer read them: {} sources, note {note:?}",
            second.sources.len()
        )));
    }
    eprintln!(
        "flux resume: a kind forbidden since the cache was written is not shown from it ({note:?})"
    );
    Ok(())
}
