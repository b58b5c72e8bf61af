//! The embedded agent end to end: the real binary on real git repositories in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use support::{RunningAgent, Ws, base_repo, files_below, git, wait_for};

#[test]
fn converges_then_passes_are_no_ops() {
    let ws = Ws::new();
    let c1 = base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    let out = ws.ok(&["agent", "--once"]);
    assert!(out.contains("a applied"), "{out}");
    assert_eq!(
        ws.read_live("a", "app.yaml").unwrap(),
        "name: web\nreplicas: 3\n"
    );
    assert_eq!(
        ws.read_live("a", "nginx.conf").unwrap(),
        "worker_connections 1024;\n"
    );
    let u = ws.unit("a");
    assert_eq!(u["status"], "ready");
    assert_eq!(u["appliedRevision"], format!("main@sha1:{c1}"));
    assert_eq!(u["latestRevision"], format!("main@sha1:{c1}"));
    assert_eq!(u["commitsBehind"], 0);
    assert_eq!(ws.source()["status"], "ready");

    let out = ws.ok(&["agent", "--once"]);
    assert!(out.contains("a ready: in sync"), "{out}");
    assert_eq!(ws.run(&["diff", "a"]).status.code(), Some(0));

    // Drift is noticed, shown by diff (exit 1), and repaired by the next pass.
    std::fs::write(ws.live("a").join("nginx.conf"), "worker_connections 9;\n").unwrap();
    let diff = ws.run(&["diff", "a"]);
    assert_eq!(diff.status.code(), Some(1));
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("-worker_connections 9;") && text.contains("+worker_connections 1024;"),
        "{text}"
    );
    ws.ok(&["agent", "--once"]);
    assert_eq!(
        ws.read_live("a", "nginx.conf").unwrap(),
        "worker_connections 1024;\n"
    );

    // A new commit is applied and a removed file pruned.
    ws.remove("base/nginx.conf");
    ws.write("base/app.yaml", "name: web\nreplicas: 1\nimage: web:2\n");
    let c2 = ws.commit("second");
    ws.ok(&["agent", "--once"]);
    assert!(ws.read_live("a", "nginx.conf").is_none());
    assert!(
        ws.read_live("a", "app.yaml")
            .unwrap()
            .contains("image: web:2")
    );
    assert_eq!(ws.unit("a")["appliedRevision"], format!("main@sha1:{c2}"));
    let journal = std::fs::read_to_string(ws.path().join(".setpoint/journal.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(
        journal
            .lines()
            .rfind(|l| l.contains("\"reconcile\""))
            .unwrap(),
    )
    .unwrap();
    for key in ["time", "revision", "outcome", "durationMs", "filesChanged"] {
        assert!(last.get(key).is_some(), "journal line lacks {key}: {last}");
    }
}

#[test]
fn report_mode_keeps_drift_and_lists_it() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "    drift: report\n")]);
    ws.ok(&["agent", "--once"]);
    std::fs::write(ws.live("a").join("nginx.conf"), "hand edit\n").unwrap();
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.read_live("a", "nginx.conf").unwrap(), "hand edit\n");
    let u = ws.unit("a");
    assert_eq!(u["driftedObjects"], serde_json::json!(["nginx.conf"]));
    assert_eq!(u["status"], "ready");
}

#[test]
fn unmanaged_files_survive_apply_prune_and_rollback() {
    let ws = Ws::new();
    let c1 = base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    std::fs::create_dir_all(ws.live("a").join("local")).unwrap();
    std::fs::write(ws.live("a").join("local/notes.txt"), "mine\n").unwrap();
    std::fs::write(ws.live("a").join("extra.conf"), "mine too\n").unwrap();
    ws.ok(&["agent", "--once"]);
    ws.remove("base/nginx.conf");
    ws.write("base/new.conf", "n\n");
    ws.commit("prune nginx");
    ws.ok(&["agent", "--once"]);
    assert!(
        ws.read_live("a", "nginx.conf").is_none(),
        "managed file pruned"
    );
    ws.ok(&["rollback", "a", "--to", &c1[..10], "--reason", "test"]);
    assert!(
        ws.read_live("a", "nginx.conf").is_some(),
        "rollback restores"
    );
    assert!(
        ws.read_live("a", "new.conf").is_none(),
        "rollback prunes what the old commit lacks"
    );
    ws.ok(&["resume", "a"]);
    assert_eq!(ws.read_live("a", "local/notes.txt").unwrap(), "mine\n");
    assert_eq!(ws.read_live("a", "extra.conf").unwrap(), "mine too\n");
}

