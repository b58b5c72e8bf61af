//! Agent performance budgets (README, "Testing"): no-op pass over 10,000 files ≤ 100 ms; full render + apply of
//! 10,000 files ≤ 3 s; fetch of an unchanged local remote ≤ 50 ms; ≤ 100 MB RSS for 10,000 files.
//!
//! Run: `cargo bench --bench agent`. Peak RSS is printed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use setpoint::backend::local::{EnvRuntime, PassOutcome, Workspace, fetch_source, reconcile_env};

const FILES: usize = 10_000;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.org",
        ])
        .args(args)
        .status()
        .unwrap();
    assert!(ok.success(), "git {args:?}");
}

/// A workspace with one environment of 10,000 files (about 2.6 MB) in 100 directories.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("envs/a")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for i in 0..FILES {
        let d = repo.join(format!("base/d{:03}", i % 100));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("f{i:05}.conf")),
            format!("key = {i}\nvalue = {}\n", "x".repeat(240)),
        )
        .unwrap();
    }
    std::fs::write(repo.join("envs/a/overlay.yaml"), "bases: [base]\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "10k files"]);
    std::fs::write(
        dir.path().join("setpoint.yaml"),
        "sources:\n  - name: s\n    url: ./repo\n    branch: main\nenvironments:\n  - name: a\n    source: s\n    path: envs/a\n    target: ./live/a\n",
    )
    .unwrap();
    dir
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn bench(c: &mut Criterion) {
    let dir = workspace();
    let ws = Workspace::load(dir.path()).unwrap();
    let env = ws.spec.environment("a").unwrap().clone();
    let stop = AtomicBool::new(false);
    assert!(fetch_source(&ws, "s").error.is_none());

    let mut g = c.benchmark_group("agent");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    // Each iteration applies to an empty target. The previous one is moved aside rather than deleted:
    // on a filesystem mounted with `discard` (as on this CI machine), deleting 10,000 files makes the next
    // journal commit issue their discards, and the measured creates would wait for that unrelated work
    // (a plain Python create loop goes from 0.7 s to up to 7 s right after such a delete).
    let trash = dir.path().join("trash");
    std::fs::create_dir_all(&trash).unwrap();
    let mut round = 0;
    g.bench_function("full render + apply, 10k files", |b| {
        b.iter_batched(
            || {
                round += 1;
                let _ = std::fs::rename(&env.target, trash.join(round.to_string()));
                let _ = std::fs::remove_file(ws.state.inventory("a"));
                EnvRuntime::default()
            },
            |mut rt| {
                assert_eq!(
                    reconcile_env(&ws, &env, &mut rt, &stop),
                    PassOutcome::Ready { changed: FILES }
                )
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("agent");
    let mut rt = EnvRuntime::default();
    reconcile_env(&ws, &env, &mut rt, &stop);
    g.bench_function("no-op pass, 10k files", |b| {
        b.iter(|| {
            assert_eq!(
                reconcile_env(&ws, &env, &mut rt, &stop),
                PassOutcome::Ready { changed: 0 }
            )
        })
    });
    g.bench_function("fetch of an unchanged local remote", |b| {
        b.iter(|| assert!(!fetch_source(&ws, "s").changed))
    });
    g.finish();
    eprintln!(
        "peak RSS of the benchmark process with {FILES} files: {:.1} MB",
        peak_rss_mb()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
