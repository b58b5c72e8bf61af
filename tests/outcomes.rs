//! Honest outcomes of actions on the command line: a failed fetch or a failed reconcile fails the
//! action (exit 3, the cause in words), whether this process runs the pass or a running agent does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{RunningAgent, Ws};

fn base_repo(ws: &Ws) -> String {
    ws.write("base/app.yaml", "name: web\nreplicas: 1\n");
    ws.write("envs/a/overlay.yaml", "bases: [base]\n");
    ws.write("envs/a/app.patch.yaml", "replicas: 3\n");
    ws.commit("first")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A workspace applied once, whose source then became unreachable.
fn unreachable_source() -> Ws {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "    interval: 1h\n")]);
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.unit("a")["status"], "ready");
    std::fs::rename(ws.repo(), ws.path().join("moved")).unwrap();
    ws
}

#[test]
fn sync_with_source_fails_when_the_fetch_fails() {
    let ws = unreachable_source();
    let out = ws.run(&["sync", "a", "--with-source"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(err.contains("fetch of source src failed"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("in sync"));
}

#[test]
fn sync_with_source_handled_by_a_running_agent_reports_its_failed_fetch() {
    let ws = unreachable_source();
    let _agent = RunningAgent::start(&ws);
    let out = ws.run(&["sync", "a", "--with-source"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(err.contains("fetch of source src failed"), "{err}");
}

#[test]
fn resume_onto_a_commit_that_does_not_render_fails_the_action() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "    interval: 1h\n")]);
    ws.ok(&["agent", "--once"]);
    ws.ok(&["suspend", "a", "--reason", "hold"]);
    ws.write("envs/a/gone.patch.yaml", "x: 1\n");
    ws.commit("patch without a base");
    ws.ok(&["agent", "--once"]);
    let out = ws.run(&["resume", "a"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(err.contains("resumed"), "{err}");
    assert!(err.contains("reconcile failed:"), "{err}");

    // The same through a running agent: its result is read back and reported.
    ws.ok(&["suspend", "a", "--reason", "hold"]);
    let _agent = RunningAgent::start(&ws);
    let out = ws.run(&["resume", "a"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(err.contains("reconcile failed:"), "{err}");
}

#[test]
fn diff_says_when_the_desired_commit_does_not_render() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    ws.write("envs/a/gone.patch.yaml", "x: 1\n");
    ws.commit("patch without a base");
    ws.ok(&["agent", "--once"]);
    let out = ws.run(&["diff", "a", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["inSync"], false, "{v}");
    assert_eq!(v["desiredRenders"], false, "{v}");
    assert!(
        v["note"].as_str().unwrap().contains("does not render"),
        "{v}"
    );
    let table = ws.run(&["diff", "a"]);
    assert_eq!(table.status.code(), Some(2));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("does not render"), "{text}");
    assert!(!text.contains("in sync"), "{text}");
}

#[test]
fn sync_with_source_asked_while_the_agent_fetches_waits_for_a_fetch_made_after_the_request() {
    // The source answers slowly: a server on 127.0.0.1 that holds each connection 1.5 s, then drops it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(50) {
            let Ok(conn) = conn else { break };
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(1500));
                drop(conn);
            });
        }
    });
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "    interval: 1h\n")]);
    ws.ok(&["agent", "--once"]);
    let spec = ws.path().join("setpoint.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap().replace(
        "url: ./repo",
        &format!("url: http://127.0.0.1:{port}/repo.git"),
    );
    std::fs::write(&spec, yaml).unwrap();
    // The agent starts with a fetch, which is in flight when the request comes: answering with that
    // fetch (begun before the request) would call a sync that never fetched a success.
    let _agent = RunningAgent::start(&ws);
    let out = ws.run(&["sync", "a", "--with-source"]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout: {}; stderr: {err}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains("fetch of source src failed"), "{err}");
}