/// Reconciles once and returns env `a`'s status message; asserts nothing was written to `live/a` or outside.
fn rejected(ws: &Ws, needle: &str) {
    let sentinel = ws.path().join("outside");
    std::fs::create_dir_all(&sentinel).unwrap();
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    assert_eq!(u["status"], "failed", "{u}");
    let msg = u["message"].as_str().unwrap();
    assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    assert!(
        files_below(&ws.live("a")).is_empty(),
        "nothing written to the target"
    );
    assert!(
        files_below(&sentinel).is_empty(),
        "nothing written outside the target"
    );
}

#[test]
fn hostile_symlinks_and_dotdot() {
    let ws = Ws::new();
    ws.write("envs/a/ok.txt", "ok\n");
    std::os::unix::fs::symlink("../../../outside/x", ws.repo().join("envs/a/escape")).unwrap();
    ws.commit("escape");
    ws.simple_spec(&[("a", "envs/a", "")]);
    rejected(&ws, "leaves the repository");

    std::fs::remove_file(ws.repo().join("envs/a/escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", ws.repo().join("envs/a/abs")).unwrap();
    ws.commit("absolute link");
    rejected(&ws, "leaves the repository");

    std::fs::remove_file(ws.repo().join("envs/a/abs")).unwrap();
    // `../x` is relative to the overlay (as kustomize reads it): fine inside the repository, rejected
    // when it climbs out of it.
    ws.write("envs/a/overlay.yaml", "bases:\n  - ../../../outside\n");
    ws.commit("dotdot base");
    rejected(
        &ws,
        "envs/a/overlay.yaml:2: bases: `../../../outside` leaves the repository",
    );

    ws.write("envs/a/overlay.yaml", "delete: [/etc/passwd]\n");
    ws.commit("absolute delete");
    rejected(
        &ws,
        "envs/a/overlay.yaml:1: delete: `/etc/passwd` is absolute",
    );

    // A tree entry literally named `..`, crafted with plumbing.
    ws.remove("envs/a/overlay.yaml");
    let repo = ws.repo();
    let blob = git(&repo, &["hash-object", "-w", "envs/a/ok.txt"]);
    let inner = pipe(
        &repo,
        &["mktree"],
        &format!("100644 blob {blob}\t..\n100644 blob {blob}\tok.txt\n"),
    );
    let envs = pipe(&repo, &["mktree"], &format!("040000 tree {inner}\ta\n"));
    let root = pipe(&repo, &["mktree"], &format!("040000 tree {envs}\tenvs\n"));
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let c = git(
        &repo,
        &["commit-tree", &root, "-p", &head, "-m", "dotdot entry"],
    );
    git(&repo, &["update-ref", "refs/heads/main", &c]);
    rejected(&ws, "path component `..` is not allowed");
}

fn pipe(dir: &std::path::Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn hostile_target_swapped_for_a_symlink() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    let elsewhere = ws.path().join("outside");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::remove_dir_all(ws.live("a")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, ws.live("a")).unwrap();
    ws.write("base/app.yaml", "name: web\nreplicas: 2\n");
    ws.commit("change");
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    assert_eq!(u["status"], "failed");
    assert!(
        u["message"].as_str().unwrap().contains("is a symlink"),
        "{u}"
    );
    assert!(
        files_below(&elsewhere).is_empty(),
        "nothing written through the symlink"
    );
}

#[test]
fn hostile_names_sizes_and_yaml_bombs() {
    use std::os::unix::ffi::OsStrExt;
    let ws = Ws::new();
    ws.write("envs/a/ok.txt", "ok\n");
    let bad = ws
        .repo()
        .join("envs/a")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&bad, "x").unwrap();
    ws.commit("latin-1 name");
    ws.simple_spec(&[("a", "envs/a", "")]);
    rejected(&ws, "not UTF-8");
    std::fs::remove_file(&bad).unwrap();

    let big = std::fs::File::create(ws.repo().join("envs/a/huge.bin")).unwrap();
    big.set_len(100 * 1024 * 1024).unwrap();
    ws.commit("100 MB file");
    rejected(&ws, "over the limit of 16777216 bytes");
    ws.remove("envs/a/huge.bin");

    let mut bomb = String::from(
        "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    let mut prev = 'a';
    for n in 'b'..='i' {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        bomb.push_str(&format!("{n}: &{n} [{refs}]\n"));
        prev = n;
    }
    ws.write("envs/a/bomb.yaml", &bomb);
    ws.commit("billion laughs");
    rejected(&ws, "envs/a/bomb.yaml");
}

#[test]
fn unreachable_force_pushed_deleted_and_empty_sources() {
    // Unreachable from the start: clear failure, nothing applied.
    let ws = Ws::new();
    base_repo(&ws);
    ws.spec("sources:\n  - name: src\n    url: ./nowhere.git\n    branch: main\nenvironments:\n  - name: a\n    source: src\n    path: envs/a\n    target: ./live/a\n");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.source()["status"], "failed");
    let u = ws.unit("a");
    assert_eq!(u["status"], "failed");
    assert!(
        u["message"].as_str().unwrap().contains("source src failed"),
        "{u}"
    );

    // Reachable, then gone: the last good commit is kept and the environment stays applied.
    ws.simple_spec(&[("a", "envs/a", "")]);
    let c1 = ws.ok(&["agent", "--once"]).len();
    assert!(c1 > 0);
    let good = ws.unit("a")["appliedRevision"].clone();
    // Each change of status kind is an event of its own: the console's status history.
    let events: serde_json::Value =
        serde_json::from_str(&ws.ok(&["events", "a", "--output", "json"])).unwrap();
    let changes: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "StatusChanged")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(changes.len(), 2, "{events}");
    assert!(
        changes[0].starts_with("failed -> ready: applied"),
        "{changes:?}"
    );
    assert!(
        changes[1].starts_with("unknown -> failed: source src failed"),
        "{changes:?}"
    );
    std::fs::rename(ws.repo(), ws.path().join("moved")).unwrap();
    ws.ok(&["agent", "--once"]);
    let src = ws.source();
    assert_eq!(src["status"], "failed");
    assert!(
        src["message"]
            .as_str()
            .unwrap()
            .contains("keeping last good commit"),
        "{src}"
    );
    assert_eq!(src["revision"], good);
    let u = ws.unit("a");
    assert_eq!(u["appliedRevision"], good);
    assert_eq!(u["status"], "ready");
    std::fs::rename(ws.path().join("moved"), ws.repo()).unwrap();

    // Force-pushed: history rewritten; the agent follows the new tip.
    ws.write("base/app.yaml", "name: web\nreplicas: 7\n");
    ws.commit("to be rewritten");
    ws.ok(&["agent", "--once"]);
    git(&ws.repo(), &["reset", "-q", "--hard", "HEAD~1"]);
    ws.write(
        "base/app.yaml",
        "name: web\nreplicas: 8\nimage: rewritten\n",
    );
    let rewritten = ws.commit("rewritten");
    ws.ok(&["agent", "--once"]);
    assert_eq!(
        ws.unit("a")["appliedRevision"],
        format!("main@sha1:{rewritten}")
    );
    // Content only the rewritten commit has (the overlay patches replicas in every commit).
    assert_eq!(
        ws.read_live("a", "app.yaml").unwrap(),
        "image: rewritten\nname: web\nreplicas: 3\n"
    );

    // Deleted branch: clear status, last good kept.
    git(&ws.repo(), &["checkout", "-q", "-b", "release"]);
    ws.spec("sources:\n  - name: src\n    url: ./repo\n    branch: release\nenvironments:\n  - name: a\n    source: src\n    path: envs/a\n    target: ./live/a\n");
    ws.ok(&["agent", "--once"]);
    git(&ws.repo(), &["checkout", "-q", "main"]);
    git(&ws.repo(), &["branch", "-q", "-D", "release"]);
    ws.ok(&["agent", "--once"]);
    let src = ws.source();
    assert_eq!(src["status"], "failed");
    assert!(
        src["message"]
            .as_str()
            .unwrap()
            .contains("has no branch `release`"),
        "{src}"
    );
    assert_eq!(ws.unit("a")["status"], "ready");

    // Empty repository.
    let empty = Ws::new();
    empty.simple_spec(&[("a", "envs/a", "")]);
    empty.ok(&["agent", "--once"]);
    let src = empty.source();
    assert_eq!(src["status"], "failed");
    assert!(
        src["message"]
            .as_str()
            .unwrap()
            .contains("empty repository"),
        "{src}"
    );
}

