//! Console budgets (README, "Testing"): first frame on the demo workspace, a 200x60 frame with
//! 10,000 units, keypress to frame, bytes written per cursor move, RSS with 10,000 units, a 5 MB YAML diff.
//!
//!     cargo bench --bench tui
//!
//! The byte count and RSS are printed before criterion's timings.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use jiff::Timestamp;
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use setpoint::backend::Backend;
use setpoint::backend::local::{LocalBackend, demo};
use setpoint::config::Settings;
use setpoint::model::{Change, ObjectDiff};
use setpoint::tui::app::Msg;
use setpoint::tui::diffdoc::DiffDoc;
use setpoint::tui::quiet::Quiet;
use setpoint::tui::views;

mod common;
use common::{app_with, rss_mb, units};

fn down() -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE))
}

/// A terminal output that only counts bytes.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len(), Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Counter {
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// Bytes the console's terminal backend writes for one cursor move, against a full first frame, and for
/// a redraw in which nothing changed.
fn bytes_per_move() {
    let counter = Counter::default();
    let options = TerminalOptions {
        viewport: Viewport::Fixed(Rect::new(0, 0, 200, 60)),
    };
    let mut terminal =
        Terminal::with_options(Quiet::new(CrosstermBackend::new(counter.clone())), options)
            .unwrap();
    let mut app = app_with(units(10_000), (200, 60));
    terminal.draw(|f| views::render(f, &app)).unwrap();
    let full = counter.take();
    let mut moves = Vec::new();
    for _ in 0..5 {
        app.update(down(), Timestamp::now());
        terminal.draw(|f| views::render(f, &app)).unwrap();
        moves.push(counter.take());
    }
    terminal.draw(|f| views::render(f, &app)).unwrap();
    let idle = counter.take();
    println!(
        "bytes: first frame {full}, per cursor move {moves:?} (two rows change), redraw with no change {idle}"
    );
}

fn rss_10k() {
    let before = rss_mb();
    let snap = units(10_000);
    let app = app_with(snap, (200, 60));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    terminal.draw(|f| views::render(f, &app)).unwrap();
    println!(
        "RSS with 10,000 units: {:.1} MB (process; {:.1} MB before the units were built)",
        rss_mb(),
        before
    );
}

fn yaml(lines: usize, seed: usize) -> String {
    let mut s = String::with_capacity(lines * 40);
    for i in 0..lines {
        let v = if i % 997 == 0 { i + seed } else { i };
        s.push_str(&format!("  key_{i:07}: value-{v:07} # some text\n"));
    }
    s
}

fn benches(c: &mut Criterion) {
    // First frame on the demo workspace: open the backend, read the snapshot, build the app, draw.
    let tmp = tempfile::tempdir().unwrap();
    let made = demo::create(&tmp.path().join("demo"), false, Arc::new(|_: &str| {})).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    let backend = LocalBackend::open(&made.dir, &Settings::default()).unwrap();
    let snap = rt.block_on(backend.snapshot()).unwrap();
    let app = app_with(snap, (80, 24));
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| views::render(f, &app)).unwrap();
    println!(
        "first frame on the demo workspace (cold, in-process): {:.2} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    c.bench_function("first_frame_demo_80x24", |b| {
        b.iter(|| {
            let backend = LocalBackend::open(&made.dir, &Settings::default()).unwrap();
            let snap = rt.block_on(backend.snapshot()).unwrap();
            let app = app_with(snap, (80, 24));
            let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
            terminal.draw(|f| views::render(f, &app)).unwrap();
            black_box(terminal.backend().buffer().area);
        })
    });

    let app = app_with(units(10_000), (200, 60));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("render_200x60_10k_units", |b| {
        b.iter(|| {
            terminal.draw(|f| views::render(f, &app)).unwrap();
        })
    });

    let mut app = app_with(units(10_000), (200, 60));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut n = 0u32;
    c.bench_function("keypress_to_frame_10k_units", |b| {
        b.iter(|| {
            n += 1;
            let key = if n % 2000 < 1000 {
                KeyCode::Down
            } else {
                KeyCode::Up
            };
            app.update(
                Msg::Key(KeyEvent::new(key, KeyModifiers::NONE)),
                Timestamp::now(),
            );
            terminal.draw(|f| views::render(f, &app)).unwrap();
        })
    });

    let old = yaml(130_000, 1);
    let new = yaml(130_000, 2);
    println!("YAML diff input: {:.1} MB per side", old.len() as f64 / 1e6);
    let objects = vec![ObjectDiff {
        object: "big.yaml".into(),
        change: Change::Modified,
        desired: Some(new),
        live: Some(old),
        masked: false,
        note: None,
    }];
    // The budget is for a real diff: one hunk per changed line (they are 997 lines apart), not the
    // whole-file replacement the diff falls back to when its deadline passes.
    let changed = (0..130_000).filter(|i| i % 997 == 0).count();
    let doc = DiffDoc::build(&objects);
    let hunks = doc.files[0].hunks.len();
    println!("diff_5mb_yaml: {hunks} hunks for {changed} changed lines");
    assert_eq!(
        hunks, changed,
        "the 5 MB diff fell back to a whole-file replacement (or lost hunks)"
    );
    let mut g = c.benchmark_group("diff");
    g.sample_size(10);
    g.bench_function("diff_5mb_yaml", |b| {
        b.iter(|| {
            let doc = DiffDoc::build(&objects);
            assert_eq!(doc.files[0].hunks.len(), changed, "whole-file fallback");
            black_box(doc.files.len())
        })
    });
    g.finish();
}

criterion_group!(tui, benches);

fn main() {
    bytes_per_move();
    rss_10k();
    tui();
    Criterion::default().configure_from_args().final_summary();
}
