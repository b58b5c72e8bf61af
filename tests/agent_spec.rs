//! The agent follows its workspace file and copes with real repositories: rereading setpoint.yaml, converging
//! moved and removed environments, YAML streams and relative bases as kustomize writes them, broken mirrors,
//! and fetch failures said in words. The real binary on git repositories in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::{RunningAgent, Ws, base_repo, files_below, wait_for};

fn journal(ws: &Ws) -> String {
    std::fs::read_to_string(ws.path().join(".setpoint/journal.jsonl")).unwrap_or_default()
}

/// Journal lines of `unit` with `outcome`.
fn journal_count(ws: &Ws, unit: &str, outcome: &str) -> usize {
    journal(ws)
        .lines()
        .filter(|l| {
            l.contains(&format!("\"unit\":\"local/{unit}\""))
                && l.contains(&format!("\"outcome\":\"{outcome}\""))
        })
        .count()
}

#[test]
fn a_running_agent_rereads_its_workspace_file() {
    let ws = Ws::new();
    base_repo(&ws);
    let fast = "    interval: 1s\n";
    ws.simple_spec(&[("a", "envs/a", fast), ("b", "envs/a", fast)]);
    let _agent = RunningAgent::start(&ws);
    wait_for(Duration::from_secs(20), "a and b applied", || {
        (ws.read_live("a", "app.yaml").is_some() && ws.read_live("b", "app.yaml").is_some())
            .then_some(())
    });

    // `suspend: true` for a, b removed: the running agent follows the file.
    ws.simple_spec(&[("a", "envs/a", "    interval: 1s\n    suspend: true\n")]);
    wait_for(Duration::from_secs(20), "b's files pruned", || {
        files_below(&ws.live("b")).is_empty().then_some(())
    });
    wait_for(Duration::from_secs(10), "b's state retired", || {
        (!ws.path().join(".setpoint/environments/b").exists()).then_some(())
    });
    assert!(
        journal(&ws).contains("b: removed from the workspace file; pruned 2 file(s)"),
        "{}",
        journal(&ws)
    );
    wait_for(Duration::from_secs(10), "a suspended by the agent", || {
        (journal_count(&ws, "a", "suspended") > 0).then_some(())
    });
    std::fs::write(ws.live("a").join("nginx.conf"), "hand edit\n").unwrap();
    let seen = journal_count(&ws, "a", "suspended");
    wait_for(Duration::from_secs(20), "two suspended passes", || {
        (journal_count(&ws, "a", "suspended") >= seen + 2).then_some(())
    });
    assert_eq!(ws.read_live("a", "nginx.conf").unwrap(), "hand edit\n");

    // A broken file: the last good version stays in force and the agent says why.
    ws.simple_spec(&[(
        "a",
        "envs/a",
        "    interval: 1s\n    suspend: true\n    prnue: true\n",
    )]);
    let status = wait_for(Duration::from_secs(10), "the agent's status", || {
        std::fs::read_to_string(ws.path().join(".setpoint/agent.json"))
            .ok()
            .filter(|s| s.contains("workspaceError"))
    });
    assert!(
        status.contains("setpoint.yaml:")
            && status.contains("unknown field `prnue` (did you mean `prune`?)"),
        "{status}"
    );
    assert!(journal(&ws).contains("\"kind\":\"workspace\",\"outcome\":\"failed\""));

    // Fixed and resumed from the file: the drift is repaired, the error is gone.
    ws.simple_spec(&[("a", "envs/a", fast)]);
    wait_for(Duration::from_secs(20), "drift repaired", || {
        ws.read_live("a", "nginx.conf")
            .filter(|s| s == "worker_connections 1024;\n")
    });
    let status = std::fs::read_to_string(ws.path().join(".setpoint/agent.json")).unwrap();
    assert!(!status.contains("prnue"), "{status}");
}

fn spec_with_target(ws: &Ws, target: &str, extra: &str) {
    ws.spec(&format!(
        "sources:\n  - name: src\n    url: ./repo\nenvironments:\n  - name: a\n    source: src\n    path: envs/a\n    target: {target}\n{extra}"
    ));
}

