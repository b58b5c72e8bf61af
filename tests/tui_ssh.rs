//! The bastion, end to end: a real sshd on 127.0.0.1 (its own host key, authorized key and config on a free
//! port), the console through `ssh -t` inside tmux at 120x40 on a demo workspace. A navigation keypress writes
//! at most 2 KiB, an untouched console writes nothing for 10 s (both recorded with `tmux pipe-pane`), `c`
//! puts the selected unit's id on the clipboard with OSC 52 through ssh and tmux, and
//! killing the ssh client makes the remote console exit within 2 s with the agent lock released and every
//! target file intact. Every wait is bounded.

// The whole file is test code; its helpers live outside #[test] functions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_setpoint");
const SSHD: &str = "/usr/sbin/sshd";
const DEADLINE: Duration = Duration::from_secs(20);
/// The budget of one navigation keypress over the link.
const KEYPRESS_BUDGET: usize = 2048;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An sshd of this test only: its own keys and config in a temp dir, on a free port of 127.0.0.1.
struct Sshd {
    child: Child,
    port: u16,
    client_key: PathBuf,
}

impl Sshd {
    fn start(dir: &Path) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install the openssh-server package (apt-get install -y openssh-server; \
             .ci/run installs it)"
        );
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        for key in [&host_key, &client_key] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(key));
        }
        let authorized = dir.join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel ERROR\n",
                host_key.display(),
                dir.join("sshd.pid").display(),
                authorized.display()
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let sshd = Self {
            child,
            port,
            client_key,
        };
        let end = Instant::now() + DEADLINE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < end,
                "sshd did not listen on {port}: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    /// `ssh -t` to this sshd as the current user, running `remote`.
    fn ssh_command(&self, remote: &str) -> String {
        let user = text(&run(Command::new("id").arg("-un")).stdout)
            .trim()
            .to_owned();
        format!(
            "exec ssh -t -p {} -i '{}' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
             -o BatchMode=yes -o LogLevel=ERROR {user}@127.0.0.1 \"{remote}\"",
            self.port,
            self.client_key.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Pane {
    socket: String,
}

impl Pane {
    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        text(&self.tmux(&["capture-pane", "-p", "-t", "console"]).stdout)
    }

    fn wait_for(&self, want: &str) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.screen();
            if s.contains(want) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {want:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pane_pid(&self) -> u32 {
        let out = self.tmux(&["list-panes", "-t", "console", "-F", "#{pane_pid}"]);
        text(&out.stdout).trim().parse().unwrap()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn file_len(p: &Path) -> usize {
    std::fs::metadata(p).map(|m| m.len() as usize).unwrap_or(0)
}

/// Waits until `file` grew past `from` and then stayed the same for 300 ms; returns its length.
fn settled_len(file: &Path, from: usize) -> usize {
    let end = Instant::now() + DEADLINE;
    let mut last = file_len(file);
    let mut stable_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(25));
        let now = file_len(file);
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if now > from && stable_since.elapsed() >= Duration::from_millis(300) {
            return now;
        }
        assert!(
            Instant::now() < end,
            "the pane's output did not settle ({from} → {now} bytes)"
        );
    }
}

fn lock_is_held(lock: &Path) -> bool {
    // flock(1) takes the same flock(2) lock the agent holds; -n fails at once when it is taken.
    !Command::new("flock")
        .arg("-n")
        .arg(lock)
        .arg("true")
        .status()
        .unwrap()
        .success()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn the_console_over_ssh_is_frugal_and_leaves_cleanly_when_the_link_drops() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is not installed (.ci/run installs it)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (config, data, ws) = (dir.join("config"), dir.join("data"), dir.join("demo"));
    let demo = Command::new(BIN)
        .args(["demo", ws.to_str().unwrap(), "--no-tui"])
        .env("SETPOINT_CONFIG_DIR", &config)
        .env("SETPOINT_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(demo.status.success(), "demo: {}", text(&demo.stderr));
    let sshd = Sshd::start(dir);
    let remote = format!(
        "env SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' TERM=xterm-256color '{BIN}' --workspace '{}'",
        config.display(),
        data.display(),
        ws.display()
    );
    let pane = Pane {
        socket: format!("setpoint-ssh-{}", std::process::id()),
    };
    let out = pane.tmux(&[
        "new-session",
        "-d",
        "-s",
        "console",
        "-x",
        "120",
        "-y",
        "40",
        &sshd.ssh_command(&remote),
    ]);
    assert!(out.status.success(), "tmux: {}", text(&out.stderr));
    for s in ["failed", "ready", "agent: embedded", "enter open"] {
        pane.wait_for(s);
    }
    let ssh_pid = pane.pane_pid();
    let lock = ws.join(".setpoint/agent.lock");
    let holder = std::fs::read_to_string(&lock).unwrap();
    let console_pid: u32 = holder
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("agent.lock names no pid: {holder:?}"));
    assert!(pid_alive(console_pid));

    // Navigation: each keypress's output over the link, recorded with pipe-pane.
    let record = dir.join("pane.out");
    std::fs::write(&record, b"").unwrap();
    let pipe = format!("cat >> '{}'", record.display());
    assert!(
        pane.tmux(&["pipe-pane", "-t", "console", &pipe])
            .status
            .success()
    );
    let mut sizes = Vec::new();
    for key in ["j", "j", "k", "j", "k", "k"] {
        let before = file_len(&record);
        assert!(
            pane.tmux(&["send-keys", "-t", "console", key])
                .status
                .success()
        );
        let after = settled_len(&record, before);
        sizes.push(after - before);
    }
    eprintln!("bytes per navigation keypress over ssh at 120x40: {sizes:?}");
    assert!(
        sizes.iter().all(|&n| n <= KEYPRESS_BUDGET),
        "a keypress wrote more than {KEYPRESS_BUDGET} bytes: {sizes:?}"
    );

    // Idle: nothing at all for 10 s. This sleep is the measurement itself.
    let idle_from = file_len(&record);
    std::thread::sleep(Duration::from_secs(10));
    let idle = file_len(&record) - idle_from;
    eprintln!("bytes over 10 s idle over ssh: {idle}");
    assert_eq!(idle, 0, "the untouched console wrote {idle} bytes in 10 s");

    // Copy over the link: `c` sends OSC 52 through ssh; tmux (set-clipboard on) turns it into a buffer.
    assert!(
        pane.tmux(&["set-option", "-s", "set-clipboard", "on"])
            .status
            .success()
    );
    assert!(
        pane.tmux(&["send-keys", "-t", "console", "c"])
            .status
            .success()
    );
    pane.wait_for("copied unit id local/demo/prod");
    let end = Instant::now() + DEADLINE;
    loop {
        let buffer = text(&pane.tmux(&["show-buffer"]).stdout);
        if buffer == "local/demo/prod" {
            break;
        }
        assert!(
            Instant::now() < end,
            "the clipboard did not receive the unit id: {buffer:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The link drops: the remote console gets SIGHUP (and its terminal hangs up) and must be gone within
    // 2 s, lock released.
    run(Command::new("kill").args(["-KILL", &ssh_pid.to_string()]));
    let dropped = Instant::now();
    let end = dropped + Duration::from_secs(2);
    while pid_alive(console_pid) {
        assert!(
            Instant::now() < end,
            "the remote console (pid {console_pid}) still runs 2 s after the ssh client died"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "remote console exited {:?} after the link dropped",
        dropped.elapsed()
    );
    assert!(!lock_is_held(&lock), "the agent lock is still held");
    // The remote pty is gone with the link, so its modes cannot be read from here: the console's own log
    // says that it heard of the hangup (its SIGHUP, or its own watch of the terminal, whichever came
    // first), found no terminal to give back, stopped its agent and closed, without a panic (ratatui's
    // Terminal used to panic printing to the vanished terminal's stderr).
    let log = std::fs::read_to_string(data.join("setpoint.log")).unwrap_or_default();
    let hup = ["SIGHUP", "the terminal hung up"]
        .iter()
        .filter_map(|said| log.find(said))
        .min()
        .unwrap_or_else(|| panic!("no hangup in the log:\n{log}"));
    let after = &log[hup..];
    assert!(
        after.contains("console closed") && !after.contains("panic"),
        "the console did not close cleanly after the hangup:\n{after}"
    );

    // Every target file intact: no staging leftovers, and what the agent applied is what is live.
    let live = ws.join("live");
    let mut stack = vec![live.clone()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(".setpoint-tmp."), "leftover {name}");
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files += 1;
            }
        }
    }
    assert!(files > 0, "the demo's targets are empty");
    let status = Command::new(BIN)
        .args(["--workspace", ws.to_str().unwrap(), "diff", "dev"])
        .env("SETPOINT_CONFIG_DIR", &config)
        .env("SETPOINT_DATA_DIR", &data)
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "dev's live files differ from what it applied: {}",
        text(&status.stdout)
    );
}
