//! The watch of one context: a watcher and a store per served kind, one task each; the loop here waits for
//! every kind's initial list, then coalesces bursts of changes into one snapshot. Never polls.
//!
//! The store keeps each object as compact JSON without its managedFields, not as a parsed `DynamicObject`:
//! a parsed object of 550 bytes of JSON takes about 4.5 KB (serde_json's maps), so 5,000 Kustomizations held
//! 25 MB where their JSON holds 3. A snapshot parses them again one at a time (`map::snapshot_of`).
//!
//! A kind whose watch is refused (403) or whose CRD is gone (404) stops there and is reported once; a
//! transient failure (the API server went away) makes the context unavailable until that kind has been listed
//! again, which its task retries with a capped backoff.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::connect::{Conn, KindState};
use super::error::{WatchFault, watch_fault};
use super::kinds::{self, FluxKind};
use super::lean::{self, Lean};
use super::map;
use super::resume;
use crate::backend::Update;
use crate::model::Snapshot;

/// How long a burst of changes is gathered before one snapshot is sent.
const COALESCE: Duration = Duration::from_millis(60);
/// The first and the longest wait before a failed watch is started again.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a kind's task reports to the loop (also the Argo CD watch's, of its AppProjects).
#[derive(Debug)]
pub(crate) enum KindMsg {
    /// The complete list is in the store (at start, and again after every restart).
    Listed(usize),
    /// An object was added, changed or deleted.
    Changed(usize),
    /// The kind cannot be watched and will not be retried.
    Stopped(usize, KindState),
    /// The watch failed for a reason that may pass; it is being restarted.
    Down(usize, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Listing,
    Listed,
    Down(String),
    Stopped(KindState),
}

/// A digest of a snapshot (SipHash of its JSON), so a watch can tell an unchanged snapshot from a new one
/// without keeping a copy of the last one sent: with 5,000 units a copy is about 10 MB.
pub fn fingerprint(snap: &Snapshot) -> u64 {
    use std::hash::Hasher;
    struct Digest(std::collections::hash_map::DefaultHasher);
    impl std::io::Write for Digest {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.write(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut d = Digest(std::collections::hash_map::DefaultHasher::new());
    // a Snapshot always serializes; were it not to, the digest is of what was written, and the snapshot is
    // sent anyway the next time it differs from that
    let _ = serde_json::to_writer(&mut d, snap);
    d.0.finish()
}

/// The watcher settings: streaming lists (the initial list arrives over the watch itself, no LIST request;
/// served by kube-apiserver since 1.32 with the WatchList feature on by default).
pub fn watcher_config() -> watcher::Config {
    watcher::Config::default().streaming_lists()
}

/// Watches every served kind of `conn` and sends snapshots of `context` to `tx` until it is closed;
/// `stopped` hears of each kind whose watch was refused or whose CRD went away.
pub async fn run(
    context: &str,
    conn: &Conn,
    tx: &mpsc::Sender<Update>,
    stopped: &(dyn Fn(FluxKind, KindState) + Sync),
    cache: Option<&resume::Cache>,
) {
    let mut cached = match cache {
        Some(c) => c.first_read().await,
        None => None,
    };
    let (mtx, mut mrx) = mpsc::channel(256);
    let mut tasks = JoinSet::new();
    let mut stores: Vec<(FluxKind, Store)> = Vec::new();
    // each watched kind's URL and store, as the cache names and writes them
    let mut by_url: Vec<(String, Store)> = Vec::new();
    let mut phases: Vec<Phase> = Vec::new();
    for (kind, state) in &conn.kinds {
        let KindState::Served(ar) = state else {
            tracing::info!(context, kind = kind.kind, ?state, "not watched");
            continue;
        };
        let idx = stores.len();
        let store = Store::default();
        stores.push((*kind, store.clone()));
        phases.push(Phase::Listing);
        let api: Api<Lean> = Api::all_with(conn.client.clone(), ar);
        let from = seeded(&store, cached.as_mut(), &api, |json| Some(Arc::from(json)));
        by_url.push((api.resource_url().to_owned(), store.clone()));
        tasks.spawn(watch_kind(idx, api, store, mtx.clone(), from));
    }
    drop(mtx);
    // what was read of the cache is in the stores now: its text is not kept
    let by_url = Arc::new(by_url);
    let read = cached.take().map(|_| version_of(&by_url));
    // bumped after each snapshot sent: the cache is written when they pause
    let (sent_to, sent_rx) = tokio::sync::watch::channel(0u64);
    if let Some(c) = cache {
        let (to_version, to_write) = (Arc::clone(&by_url), by_url);
        tasks.spawn(resume::keep_written(
            c.file().clone(),
            resume::QUIET,
            sent_rx,
            read,
            move || version_of(&to_version),
            move |w| {
                to_write
                    .iter()
                    .try_for_each(|(url, s)| write_kind(w, url, s))
            },
        ));
    }
    tracing::info!(
        context,
        kinds = stores.len(),
        ms = crate::logging::since_start_ms(),
        "startup: watches started"
    );
    if stores.is_empty() {
        tracing::warn!(context, "no Flux kind is served: Flux is not installed");
        let _ = tx.send(Update::Snapshot(Snapshot::default())).await;
        tx.closed().await;
        return;
    }
    let mut last: Option<u64> = None;
    let mut awaiting_first = true;
    let mut unavailable = false;
    loop {
        let first = tokio::select! {
            m = mrx.recv() => m,
            _ = tx.closed() => return,
        };
        let Some(first) = first else {
            // every task has stopped (refused or not installed): nothing more will change
            tx.closed().await;
            return;
        };
        apply(&mut phases, &stores, stopped, first);
        // the first snapshot goes out the moment every list is complete; later bursts are gathered
        if !(awaiting_first && next(&phases) == Next::Snapshot) {
            let gather = tokio::time::sleep(COALESCE);
            tokio::pin!(gather);
            loop {
                tokio::select! {
                    m = mrx.recv() => match m {
                        Some(m) => apply(&mut phases, &stores, stopped, m),
                        None => break,
                    },
                    _ = &mut gather => break,
                }
            }
        }
        match next(&phases) {
            Next::Wait => continue,
            Next::Unavailable(reason) => {
                if !unavailable {
                    unavailable = true;
                    if tx.send(Update::Unavailable(reason)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            Next::Snapshot => {}
        }
        if unavailable {
            unavailable = false;
            last = None; // a recovered context is sent again even when nothing changed, so it is not stale
        }
        let snap = build(context, &stores);
        // The kinds refused or gone since discovery, as their watches stopped.
        let mut kinds = conn.kinds.clone();
        for ((kind, _), phase) in stores.iter().zip(&phases) {
            if let (Phase::Stopped(state), Some(slot)) =
                (phase, kinds.iter_mut().find(|(k, _)| k == kind))
            {
                slot.1 = state.clone();
            }
        }
        let snap = super::connect::with_note(snap, context, &kinds);
        // nothing to compare the first with: it is sent at once, and its digest taken after
        let digest = last.map(|_| fingerprint(&snap));
        if last.is_none() || last != digest {
            let sent = snap.clone(); // shares the units
            if awaiting_first {
                awaiting_first = false;
                tracing::info!(
                    context,
                    units = snap.units.len(),
                    ms = crate::logging::since_start_ms(),
                    "startup: first snapshot"
                );
            }
            if tx.send(Update::Snapshot(snap)).await.is_err() {
                return;
            }
            sent_to.send_modify(|n| *n += 1);
            last = Some(digest.unwrap_or_else(|| fingerprint(&sent)));
        }
    }
}

/// Seeds `store` with what the cache holds of `api`'s kind (each object as `restore` makes it of its JSON),
/// and says from which version to watch it (`None`: list it; a kind never seen with a version cannot be
/// resumed).
pub(crate) fn seeded<T: Clone>(
    store: &Store<T>,
    cached: Option<&mut resume::Cached>,
    api: &Api<Lean>,
    restore: impl Fn(&str) -> Option<T>,
) -> Option<u64> {
    let cached = cached?;
    let kind = cached.take(api.resource_url())?;
    if kind.newest == 0 {
        return None;
    }
    let objects = cached
        .objects(&kind)
        .filter_map(|(k, json)| Some((k.clone(), restore(json)?)));
    store.seed(objects, kind.newest);
    Some(kind.newest)
}

/// What the stores hold, in short (see [`resume::Version`]).
fn version_of(stores: &[(String, Store)]) -> resume::Version {
    stores.iter().map(|(_, s)| s.version()).collect()
}

/// Writes a kind's store into a cache file.
fn write_kind(w: &mut resume::Writer<'_>, url: &str, store: &Store) -> std::io::Result<()> {
    let (newest, objects) = store.entries();
    w.kind(url, newest, objects.len())?;
    objects
        .iter()
        .try_for_each(|(k, json)| w.object(k, json.as_bytes()))
}

/// What the loop does after a burst of messages.
#[derive(Debug, PartialEq)]
enum Next {
    /// A kind's initial list is not complete: no snapshot yet (never a partial first one).
    Wait,
    /// A kind is down: the context is unavailable (the last snapshot stays, stale).
    Unavailable(String),
    /// Every kind is listed or stopped for good.
    Snapshot,
}

fn next(phases: &[Phase]) -> Next {
    if let Some(reason) = phases.iter().find_map(|p| match p {
        Phase::Down(r) => Some(r.clone()),
        _ => None,
    }) {
        return Next::Unavailable(reason);
    }
    if phases.contains(&Phase::Listing) {
        return Next::Wait;
    }
    Next::Snapshot
}

fn apply(
    phases: &mut [Phase],
    stores: &[(FluxKind, Store)],
    stopped: &(dyn Fn(FluxKind, KindState) + Sync),
    msg: KindMsg,
) {
    let (idx, phase) = match msg {
        KindMsg::Listed(i) | KindMsg::Changed(i) => (i, Phase::Listed),
        KindMsg::Stopped(i, s) => {
            if let Some((kind, _)) = stores.get(i) {
                tracing::warn!(kind = kind.kind, state = ?s, "not watched any more");
                stopped(*kind, s.clone());
            }
            (i, Phase::Stopped(s))
        }
        KindMsg::Down(i, r) => (i, Phase::Down(r)),
    };
    if let Some(p) = phases.get_mut(idx) {
        *p = phase;
    }
}

/// One kind's objects by namespace and name (what the watch last heard of each), shared by the kind's task
/// (which writes) and the loop (which reads them for a snapshot). The Flux watch keeps each object as compact
/// JSON (`Store<Arc<str>>`, the default); the Argo CD watch keeps each Application mapped (`map::Mapped`).
#[derive(Clone)]
pub struct Store<T = Arc<str>>(Arc<Mutex<Objects<T>>>);

impl<T> Default for Store<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Objects {
            live: BTreeMap::new(),
            newest: 0,
            next: None,
        })))
    }
}

/// An object's namespace and name.
pub type Key = (Option<String>, Option<String>);

struct Objects<T> {
    live: BTreeMap<Key, T>,
    /// The newest resourceVersion seen (0: none that is a number), where a resumed watch starts.
    newest: u64,
    /// The list being received after a (re)start; it replaces `live` once complete.
    next: Option<BTreeMap<Key, T>>,
}

impl<T: Clone> Store<T> {
    fn objects(&self) -> std::sync::MutexGuard<'_, Objects<T>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a watcher event, as kube-runtime's reflector would (a restarted list replaces the store only
    /// once it is complete), keeping of each object what `keep` makes of it (`None`: left out).
    pub fn apply_with(&self, ev: Event<DynamicObject>, keep: impl Fn(DynamicObject) -> Option<T>) {
        let version = |o: &DynamicObject| {
            let v = o.metadata.resource_version.as_deref();
            v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        let kept = |o: DynamicObject| {
            let key = (o.metadata.namespace.clone(), o.metadata.name.clone());
            let v = version(&o);
            keep(o).map(|kept| (key, kept, v))
        };
        // made before the lock is taken, so the loop's reads wait for an insert only
        match ev {
            Event::Init => self.objects().next = Some(BTreeMap::new()),
            Event::InitApply(o) => {
                if let Some((k, kept, v)) = kept(o) {
                    let mut objects = self.objects();
                    objects.newest = objects.newest.max(v);
                    if let Some(next) = objects.next.as_mut() {
                        next.insert(k, kept);
                    }
                }
            }
            Event::InitDone => {
                let mut objects = self.objects();
                if let Some(next) = objects.next.take() {
                    objects.live = next;
                }
            }
            Event::Apply(o) => {
                if let Some((k, kept, v)) = kept(o) {
                    let mut objects = self.objects();
                    objects.newest = objects.newest.max(v);
                    objects.live.insert(k, kept);
                }
            }
            Event::Delete(o) => {
                let v = version(&o);
                let key = (o.metadata.namespace, o.metadata.name);
                let mut objects = self.objects();
                objects.newest = objects.newest.max(v);
                objects.live.remove(&key);
            }
        }
    }

    /// Changes what is kept of every object in place (those of a list being received too).
    pub fn update_each(&self, mut f: impl FnMut(&mut T)) {
        let mut objects = self.objects();
        let Objects { live, next, .. } = &mut *objects;
        live.values_mut().for_each(&mut f);
        next.iter_mut().flat_map(|n| n.values_mut()).for_each(f);
    }

    /// Starts from what a cache held (`objects`, seen up to resourceVersion `newest`), before any event.
    pub fn seed(&self, objects: impl IntoIterator<Item = (Key, T)>, newest: u64) {
        let mut o = self.objects();
        o.live = objects.into_iter().collect();
        o.newest = newest;
    }

    /// The newest resourceVersion seen and what is kept of every object by key, for a cache.
    pub fn entries(&self) -> (u64, Vec<(Key, T)>) {
        let o = self.objects();
        let entries = o.live.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        (o.newest, entries)
    }

    /// The newest resourceVersion seen and the number of objects.
    pub fn version(&self) -> (u64, usize) {
        let o = self.objects();
        (o.newest, o.live.len())
    }

    /// What is kept of every object, in key order.
    pub fn values(&self) -> Vec<T> {
        self.objects().live.values().cloned().collect()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.objects().live.len()
    }
}

impl Store {
    /// Applies a watcher event, keeping each object as compact JSON without its managedFields.
    pub fn apply(&self, ev: Event<DynamicObject>) {
        self.apply_with(ev, |mut o| {
            // managedFields are most of an object's bytes and nothing setpoint shows
            o.metadata.managed_fields = None;
            match serde_json::to_string(&o) {
                Ok(json) => Some(Arc::from(json)),
                Err(e) => {
                    let (ns, name) = (o.metadata.namespace, o.metadata.name);
                    tracing::warn!(?ns, ?name, %e, "an object that does not serialize is left out");
                    None
                }
            }
        });
    }

    /// The objects, each parsed when the iterator reaches it (the store is not locked meanwhile).
    pub fn parsed(&self) -> impl Iterator<Item = DynamicObject> + use<> {
        self.values()
            .into_iter()
            .filter_map(|json| match serde_json::from_str(&json) {
                Ok(o) => Some(o),
                Err(e) => {
                    tracing::warn!(%e, "a stored object does not parse");
                    None
                }
            })
    }
}

/// The snapshot of everything in the stores, each object parsed and mapped in turn.
pub fn build(context: &str, stores: &[(FluxKind, Store)]) -> Snapshot {
    let of = |role| {
        stores
            .iter()
            .filter(move |(k, _)| k.role == role)
            .flat_map(|(k, s)| s.parsed().map(move |o| (*k, o)))
    };
    map::snapshot_of(context, of(kinds::Role::Source), of(kinds::Role::Unit))
}

/// One kind: a watcher into the store, restarted after transient failures, stopped for good on 403/404.
pub(crate) async fn watch_kind(
    idx: usize,
    api: Api<Lean>,
    store: Store,
    msgs: mpsc::Sender<KindMsg>,
    mut from: Option<u64>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        // resumed from the cache's version the first time, when there is one
        let mut stream = resume::events(api.clone(), from.take());
        let mut listed = false;
        while let Some(item) = stream.next().await {
            let msg = match item {
                Ok(ev) => {
                    let msg = match ev {
                        Event::InitDone => {
                            listed = true;
                            backoff = MIN_BACKOFF;
                            tracing::info!(
                                kind = api.resource_url(),
                                ms = crate::logging::since_start_ms(),
                                "startup: listed"
                            );
                            Some(KindMsg::Listed(idx))
                        }
                        Event::Apply(_) | Event::Delete(_) if listed => Some(KindMsg::Changed(idx)),
                        // a resumed watch whose version is gone: what the cache held is not current
                        Event::Init if listed => {
                            listed = false;
                            Some(KindMsg::Down(idx, resume::EXPIRED.into()))
                        }
                        _ => None,
                    };
                    store.apply(lean::unwrap(ev));
                    msg
                }
                Err(e) => match watch_fault(&e) {
                    // what the store holds (objects seeded from the cache, or read before) is not shown
                    // for a kind that cannot be read
                    WatchFault::Forbidden(m) => {
                        store.seed([], 0);
                        let _ = msgs
                            .send(KindMsg::Stopped(idx, KindState::Forbidden(m)))
                            .await;
                        return;
                    }
                    WatchFault::NotInstalled => {
                        store.seed([], 0);
                        let _ = msgs
                            .send(KindMsg::Stopped(idx, KindState::NotInstalled))
                            .await;
                        return;
                    }
                    WatchFault::Expired => break, // list again at once; not an outage
                    WatchFault::Transient(reason) => {
                        tracing::warn!(kind = api.resource_url(), %reason, "watch failed");
                        let _ = msgs.send(KindMsg::Down(idx, reason)).await;
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        break;
                    }
                },
            };
            if let Some(m) = msg
                && msgs.send(m).await.is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::backend::flux::kinds;

    fn stores() -> Vec<(FluxKind, Store)> {
        [kinds::KUSTOMIZATION, kinds::GIT_REPOSITORY]
            .into_iter()
            .map(|k| (k, Store::default()))
            .collect()
    }

    fn object(kind: FluxKind, name: &str, spec: serde_json::Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": format!("{}/v1", kind.group),
            "kind": kind.kind,
            "metadata": {
                "name": name, "namespace": "flux-system", "generation": 1,
                "creationTimestamp": "2026-11-27T04:57:52Z",
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1"}],
            },
            "spec": spec,
            "status": {"artifact": {"revision": "main@sha1:0123456789abcdef0123456789abcdef01234567"}},
        }))
        .unwrap()
    }

