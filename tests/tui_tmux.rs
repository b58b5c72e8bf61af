//! End to end: the real binary in tmux on a demo workspace. Opens prod's diff, rolls staging back to an
//! earlier commit from History, suspends and resumes it, and checks each effect through
//! `setpoint status --output json`; then the same keys with `--read-only` change nothing and leave
//! denials in the audit log; and an untouched console, normal and
//! read-only, writes 0 bytes to its pane over 10 seconds (recorded with `tmux pipe-pane`) while the embedded
//! agent reconciles every second (the journal grows). Every wait is bounded by a deadline on the pane's
//! contents. tmux is required: without it these tests fail, unless `SETPOINT_TMUX=skip` (loudly).

// The whole file is test code; its helpers live outside #[test] functions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tmux_harness;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tmux_harness::{Env, have_tmux, state_files, text};

/// `setpoint ARGS --output json` on the test's workspace.
fn json(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["--workspace", env.ws.to_str().unwrap(), "--output", "json"];
    all.extend_from_slice(args);
    let out = env.setpoint(&all);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One unit of `setpoint status --output json`, by name.
fn unit(env: &Env, name: &str) -> Value {
    let status = json(env, &["status"]);
    status["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .cloned()
        .unwrap()
}

fn sha(rev: &Value) -> String {
    rev.as_str()
        .and_then(|s| s.rsplit(':').next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn console_end_to_end_normal_then_read_only() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();

    // ---- normal mode ----
    env.start("");
    env.wait_for("Units (3)");
    env.wait_for("failed");

    // prod is failing, so it is first and selected: open its diff.
    env.keys(&["d"]);
    let s = env.wait_for("local/demo/prod: ");
    assert!(s.contains("differ"), "{s}");
    env.keys(&["Escape"]);
    env.wait_for("Units (3)");

    // Roll staging back to the commit before the one it runs, from History.
    let history = json(&env, &["history", "staging"]);
    let commits = history["commits"].as_array().unwrap();
    let applied = commits.iter().position(|c| c["applied"] == true).unwrap();
    let target = sha(&commits[applied + 1]["revision"]);
    env.select("staging");
    env.keys(&["h"]);
    env.wait_for("History local/demo/staging");
    env.wait_for(&target[..7]);
    for _ in 0..=applied {
        env.keys(&["Down"]);
    }
    env.keys(&["b"]);
    let s = env.wait_for("Confirm rollback");
    assert!(
        s.contains(&format!("rollback to main@{}", &target[..7])),
        "{s}"
    );
    assert!(
        s.contains("local/demo/staging") && s.contains("live/staging"),
        "{s}"
    );
    env.type_text("e2e: bad canary");
    env.keys(&["Enter"]);
    env.wait_for(&format!(
        "✓ rollback to main@{} local/demo/staging",
        &target[..7]
    ));
    let staging = unit(&env, "staging");
    assert_eq!(sha(&staging["pinnedRevision"]), target, "{staging}");
    assert_eq!(sha(&staging["appliedRevision"]), target, "{staging}");

    // Suspend, then resume (which also releases the pin).
    env.keys(&["Escape"]);
    env.wait_for("Units 1/3 /staging");
    env.keys(&["s"]);
    env.wait_for("Confirm suspend");
    env.type_text("e2e: incident 7");
    env.keys(&["Enter"]);
    env.wait_for("✓ suspend local/demo/staging");
    let staging = unit(&env, "staging");
    assert_eq!(staging["suspended"], true, "{staging}");
    env.keys(&["r"]);
    env.wait_for("Confirm resume");
    env.keys(&["Enter"]);
    env.wait_for("✓ resume local/demo/staging");
    let staging = unit(&env, "staging");
    assert_eq!(staging["suspended"], false, "{staging}");
    assert!(staging["pinnedRevision"].is_null(), "{staging}");
    env.quit();

    let audit = json(&env, &["audit"]);
    let ok: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "ok" && r["unit"] == "local/demo/staging")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    // `setpoint audit` lists newest first.
    assert_eq!(ok, ["resume", "suspend", "rollback"], "{audit}");

    // ---- read-only audit mode: same keys, nothing changes, denials recorded ----
    let status_before = json(&env, &["status"]);
    let files_before = state_files(&env.ws);
    env.start("--read-only");
    env.wait_for("READ-ONLY");
    env.wait_for("Units (3)");
    env.select("staging");
    for (key, action) in [("s", "suspend"), ("r", "resume"), ("y", "sync")] {
        // Only the denial names the action and the unit; the hint bar does not.
        let denial = format!("read-only audit mode: not allowed ({action} local/demo/staging");
        assert!(!env.screen().contains(&denial));
        env.keys(&[key]);
        env.wait_for(&denial);
        env.keys(&["Down"]); // clears the message, so the next denial shows afresh
        env.wait_until("the denial to clear", |s| !s.contains("not allowed"));
    }
    env.keys(&["h"]);
    let s = env.wait_for("History local/demo/staging");
    assert!(s.starts_with(" READ-ONLY "), "badge on every screen:\n{s}");
    env.wait_for(&target[..7]);
    env.keys(&["Down"]);
    env.keys(&["b"]);
    env.wait_for("read-only audit mode: not allowed (rollback to main@");
    env.keys(&["d"]);
    env.keys(&["Escape"]);
    env.wait_for("Units 1/3");
    env.quit();

    assert_eq!(
        json(&env, &["status"]),
        status_before,
        "read-only changed the status"
    );
    assert!(
        state_files(&env.ws) == files_before,
        "read-only changed state or live files"
    );
    let audit = json(&env, &["audit"]);
    let denied: Vec<(&str, bool)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "denied")
        .map(|r| (r["action"].as_str().unwrap(), r["readOnly"] == true))
        .collect();
    assert_eq!(
        denied,
        // Newest first.
        [
            ("rollback", true),
            ("sync", true),
            ("resume", true),
            ("suspend", true)
        ],
        "{audit}"
    );
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    for signal in ["TERM", "HUP"] {
        // After the console ends, the shell reports its exit and whether the tty is back in canonical mode.
        let cmd = format!(
            "echo before-console; {}; echo exited=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 30",
            env.console_cmd("--read-only")
        );
        env.start_cmd(&cmd);
        env.wait_for("READ-ONLY");
        let s = env.screen();
        assert!(!s.contains("before-console"), "alternate screen:\n{s}");
        let pid = env.console_pid();
        let out = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let s = env.wait_for("exited=");
        assert!(s.contains("exited=0"), "SIG{signal}:\n{s}");
        let s = env.wait_for("icanon");
        assert!(
            s.lines().any(|l| l.trim() == "icanon"),
            "raw mode left after SIG{signal}:\n{s}"
        );
        assert!(
            s.contains("before-console"),
            "back on the main screen after SIG{signal}:\n{s}"
        );
        env.tmux(&["kill-session", "-t", "console"]);
    }
}

/// Lines of the workspace's journal (one per reconciliation, fetch and operator action).
fn journal_lines(ws: &Path) -> usize {
    std::fs::read_to_string(ws.join(".setpoint/journal.jsonl"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Bytes the console writes to its pane over `window` once it shows `settled`, and how many journal lines
/// the workspace gained meanwhile.
fn idle_bytes(env: &Env, extra: &str, settled: &[&str], window: Duration) -> (Vec<u8>, usize) {
    env.start(extra);
    for s in settled {
        env.wait_for(s);
    }
    let out = env.tmp.path().join(format!("pane-{}.out", extra.len()));
    std::fs::write(&out, b"").unwrap();
    let pipe = format!("cat >> '{}'", out.display());
    assert!(
        env.tmux(&["pipe-pane", "-t", "console", &pipe])
            .status
            .success()
    );
    let journal_before = journal_lines(&env.ws);
    // This sleep is the measurement itself: how much the console writes while nobody touches it.
    std::thread::sleep(window);
    let bytes = std::fs::read(&out).unwrap();
    let journal_after = journal_lines(&env.ws);
    env.quit();
    (bytes, journal_after.saturating_sub(journal_before))
}

#[test]
fn an_untouched_console_writes_nothing_for_ten_seconds() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    // Every environment and the source every second, so that the embedded agent passes about ten times
    // over every unit in the window (prod fails and retries, dev and staging stay in sync).
    let spec = env.ws.join("setpoint.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap();
    let fast = yaml
        .replace("interval: 30s", "interval: 1s")
        .replace("interval: 1m", "interval: 1s");
    assert_ne!(fast, yaml, "the demo workspace sets its intervals");
    std::fs::write(&spec, fast).unwrap();

    // Normal mode: the embedded agent keeps reconciling, and none of it changes what the units list shows.
    let settled = ["failed", "suspended", "ready", "enter open"];
    let (bytes, passes) = idle_bytes(&env, "", &settled, Duration::from_secs(10));
    assert!(
        bytes.is_empty(),
        "{} bytes while idle: {:?}",
        bytes.len(),
        String::from_utf8_lossy(&bytes)
    );
    assert!(
        passes >= 10,
        "the embedded agent did not work in the window: {passes} journal lines"
    );
    // Read-only: no agent at all (a read-only console never starts one), and still nothing written.
    let (bytes, passes) = idle_bytes(&env, "--read-only", &settled, Duration::from_secs(10));
    assert!(
        bytes.is_empty(),
        "{} bytes while idle (read-only)",
        bytes.len()
    );
    assert_eq!(passes, 0, "a read-only console ran an agent");
}
