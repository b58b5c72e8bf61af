//! The console tells the truth, end to end in tmux: two consoles on one workspace say who reconciles, and
//! when the one that embeds the agent quits, the other says that nobody does any more. Every wait is bounded
//! by a deadline on the pane's contents.

// The whole file is test code; its helpers live outside #[test] functions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_setpoint");
const DEADLINE: Duration = Duration::from_secs(20);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Tmux {
    socket: String,
    _tmp: tempfile::TempDir,
    config: PathBuf,
    data: PathBuf,
    ws: PathBuf,
}

impl Tmux {
    /// A demo workspace and a tmux server of its own (`tag` keeps parallel tests apart).
    fn new(tag: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (config, data, ws) = (
            tmp.path().join("config"),
            tmp.path().join("data"),
            tmp.path().join("demo"),
        );
        let out = Command::new(BIN)
            .args(["demo", ws.to_str().unwrap(), "--no-tui"])
            .env("SETPOINT_CONFIG_DIR", &config)
            .env("SETPOINT_DATA_DIR", &data)
            .output()
            .unwrap();
        assert!(out.status.success(), "demo: {}", text(&out.stderr));
        Self {
            socket: format!("setpoint-truth-{tag}-{}", std::process::id()),
            _tmp: tmp,
            config,
            data,
            ws,
        }
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// Starts a console in its own detached session `name` at 120x40.
    fn console(&self, name: &str) {
        self.console_with(name, "");
    }

    fn console_with(&self, name: &str, extra: &str) {
        let cmd = format!(
            "env SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' TERM=xterm-256color '{BIN}' --workspace '{}' {extra}",
            self.config.display(),
            self.data.display(),
            self.ws.display()
        );
        let out = self.tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            &cmd,
        ]);
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
    }

    fn screen(&self, name: &str) -> String {
        text(&self.tmux(&["capture-pane", "-p", "-t", name]).stdout)
    }

    fn wait_for(&self, name: &str, want: &str) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.screen(name);
            if s.contains(want) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "{name}: timed out waiting for {want:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn quit(&self, name: &str) {
        assert!(self.tmux(&["send-keys", "-t", name, "q"]).status.success());
        let end = Instant::now() + DEADLINE;
        while self.tmux(&["has-session", "-t", name]).status.success() {
            assert!(Instant::now() < end, "{name} did not quit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

#[test]
fn the_header_turns_to_no_agent_when_the_console_running_it_quits() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok(),
        "tmux is not installed (.ci/run installs it)"
    );
    let t = Tmux::new("reconciler");
    t.console("first");
    t.wait_for("first", "agent: embedded");
    t.console("second");
    let s = t.wait_for("second", "agent: pid ");
    assert!(!s.contains("NO AGENT"), "{s}");
    t.quit("first");
    let s = t.wait_for("second", "NO AGENT");
    assert!(!s.contains("agent: pid"), "{s}");
    t.quit("second");
}

#[test]
fn sync_with_source_against_an_unreachable_source_fails_on_screen() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok(),
        "tmux is not installed (.ci/run installs it)"
    );
    let t = Tmux::new("unreachable");
    // The source goes away after the demo was applied: the fetch the operator asks for must fail.
    std::fs::rename(
        t.ws.join("repos/platform-config.git"),
        t.ws.join("repos/moved.git"),
    )
    .unwrap();
    t.console("c");
    t.wait_for("c", "agent: embedded");
    assert!(
        t.tmux(&["send-keys", "-t", "c", "end", "Y"])
            .status
            .success()
    );
    t.wait_for("c", "Confirm sync");
    assert!(t.tmux(&["send-keys", "-t", "c", "Enter"]).status.success());
    let s = t.wait_for("c", "fetch of source platform-config failed");
    assert!(s.contains('✗'), "{s}");
    assert!(!s.contains('✓'), "{s}");
    // On the sources screen the same key fetches the source itself, and says that it failed.
    assert!(t.tmux(&["send-keys", "-t", "c", "2", "Y"]).status.success());
    let s = t.wait_for("c", "✗ fetch local/demo/platform-config");
    assert!(s.contains("failed"), "{s}");
    t.quit("c");
}

#[test]
fn ages_move_on_in_a_read_only_console_nobody_touches() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok(),
        "tmux is not installed (.ci/run installs it)"
    );
    let t = Tmux::new("ages");
    // Read-only: no agent, so no snapshot ever changes; only the clock moves the ages.
    t.console_with("ro", "--read-only");
    let s = t.wait_for("ro", "NO AGENT");
    assert!(s.contains("<1m"), "{s}");
    // The demo reconciled just now: within a minute and a bit, "<1m" must turn into "1m" with no key
    // pressed. Bounded at 80 s.
    let end = Instant::now() + Duration::from_secs(80);
    loop {
        let s = t.screen("ro");
        if s.lines().any(|l| l.contains(" 1m ")) {
            break;
        }
        assert!(Instant::now() < end, "ages froze:\n{s}");
        std::thread::sleep(Duration::from_millis(250));
    }
    t.quit("ro");
}
