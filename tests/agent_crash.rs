//! Crash safety: `kill -9` the real agent at random moments while it applies a large environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Stdio;
use std::time::Instant;

use support::{Ws, files_below};

const FILES: usize = 300;
const ROUNDS: usize = 50;

fn content(i: usize, version: usize) -> String {
    format!(
        "file {i} version {version}\n{}\n",
        "x".repeat(64 + (i * 7 + version * 13) % 512)
    )
}

fn write_version(ws: &Ws, version: usize) {
    for i in 0..FILES {
        ws.write(
            &format!("envs/a/d{:02}/f{i:04}.txt", i % 24),
            &content(i, version),
        );
    }
    ws.commit(&format!("version {version}"));
}

/// Checks every target file is exactly version `old` or `new`; returns how many are new and temp files seen.
fn check(ws: &Ws, old: usize, new: usize) -> (usize, usize) {
    let mut new_count = 0;
    for i in 0..FILES {
        let rel = format!("d{:02}/f{i:04}.txt", i % 24);
        let live = ws
            .read_live("a", &rel)
            .unwrap_or_else(|| panic!("{rel} missing after kill"));
        if live == content(i, new) {
            new_count += 1;
        } else {
            assert_eq!(
                live,
                content(i, old),
                "{rel} is neither version {old} nor {new}"
            );
        }
    }
    let temps = files_below(&ws.live("a"))
        .iter()
        .filter(|f| f.contains(".setpoint-tmp."))
        .count();
    (new_count, temps)
}

#[test]
fn kill_9_at_random_moments_never_leaves_a_half_written_file() {
    let ws = Ws::new();
    ws.simple_spec(&[("a", "envs/a", "    interval: 1h\n")]);
    write_version(&ws, 0);
    ws.ok(&["agent", "--once"]);
    assert_eq!(check(&ws, 0, 0).0, FILES);

    // How long a full start-to-applied run takes here, to spread the kills over it.
    write_version(&ws, 1);
    let t = Instant::now();
    ws.ok(&["agent", "--once"]);
    let full = t.elapsed();
    eprintln!("a full run applying {FILES} files takes {full:?}");

    let mut mid_apply = 0;
    for round in 2..ROUNDS + 2 {
        write_version(&ws, round);
        let mut child = ws
            .cmd()
            .arg("agent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A random moment within the run (a deliberate delay: the point is *when* the kill lands).
        let delay = full.mul_f64(0.1 + fastrand::f64() * 1.1);
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();
        let (new, temps) = check(&ws, round - 1, round);
        if temps > 0 || (new > 0 && new < FILES) {
            mid_apply += 1;
        }
        ws.ok(&["agent", "--once"]);
        let source = ws.source();
        assert_eq!(
            source["status"], "ready",
            "round {round}: the source fetches again after a kill: {source}"
        );
        let (new, temps) = check(&ws, round - 1, round);
        assert_eq!(
            (new, temps),
            (FILES, 0),
            "round {round}: the next pass converges and leaves no temporary files"
        );
        assert_eq!(ws.unit("a")["status"], "ready");
    }
    eprintln!("{ROUNDS} kills, {mid_apply} landed while files were being staged or renamed");
    assert!(
        mid_apply > 0,
        "no kill landed during an apply; the test did not test anything"
    );
}
