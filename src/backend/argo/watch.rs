//! The watch of one context's Applications: one kube-runtime watcher (streaming lists: the initial list
//! arrives over the watch, no LIST request) into a reflector store, and one of the AppProjects (their sync
//! windows judge each unit); bursts of changes are coalesced into one snapshot. Never polls: a window opening
//! or closing is met by one timer set to that moment. A refused watch (403) or a missing CRD (404) is said once, with an empty snapshot;
//! a transient failure makes the context unavailable until the list is complete again.
//!
//! The store is the Flux watch's, but it keeps each Application mapped (its unit and sources, `map::mapped`)
//! as it arrives, not its JSON: Applications map each on their own, so a snapshot is only their sort, and
//! the work of mapping 5,000 is done while the initial list streams in. The detail, the history and the
//! tree GET the Application afresh.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{commits, map, windows};
use crate::backend::Update;
use crate::backend::flux::connect::KindState;
use crate::backend::flux::enrich;
use crate::backend::flux::error::{WatchFault, watch_fault};
use crate::backend::flux::lean::{self, Lean};
use crate::backend::flux::mirror::{MAX_FETCHES, Mirrors, Wanted};
use crate::backend::flux::resume;
use crate::backend::flux::watch::{KindMsg, Store, fingerprint, seeded, watch_kind};
use crate::model::{Source, Unit};

const COALESCE: Duration = Duration::from_millis(60);
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why the Applications cannot be watched at all.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    Forbidden(String),
    NotInstalled,
}

/// What the store keeps of each Application: its unit (enriched by the source mirrors, when kept) and
/// sources, and what its sync windows are judged on.
type Kept = (map::Mapped, Arc<windows::AppRef>);

/// With `mirrors`, the unit is enriched, and the fetches its sources want are added to `wants`.
fn kept(
    context: &str,
    app: &DynamicObject,
    mirrors: Option<&Mirrors>,
    wants: &Mutex<Vec<Wanted>>,
) -> Kept {
    let mut mapped = map::mapped(context, app);
    if let Some(m) = mirrors {
        if let Ok(mut w) = wants.lock() {
            w.extend(commits::wanted_of(m, mapped.1.iter().map(|s| &**s)));
        }
        // git object lookups of one commit (memoized per source and commit): while the list streams in
        commits::enrich_unit(m, &mut mapped.0);
    }
    (mapped, Arc::new(windows::AppRef::of(app)))
}

/// An Application as the cache keeps it: what the store keeps of it.
#[derive(Serialize)]
struct CachedApp<'a> {
    unit: &'a Unit,
    sources: &'a [Arc<Source>],
    app: &'a windows::AppRef,
}

impl<'a> CachedApp<'a> {
    fn of(((unit, sources), app): &'a Kept) -> Self {
        Self { unit, sources, app }
    }
}

/// [`CachedApp`] read back.
#[derive(Deserialize)]
struct RestoredApp {
    unit: Arc<Unit>,
    sources: Vec<Arc<Source>>,
    app: windows::AppRef,
}

/// What the store keeps of an Application the cache held (`None`: it does not parse), enriched as on arrival.
fn restored(json: &str, mirrors: Option<&Mirrors>, wants: &Mutex<Vec<Wanted>>) -> Option<Kept> {
    let c: RestoredApp = serde_json::from_str(json).ok()?;
    let mut unit = c.unit;
    if let Some(m) = mirrors {
        if let Ok(mut w) = wants.lock() {
            w.extend(commits::wanted_of(m, c.sources.iter().map(|s| &**s)));
        }
        commits::enrich_unit(m, &mut unit);
    }
    Some(((unit, c.sources), Arc::new(c.app)))
}

/// Starts the fetches in `wants` in the background, at most [`MAX_FETCHES`] at once (`permits`): while the
/// list streams in, a source is fetched as soon as its first Application arrives, so its units are enriched
/// before the first snapshot shares them with the console (enriching them after copies each one).
fn start_fetches(
    mirrors: Option<&Arc<Mirrors>>,
    wants: &Mutex<Vec<Wanted>>,
    permits: &Arc<Semaphore>,
) {
    let (Some(m), Ok(mut wants)) = (mirrors, wants.lock()) else {
        return;
    };
    for w in wants.drain(..) {
        let (m, p) = (Arc::clone(m), Arc::clone(permits));
        tokio::spawn(async move {
            let _permit = p.acquire_owned().await;
            enrich::fetch(m, w).await;
        });
    }
}

