//! Fixtures the console benchmarks share: the console's setup, and many units over several contexts.

#![allow(dead_code, clippy::unwrap_used)] // each bench uses a different subset

use jiff::Timestamp;
use setpoint::backend::Update;
use setpoint::config::keymap::Keymap;
use setpoint::config::theme::{ColorDepth, Theme};
use setpoint::model::{
    BackendKind, ContextHealth, ContextState, Revision, Snapshot, Status, StatusKind, Unit,
};
use setpoint::tui::app::{App, Msg, Setup};

pub fn setup() -> Setup {
    Setup {
        theme: Theme::load("default", None, ColorDepth::Ansi16).unwrap(),
        keymap: Keymap::load("default", None).unwrap(),
        ascii: false,
        read_only: false,
        backend: "local".into(),
        context: "bench".into(),
        contexts: vec!["bench".into()],
        themes: vec!["default".into()],
    }
}

pub fn units(n: usize) -> Snapshot {
    units_in(n, 1)
}

/// `n` units spread over `contexts` local contexts (`ctx-0`, `ctx-1`, …), as the composite backend
/// merges them.
pub fn units_in(n: usize, contexts: usize) -> Snapshot {
    let now = Timestamp::now();
    let ctx = |i: usize| format!("ctx-{}", i % contexts);
    let rev = Revision::new(Some("main"), &"ab".repeat(20)).unwrap();
    let kinds = StatusKind::ALL;
    let units = (0..n)
        .map(|i| Unit {
            id: format!("local/{}/env-{i:05}", ctx(i)),
            name: format!("env-{i:05}"),
            backend: BackendKind::Local,
            context: ctx(i),
            workspace: None,
            kind: "environment".into(),
            environment: format!("live/env-{i:05}"),
            source: "platform-config".into(),
            status: Status::new(
                kinds[i % kinds.len()],
                format!("applied main@abababa: {i} written, 0 pruned"),
                now,
            ),
            suspended: false,
            suspend_reason: None,
            protected: false,
            applied_revision: Some(rev.clone()),
            attempted_revision: Some(rev.clone()),
            latest_revision: Some(rev.clone()),
            commits_behind: Some((i % 3) as u32),
            commits_behind_unknown: None,
            broken_by: Vec::new(),
            pinned_revision: None,
            drifted_objects: vec![],
            last_reconcile_at: Some(now),
            parent: None,
            sync_window: None,
            depends_on: vec![],
        })
        .map(std::sync::Arc::new)
        .collect();
    let mut snap = Snapshot {
        units,
        sources: vec![],
        contexts: (0..contexts)
            .map(|c| ContextState {
                name: ctx(c),
                backend: BackendKind::Local,
                workspace: None,
                read_only: c % 2 == 1,
                health: ContextHealth::Live,
                since: None,
                message: None,
                reconciler: None,
            })
            .collect(),
    };
    snap.sort();
    snap
}

pub fn app_with(snap: Snapshot, size: (u16, u16)) -> App {
    let mut app = App::new(setup(), size, Timestamp::now());
    app.update(Msg::Backend(Update::Snapshot(snap)), Timestamp::now());
    app
}

/// The process's resident set size now, in MB.
pub fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
