//! The embedded agent's safety and integrity: read-only is a guarantee, nothing outside a target is touched,
//! files it does not own are never taken over, state survives crashes, concurrent operators and torn files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::{Ws, files_below};

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

/// Writes `config.toml` in the workspace's config dir with a `[workspaces."KEY"]` table.
fn read_only_key(ws: &Ws, key: &Path) {
    let conf = ws.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("config.toml"),
        format!("[workspaces.\"{}\"]\nread_only = true\n", key.display()),
    )
    .unwrap();
}

/// Everything below the workspace except the config and data dirs, with contents: a read-only run must
/// leave it identical.
fn tree(ws: &Ws) -> Vec<(String, Vec<u8>)> {
    files_below(ws.path())
        .into_iter()
        .filter(|f| !f.starts_with("config/") && !f.starts_with("data/") && !f.starts_with("repo/"))
        .map(|f| {
            let c = std::fs::read(ws.path().join(&f)).unwrap_or_default();
            (f, c)
        })
        .collect()
}

#[test]
fn read_only_agent_refuses_and_writes_nothing() {
    let ws = applied_ws();
    ws.write("envs/a/app.yaml", "v: 2\n");
    ws.commit("second");
    let before = tree(&ws);
    for args in [
        vec!["--read-only", "agent", "--once"],
        vec!["--read-only", "agent"],
    ] {
        let out = ws.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    }
    read_only_key(&ws, ws.path());
    let out = ws.run(&["agent", "--once"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(tree(&ws), before, "a read-only agent wrote something");
    assert_eq!(ws.read_live("a", "app.yaml").unwrap(), "v: 1\n");
}

#[test]
fn read_only_demo_force_refuses_and_keeps_the_demo() {
    let ws = Ws::new();
    let demo = ws.path().join("demo");
    let out = ws
        .cmd()
        .args(["demo", demo.to_str().unwrap(), "--no-tui"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(demo.join("mine.txt"), "unmanaged\n").unwrap();
    let before = files_below(&demo);
    let out = ws
        .cmd()
        .args([
            "--read-only",
            "demo",
            demo.to_str().unwrap(),
            "--no-tui",
            "--force",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_eq!(files_below(&demo), before);
    assert_eq!(
        std::fs::read_to_string(demo.join("mine.txt")).unwrap(),
        "unmanaged\n"
    );
}

/// Every way of naming the workspace and of writing the settings key: read-only applies to all of them,
/// and a key for a parent directory covers the workspaces below it.
#[test]
fn per_workspace_read_only_holds_however_the_workspace_is_named() {
    let ws = applied_ws();
    let dir = ws.path().to_owned();
    let link = tempfile::tempdir().unwrap();
    let via_link = link.path().join("ws-link");
    std::os::unix::fs::symlink(&dir, &via_link).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let spellings: Vec<PathBuf> = vec![
        dir.clone(),
        PathBuf::from(format!("{}/", dir.display())),
        dir.join("setpoint.yaml"),
        dir.join("."),
        dir.join("sub/.."),
        via_link.clone(),
        via_link.join("setpoint.yaml"),
        PathBuf::from(format!("{}//", via_link.display())),
    ];
    let keys: Vec<PathBuf> = vec![
        dir.clone(),
        PathBuf::from(format!("{}/", dir.display())),
        dir.join("setpoint.yaml"),
        via_link.clone(),
        dir.join("sub/.."),
        dir.parent().unwrap().to_owned(),
    ];
    let before = ws.status();
    for key in &keys {
        read_only_key(&ws, key);
        for name in &spellings {
            let out = ws
                .cmd_at(name)
                .args(["suspend", "a", "--reason", "x"])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(3),
                "key {key:?}, workspace {name:?}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains("read-only audit mode: not allowed"),
                "key {key:?}, workspace {name:?}: {}",
                stderr(&out)
            );
            let out = ws.cmd_at(name).args(["agent", "--once"]).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "agent: key {key:?}, workspace {name:?}: {}",
                stderr(&out)
            );
        }
    }
    assert_eq!(ws.status()["units"], before["units"]);
    let audit = ws.ok(&["audit", "--output", "json"]);
    assert!(!audit.contains("\"ok\""), "nothing audited as ok: {audit}");

    // A key for another directory (a sibling with a common prefix) does not cover it.
    read_only_key(&ws, &PathBuf::from(format!("{}-other", dir.display())));
    ws.ok(&["suspend", "a", "--reason", "not read-only"]);
}

/// The unit's JSON from `status` (`unit` in support asserts success; this one too, by name).
fn unit(ws: &Ws, name: &str) -> serde_json::Value {
    ws.unit(name)
}

#[test]
fn concurrent_operators_never_lose_each_others_intent() {
    let ws = applied_ws();
    let first = support::git(&ws.repo(), &["rev-parse", "HEAD"]);
    ws.write("envs/a/app.yaml", "v: 2\n");
    ws.commit("second");
    ws.ok(&["agent", "--once"]);
    let mut lost = Vec::new();
    for pair in 0..15 {
        let suspend = ws
            .cmd()
            .args(["suspend", "a", "--reason", &format!("hold {pair}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let rollback = ws
            .cmd()
            .args([
                "rollback",
                "a",
                "--to",
                &format!("sha1:{first}"),
                "--reason",
                &format!("pin {pair}"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (s, r) = (
            suspend.wait_with_output().unwrap(),
            rollback.wait_with_output().unwrap(),
        );
        assert!(s.status.success(), "pair {pair}: {}", stderr(&s));
        assert!(r.status.success(), "pair {pair}: {}", stderr(&r));
        let u = unit(&ws, "a");
        if u["suspended"] != true || u["pinnedRevision"].is_null() {
            lost.push(pair);
        }
        ws.ok(&["resume", "a"]);
    }
    assert!(lost.is_empty(), "pairs that lost an intent: {lost:?}");
}

/// Overwrites a state file with its first half, as a torn write or a full disk would leave it.
fn truncate_half(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn a_corrupt_control_file_holds_the_environment() {
    let ws = applied_ws();
    ws.ok(&["suspend", "a", "--reason", "incident"]);
    let control = ws.path().join(".setpoint/environments/a/control.json");
    truncate_half(&control);
    let corrupt = std::fs::read(&control).unwrap();
    ws.write("envs/a/app.yaml", "v: 2\n");
    ws.commit("second");
    ws.ok(&["agent", "--once"]);
    assert_eq!(
        ws.read_live("a", "app.yaml").unwrap(),
        "v: 1\n",
        "applied despite a suspend"
    );
    let u = unit(&ws, "a");
    assert_eq!(u["status"], "failed", "{u}");
    let msg = u["message"].as_str().unwrap();
    assert!(
        msg.contains("control.json") && msg.contains("holding"),
        "{msg}"
    );
    // An action does not silently replace the corrupt file either.
    let out = ws.run(&["rollback", "a", "--to", "sha1:0000000", "--reason", "x"]);
    assert_ne!(out.status.code(), Some(0));
    let out = ws.run(&["resume", "a"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("control.json"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&control).unwrap(), corrupt);

    // Once the operator removes it, the environment goes on.
    std::fs::remove_file(&control).unwrap();
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.read_live("a", "app.yaml").unwrap(), "v: 2\n");
    assert_eq!(unit(&ws, "a")["status"], "ready");
}

#[test]
fn a_corrupt_status_file_holds_the_environment_and_is_kept() {
    let ws = applied_ws();
    let status = ws.path().join(".setpoint/environments/a/status.json");
    truncate_half(&status);
    let corrupt = std::fs::read(&status).unwrap();
    ws.write("envs/a/app.yaml", "v: 2\n");
    ws.commit("second");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.read_live("a", "app.yaml").unwrap(), "v: 1\n");
    let u = unit(&ws, "a");
    assert_eq!(u["status"], "failed", "{u}");
    assert!(
        u["message"].as_str().unwrap().contains("status.json"),
        "{u}"
    );
    assert_eq!(
        std::fs::read(&status).unwrap(),
        corrupt,
        "the evidence is kept"
    );
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
    // newest first, like `events`
    assert_eq!(actions, ["resume", "suspend"]);
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

/// Every file below `dir` with its content.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_below(dir)
        .into_iter()
        .map(|f| {
            let c = std::fs::read(dir.join(&f)).unwrap_or_default();
            (f, c)
        })
        .collect()
}

/// An outside directory with a file of the user's and one named like an agent temp file.
fn outside_dir(ws: &Ws) -> PathBuf {
    let outside = ws.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "precious\n").unwrap();
    std::fs::write(outside.join(".setpoint-tmp.users-own"), "also precious\n").unwrap();
    outside
}

#[test]
fn a_symlinked_target_is_refused_without_touching_the_outside() {
    let ws = Ws::new();
    ws.write("envs/a/app.yaml", "v: 1\n");
    ws.commit("first");
    ws.simple_spec(&[("a", "envs/a", "")]);
    let outside = outside_dir(&ws);
    std::fs::create_dir_all(ws.path().join("live")).unwrap();
    std::os::unix::fs::symlink(&outside, ws.live("a")).unwrap();
    let before = contents(&outside);
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    assert_eq!(u["status"], "failed", "{u}");
    assert!(u["message"].as_str().unwrap().contains("symlink"), "{u}");
    assert_eq!(contents(&outside), before);
}

const RACE_FILES: usize = 400;

fn race_version(ws: &Ws, v: usize) {
    for i in 0..RACE_FILES {
        ws.write(
            &format!("envs/a/d{:02}/f{i:03}.conf", i % 10),
            &format!("file {i} version {v}\n"),
        );
    }
    ws.commit(&format!("version {v}"));
}

/// A thread swaps the target with a symlink to an outside directory (an atomic exchange, so the path
/// always exists) every few milliseconds while the agent applies 400 files, 20 times: nothing is ever
/// written or deleted outside.
#[test]
fn swapping_the_target_for_a_symlink_never_writes_outside() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let ws = Ws::new();
    race_version(&ws, 0);
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    let outside = outside_dir(&ws);
    let before = contents(&outside);
    let live = ws.live("a");
    let link = ws.path().join("live/a.link");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let swaps = Arc::new(AtomicUsize::new(0));
    for round in 1..=20 {
        race_version(&ws, round);
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, swaps, live, link) =
                (stop.clone(), swaps.clone(), live.clone(), link.clone());
            std::thread::spawn(move || {
                let exchange = || {
                    rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &live,
                        rustix::fs::CWD,
                        &link,
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .unwrap();
                };
                for _ in 0..100_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    exchange();
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    exchange();
                    swaps.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            })
        };
        let out = ws.run(&["agent", "--once"]);
        stop.store(true, Ordering::SeqCst);
        swapper.join().unwrap();
        assert!(out.status.success(), "round {round}: {}", stderr(&out));
        assert!(
            std::fs::symlink_metadata(&live).unwrap().is_dir(),
            "the swapper put the directory back"
        );
        assert_eq!(
            contents(&outside),
            before,
            "round {round}: something changed outside"
        );
    }
    assert!(
        swaps.load(Ordering::SeqCst) > 20,
        "the swapper really swapped"
    );
    // Without the swapper the environment converges.
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.unit("a")["status"], "ready");
    assert_eq!(
        ws.read_live("a", "d03/f003.conf").unwrap(),
        "file 3 version 20\n"
    );
}

#[test]
fn a_users_file_is_never_taken_over_nor_pruned() {
    let ws = applied_ws();
    std::fs::write(ws.live("a").join("local.conf"), "my edits\n").unwrap();
    std::fs::write(ws.live("a").join("same.conf"), "same\n").unwrap();
    ws.write("envs/a/local.conf", "from git\n");
    ws.write("envs/a/same.conf", "same\n");
    ws.commit("add local.conf");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.read_live("a", "local.conf").unwrap(), "my edits\n");
    let u = ws.unit("a");
    assert_eq!(u["status"], "failed", "{u}");
    let msg = u["message"].as_str().unwrap();
    assert!(
        msg.contains("local.conf") && msg.contains("conflict"),
        "{msg}"
    );
    assert!(
        msg.contains("1 conflict(s)") && !msg.contains("same.conf: "),
        "identical content is no conflict: {msg}"
    );
    let journal = std::fs::read_to_string(ws.path().join(".setpoint/journal.jsonl")).unwrap();
    assert!(
        journal.contains("adopted") && journal.contains("same.conf"),
        "adoption journalled"
    );

    ws.remove("envs/a/local.conf");
    ws.commit("revert local.conf");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.read_live("a", "local.conf").unwrap(), "my edits\n");
    assert_eq!(ws.unit("a")["status"], "ready");

    // `adopt: true` is the explicit way to take such a file over.
    ws.write("envs/a/local.conf", "from git\n");
    ws.commit("add local.conf again");
    ws.simple_spec(&[("a", "envs/a", "    adopt: true\n")]);
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.read_live("a", "local.conf").unwrap(), "from git\n");
    assert_eq!(ws.unit("a")["status"], "ready");
}

#[test]
fn a_file_that_becomes_a_directory_and_back_is_applied() {
    let ws = applied_ws();
    ws.write("envs/a/conf", "a file\n");
    ws.commit("conf is a file");
    ws.ok(&["agent", "--once"]);
    ws.remove("envs/a/conf");
    ws.write("envs/a/conf/x.yaml", "x: 1\n");
    ws.commit("conf is a directory");
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    assert_eq!(u["status"], "ready", "{u}");
    assert_eq!(ws.read_live("a", "conf/x.yaml").unwrap(), "x: 1\n");
    std::fs::remove_dir_all(ws.repo().join("envs/a/conf")).unwrap();
    ws.write("envs/a/conf", "a file again\n");
    ws.commit("conf is a file again");
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    assert_eq!(u["status"], "ready", "{u}");
    assert_eq!(ws.read_live("a", "conf").unwrap(), "a file again\n");

    // A user's file in the way is a conflict, left alone.
    std::fs::write(ws.live("a").join("mine"), "user\n").unwrap();
    ws.write("envs/a/mine/x.yaml", "x: 2\n");
    ws.commit("mine is a directory");
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    assert_eq!(u["status"], "failed", "{u}");
    assert!(u["message"].as_str().unwrap().contains("mine"), "{u}");
    assert_eq!(ws.read_live("a", "mine").unwrap(), "user\n");
}

#[test]
fn new_files_honour_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Ws::new();
    ws.write("envs/a/app.yaml", "v: 1\n");
    ws.write("envs/a/run.sh", "#!/bin/sh\n");
    make_executable(&ws.repo().join("envs/a/run.sh"));
    ws.commit("first");
    ws.simple_spec(&[("a", "envs/a", "")]);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 077 && exec \"$0\" \"$@\"")
        .arg(support::BIN)
        .env("SETPOINT_CONFIG_DIR", ws.path().join("config"))
        .env("SETPOINT_DATA_DIR", ws.path().join("data"))
        .args([
            "--workspace",
            ws.path().to_str().unwrap(),
            "agent",
            "--once",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = |p: &str| {
        std::fs::metadata(ws.live("a").join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("app.yaml"), 0o600);
    assert_eq!(mode("run.sh"), 0o700);
}

#[test]
fn chmod_and_an_edit_with_its_mtime_put_back_are_drift() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Ws::new();
    ws.write("envs/a/app.yaml", "v: 1\n");
    ws.write("envs/a/run.sh", "#!/bin/sh\n");
    make_executable(&ws.repo().join("envs/a/run.sh"));
    ws.commit("first");
    ws.simple_spec(&[("a", "envs/a", "    drift: report\n")]);
    ws.ok(&["agent", "--once"]);
    let run = ws.live("a").join("run.sh");
    let m = std::fs::metadata(&run).unwrap().permissions().mode();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(m & !0o011)).unwrap();
    let app = ws.live("a").join("app.yaml");
    let mtime = std::fs::metadata(&app).unwrap().modified().unwrap();
    std::fs::write(&app, "v: 9\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&app)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    ws.ok(&["agent", "--once"]);
    assert_eq!(
        ws.unit("a")["driftedObjects"],
        serde_json::json!(["app.yaml", "run.sh"])
    );
    // And the edited file is not pruned when the repository drops it.
    ws.remove("envs/a/app.yaml");
    ws.commit("drop app.yaml");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.read_live("a", "app.yaml").unwrap(), "v: 9\n");
}

#[test]
fn a_users_file_named_like_a_temp_file_survives() {
    let ws = applied_ws();
    let mine = ws.live("a").join(".setpoint-tmp.notes");
    std::fs::write(&mine, "mine\n").unwrap();
    ws.write("envs/a/app.yaml", "v: 2\n");
    ws.commit("second");
    ws.ok(&["agent", "--once"]);
    let mut agent = support::RunningAgent::start(&ws);
    agent.signal("TERM");
    agent.wait_exit(std::time::Duration::from_secs(20));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine\n");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
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
