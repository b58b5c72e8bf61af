//! The watch of one context: a watcher and a reflector store per served kind, one task each; the loop here
//! waits for every kind's initial list, then coalesces bursts of changes into one snapshot. Never polls.
//!
//! A kind whose watch is refused (403) or whose CRD is gone (404) stops there and is reported once; a
//! transient failure (the API server went away) makes the context unavailable until that kind has been listed
//! again, which its task retries with a capped backoff.

use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::connect::{Conn, KindState};
use super::error::{WatchFault, watch_fault};
use super::kinds::FluxKind;
use super::map;
use crate::backend::Update;
use crate::model::Snapshot;

/// How long a burst of changes is gathered before one snapshot is sent.
const COALESCE: Duration = Duration::from_millis(60);
/// The first and the longest wait before a failed watch is started again.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a kind's task reports to the loop.
#[derive(Debug)]
enum KindMsg {
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
) {
    let (mtx, mut mrx) = mpsc::channel(256);
    let mut tasks = JoinSet::new();
    let mut stores: Vec<(FluxKind, Store<DynamicObject>)> = Vec::new();
    let mut phases: Vec<Phase> = Vec::new();
    for (kind, state) in &conn.kinds {
        let KindState::Served(ar) = state else {
            tracing::info!(context, kind = kind.kind, ?state, "not watched");
            continue;
        };
        let idx = stores.len();
        let writer = Writer::new(ar.clone());
        stores.push((*kind, writer.as_reader()));
        phases.push(Phase::Listing);
        let api: Api<DynamicObject> = Api::all_with(conn.client.clone(), ar);
        tasks.spawn(watch_kind(idx, api, writer, mtx.clone()));
    }
    drop(mtx);
    if stores.is_empty() {
        tracing::warn!(context, "no Flux kind is served: Flux is not installed");
        let _ = tx.send(Update::Snapshot(Snapshot::default())).await;
        tx.closed().await;
        return;
    }
    let mut last: Option<Snapshot> = None;
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
        if last.as_ref() != Some(&snap) {
            if tx.send(Update::Snapshot(snap.clone())).await.is_err() {
                return;
            }
            last = Some(snap);
        }
    }
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
    stores: &[(FluxKind, Store<DynamicObject>)],
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

/// The snapshot of everything in the stores.
pub fn build(context: &str, stores: &[(FluxKind, Store<DynamicObject>)]) -> Snapshot {
    let objects: Vec<(FluxKind, std::sync::Arc<DynamicObject>)> = stores
        .iter()
        .flat_map(|(k, s)| s.state().into_iter().map(move |o| (*k, o)))
        .collect();
    map::snapshot(context, objects.iter().map(|(k, o)| (*k, o.as_ref())))
}

/// One kind: a watcher into the store, restarted after transient failures, stopped for good on 403/404.
async fn watch_kind(
    idx: usize,
    api: Api<DynamicObject>,
    mut writer: Writer<DynamicObject>,
    msgs: mpsc::Sender<KindMsg>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut stream = watcher(api.clone()).boxed();
        let mut listed = false;
        while let Some(item) = stream.next().await {
            let msg = match item {
                Ok(ev) => {
                    // managedFields are most of an object's bytes and nothing setpoint shows
                    let ev = ev.modify(|o| o.metadata.managed_fields = None);
                    writer.apply_watcher_event(&ev);
                    match ev {
                        Event::InitDone => {
                            listed = true;
                            backoff = MIN_BACKOFF;
                            Some(KindMsg::Listed(idx))
                        }
                        Event::Apply(_) | Event::Delete(_) if listed => Some(KindMsg::Changed(idx)),
                        _ => None,
                    }
                }
                Err(e) => match watch_fault(&e) {
                    WatchFault::Forbidden(m) => {
                        let _ = msgs
                            .send(KindMsg::Stopped(idx, KindState::Forbidden(m)))
                            .await;
                        return;
                    }
                    WatchFault::NotInstalled => {
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

fn watcher(
    api: Api<DynamicObject>,
) -> impl futures_util::Stream<Item = watcher::Result<Event<DynamicObject>>> {
    watcher::watcher(api, watcher_config())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use kube::api::ApiResource;

    use super::*;
    use crate::backend::flux::kinds;

    fn stores() -> Vec<(FluxKind, Store<DynamicObject>)> {
        [kinds::KUSTOMIZATION, kinds::GIT_REPOSITORY]
            .into_iter()
            .map(|k| {
                let ar = ApiResource {
                    group: k.group.into(),
                    version: "v1".into(),
                    api_version: format!("{}/v1", k.group),
                    kind: k.kind.into(),
                    plural: k.plural.into(),
                };
                (k, Writer::new(ar).as_reader())
            })
            .collect()
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
