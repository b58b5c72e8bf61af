//! An Argo CD watch started again on the same context resumes from the cache the last one wrote (src/backend/
//! flux/resume.rs, the Application units as mapped and enriched), on the real API server: an Application
//! created and one deleted while no watch ran are in its first snapshot, and the API server streamed no list
//! of Applications to get there (its count of streaming lists, `apiserver_watch_list_duration_seconds_count`,
//! stays); a cache older than the server remembers is listed again, as correct.

use std::path::Path;
use std::time::Duration;

use kube::api::{Api, DynamicObject, PostParams};
use kube::config::Kubeconfig;
use setpoint::backend::argo::ArgoBackend;
use setpoint::backend::{Backend, Update};
use setpoint::model::Snapshot;
use tokio::sync::mpsc;

use super::k8s_tier::objects::deleted;
use super::k8s_tier::watching::{cache_written, watch_lists};
use super::k8s_tier::{ARGOCD_NAMESPACE, BoxError, Tier, err};

fn names(s: &Snapshot) -> Vec<String> {
    let mut v: Vec<String> = s.units.iter().map(|u| u.name.clone()).collect();
    v.sort();
    v
}

/// A watch with data directory `data` until its first snapshot; `stop` once done with it.
struct Watch {
    first: Snapshot,
    task: tokio::task::JoinHandle<()>,
    _rx: mpsc::Receiver<Update>,
}

impl Watch {
    async fn start(tier: &Tier, data: &Path) -> Result<Self, BoxError> {
        let argo =
            ArgoBackend::with_kubeconfig(Kubeconfig::read_from(tier.kubeconfig())?, Some("admin"))?
                .with_data_dir(data);
        let (tx, mut rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            let _ = argo.watch(tx).await;
        });
        loop {
            match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await? {
                Some(Update::Snapshot(first)) => {
                    return Ok(Self {
                        first,
                        task,
                        _rx: rx,
                    });
                }
                Some(Update::Unavailable(why)) => {
                    return Err(err(format!("unavailable before the first snapshot: {why}")));
                }
                Some(_) => {}
                None => return Err(err("the watch ended before a snapshot")),
            }
        }
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

pub async fn run(
    tier: &Tier,
    admin: &kube::Client,
    app: impl Fn(&str) -> Result<DynamicObject, BoxError>,
) -> Result<(), BoxError> {
    let apps: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        ARGOCD_NAMESPACE,
        &super::k8s_tier::application(),
    );
    apps.create(&PostParams::default(), &app("gone")?).await?;
    let data = tempfile::tempdir()?;
    let started = std::time::SystemTime::now();
    let first = Watch::start(tier, data.path()).await?;
    if !names(&first.first).contains(&"gone".to_owned()) {
        return Err(err(format!("first watch: {:?}", names(&first.first))));
    }
    let file = cache_written(data.path(), started).await?;
    first.stop().await;
    eprintln!(
        "argo resume: cache written ({} bytes)",
        std::fs::metadata(&file)?.len()
    );

    // --- while no watch reads: one created, one deleted (its finalizers, if any, gone)
    apps.create(&PostParams::default(), &app("new")?).await?;
    deleted(&apps, "gone").await?;
    let expect = |s: &Snapshot| -> Result<(), BoxError> {
        let n = names(s);
        if !n.contains(&"new".to_owned()) || n.contains(&"gone".to_owned()) {
            return Err(err(format!("Applications after the gap: {n:?}")));
        }
        Ok(())
    };
    let before = watch_lists(admin, "applications").await?;
    let second = Watch::start(tier, data.path()).await?;
    let after = watch_lists(admin, "applications").await?;
    let shown = second.first.clone();
    second.stop().await;
    expect(&shown)?;
    eprintln!(
        "argo resume: resumed with the gap's changes; streaming lists of Applications {before} -> {after}"
    );
    if after != before {
        return Err(err(format!(
            "the resumed watch listed: {before} -> {after}"
        )));
    }
    Ok(())
}