#[test]
fn moved_targets_and_removed_environments_converge() {
    let ws = Ws::new();
    base_repo(&ws);
    spec_with_target(&ws, "./live/a", "    drift: report\n");
    ws.ok(&["agent", "--once"]);
    std::fs::write(ws.live("a").join("mine.txt"), "not the agent's\n").unwrap();
    std::fs::write(ws.live("a").join("nginx.conf"), "changed by hand\n").unwrap();

    // The target moves: the new one is filled, the old one keeps only what the agent did not write (or
    // what was changed since).
    spec_with_target(&ws, "./live/a2", "    drift: report\n");
    ws.ok(&["agent", "--once"]);
    assert_eq!(
        files_below(&ws.live("a2")),
        ["app.yaml", "nginx.conf"],
        "the new target is filled"
    );
    assert_eq!(files_below(&ws.live("a")), ["mine.txt", "nginx.conf"]);
    assert_eq!(
        ws.read_live("a", "nginx.conf").unwrap(),
        "changed by hand\n"
    );
    let u = ws.unit("a");
    assert_eq!(u["status"], "ready", "{u}");
    assert_eq!(u["driftedObjects"], serde_json::json!([]), "{u}");
    assert!(journal(&ws).contains("target moved to"), "{}", journal(&ws));

    // With `prune: false` the old target's files stay, no longer managed.
    spec_with_target(&ws, "./live/a3", "    prune: false\n");
    ws.ok(&["agent", "--once"]);
    assert_eq!(files_below(&ws.live("a2")), ["app.yaml", "nginx.conf"]);
    assert_eq!(files_below(&ws.live("a3")), ["app.yaml", "nginx.conf"]);

    // A removed environment: its files and state go.
    ws.simple_spec(&[("a", "envs/a", ""), ("b", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    assert_eq!(files_below(&ws.live("b")), ["app.yaml", "nginx.conf"]);
    ws.simple_spec(&[("a", "envs/a", "")]);
    let out = ws.ok(&["agent", "--once"]);
    assert!(
        out.contains("b: removed from the workspace file; pruned 2 file(s)"),
        "{out}"
    );
    assert!(files_below(&ws.live("b")).is_empty());
    assert!(!ws.path().join(".setpoint/environments/b").exists());
}

#[test]
fn yaml_streams_and_relative_bases_as_kustomize_writes_them() {
    let ws = Ws::new();
    ws.write("base/app.yaml", "name: web\n");
    ws.write("envs/k/overlay.yaml", "bases: [../../base]\n");
    let multi = "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Service\nratio: .nan\nlimit: .inf\n? [complex, key]\n: value\n";
    ws.write("envs/k/manifests.yaml", multi);
    let mut deep = String::new();
    for i in 0..200 {
        deep.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
    }
    deep.push_str(&format!("{}leaf\n", " ".repeat(200)));
    ws.write("envs/k/deep.yaml", &deep);
    ws.commit("kustomize-style");
    ws.simple_spec(&[("k", "envs/k", "")]);
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("k");
    assert_eq!(u["status"], "ready", "{u}");
    assert_eq!(ws.read_live("k", "manifests.yaml").unwrap(), multi);
    assert_eq!(ws.read_live("k", "deep.yaml").unwrap(), deep);
    assert_eq!(ws.read_live("k", "app.yaml").unwrap(), "name: web\n");

    // A patch needs a single document: said in words, with the file.
    ws.write("envs/k/manifests.patch.yaml", "kind: X\n");
    ws.commit("patching a stream");
    ws.ok(&["agent", "--once"]);
    let msg = ws.unit("k")["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("manifests.yaml:4: has several YAML documents"),
        "{msg}"
    );
    assert!(!msg.contains("from_str"), "{msg}");
}

#[test]
fn a_broken_mirror_is_recreated_from_the_url() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    let packs = ws.path().join(".setpoint/git/src.git/objects/pack");
    let mut broken = 0;
    for e in std::fs::read_dir(&packs).unwrap().flatten() {
        std::fs::write(e.path(), "garbage").unwrap();
        broken += 1;
    }
    assert!(broken > 0, "the mirror has packs");
    ws.write("base/app.yaml", "name: web\nreplicas: 1\nimage: healed\n");
    let c = ws.commit("after the damage");
    let out = ws.ok(&["agent", "--once"]);
    let src = ws.source();
    assert_eq!(src["status"], "ready", "{src}\n{out}");
    assert!(
        src["message"]
            .as_str()
            .unwrap()
            .contains("re-created it from"),
        "{src}"
    );
    assert!(journal(&ws).contains("\"outcome\":\"healed\""));
    assert!(
        out.contains("source src: the mirror was broken ("),
        "the agent's log says so: {out}"
    );
    assert_eq!(ws.unit("a")["appliedRevision"], format!("main@sha1:{c}"));
    assert!(ws.read_live("a", "app.yaml").unwrap().contains("healed"));
}

#[test]
fn fetch_failures_say_the_cause() {
    let ws = Ws::new();
    base_repo(&ws);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::create_dir_all(ws.path().join("plain")).unwrap();
    ws.spec(&format!(
        "sources:\n  - name: refused\n    url: http://127.0.0.1:{port}/repo.git\n  - name: missing\n    url: ./nowhere\n  - name: plain\n    url: ./plain\nenvironments: []\n"
    ));
    ws.ok(&["agent", "--once"]);
    let status = ws.status();
    let message = |name: &str| {
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let refused = message("refused");
    assert!(
        refused.starts_with(&format!(
            "cannot fetch http://127.0.0.1:{port}/repo.git: connection refused"
        )),
        "{refused}"
    );
    assert!(!refused.contains("handshake"), "{refused}");
    let missing = message("missing");
    assert!(
        missing.ends_with("nowhere: not a git repository"),
        "{missing}"
    );
    let plain = message("plain");
    assert!(plain.ends_with("plain: not a git repository"), "{plain}");
}

/// The console's backend (no agent of its own here) follows the workspace file too: a new environment shows,
/// and a broken file is said on every unit while the last good version is shown.
#[tokio::test]
async fn the_console_backend_follows_the_workspace_file() {
    use setpoint::backend::Backend;
    use setpoint::backend::local::LocalBackend;

    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    let backend = LocalBackend::open(ws.path(), &setpoint::config::Settings::default()).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let watch = tokio::spawn(async move { backend.watch(tx).await });
    next_snapshot(&mut rx, "unit a", &|s| s.units.len() == 1).await;
    ws.simple_spec(&[("a", "envs/a", ""), ("b", "envs/a", "")]);
    next_snapshot(&mut rx, "units a and b", &|s| s.units.len() == 2).await;
    ws.simple_spec(&[("a", "envs/a", "    prnue: false\n")]);
    let s = next_snapshot(&mut rx, "the file's error", &|s| {
        s.units
            .iter()
            .all(|u| u.status.message.contains("workspace file not applied"))
    })
    .await;
    assert_eq!(s.units.len(), 2, "the last good version is shown");
    assert!(
        s.units[0].status.message.contains("unknown field `prnue`"),
        "{}",
        s.units[0].status.message
    );
    watch.abort();
}

/// The next snapshot `done` accepts, within 10 s per update.
async fn next_snapshot(
    rx: &mut tokio::sync::mpsc::Receiver<setpoint::backend::Update>,
    what: &str,
    done: &dyn Fn(&setpoint::model::Snapshot) -> bool,
) -> setpoint::model::Snapshot {
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(setpoint::backend::Update::Snapshot(s))) if done(&s) => return s,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    panic!("no snapshot with {what}");
}

#[test]
fn drift_left_in_repair_mode_is_not_called_report_mode() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "    prune: false\n")]);
    ws.ok(&["agent", "--once"]);
    ws.remove("base/nginx.conf");
    ws.commit("nginx.conf no longer desired");
    ws.ok(&["agent", "--once"]);
    std::fs::write(ws.live("a").join("nginx.conf"), "hand edit\n").unwrap();
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    let msg = u["message"].as_str().unwrap();
    assert!(!msg.contains("drift: report"), "{msg}");
    assert!(
        msg.contains("1 file(s) drifted (no longer desired, left as they are)"),
        "{msg}"
    );
    assert_eq!(ws.read_live("a", "nginx.conf").unwrap(), "hand edit\n");
}
