//! The embedded agent's safety and integrity: read-only is a guarantee, nothing outside a target is touched,
//! files it does not own are never taken over, state survives crashes, concurrent operators and torn files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::Output;

use support::Ws;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One environment `a` from `envs/a` with `app.yaml`, applied once.
fn applied_ws() -> Ws {
    let ws = Ws::new();
    ws.write("envs/a/app.yaml", "v: 1\n");
    ws.commit("first");
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    ws
}

fn append_raw(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn a_torn_journal_line_swallows_nothing() {
    let ws = applied_ws();
    append_raw(
        &ws.path().join(".setpoint/journal.jsonl"),
        b"{\"time\":\"2026-11-26T00:00:00Z\",\"kind\":\"act",
    );
    ws.ok(&["suspend", "a", "--reason", "after the torn line"]);
    let events = ws.ok(&["events", "a", "--output", "json"]);
    assert!(
        events.contains("apply and repair stopped (after the torn line)"),
        "the operator's entry right after the torn line is kept: {events}"
    );
}

#[test]
fn a_torn_audit_line_is_skipped_with_a_warning() {
    let ws = applied_ws();
    ws.ok(&["suspend", "a", "--reason", "one"]);
    let log = ws.path().join("data/audit.jsonl");
    assert!(log.exists(), "the audit log is where this test expects it");
    append_raw(&log, b"{\"time\":\"2026-11-26T00:00:00Z\",\"us");
    ws.ok(&["resume", "a"]);
    let out = ws.run(&["audit", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("audit.jsonl:2"), "{}", stderr(&out));
    let recs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = recs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["suspend", "resume"]);
}

#[test]
fn the_journal_is_rotated_by_size_and_read_across_both_files() {
    let ws = applied_ws();
    let journal = ws.path().join(".setpoint/journal.jsonl");
    ws.ok(&["suspend", "a", "--reason", "before rotation"]);
    ws.ok(&["resume", "a"]);
    // Grow the journal past its limit with well-formed lines of another unit.
    let line = "{\"time\":\"2026-11-26T00:00:00Z\",\"kind\":\"reconcile\",\"unit\":\"local/other\",\"outcome\":\"unchanged\",\"message\":\"padding\"}\n";
    let mut pad = String::new();
    while pad.len() < 4 * 1024 * 1024 + 1 {
        pad.push_str(line);
    }
    append_raw(&journal, pad.as_bytes());
    ws.ok(&["agent", "--once"]);
    let rotated = ws.path().join(".setpoint/journal.1.jsonl");
    assert!(rotated.exists(), "rotated to journal.1.jsonl");
    assert!(std::fs::metadata(&journal).unwrap().len() < 64 * 1024);
    let events = ws.ok(&["events", "a", "--output", "json"]);
    assert!(
        events.contains("before rotation"),
        "older events are still read: {events}"
    );
}

#[test]
fn history_beyond_what_is_listed_says_so() {
    let ws = applied_ws();
    for i in 0..205 {
        support::git(
            &ws.repo(),
            &["commit", "-q", "--allow-empty", "-m", &format!("empty {i}")],
        );
    }
    ws.ok(&["agent", "--once"]);
    let out = ws.run(&["history", "a", "--limit", "500"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("at most 200"), "{}", stderr(&out));
    let out = ws.run(&["history", "a", "--limit", "20"]);
    assert!(!stderr(&out).contains("at most"), "{}", stderr(&out));
}
