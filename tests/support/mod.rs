//! Helpers for tests that run the real binary on real git repositories in temp dirs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_setpoint");

/// Every command of the CLI contract (README, Usage).
pub const COMMANDS: [&str; 15] = [
    "demo",
    "agent",
    "status",
    "diff",
    "compare",
    "history",
    "events",
    "detail",
    "tree",
    "suspend",
    "resume",
    "sync",
    "rollback",
    "audit",
    "completions",
];

/// Runs git (test infrastructure only; product code uses gix) and returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test Author",
            "-c",
            "user.email=test@example.org",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A workspace in a temp dir: a work repository `repo/` used as the source, config and data dirs.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Self { dir };
        std::fs::create_dir_all(ws.repo()).unwrap();
        git(&ws.repo(), &["init", "-q", "-b", "main"]);
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }

    pub fn live(&self, env: &str) -> PathBuf {
        self.path().join("live").join(env)
    }

    /// Writes a file in the source repository's work tree.
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.repo().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.repo().join(rel)).unwrap();
    }

    /// Commits everything and returns the full commit id.
    pub fn commit(&self, msg: &str) -> String {
        git(&self.repo(), &["add", "-A"]);
        git(&self.repo(), &["commit", "-q", "--allow-empty", "-m", msg]);
        git(&self.repo(), &["rev-parse", "HEAD"])
    }

    pub fn spec(&self, yaml: &str) {
        std::fs::write(self.path().join("setpoint.yaml"), yaml).unwrap();
    }

    /// One source `src` at `./repo` (branch main) and the given environments `(name, overlay path, extra yaml)`.
    pub fn simple_spec(&self, envs: &[(&str, &str, &str)]) {
        let mut y = String::from(
            "sources:\n  - name: src\n    url: ./repo\n    branch: main\nenvironments:\n",
        );
        for (name, path, extra) in envs {
            y.push_str(&format!("  - name: {name}\n    source: src\n    path: {path}\n    target: ./live/{name}\n{extra}"));
        }
        self.spec(&y);
    }

    pub fn cmd(&self) -> Command {
        self.cmd_at(self.path())
    }

    /// `setpoint agent` on this workspace in the background, its stdio closed.
    pub fn spawn_agent(&self) -> std::process::Child {
        self.cmd()
            .arg("agent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("agent starts")
    }

    /// The binary with this workspace's config and data dirs, on the workspace at `dir`.
    pub fn cmd_at(&self, dir: &Path) -> Command {
        let mut c = Command::new(BIN);
        c.env("SETPOINT_CONFIG_DIR", self.path().join("config"))
            .env("SETPOINT_DATA_DIR", self.path().join("data"))
            .env_remove("NO_COLOR")
            .arg("--workspace")
            .arg(dir);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("setpoint runs")
    }

    /// Runs and asserts the exit code; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "setpoint {args:?} exited {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The context the workspace is shown under (its directory's name).
    pub fn context(&self) -> String {
        self.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// The id of the workspace's unit or source `name`: `local/<context>/<name>`.
    pub fn id(&self, name: &str) -> String {
        format!("local/{}/{name}", self.context())
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--output", "json"])).expect("status JSON")
    }

    pub fn unit(&self, name: &str) -> serde_json::Value {
        self.status()["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .cloned()
            .expect("unit")
    }

    pub fn source(&self) -> serde_json::Value {
        self.status()["sources"][0].clone()
    }

    pub fn read_live(&self, env: &str, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.live(env).join(rel)).ok()
    }
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    for _ in 0..100_000 {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("gave up waiting for {what}");
}

/// Every file below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// A running `setpoint agent`, killed when dropped.
pub struct RunningAgent {
    pub child: std::process::Child,
}

impl RunningAgent {
    pub fn start(ws: &Ws) -> Self {
        let agent = Self {
            child: ws.spawn_agent(),
        };
        let lock = ws.path().join(".setpoint/agent.lock");
        wait_for(
            Duration::from_secs(10),
            "the agent to take its lock",
            || {
                std::fs::read_to_string(&lock)
                    .ok()
                    .filter(|s| s.contains(&format!("pid {}", agent.child.id())))
                    .map(|_| ())
            },
        );
        agent
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        wait_for(limit, "the agent to exit", || {
            self.child.try_wait().unwrap()
        })
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository most agent tests start from: a base of two files and an overlay `envs/a` that patches
/// one of them; returns the commit.
pub fn base_repo(ws: &Ws) -> String {
    ws.write("base/app.yaml", "name: web\nreplicas: 1\n");
    ws.write("base/nginx.conf", "worker_connections 1024;\n");
    ws.write("envs/a/overlay.yaml", "bases: [base]\n");
    ws.write("envs/a/app.patch.yaml", "replicas: 3\n");
    ws.commit("first")
}
