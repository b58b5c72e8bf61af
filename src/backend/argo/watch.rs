//! The watch of one context's Applications: one kube-runtime watcher (streaming lists: the initial list
//! arrives over the watch, no LIST request) into a reflector store; bursts of changes are coalesced into one
//! snapshot. Never polls. A refused watch (403) or a missing CRD (404) is said once, with an empty snapshot;
//! a transient failure makes the context unavailable until the list is complete again.
//!
//! The store is the Flux watch's (compact JSON per object, parsed again one at a time for a snapshot), and
//! before an Application goes in, [`trim`] drops what the snapshot never reads: the detail, the history and
//! the tree GET the Application afresh, so the watch keeps only what `map::snapshot` looks at.

use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
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
    let store = Store::default();
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
                        store.apply(lean::unwrap(ev).modify(trim));
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
                let snap = map::snapshot(context, store.parsed());
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

/// Drops from an Application what `map::snapshot` never reads (the store keeps the rest): managedFields
/// (the store drops them too), kubectl's last-applied copy of the object, every history entry but the newest,
/// the objects in status.resources that are not OutOfSync, the per-object results of the last operation,
/// status.summary (images, URLs) and the copy of the spec the last comparison was against
/// (status.sync.comparedTo). What is dropped is most of a synced Application's bytes.
pub fn trim(o: &mut DynamicObject) {
    o.metadata.managed_fields = None;
    if let Some(a) = o.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    let Some(status) = o.data.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    status.remove("summary");
    if let Some(Value::Object(sync)) = status.get_mut("sync") {
        sync.remove("comparedTo");
    }
    if let Some(Value::Array(h)) = status.get_mut("history") {
        let keep = h.len().saturating_sub(1);
        h.drain(..keep);
    }
    if let Some(Value::Array(r)) = status.get_mut("resources") {
        r.retain(|r| r.get("status").and_then(Value::as_str) == Some("OutOfSync"));
    }
    if let Some(Value::Object(result)) = status
        .get_mut("operationState")
        .and_then(|s| s.get_mut("syncResult"))
    {
        result.remove("resources");
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
    fn trimming_changes_no_snapshot() {
        for name in ["auto", "broken", "manual", "multi", "rejected"] {
            let full = fixture(name);
            let mut trimmed = full.clone();
            trim(&mut trimmed);
            assert_eq!(
                map::snapshot("c", [&trimmed]),
                map::snapshot("c", [&full]),
                "{name}"
            );
            let (a, b) = (
                serde_json::to_string(&full).unwrap().len(),
                serde_json::to_string(&trimmed).unwrap().len(),
            );
            assert!(b <= a, "{name}: {b} > {a}");
        }
    }

    #[test]
    fn the_store_holds_trimmed_applications() {
        let store = Store::default();
        store.apply(Event::Init);
        store.apply(Event::InitApply(fixture("auto")).modify(trim));
        store.apply(Event::InitDone);
        let got: Vec<_> = store.parsed().collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].metadata.managed_fields.is_none());
        assert!(
            got[0]
                .data
                .pointer("/status/resources")
                .and_then(Value::as_array)
                .is_none_or(|r| r.iter().all(|r| r["status"] == "OutOfSync"))
        );
        assert_eq!(
            map::snapshot("c", got),
            map::snapshot("c", [fixture("auto")])
        );
    }
}