#[test]
fn second_agent_refuses_and_sigterm_releases_the_lock() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    let mut agent = RunningAgent::start(&ws);
    let second = ws.run(&["agent", "--once"]);
    assert_eq!(second.status.code(), Some(3));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another setpoint agent runs")
            && err.contains(&format!("pid {}", agent.child.id())),
        "{err}"
    );
    agent.signal("TERM");
    let status = agent.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "agent exits 0 on SIGTERM: {status:?}");
    ws.ok(&["agent", "--once"]);
}

/// The README promises "within a second"; the test allows this much so that it holds on a loaded 2-core
/// machine running other builds (measured: about 0.3 s), and says so in the README.
const HONOURED_WITHIN: Duration = Duration::from_secs(2);

/// Asserts the promise and returns the time taken.
fn honoured(what: &str, t: Instant) -> Duration {
    let took = t.elapsed();
    eprintln!("{what} honoured in {took:?}");
    assert!(
        took <= HONOURED_WITHIN,
        "{what} took {took:?}, over {HONOURED_WITHIN:?}"
    );
    took
}

#[test]
fn a_running_agent_honours_cli_actions_within_a_second() {
    let ws = Ws::new();
    let c1 = base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "    interval: 1h\n")]);
    let _agent = RunningAgent::start(&ws);
    wait_for(Duration::from_secs(10), "first apply", || {
        ws.read_live("a", "app.yaml")
    });

    // sync --with-source: a new commit arrives only because of the request (intervals are long).
    ws.write("base/app.yaml", "name: web\nreplicas: 1\nimage: v2\n");
    let c2 = ws.commit("v2");
    let t = Instant::now();
    ws.ok(&["sync", "a", "--with-source"]);
    wait_for(Duration::from_secs(5), "sync applied", || {
        (ws.unit("a")["appliedRevision"] == format!("main@sha1:{c2}")).then_some(())
    });
    honoured("sync --with-source", t);
    assert!(ws.read_live("a", "app.yaml").unwrap().contains("v2"));

    // suspend: drift is no longer repaired, only reported.
    std::fs::write(ws.live("a").join("nginx.conf"), "drifted\n").unwrap();
    let t = Instant::now();
    ws.ok(&["suspend", "a", "--reason", "incident 42"]);
    let u = ws.unit("a");
    assert_eq!(
        (u["status"].as_str(), u["suspended"].as_bool()),
        (Some("suspended"), Some(true))
    );
    assert!(u["message"].as_str().unwrap().contains("incident 42"));
    let denied = ws.run(&["sync", "a"]);
    assert_eq!(
        denied.status.code(),
        Some(3),
        "sync is refused while suspended"
    );
    wait_for(
        Duration::from_secs(5),
        "drift reported while suspended",
        || (ws.unit("a")["driftedObjects"] == serde_json::json!(["nginx.conf"])).then_some(()),
    );
    honoured("suspend (drift reported)", t);
    assert_eq!(ws.read_live("a", "nginx.conf").unwrap(), "drifted\n");

    // resume: the agent repairs.
    let t = Instant::now();
    ws.ok(&["resume", "a"]);
    wait_for(Duration::from_secs(5), "repair after resume", || {
        ws.read_live("a", "nginx.conf")
            .filter(|s| s == "worker_connections 1024;\n")
    });
    honoured("resume", t);

    // rollback: pinned at the old commit, one commit behind.
    let t = Instant::now();
    ws.ok(&[
        "rollback",
        "a",
        "--to",
        &format!("sha1:{c1}"),
        "--reason",
        "bad v2",
    ]);
    wait_for(Duration::from_secs(5), "rollback applied", || {
        ws.read_live("a", "app.yaml").filter(|s| !s.contains("v2"))
    });
    honoured("rollback", t);
    let u = wait_for(Duration::from_secs(5), "pinned status", || {
        let u = ws.unit("a");
        (u["appliedRevision"] == format!("sha1:{c1}")).then_some(u)
    });
    assert_eq!(u["pinnedRevision"], format!("sha1:{c1}"));
    assert_eq!(u["commitsBehind"], 1);
    assert!(
        ws.ok(&["status"])
            .contains(&format!("pinned at {}, 1 commits behind", &c1[..7]))
    );
    ws.ok(&["resume", "a"]);
    wait_for(Duration::from_secs(5), "back at latest", || {
        ws.read_live("a", "app.yaml").filter(|s| s.contains("v2"))
    });
}

#[test]
fn lock_files_left_in_the_mirror_by_a_killed_fetch_do_not_block_fetching() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    let mirror = ws.path().join(".setpoint/git/src.git");
    std::fs::write(mirror.join("refs/heads/main.lock"), "").unwrap();
    std::fs::write(mirror.join("packed-refs.lock"), "").unwrap();
    ws.write("base/app.yaml", "name: web\nreplicas: 1\nimage: v3\n");
    let c = ws.commit("v3");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.source()["status"], "ready", "{}", ws.source());
    assert_eq!(ws.unit("a")["appliedRevision"], format!("main@sha1:{c}"));
}
