//! README promises about the console, checked on the real binary: the console runs the embedded agent
//! itself (it holds the workspace's lock and applies a new commit with no other process involved), `:ctx`
//! stops the old context's agent, quitting restores the terminal, a bad config stops setpoint before the
//! terminal is touched, and `protected = [...]` in the settings is enforced by the console and the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tmux_harness;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tmux_harness::{BIN, Env, git, have_tmux, text, wait};

/// The holder line of the workspace's agent lock.
fn lock_holder(ws: &Path) -> String {
    std::fs::read_to_string(ws.join(".setpoint/agent.lock")).unwrap_or_default()
}

/// Commits `files` to the demo source of `ws` (a bare repository) through a clone; returns the commit.
fn commit_to_demo_source(ws: &Path, files: &[(&str, &str)]) -> String {
    let clone = ws.parent().unwrap().join("clone");
    let repo = ws.join("repos/platform-config.git");
    let parent = clone.parent().unwrap();
    git(
        parent,
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    for (path, content) in files {
        let p = clone.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    git(&clone, &["add", "-A"]);
    git(
        &clone,
        &["commit", "-q", "-m", "tui_promises: a new commit"],
    );
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);
    git(&clone, &["rev-parse", "HEAD"]).trim().to_owned()
}

#[test]
fn the_console_runs_the_embedded_agent_and_it_applies_a_new_commit() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    env.fast(&env.ws);
    env.start("");
    env.wait_for("Units (3)");
    let pid = env.console_pid();
    // The console holds the agent lock: no other agent can run, and this one is the console's.
    wait(
        Duration::from_secs(10),
        "the console to take the agent lock",
        || {
            lock_holder(&env.ws)
                .starts_with(&format!("pid {pid} "))
                .then_some(())
        },
    );
    let live = env.ws.join("live/staging/tui-promises.yaml");
    assert!(!live.exists());
    let sha = commit_to_demo_source(
        &env.ws,
        &[(
            "environments/staging/tui-promises.yaml",
            "applied: by the console's agent\n",
        )],
    );
    // Nothing but the console runs: only its agent can fetch the commit and apply it.
    wait(
        Duration::from_secs(20),
        "the new commit applied to live/staging",
        || {
            std::fs::read_to_string(&live)
                .ok()
                .filter(|c| c == "applied: by the console's agent\n")
        },
    );
    env.wait_for(&sha[..7]);
    assert!(
        lock_holder(&env.ws).starts_with(&format!("pid {pid} ")),
        "{}",
        lock_holder(&env.ws)
    );
    env.quit();
    // Quitting released the lock: an agent can run now.
    let out = env.setpoint(&["agent", "--once", "--workspace", env.ws.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn ctx_opens_another_workspace_with_its_own_agent_and_quit_stops_both() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    let other = env.tmp.path().join("ops-eu");
    env.demo(&other);
    std::fs::create_dir_all(&env.config).unwrap();
    std::fs::write(
        env.config.join("config.toml"),
        format!("[workspaces.\"{}\"]\n", other.display()),
    )
    .unwrap();
    env.start("");
    env.wait_for("local:demo");
    let pid = env.console_pid();
    let held_by_console = |ws: &Path| lock_holder(ws).starts_with(&format!("pid {pid} "));
    wait(
        Duration::from_secs(10),
        "the console's agent on demo",
        || held_by_console(&env.ws).then_some(()),
    );
    // While the console's agent holds demo, a second agent is refused.
    let once = |ws: &Path| env.setpoint(&["agent", "--once", "--workspace", ws.to_str().unwrap()]);
    let out = once(&env.ws);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // `:ctx ops-eu` opens it beside demo, with an agent of its own; demo's keeps running.
    env.keys(&[":"]);
    env.type_text("ctx ops-eu");
    env.keys(&["Enter"]);
    env.wait_for("2 contexts");
    wait(
        Duration::from_secs(10),
        "the console's agent on ops-eu",
        || held_by_console(&other).then_some(()),
    );
    assert!(held_by_console(&env.ws), "demo's agent still runs");
    assert_eq!(
        once(&other).status.code(),
        Some(3),
        "ops-eu is the console's now"
    );

    // Leaving stops both agents: an agent may run in either workspace then.
    env.quit();
    for ws in [&env.ws, &other] {
        let out = once(ws);
        assert!(
            out.status.success(),
            "{}: {}",
            ws.display(),
            text(&out.stderr)
        );
    }
}

#[test]
fn quit_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    let cmd = format!(
        "echo before-console; {}; echo exited=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 30",
        env.console_cmd("--read-only")
    );
    env.start_cmd(&cmd);
    let s = env.wait_for("READ-ONLY");
    assert!(!s.contains("before-console"), "alternate screen:\n{s}");
    env.keys(&["q"]);
    let s = env.wait_for("exited=");
    assert!(s.contains("exited=0"), "{s}");
    let s = env.wait_for("icanon");
    assert!(
        s.lines().any(|l| l.trim() == "icanon"),
        "raw mode left:\n{s}"
    );
    assert!(
        s.contains("before-console"),
        "back on the main screen:\n{s}"
    );
    assert!(
        !s.contains("READ-ONLY"),
        "the console's screen is gone:\n{s}"
    );
}

/// Runs the console under a pseudo-terminal (`script`) and returns its exit code and every byte it wrote.
fn console_in_pty(env: &Env, args: &str) -> (Option<i32>, String) {
    let cmd = format!(
        "env SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' TERM=xterm-256color '{BIN}' --workspace '{}' {args}",
        env.config.display(),
        env.data.display(),
        env.ws.display()
    );
    let out = Command::new("timeout")
        .args(["20", "script", "-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), text(&out.stdout))
}

#[test]
fn a_bad_config_stops_the_console_before_the_terminal_is_touched() {
    let env = Env::new();
    std::fs::create_dir_all(env.config.join("themes")).unwrap();
    std::fs::write(
        env.config.join("themes/mono.toml"),
        "[status]\nready = \"green\"\nfaild = \"red\"\n",
    )
    .unwrap();
    let bad_settings = env.tmp.path().join("bad.toml");
    std::fs::write(&bad_settings, "thme = \"mono\"\n").unwrap();
    let cases = [
        ("--theme mono".to_owned(), "themes/mono.toml:3:"),
        (
            format!("--config '{}'", bad_settings.display()),
            "bad.toml:1:",
        ),
    ];
    for (args, want) in cases {
        let (code, bytes) = console_in_pty(&env, &args);
        assert_eq!(code, Some(2), "{args}: {bytes:?}");
        assert!(bytes.contains(want), "{args}: {bytes:?}");
        for escape in ["\x1b[?1049h", "\x1b[?25l", "\x1b[2J", "\x1b[?1000h"] {
            assert!(
                !bytes.contains(escape),
                "{args}: the terminal was touched ({escape:?}): {bytes:?}"
            );
        }
    }
    // The same console with a good config does switch to the alternate screen (the check can fail).
    std::fs::remove_file(env.config.join("themes/mono.toml")).unwrap();
    let bytes = first_output_in_pty(&env, "--read-only --theme mono", "\x1b[?1049h");
    assert!(bytes.contains("\x1b[?1049h"), "{bytes:?}");
}

/// Runs `cmd` under a pseudo-terminal (`script`, its input piped); what it writes comes over the channel.
fn in_pty(cmd: &str) -> (std::process::Child, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::Read;
    let mut child = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Starts the console under `script`, reads its output until it contains `want` (at most 20 s), then
/// quits it with `q`; returns what it wrote.
fn first_output_in_pty(env: &Env, args: &str, want: &str) -> String {
    use std::io::Write;
    let cmd = format!(
        "env SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' TERM=xterm-256color '{BIN}' --workspace '{}' {args}",
        env.config.display(),
        env.data.display(),
        env.ws.display()
    );
    let (mut child, rx) = in_pty(&cmd);
    let mut all = String::new();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while !all.contains(want) {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => all.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => break,
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"q");
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    all
}

#[test]
fn protected_patterns_in_the_settings_are_enforced_by_cli_and_console() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    std::fs::create_dir_all(&env.config).unwrap();
    std::fs::write(
        env.config.join("config.toml"),
        "protected = [\"*/staging\"]\n",
    )
    .unwrap();
    let ws = env.ws.to_str().unwrap();
    // CLI: staging is not protected in setpoint.yaml, only by the settings.
    let out = env.setpoint(&["--workspace", ws, "sync", "staging"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--confirm staging"),
        "{}",
        text(&out.stderr)
    );
    // Console: the confirmation needs the name typed.
    env.start("");
    env.wait_for("Units (3)");
    env.select("staging");
    env.keys(&["y"]);
    env.wait_for("Confirm sync");
    env.keys(&["Enter"]);
    env.wait_for("type `staging`");
    env.type_text("staging");
    env.keys(&["Enter"]);
    env.wait_for("✓ sync local/demo/staging");
    env.quit();
    let out = env.setpoint(&["--workspace", ws, "sync", "staging", "--confirm", "staging"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn quitting_while_an_action_is_in_flight_waits_for_it_and_its_audit_record() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    // The source answers slowly: a server on 127.0.0.1 that holds each connection for 3 s, then drops it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(50) {
            let Ok(conn) = conn else { break };
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(3));
                drop(conn);
            });
        }
    });
    let spec = env.ws.join("setpoint.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap().replace(
        "url: ./repos/platform-config.git",
        &format!("url: http://127.0.0.1:{port}/platform-config.git"),
    );
    std::fs::write(&spec, yaml).unwrap();

    env.start("");
    env.wait_for("Units (3)");
    env.select("staging");
    env.keys(&["Y"]);
    env.wait_for("Confirm sync");
    env.keys(&["Enter"]);
    env.wait_for("... sync (fetch source first) local/demo/staging: ");
    env.keys(&["q"]);
    env.wait_for("leaving: waiting up to 20 s for sync (fetch source first) local/demo/staging");
    wait(Duration::from_secs(30), "the console to leave", || {
        (!env.tmux(&["has-session", "-t", "console"]).status.success()).then_some(())
    });
    let out = env.setpoint(&[
        "--workspace",
        env.ws.to_str().unwrap(),
        "audit",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let audit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let syncs: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["origin"] == "local log" && r["unit"] == "local/demo/staging" && r["action"] == "sync"
        })
        .collect();
    assert_eq!(syncs.len(), 1, "the action's record was written: {audit:#}");
    assert_eq!(syncs[0]["options"], "withSource");
    // The source cannot answer: whatever the backend said (failed, or handed over and not done within
    // its wait), it is not a finished sync.
    let detail = syncs[0]["detail"].as_str().unwrap();
    assert!(
        syncs[0]["result"] == "failed" || detail.contains("not done after"),
        "{:#}",
        syncs[0]
    );
}