/// Enriches every stored unit again, after a fetch changed what the mirrors know (on a blocking thread: a
/// unit whose figures did not change is left as it is, shared with the console).
async fn enrich_again(store: &Store<Kept>, mirrors: &Arc<Mirrors>) {
    let (store, m) = (store.clone(), Arc::clone(mirrors));
    let job = tokio::task::spawn_blocking(move || {
        store.update_each(|k| commits::enrich_unit(&m, &mut k.0.0));
    });
    if let Err(e) = job.await {
        tracing::warn!(error = %e, "enriching the Applications again");
    }
}

/// The AppProjects as the watch knows them.
#[derive(Debug, Clone, PartialEq)]
enum Projects {
    /// The initial list is not complete: no snapshot yet (windows would flicker in after the first).
    Listing,
    Listed,
    /// Cannot be read (refused, not installed, or the watch is down): every unit's window is unknown.
    Unknown(String),
}

impl Projects {
    fn heard(msg: KindMsg) -> Self {
        match msg {
            KindMsg::Listed(_) | KindMsg::Changed(_) => Projects::Listed,
            KindMsg::Stopped(_, KindState::Forbidden(m)) => {
                Projects::Unknown(format!("forbidden: AppProject: {m}"))
            }
            KindMsg::Stopped(_, KindState::NotInstalled) => {
                Projects::Unknown("not installed: AppProject (argoproj.io)".into())
            }
            KindMsg::Stopped(_, KindState::Served(_)) => Projects::Listed,
            KindMsg::Down(_, reason) => Projects::Unknown(reason),
        }
    }
}

fn project_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject");
    ApiResource::from_gvk_with_plural(&gvk, "appprojects")
}

/// What the loop waits on.
// an event is moved once into the burst's list and out again: a box per event would cost more than the bytes
#[allow(clippy::large_enum_variant)]
enum Input {
    App(Option<watcher::Result<Event<Lean>>>),
    Projects(Option<KindMsg>),
    /// A sync window turns active or inactive now.
    Due,
    /// A fetch of a source mirror ended.
    Fetched,
}

