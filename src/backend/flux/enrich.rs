//! What the source mirrors add to the watch's snapshots, off the watch path: the watch's updates pass through
//! here; each snapshot is sent on at once with what the mirrors know now, the fetches it wants run in the
//! background (bounded, see `mirror.rs`), and when one ends the last snapshot is enriched and sent again.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::mirror::{FETCH_TIMEOUT, MAX_FETCHES, Mirrors, Wanted};
use crate::backend::Update;
use crate::model::Snapshot;

/// `snap` with what the mirrors know now (reads git objects on a blocking thread).
pub async fn enriched(mirrors: &Arc<Mirrors>, mut snap: Snapshot) -> Snapshot {
    let m = Arc::clone(mirrors);
    match tokio::task::spawn_blocking(move || {
        m.enrich(&mut snap);
        snap
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "enriching a snapshot");
            Snapshot::default()
        }
    }
}

/// Fetches one URL on a blocking thread, waited for at most [`FETCH_TIMEOUT`].
pub async fn fetch(mirrors: Arc<Mirrors>, w: Wanted) {
    let m = Arc::clone(&mirrors);
    let url = w.url.clone();
    let job = tokio::task::spawn_blocking(move || m.fetch_blocking(&w));
    match tokio::time::timeout(FETCH_TIMEOUT, job).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => mirrors.finish(&url, Err(format!("the fetch failed: {e}"))),
        Err(_) => mirrors.finish(
            &url,
            Err(format!("no answer within {} s", FETCH_TIMEOUT.as_secs())),
        ),
    }
}

/// Who enriches a watch's snapshots with what the mirrors know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enriching {
    /// The relay: each snapshot as it passes, and the last one again when a fetch ends (Flux's snapshots
    /// are mapped afresh each time, so enriching them copies nothing).
    Relay,
    /// The watch, which keeps its units enriched and enriches them again when a fetch ends (Argo CD's keeps
    /// each Application mapped): the relay only runs the fetches.
    Watch,
}

/// Runs `watch` with a sender whose snapshots pass through the mirrors' [`relay`] (their fetches stay off
/// the watch path), or straight to `tx` without mirrors; returns what `watch` returns.
pub async fn relayed<T>(
    mirrors: Option<&Arc<Mirrors>>,
    by: Enriching,
    tx: &mpsc::Sender<Update>,
    watch: impl AsyncFnOnce(&mpsc::Sender<Update>) -> T,
) -> T {
    let Some(mirrors) = mirrors else {
        return watch(tx).await;
    };
    let (inner_tx, inner_rx) = mpsc::channel(16);
    // the inner sender is dropped when the watch ends, which ends the relay
    let run = async move { watch(&inner_tx).await };
    tokio::join!(run, relay(Arc::clone(mirrors), by, inner_rx, tx)).0
}

/// Passes `inner`'s updates on to `tx`, running the fetches each snapshot wants, snapshots enriched when
/// `by` is the relay, until either side closes.
pub async fn relay(
    mirrors: Arc<Mirrors>,
    by: Enriching,
    mut inner: mpsc::Receiver<Update>,
    tx: &mpsc::Sender<Update>,
) {
    let permits = Arc::new(Semaphore::new(MAX_FETCHES));
    let mut fetches: JoinSet<()> = JoinSet::new();
    // The last snapshot sent, enriched: its units are shared with the receivers (the composite, the
    // console), and enriching is idempotent, so a fetch that ended enriches it again instead of a raw copy.
    let mut sent: Option<Snapshot> = None;
    // the context recovered: the next snapshot is sent even when unchanged
    let mut resend = false;
    loop {
        let update = tokio::select! {
            u = inner.recv() => match u {
                Some(u) => Some(u),
                None => return,
            },
            Some(_) = fetches.join_next(), if !fetches.is_empty() => None,
            _ = tx.closed() => return,
        };
        let snap = match update {
            Some(Update::Snapshot(s)) => {
                for w in mirrors.wanted(&s) {
                    let (m, p) = (Arc::clone(&mirrors), Arc::clone(&permits));
                    fetches.spawn(async move {
                        let _permit = p.acquire_owned().await;
                        fetch(m, w).await;
                    });
                }
                if by == Enriching::Watch {
                    if tx.send(Update::Snapshot(s)).await.is_err() {
                        return;
                    }
                    continue;
                }
                s
            }
            Some(other) => {
                resend |= matches!(other, Update::Unavailable(_));
                if tx.send(other).await.is_err() {
                    return;
                }
                continue;
            }
            // a fetch ended: the last snapshot again, with what the mirror knows now
            // (not while the context is unavailable: that would show the old snapshot as live)
            None => match &sent {
                Some(s) if !resend => s.clone(),
                _ => continue,
            },
        };
        let snap = enriched(&mirrors, snap).await;
        if sent.is_none() {
            tracing::info!(
                units = snap.units.len(),
                ms = crate::logging::since_start_ms(),
                "startup: enriched by the source mirrors"
            );
        }
        if resend || sent.as_ref() != Some(&snap) {
            // a clone shares the units: a vector of pointers
            if tx.send(Update::Snapshot(snap.clone())).await.is_err() {
                return;
            }
            sent = Some(snap);
            resend = false;
        }
    }
}

/// Runs the fetches `snap` wants, waited for at most `budget` in all (the headless commands' snapshot).
pub async fn fetch_wanted(mirrors: &Arc<Mirrors>, snap: &Snapshot, budget: std::time::Duration) {
    let mut fetches = JoinSet::new();
    for w in mirrors.wanted(snap) {
        fetches.spawn(fetch(Arc::clone(mirrors), w));
    }
    let all = async { while fetches.join_next().await.is_some() {} };
    if tokio::time::timeout(budget, all).await.is_err() {
        tracing::info!("source mirrors still fetching after {budget:?}; their units say so");
        fetches.detach_all();
    }
}