    #[test]
    fn the_store_keeps_compact_objects_and_a_restarted_list_replaces_them_once_complete() {
        let stores = stores();
        let (ks, git) = (&stores[0].1, &stores[1].1);
        let unit = |name: &str| {
            object(
                kinds::KUSTOMIZATION,
                name,
                serde_json::json!({"suspend": true, "sourceRef": {"kind": "GitRepository", "name": "repo"}}),
            )
        };
        git.apply(Event::Init);
        git.apply(Event::InitApply(object(
            kinds::GIT_REPOSITORY,
            "repo",
            serde_json::json!({"url": "http://git/repo.git", "ref": {"branch": "main"}}),
        )));
        git.apply(Event::InitDone);
        ks.apply(Event::Init);
        ks.apply(Event::InitApply(unit("a")));
        ks.apply(Event::InitApply(unit("b")));
        ks.apply(Event::InitDone);
        // what is stored is JSON without managedFields, and parses back to the same object
        let stored = ks.objects().live.values().next().unwrap().clone();
        assert!(!stored.contains("managedFields"), "{stored}");
        let mut want = unit("a");
        want.metadata.managed_fields = None;
        assert_eq!(ks.parsed().next().unwrap(), want);

        let snap = build("c", &stores);
        assert_eq!(snap.units.len(), 2);
        assert_eq!(snap.units[0].source, "flux-system/repo");
        assert!(snap.units[0].suspended);
        assert_eq!(snap.sources.len(), 1);
        // the units name their source's latest revision: the sources were mapped first
        assert_eq!(snap.units[1].latest_revision, snap.sources[0].revision);
        assert!(snap.units[1].latest_revision.is_some());
        // the same as mapping the parsed objects all at once
        let objs: Vec<(FluxKind, DynamicObject)> = stores
            .iter()
            .flat_map(|(k, s)| s.parsed().map(move |o| (*k, o)))
            .collect();
        assert_eq!(snap, map::snapshot("c", objs.iter().map(|(k, o)| (*k, o))));

        // a restart: the old objects stay until the new list is complete, then only the new ones are left
        ks.apply(Event::Init);
        ks.apply(Event::InitApply(unit("c")));
        assert_eq!(ks.len(), 2);
        ks.apply(Event::InitDone);
        assert_eq!(ks.len(), 1);
        ks.apply(Event::Apply(unit("d")));
        ks.apply(Event::Delete(unit("c")));
        let names: Vec<_> = ks.parsed().filter_map(|o| o.metadata.name).collect();
        assert_eq!(names, ["d"]);
    }