/// Watches the Applications and the AppProjects of every namespace and sends snapshots to `tx` until it is
/// closed, or until the Applications' watch is refused (returned, for the caller to show). Each unit's sync
/// window is judged from the watched projects when either changes, and again when a window opens or closes
/// (one timer, set to the earliest such moment). With `mirrors`, each unit is enriched as it arrives, and all
/// again when a fetch of a mirror ends: the store's units are the ones sent, never a copy beside them.
pub async fn run(
    context: &str,
    client: kube::Client,
    ar: &ApiResource,
    mirrors: Option<&Arc<Mirrors>>,
    tx: &mpsc::Sender<Update>,
    cache: Option<&resume::Cache>,
) -> Option<Refused> {
    let mut cached = match cache {
        Some(c) => c.first_read().await,
        None => None,
    };
    let api: Api<Lean> = Api::all_with(client.clone(), ar);
    let store: Store<Kept> = Store::default();
    let wants = Mutex::new(Vec::new());
    let permits = Arc::new(Semaphore::new(MAX_FETCHES));
    let keep = |app: DynamicObject| Some(kept(context, &app, mirrors.map(|m| &**m), &wants));
    let restore = |json: &str| restored(json, mirrors.map(|m| &**m), &wants);
    let mut from = seeded(&store, cached.as_mut(), &api, restore);
    start_fetches(mirrors, &wants, &permits);
    let mut fetches = mirrors.map(|m| m.fetches_ended());
    // a fetch ended while the list streamed in: the units are enriched again once it is complete
    let mut stale = false;
    // the projects' own task (the Flux watch's, one kind), kept as compact JSON; aborted when this returns
    let project_store: Store = Store::default();
    let (ptx, mut prx) = mpsc::channel(16);
    let mut tasks = JoinSet::new();
    let project_api: Api<Lean> = Api::all_with(client, &project_resource());
    let project_from = seeded(&project_store, cached.as_mut(), &project_api, |json| {
        Some(Arc::from(json))
    });
    // what was read of the cache is in the stores now: its text is not kept
    let version = {
        let (apps, projects) = (store.clone(), project_store.clone());
        move || vec![apps.version(), projects.version()]
    };
    let read = cached.take().map(|_| version());
    // bumped after each snapshot sent: the cache is written when they pause
    let (sent_to, sent_rx) = tokio::sync::watch::channel(0u64);
    if let Some(c) = cache {
        let (apps, projects) = (store.clone(), project_store.clone());
        let urls = [
            api.resource_url().to_owned(),
            project_api.resource_url().to_owned(),
        ];
        tasks.spawn(resume::keep_written(
            c.file().clone(),
            resume::QUIET,
            sent_rx,
            read,
            version,
            move |w| {
                let (newest, objects) = apps.entries();
                w.kind(&urls[0], newest, objects.len())?;
                let mut line = Vec::new();
                for (k, kept) in &objects {
                    line.clear();
                    serde_json::to_writer(&mut line, &CachedApp::of(kept))?;
                    w.object(k, &line)?;
                }
                let (newest, objects) = projects.entries();
                w.kind(&urls[1], newest, objects.len())?;
                objects
                    .iter()
                    .try_for_each(|(k, json)| w.object(k, json.as_bytes()))
            },
        ));
    }
    tasks.spawn(watch_kind(
        0,
        project_api,
        project_store.clone(),
        ptx,
        project_from,
    ));
    let mut projects = Projects::Listing;
    let mut projects_open = true;
    let mut due: Option<Instant> = None;
    let mut backoff = MIN_BACKOFF;
    let mut last: Option<u64> = None;
    loop {
        // resumed from the cache's version the first time, when there is one
        let mut stream = resume::events(api.clone(), from.take());
        let mut listed = false;
        loop {
            // one input, then whatever else arrives within COALESCE
            let first = tokio::select! {
                i = stream.next() => Input::App(i),
                m = prx.recv(), if projects_open => Input::Projects(m),
                () = sleep_until(due), if due.is_some() => Input::Due,
                Some(()) = fetch_ended(&mut fetches) => Input::Fetched,
                _ = tx.closed() => return None,
            };
            let mut inputs = vec![first];
            if listed && projects != Projects::Listing {
                let gather = tokio::time::sleep(COALESCE);
                tokio::pin!(gather);
                loop {
                    tokio::select! {
                        i = stream.next() => {
                            let end = i.is_none();
                            inputs.push(Input::App(i));
                            if end { break; }
                        }
                        m = prx.recv(), if projects_open => {
                            projects_open = m.is_some();
                            inputs.push(Input::Projects(m));
                        }
                        _ = &mut gather => break,
                    }
                }
            }
            let mut changed = false;
            let mut restart = false;
            for input in inputs {
                let item = match input {
                    Input::Due => {
                        due = None;
                        changed = true;
                        continue;
                    }
                    Input::Fetched => {
                        stale = true;
                        changed = true;
                        continue;
                    }
                    Input::Projects(None) => {
                        projects_open = false; // stopped for good; its last word stands
                        if projects == Projects::Listing {
                            // ended without a word (it does not, unless it panicked): never wait on it
                            projects = Projects::Unknown("the AppProject watch ended".into());
                            changed = true;
                        }
                        continue;
                    }
                    Input::Projects(Some(m)) => {
                        projects = Projects::heard(m);
                        if let Projects::Unknown(why) = &projects {
                            tracing::warn!(context, %why, "AppProjects not watched: windows unknown");
                        }
                        changed = true;
                        continue;
                    }
                    Input::App(item) => item,
                };
                match item {
                    None => restart = true,
                    Some(Ok(ev)) => {
                        match ev {
                            Event::InitDone => {
                                listed = true;
                                backoff = MIN_BACKOFF;
                                changed = true;
                                tracing::info!(
                                    context,
                                    ms = crate::logging::since_start_ms(),
                                    "startup: listed Applications"
                                );
                            }
                            Event::Apply(_) | Event::Delete(_) if listed => changed = true,
                            // a resumed watch whose version is gone: what the cache held is not current
                            Event::Init if listed => {
                                listed = false;
                                if tx
                                    .send(Update::Unavailable(resume::EXPIRED.into()))
                                    .await
                                    .is_err()
                                {
                                    return None;
                                }
                                last = None;
                            }
                            _ => {}
                        }
                        store.apply_with(lean::unwrap(ev), keep);
                        start_fetches(mirrors, &wants, &permits);
                    }
                    Some(Err(e)) => match watch_fault(&e) {
                        WatchFault::Forbidden(m) => return Some(Refused::Forbidden(m)),
                        WatchFault::NotInstalled => return Some(Refused::NotInstalled),
                        WatchFault::Expired => restart = true,
                        WatchFault::Transient(reason) => {
                            tracing::warn!(context, %reason, "Application watch failed");
                            if tx.send(Update::Unavailable(reason)).await.is_err() {
                                return None;
                            }
                            last = None;
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            restart = true;
                        }
                    },
                }
            }
            if stale && listed {
                // after the (re)list completes, not on each fetch that ends while it streams in: the first
                // list's units are not shared with the console yet, and are enriched in place
                if let Some(m) = mirrors {
                    enrich_again(&store, m).await;
                }
                stale = false;
            }
            if changed && listed && projects != Projects::Listing {
                let (snap, next) = judged(context, &store, &project_store, &projects);
                due = next;
                // nothing to compare the first with: it is sent at once, and its digest taken after
                let digest = last.map(|_| fingerprint(&snap));
                if last.is_none() || last != digest {
                    if last.is_none() {
                        tracing::info!(
                            context,
                            units = snap.units.len(),
                            ms = crate::logging::since_start_ms(),
                            "startup: snapshot"
                        );
                    }
                    let sent = snap.clone(); // shares the units
                    if tx.send(Update::Snapshot(snap)).await.is_err() {
                        return None;
                    }
                    sent_to.send_modify(|n| *n += 1);
                    last = Some(digest.unwrap_or_else(|| fingerprint(&sent)));
                }
            }
            if restart {
                break;
            }
        }
    }
}

