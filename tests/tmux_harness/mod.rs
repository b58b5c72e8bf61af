//! The real binary in a tmux pane on demo workspaces in a temp dir: start, read the screen, send keys,
//! wait with a deadline on the pane's contents. tmux is required: a missing tmux fails with the install
//! hint unless `SETPOINT_TMUX=skip` skips these tests (loudly).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_setpoint");
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Whether to run: false only when `SETPOINT_TMUX=skip`; a missing tmux is a failure.
pub fn have_tmux() -> bool {
    if std::env::var("SETPOINT_TMUX").is_ok_and(|v| v == "skip") {
        eprintln!("SKIPPED by SETPOINT_TMUX=skip: the console's tmux tests did NOT run");
        return false;
    }
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "tmux is not installed: install it (apt-get install tmux; .ci/run does) or set \
         SETPOINT_TMUX=skip to skip the console's end-to-end tests explicitly"
    );
    true
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub config: PathBuf,
    pub data: PathBuf,
    /// The demo workspace the console opens.
    pub ws: PathBuf,
    socket: String,
}

impl Env {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let env = Self {
            config: tmp.path().join("config"),
            data: tmp.path().join("data"),
            ws: tmp.path().join("demo"),
            socket: format!("setpoint-promises-{}-{nanos}", std::process::id()),
            tmp,
        };
        env.demo(&env.ws);
        env
    }

    /// Creates a demo workspace at `dir`.
    pub fn demo(&self, dir: &Path) {
        let out = self.setpoint(&["demo", dir.to_str().unwrap(), "--no-tui"]);
        assert!(out.status.success(), "demo: {}", text(&out.stderr));
    }

    /// Makes every interval of the workspace at `dir` one second.
    pub fn fast(&self, dir: &Path) {
        let spec = dir.join("setpoint.yaml");
        let yaml = std::fs::read_to_string(&spec).unwrap();
        let fast = yaml
            .replace("interval: 30s", "interval: 1s")
            .replace("interval: 1m", "interval: 1s");
        assert_ne!(fast, yaml, "the demo workspace sets its intervals");
        std::fs::write(&spec, fast).unwrap();
    }

    pub fn setpoint(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("SETPOINT_CONFIG_DIR", &self.config)
            .env("SETPOINT_DATA_DIR", &self.data)
            .env_remove("NO_COLOR")
            .output()
            .unwrap()
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    pub fn console_cmd(&self, extra: &str) -> String {
        format!(
            "env SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' TERM=xterm-256color '{BIN}' --workspace '{}' {extra}",
            self.config.display(),
            self.data.display(),
            self.ws.display()
        )
    }

    /// The console on the contexts the settings choose (`contexts = [...]`), not on `--workspace`.
    pub fn console_cmd_on_settings(&self, extra: &str) -> String {
        format!(
            "env SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' TERM=xterm-256color '{BIN}' {extra}",
            self.config.display(),
            self.data.display(),
        )
    }

    /// Starts the console in a detached 100x30 session.
    pub fn start(&self, extra: &str) {
        self.start_cmd(&self.console_cmd(extra));
    }

    /// Starts `cmd` in a detached 100x30 session. A tmux server still exiting after the previous
    /// session ended refuses the first try ("server exited unexpectedly"): a few tries, bounded.
    pub fn start_cmd(&self, cmd: &str) {
        let args = [
            "new-session",
            "-d",
            "-s",
            "console",
            "-x",
            "100",
            "-y",
            "30",
            cmd,
        ];
        let mut out = self.tmux(&args);
        for _ in 0..5 {
            if out.status.success() || !text(&out.stderr).contains("server exited unexpectedly") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            out = self.tmux(&args);
        }
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
    }

    pub fn screen(&self) -> String {
        text(&self.tmux(&["capture-pane", "-p", "-t", "console"]).stdout)
    }

    /// Waits until the pane shows `want`; fails with the screen after the deadline.
    pub fn wait_for(&self, want: &str) -> String {
        self.wait_until(&format!("{want:?}"), |s| s.contains(want))
    }

    /// Waits until the pane's text satisfies `ok`; fails with the screen after the deadline.
    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "console"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    pub fn type_text(&self, s: &str) {
        assert!(
            self.tmux(&["send-keys", "-t", "console", "-l", s])
                .status
                .success()
        );
    }

    /// Filters the units list down to `name` (one row, selected).
    pub fn select(&self, name: &str) {
        self.keys(&["/"]);
        self.wait_for("\n/");
        self.type_text(name);
        self.wait_for(&format!("/{name}"));
        self.keys(&["Enter"]);
        self.wait_until("the filter to close", |s| {
            !s.contains(&format!("\n/{name}"))
        });
    }

    /// Quits with `q` and waits until the process (and so the session) is gone.
    pub fn quit(&self) {
        self.keys(&["q"]);
        let end = Instant::now() + DEADLINE;
        while self
            .tmux(&["has-session", "-t", "console"])
            .status
            .success()
        {
            assert!(
                Instant::now() < end,
                "console did not quit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid of the console: the child of the shell that tmux started in the pane, or the pane's
    /// process itself when tmux ran the console directly.
    pub fn console_pid(&self) -> u32 {
        let pane = text(
            &self
                .tmux(&["display", "-p", "-t", "console", "#{pane_pid}"])
                .stdout,
        );
        let pane = pane.trim();
        let children = std::fs::read_to_string(format!("/proc/{pane}/task/{pane}/children"))
            .unwrap_or_default();
        match children.split_whitespace().next() {
            Some(child) => child.parse().unwrap(),
            None => pane.parse().unwrap(),
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`.
pub fn wait<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs git in `dir` with a fixed identity (test infrastructure; the product uses gix).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=setpoint tests",
            "-c",
            "user.email=tests@setpoint.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Files under the workspace that an action or the agent would change (state and live directories).
pub fn state_files(ws: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![ws.join("live"), ws.join(".setpoint")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "git" || name == "cache" || name.ends_with(".lock") || name == "lock" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}