    #[test]
    fn first_snapshot_waits_for_every_list_and_an_outage_wins() {
        let stores = stores();
        let heard = Mutex::new(Vec::new());
        let stopped = |k: FluxKind, s: KindState| heard.lock().unwrap().push((k.kind, s));
        let mut phases = vec![Phase::Listing, Phase::Listing];
        assert_eq!(next(&phases), Next::Wait);
        apply(&mut phases, &stores, &stopped, KindMsg::Listed(0));
        assert_eq!(next(&phases), Next::Wait);
        apply(
            &mut phases,
            &stores,
            &stopped,
            KindMsg::Stopped(1, KindState::Forbidden("no".into())),
        );
        assert_eq!(next(&phases), Next::Snapshot);
        assert_eq!(
            *heard.lock().unwrap(),
            vec![("GitRepository", KindState::Forbidden("no".into()))]
        );
        apply(
            &mut phases,
            &stores,
            &stopped,
            KindMsg::Down(0, "gone".into()),
        );
        assert_eq!(next(&phases), Next::Unavailable("gone".into()));
        apply(&mut phases, &stores, &stopped, KindMsg::Changed(0));
        assert_eq!(next(&phases), Next::Snapshot);
        // a message about a kind that is not there changes nothing
        apply(&mut phases, &stores, &stopped, KindMsg::Down(7, "?".into()));
        assert_eq!(next(&phases), Next::Snapshot);
    }

    #[test]
    fn an_empty_store_is_an_empty_snapshot() {
        assert_eq!(build("c", &stores()), Snapshot::default());
    }
}