/// When the next fetch of a mirror ends (`None`, at once, when there are no mirrors to tell).
async fn fetch_ended(fetches: &mut Option<tokio::sync::watch::Receiver<u64>>) -> Option<()> {
    match fetches {
        Some(rx) => rx.changed().await.ok(),
        None => std::future::pending().await,
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The snapshot of the stored Applications with their windows judged now, and when to judge them again.
fn judged(
    context: &str,
    apps: &Store<Kept>,
    project_store: &Store,
    projects: &Projects,
) -> (crate::model::Snapshot, Option<Instant>) {
    let kept = apps.values();
    let mut snap = map::assemble(kept.iter().map(|(m, _)| m.clone()));
    let now = jiff::Timestamp::now();
    let listed: Vec<windows::ProjectWindows> = project_store
        .parsed()
        .map(|p| windows::ProjectWindows::of(&p))
        .collect();
    let read = match projects {
        Projects::Unknown(why) => Err(why.as_str()),
        _ => Ok(listed.as_slice()),
    };
    windows::judge_units(
        &mut snap,
        context,
        kept.iter().map(|(_, r)| &**r),
        read,
        now,
    );
    let next = match read {
        Ok(list) => windows::next_change(list.iter().flat_map(|p| &p.windows), now),
        Err(_) => None,
    };
    let due = next.map(|t| {
        let wait = now.duration_until(t).unsigned_abs();
        Instant::now() + wait
    });
    (snap, due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> DynamicObject {
        let path = format!(
            "{}/src/backend/argo/fixtures/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_store_holds_applications_mapped_and_a_restarted_list_replaces_them_once_complete() {
        let store: Store<Kept> = Store::default();
        let keep = |app: DynamicObject| Some(kept("c", &app, None, &Mutex::default()));
        let assemble = |kept: Vec<Kept>| map::assemble(kept.into_iter().map(|(m, _)| m));
        let names = ["auto", "broken", "manual", "multi", "rejected"];
        store.apply_with(Event::Init, keep);
        for name in names {
            store.apply_with(Event::InitApply(fixture(name)), keep);
        }
        store.apply_with(Event::InitDone, keep);
        assert_eq!(
            assemble(store.values()),
            map::snapshot("c", names.map(fixture))
        );
        // a restart keeps the old ones until the new list is complete
        store.apply_with(Event::Init, keep);
        store.apply_with(Event::InitApply(fixture("auto")), keep);
        assert_eq!(store.values().len(), names.len());
        store.apply_with(Event::InitDone, keep);
        assert_eq!(
            assemble(store.values()),
            map::snapshot("c", [fixture("auto")])
        );
    }

    #[tokio::test]
    async fn the_store_keeps_each_unit_enriched_as_it_arrives_and_again_when_a_fetch_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mirrors = commits::mirrors(dir.path());
        let mut ended = mirrors.fetches_ended();
        let store: Store<Kept> = Store::default();
        let wants = Mutex::default();
        let keep = |app: DynamicObject| Some(kept("c", &app, Some(&mirrors), &wants));
        store.apply_with(Event::Init, keep);
        store.apply_with(Event::InitApply(fixture("auto")), keep);
        store.apply_with(Event::InitDone, keep);
        let unit = || store.values()[0].0.0.clone();
        let url = "http://127.0.0.1:37239/fx.git";
        // the arrival asked for its source's fetch, once: the mirror marks it as being fetched
        let asked: Vec<String> = wants.lock().unwrap().drain(..).map(|w| w.url).collect();
        assert_eq!(asked, [url]);
        store.apply_with(Event::Apply(fixture("auto")), keep);
        assert!(wants.lock().unwrap().is_empty());
        let first = unit();
        assert_eq!(
            first.commits_behind_unknown.as_deref(),
            Some(&*format!("{url} is being fetched")),
        );
        // what the relay sends is the store's unit, not a copy beside it
        let snap = map::assemble(store.values().into_iter().map(|(m, _)| m));
        assert!(Arc::ptr_eq(&snap.units[0], &first));
        // a fetch that ends is told, and the stored unit says what the mirror knows now
        mirrors.finish(url, Err("connection refused".into()));
        ended.changed().await.unwrap();
        enrich_again(&store, &mirrors).await;
        let after = unit();
        assert_eq!(
            after.commits_behind_unknown.as_deref(),
            Some("from this host: connection refused"),
        );
        // the console's copy was not changed under it; a unit whose figures stay is not copied again
        assert_eq!(
            first.commits_behind_unknown,
            snap.units[0].commits_behind_unknown
        );
        enrich_again(&store, &mirrors).await;
        assert!(Arc::ptr_eq(&after, &unit()));
    }

    #[test]
    fn an_application_reads_back_from_the_cache_as_it_was_kept() {
        for name in ["auto", "broken", "manual", "multi", "rejected"] {
            let kept = kept("c", &fixture(name), None, &Mutex::default());
            let json = serde_json::to_string(&CachedApp::of(&kept)).unwrap();
            let back = restored(&json, None, &Mutex::default()).unwrap();
            assert_eq!(back.0, kept.0, "{name}");
            assert_eq!(back.1, kept.1, "{name}");
        }
        assert!(restored("{\"unit\": 1}", None, &Mutex::default()).is_none());
    }

    #[test]
    fn each_snapshot_judges_the_windows_of_the_watched_projects_and_sets_one_timer() {
        let apps: Store<Kept> = Store::default();
        let keep = |app: DynamicObject| Some(kept("c", &app, None, &Mutex::default()));
        apps.apply_with(Event::Init, keep);
        apps.apply_with(Event::InitApply(fixture("auto")), keep);
        apps.apply_with(Event::InitDone, keep);
        let projects = Store::default();
        let project = |windows: serde_json::Value| -> DynamicObject {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                "metadata": {"name": "default", "namespace": "argocd"},
                "spec": {"syncWindows": windows},
            }))
            .unwrap()
        };
        projects.apply(Event::Init);
        projects.apply(Event::InitApply(project(serde_json::json!([]))));
        projects.apply(Event::InitDone);
        // no window: no field, no timer
        let (snap, due) = judged("c", &apps, &projects, &Projects::Listed);
        assert_eq!(snap.units[0].sync_window, None);
        assert_eq!(due, None);
        // a window added: judged at once, and a timer set to when it next turns (within a day here)
        projects.apply(Event::Apply(project(serde_json::json!([
            {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["*"]}
        ]))));
        let (snap, due) = judged("c", &apps, &projects, &Projects::Listed);
        let w = snap.units[0].sync_window.as_ref().unwrap();
        assert_eq!(w.marker(), "sync denied", "{w:?}");
        let due = due.unwrap();
        assert!(due <= Instant::now() + Duration::from_secs(7 * 24 * 3600 + 2));
        // the projects cannot be read: unknown on every unit, and no timer
        let unknown = Projects::heard(KindMsg::Stopped(0, KindState::Forbidden("no".into())));
        let (snap, due) = judged("c", &apps, &projects, &unknown);
        let w = snap.units[0].sync_window.as_ref().unwrap();
        assert_eq!((w.marker(), due), ("sync window ?", None));
        assert!(w.message.contains("forbidden: AppProject: no"), "{w:?}");
        // the stored units are not changed by the judgement (copied on write)
        assert_eq!(apps.values()[0].0.0.sync_window, None);
    }
}
