//! The real binary in a pseudo-terminal: process start to first frame, keypress to frame (input decoding,
//! the event loop and the terminal write included), and keypresses answered while a 5 MB diff is computed.
//!
//!     cargo bench --bench pty
//!
//! The pty is made by util-linux `script`, which copies this bench's writes to the console's terminal and
//! the console's output back; its relay adds a few microseconds to each figure. Each figure is printed as
//! `pty: NAME: X ms (...)`, the line `scripts/bench-check` reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_setpoint");
/// How long the output must stay quiet after a frame for the frame to count as complete.
const QUIET: Duration = Duration::from_millis(30);

/// The console under `script`, with a reader thread timestamping every chunk it writes.
struct Console {
    child: Child,
    stdin: ChildStdin,
    chunks: Receiver<(Instant, Vec<u8>)>,
    started: Instant,
}

impl Console {
    fn start(ws: &Path, home: &Path, extra: &str) -> Self {
        let cmd = format!(
            "stty rows 40 cols 120; exec env SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' TERM=xterm-256color '{BIN}' --workspace '{}' {extra}",
            home.join("config").display(),
            home.join("data").display(),
            ws.display()
        );
        let started = Instant::now();
        let mut child = Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux `script` runs");
        let mut out = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, chunks) = channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            chunks,
            started,
        }
    }

    /// Reads until the output contains `want`; returns when its last byte arrived and everything read.
    /// Answers the cursor position query the console sends when it opens the terminal, as a terminal does.
    fn until(&mut self, want: &str, limit: Duration) -> (Instant, String) {
        let end = Instant::now() + limit;
        let mut all = String::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok((at, bytes)) => {
                    let text = String::from_utf8_lossy(&bytes);
                    if text.contains("\x1b[6n") {
                        self.key(b"\x1b[1;1R");
                    }
                    all.push_str(&text);
                    if all.contains(want) {
                        return (at, all);
                    }
                }
                Err(_) => panic!("no {want:?} within {limit:?}; got {all:?}"),
            }
        }
    }

    /// Reads one frame: the first chunk (within `limit`) and whatever follows until the output is quiet.
    /// Returns when the frame's last byte arrived, its size and its text.
    fn frame(&self, limit: Duration) -> (Instant, usize, String) {
        let (mut last, first) = self
            .chunks
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("no frame within {limit:?}"));
        let mut bytes = first;
        loop {
            match self.chunks.recv_timeout(QUIET) {
                Ok((at, more)) => {
                    last = at;
                    bytes.extend_from_slice(&more);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    return (last, bytes.len(), text);
                }
                Err(RecvTimeoutError::Disconnected) => panic!("the console ended"),
            }
        }
    }

    fn drain(&self) {
        while self.chunks.recv_timeout(QUIET).is_ok() {}
    }

    fn key(&mut self, bytes: &[u8]) -> Instant {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
        Instant::now()
    }

    fn quit(mut self) {
        let _ = self.key(b"q");
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn demo(home: &Path) -> std::path::PathBuf {
    let ws = home.join("demo");
    let out = Command::new(BIN)
        .args(["demo", ws.to_str().unwrap(), "--no-tui"])
        .env("SETPOINT_CONFIG_DIR", home.join("config"))
        .env("SETPOINT_DATA_DIR", home.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ws
}

/// Process start (spawning `script`) to the first complete frame on the demo workspace.
fn first_frame(ws: &Path, home: &Path) {
    let mut times = Vec::new();
    for _ in 0..10 {
        let mut c = Console::start(ws, home, "--read-only");
        let (at, _) = c.until("live/staging", Duration::from_secs(10));
        times.push(ms(at - c.started));
        c.drain();
        c.quit();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "pty: first_frame_from_process_start: {:.2} ms (median of {}; min {:.2}, max {:.2})",
        percentile(&times, 0.5),
        times.len(),
        times[0],
        times[times.len() - 1]
    );
}

/// A key written to the terminal until the last byte of the frame it causes is read back.
fn keypress(ws: &Path, home: &Path) {
    let mut c = Console::start(ws, home, "--read-only");
    c.until("live/staging", Duration::from_secs(10));
    c.drain();
    let mut times = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..200 {
        // Down then up: each press moves the selection, so each one draws.
        let t = c.key(if i % 2 == 0 { b"j" } else { b"k" });
        let (at, size, _) = c.frame(Duration::from_secs(2));
        times.push(ms(at - t));
        sizes.push(size);
    }
    c.quit();
    times.sort_by(f64::total_cmp);
    sizes.sort_unstable();
    println!(
        "pty: keypress_to_frame: {:.2} ms (median of {}; p95 {:.2}, max {:.2}; {} B per frame)",
        percentile(&times, 0.5),
        times.len(),
        percentile(&times, 0.95),
        times[times.len() - 1],
        sizes[sizes.len() / 2]
    );
}

/// About 5 MB of YAML in 60,000 lines (the agent's YAML budget of 250,000 nodes rejects more keys),
/// changed every 997 lines by `seed`.
fn yaml(lines: usize, seed: usize) -> String {
    let mut s = String::with_capacity(lines * 90);
    for i in 0..lines {
        let v = if i % 997 == 0 { i + seed } else { i };
        s.push_str(&format!(
            "key_{i:07}: value-{v:07} # a comment long enough to make five megabytes in all\n"
        ));
    }
    s
}

/// While the console computes a 5 MB diff (live changed by hand in 131 places), keys are still answered:
/// the time from `d` until the diff is shown, and the keypress-to-frame times of keys pressed meanwhile.
fn responsive_during_big_diff(home: &Path) {
    let ws = demo(&home.join("big"));
    // A 5 MB file in staging: desired from a new commit, live changed by hand (staging only reports drift).
    let clone = home.join("clone");
    let git = |dir: &Path, args: &[&str]| {
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
            .output()
            .unwrap();
        assert!(ok.status.success(), "git {args:?}");
    };
    git(
        home,
        &[
            "clone",
            "-q",
            ws.join("repos/platform-config.git").to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    std::fs::write(clone.join("environments/staging/big.yaml"), yaml(60_000, 1)).unwrap();
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-q", "-m", "a 5 MB file"]);
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);
    let out = Command::new(BIN)
        .args([
            "--workspace",
            ws.to_str().unwrap(),
            "sync",
            "staging",
            "--with-source",
        ])
        .env("SETPOINT_CONFIG_DIR", home.join("config"))
        .env("SETPOINT_DATA_DIR", home.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live = ws.join("live/staging/big.yaml");
    assert!(live.exists(), "the 5 MB file was applied");
    std::fs::write(&live, yaml(60_000, 2)).unwrap();

    let mut c = Console::start(&ws, home, "--read-only");
    c.until("live/staging", Duration::from_secs(10));
    c.drain();
    c.key(b"/");
    c.key(b"staging\r");
    c.drain();
    let asked = c.key(b"d");
    // Until the diff is on screen, open and close the prompt (`:` and esc); each must draw at once.
    let mut times = Vec::new();
    let mut shown = None;
    for i in 0..200 {
        let t = c.key(if i % 2 == 0 { b":" } else { b"\x1b" });
        let (at, _, text) = c.frame(Duration::from_secs(2));
        if text.contains("big.yaml") {
            shown = Some(at);
            break;
        }
        times.push(ms(at - t));
    }
    let shown = shown.unwrap_or_else(|| c.until("big.yaml", Duration::from_secs(30)).0);
    c.quit();
    assert!(
        !times.is_empty(),
        "the diff came before any key could be pressed"
    );
    times.sort_by(f64::total_cmp);
    println!(
        "pty: diff_5mb_shown: {:.2} ms (from `d` until big.yaml is on screen)",
        ms(shown - asked)
    );
    println!(
        "pty: keypress_during_5mb_diff: {:.2} ms (max of {} keys pressed while it was computed; median {:.2})",
        times[times.len() - 1],
        times.len(),
        percentile(&times, 0.5)
    );
}

fn main() {
    // `cargo bench` passes --bench; a filter argument picks one measurement.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let home = tempfile::tempdir().unwrap();
    let ws = demo(home.path());
    if want("first_frame") {
        first_frame(&ws, home.path());
    }
    if want("keypress") {
        keypress(&ws, home.path());
    }
    if want("diff") {
        responsive_during_big_diff(home.path());
    }
}
