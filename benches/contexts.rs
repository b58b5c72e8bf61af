//! Many contexts in one console (issue "many backends"): a 200x60 frame and RSS with 10 contexts x 1,000
//! units, and how long an update of one member takes to reach the console through the composite
//! backend, with every member answering and with one member that never answers.
//!
//!     cargo bench --bench contexts
//!
//! RSS and the update latencies are printed before criterion's timings.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{Criterion, criterion_group};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::{Mutex, mpsc};

use setpoint::audit::AuditLog;
use setpoint::backend::{Audited, Backend, BackendError, BackendInfo, Composite, Update};
use setpoint::model::{
    Action, BackendKind, Capabilities, Event, HistoryEntry, ObjectDiff, Outcome, Snapshot,
};
use setpoint::tui::views;

mod common;
use common::{app_with, rss_mb, units_in};

/// A member whose watch sends one snapshot per pulse (`hung`: never anything, never returns).
struct Member {
    name: String,
    pulses: Mutex<Option<mpsc::Receiver<Snapshot>>>,
    hung: bool,
}

#[async_trait]
impl Backend for Member {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Local,
            context: self.name.clone(),
            read_only: false,
            workspace: None,
        }
    }
    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        Ok(Snapshot::default())
    }
    async fn watch(&self, tx: mpsc::Sender<Update>) -> Result<(), BackendError> {
        if self.hung {
            std::future::pending::<()>().await;
        }
        let Some(mut pulses) = self.pulses.lock().await.take() else {
            return Ok(());
        };
        while let Some(snap) = pulses.recv().await {
            if tx.send(Update::Snapshot(snap)).await.is_err() {
                break;
            }
        }
        Ok(())
    }
    async fn diff(&self, _: &str) -> Result<Vec<ObjectDiff>, BackendError> {
        Ok(Vec::new())
    }
    async fn history(&self, _: &str) -> Result<Vec<HistoryEntry>, BackendError> {
        Ok(Vec::new())
    }
    async fn events(&self, _: &str) -> Result<Vec<Event>, BackendError> {
        Ok(Vec::new())
    }
    async fn capabilities(&self, _: &str) -> Result<Capabilities, BackendError> {
        Ok(Capabilities::all_allowed())
    }
    async fn act(&self, _: &str, _: &Action) -> Result<Outcome, BackendError> {
        Err(BackendError::Invalid("bench".into()))
    }
}

/// Median and worst time from a member's snapshot to the composite's merged update carrying it, over
/// `rounds`, with 10 members of 1,000 units each (the first one hung when `hung`).
fn update_latency(rt: &tokio::runtime::Runtime, hung: bool, rounds: usize) -> (Duration, Duration) {
    rt.block_on(async {
        let log = tempfile::tempdir().unwrap();
        let mut pulses = Vec::new();
        let mut members = Vec::new();
        for c in 0..10 {
            let (tx, rx) = mpsc::channel(4);
            let member = Member {
                name: format!("ctx-{c}"),
                pulses: Mutex::new(Some(rx)),
                hung: hung && c == 0,
            };
            members.push(Arc::new(Audited::new(
                Arc::new(member),
                AuditLog::new(log.path().join("audit.jsonl")),
            )));
            pulses.push(tx);
        }
        let composite = Arc::new(Composite::new(members));
        let (tx, mut rx) = mpsc::channel(64);
        let watcher = {
            let c = composite.clone();
            tokio::spawn(async move { c.watch(tx).await })
        };
        let mut snaps: Vec<Snapshot> = (0..10)
            .map(|c| {
                let mut s = units_in(1000, 1);
                for u in s.units.iter_mut().map(std::sync::Arc::make_mut) {
                    u.context = format!("ctx-{c}");
                    u.id = format!("local/ctx-{c}/{}", u.name);
                }
                s.contexts.clear();
                s
            })
            .collect();
        // Everyone but the hung member says something first.
        for (c, p) in pulses.iter().enumerate().skip(usize::from(hung)) {
            p.send(snaps[c].clone()).await.unwrap();
        }
        let mut times = Vec::new();
        for round in 0..rounds {
            let c = 1 + round % 9;
            let marker = format!("round {round}");
            std::sync::Arc::make_mut(&mut snaps[c].units[0])
                .status
                .message = marker.clone();
            let t = Instant::now();
            pulses[c].send(snaps[c].clone()).await.unwrap();
            loop {
                let Some(Update::Snapshot(s)) = rx.recv().await else {
                    panic!("the composite stopped")
                };
                if s.units.iter().any(|u| u.status.message == marker) {
                    break;
                }
            }
            times.push(t.elapsed());
        }
        watcher.abort();
        times.sort();
        (times[times.len() / 2], times[times.len() - 1])
    })
}

fn benches(c: &mut Criterion) {
    let app = app_with(units_in(10_000, 10), (200, 60));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("render_200x60_10_contexts_x_1000_units", |b| {
        b.iter(|| {
            terminal.draw(|f| views::render(f, &app)).unwrap();
        })
    });
}

criterion_group!(contexts, benches);

fn main() {
    let before = rss_mb();
    let app = app_with(units_in(10_000, 10), (200, 60));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    terminal.draw(|f| views::render(f, &app)).unwrap();
    println!(
        "RSS with 10 contexts x 1,000 units: {:.1} MB (process; {before:.1} MB before)",
        rss_mb()
    );
    drop(app);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (all_median, all_worst) = update_latency(&rt, false, 200);
    let (hung_median, hung_worst) = update_latency(&rt, true, 200);
    println!(
        "member update to console, 10 x 1,000 units: every member answering: median {:.2} ms, worst {:.2} ms; \
         one member hung: median {:.2} ms, worst {:.2} ms",
        all_median.as_secs_f64() * 1e3,
        all_worst.as_secs_f64() * 1e3,
        hung_median.as_secs_f64() * 1e3,
        hung_worst.as_secs_f64() * 1e3,
    );
    contexts();
    Criterion::default().configure_from_args().final_summary();
}
