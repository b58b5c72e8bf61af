//! The watch of one context's Applications: one kube-runtime watcher (streaming lists: the initial list
//! arrives over the watch, no LIST request) into a reflector store; bursts of changes are coalesced into one
//! snapshot. Never polls. A refused watch (403) or a missing CRD (404) is said once, with an empty snapshot;
//! a transient failure makes the context unavailable until the list is complete again.

use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;

use super::map;
use crate::backend::Update;
use crate::backend::flux::error::{WatchFault, watch_fault};
use crate::backend::flux::watch::watcher_config;
use crate::model::Snapshot;

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
    let api: Api<DynamicObject> = Api::all_with(client, ar);
    let mut writer = Writer::new(ar.clone());
    let store = writer.as_reader();
    let mut backoff = MIN_BACKOFF;
    let mut last: Option<Snapshot> = None;
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
                        let ev = ev.modify(|o| o.metadata.managed_fields = None);
                        writer.apply_watcher_event(&ev);
                        match ev {
                            Event::InitDone => {
                                listed = true;
                                backoff = MIN_BACKOFF;
                                changed = true;
                            }
                            Event::Apply(_) | Event::Delete(_) if listed => changed = true,
                            _ => {}
                        }
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
                let apps = store.state();
                let snap = map::snapshot(context, apps.iter().map(|a| a.as_ref()));
                if last.as_ref() != Some(&snap) {
                    if tx.send(Update::Snapshot(snap.clone())).await.is_err() {
                        return None;
                    }
                    last = Some(snap);
                }
            }
            if restart {
                break;
            }
        }
    }
}
