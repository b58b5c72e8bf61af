//! The watch of one context's Applications: one kube-runtime watcher (streaming lists: the initial list
//! arrives over the watch, no LIST request) into a reflector store; bursts of changes are coalesced into one
//! snapshot. Never polls. A refused watch (403) or a missing CRD (404) is said once, with an empty snapshot;
//! a transient failure makes the context unavailable until the list is complete again.
//!
//! The store is the Flux watch's, but it keeps each Application mapped (its unit and sources, `map::mapped`)
//! as it arrives, not its JSON: Applications map each on their own, so a snapshot is only their sort, and
//! the work of mapping 5,000 is done while the initial list streams in. The detail, the history and the
//! tree GET the Application afresh.

use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;

use super::map;
use crate::backend::Update;
use crate::backend::flux::error::{WatchFault, watch_fault};
use crate::backend::flux::lean::{self, Lean};
use crate::backend::flux::watch::{Store, fingerprint, watcher_config};

const COALESCE: Duration = Duration::from_millis(60);
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why the Applications cannot be watched at all.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    Forbidden(String),
    NotInstalled,
}

/// Watches the Applications of every namespace and sends snapshots to `tx` until it is closed, or until the
/// watch is refused (returned, for the caller to show).
pub async fn run(
    context: &str,
    client: kube::Client,
    ar: &ApiResource,
    tx: &mpsc::Sender<Update>,
) -> Option<Refused> {
    let api: Api<Lean> = Api::all_with(client, ar);
    let store: Store<map::Mapped> = Store::default();
    let keep = |app: DynamicObject| Some(map::mapped(context, &app));
    let mut backoff = MIN_BACKOFF;
    let mut last: Option<u64> = None;
    loop {
        let mut stream = watcher::watcher(api.clone(), watcher_config()).boxed();
        let mut listed = false;
        loop {
            // one item, then whatever else arrives within COALESCE
            let first = tokio::select! {
                i = stream.next() => i,
                _ = tx.closed() => return None,
            };
            let mut items = vec![first];
            if listed {
                let gather = tokio::time::sleep(COALESCE);
                tokio::pin!(gather);
                loop {
                    tokio::select! {
                        i = stream.next() => { let end = i.is_none(); items.push(i); if end { break; } }
                        _ = &mut gather => break,
                    }
                }
            }
            let mut changed = false;
            let mut restart = false;
            for item in items {
                match item {
                    None => restart = true,
                    Some(Ok(ev)) => {
                        match ev {
                            Event::InitDone => {
                                listed = true;
                                backoff = MIN_BACKOFF;
                                changed = true;
                            }
                            Event::Apply(_) | Event::Delete(_) if listed => changed = true,
                            _ => {}
                        }
                        store.apply_with(lean::unwrap(ev), keep);
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
            if changed && listed {
                let snap = map::assemble(store.values());
                // nothing to compare the first with: it is sent at once, and its digest taken after
                let digest = last.map(|_| fingerprint(&snap));
                if last.is_none() || last != digest {
                    let sent = snap.clone(); // shares the units
                    if tx.send(Update::Snapshot(snap)).await.is_err() {
                        return None;
                    }
                    last = Some(digest.unwrap_or_else(|| fingerprint(&sent)));
                }
            }
            if restart {
                break;
            }
        }
    }
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
        let store: Store<map::Mapped> = Store::default();
        let keep = |app: DynamicObject| Some(map::mapped("c", &app));
        let names = ["auto", "broken", "manual", "multi", "rejected"];
        store.apply_with(Event::Init, keep);
        for name in names {
            store.apply_with(Event::InitApply(fixture(name)), keep);
        }
        store.apply_with(Event::InitDone, keep);
        assert_eq!(
            map::assemble(store.values()),
            map::snapshot("c", names.map(fixture))
        );
        // a restart keeps the old ones until the new list is complete
        store.apply_with(Event::Init, keep);
        store.apply_with(Event::InitApply(fixture("auto")), keep);
        assert_eq!(store.values().len(), names.len());
        store.apply_with(Event::InitDone, keep);
        assert_eq!(
            map::assemble(store.values()),
            map::snapshot("c", [fixture("auto")])
        );
    }
}