/// A console whose terminal hangs up without a SIGHUP reaching it leaves, and does not stay behind reading
/// end-of-file from the dead terminal at full CPU (crossterm 0.29 retries such a read without end,
/// crossterm#793). The console runs in a session of its own (`setsid`), so closing its pty (`script`
/// killed) tells it nothing: only its own watch of the terminal can see the hangup.
#[test]
fn a_console_whose_terminal_hangs_up_without_a_sighup_leaves() {
    use std::io::Write;
    let env = Env::new();
    let cmd = format!(
        "setsid -w sh -c 'stty rows 24 cols 80; echo console=$$; exec env SETPOINT_CONFIG_DIR={} SETPOINT_DATA_DIR={} TERM=xterm-256color {BIN} --workspace {}'",
        env.config.display(),
        env.data.display(),
        env.ws.display()
    );
    let (mut child, rx) = in_pty(&cmd);
    // the console loaded (its question for the cursor position answered, as a terminal would), then quiet
    // (nothing written for a second: no draw would meet the dead terminal and fail)
    let mut stdin = child.stdin.take().unwrap();
    let mut all = String::new();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while !all.contains("staging") && std::time::Instant::now() < end {
        if let Ok(bytes) = rx.recv_timeout(Duration::from_secs(1)) {
            if String::from_utf8_lossy(&bytes).contains("\x1b[6n") {
                stdin.write_all(b"\x1b[1;1R").unwrap();
            }
            all.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    if !all.contains("staging") {
        let _ = child.kill();
        panic!("the console did not load: {all:?}");
    }
    for _ in 0..20 {
        if rx.recv_timeout(Duration::from_secs(1)).is_err() {
            break;
        }
    }
    let pid: i32 = all
        .split("console=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no console pid in {all:?}"));
    let console = rustix::process::Pid::from_raw(pid).unwrap();
    let pidfd = rustix::process::pidfd_open(console, rustix::process::PidfdFlags::empty()).unwrap();
    // the pty goes away: its master closed with `script`
    child.kill().unwrap();
    child.wait().unwrap();
    // the console's end is waited for on its pidfd (readable when the process ends), 15 s at most
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    let limit = rustix::event::Timespec {
        tv_sec: 15,
        tv_nsec: 0,
    };
    let ended = rustix::event::poll(&mut fds, Some(&limit)).unwrap() > 0;
    if !ended {
        // leave nothing behind even when the test fails
        let _ = rustix::process::kill_process(console, rustix::process::Signal::KILL);
    }
    assert!(
        ended,
        "the console was still running 15 s after its terminal hung up"
    );
}
