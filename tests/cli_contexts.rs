//! Several contexts from the command line: workspaces named in the settings, ids that carry their context,
//! `--context` (repeatable) and `contexts = [...]`, a suspend that reaches the right workspace, read-only
//! per context, a name collision, and a context that cannot be opened beside one that can.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{BIN, Ws};

/// A workspace with environments `prod` and `staging` on one source, reconciled once.
fn workspace() -> Ws {
    let ws = Ws::new();
    ws.write("base/app.yaml", "replicas: 1\n");
    ws.write("envs/prod/overlay.yaml", "bases: [base]\n");
    ws.write("envs/staging/overlay.yaml", "bases: [base]\n");
    ws.commit("init");
    ws.simple_spec(&[("prod", "envs/prod", ""), ("staging", "envs/staging", "")]);
    ws.ok(&["agent", "--once"]);
    ws
}

/// The binary with the settings in `conf` and no `--workspace`: the settings choose what is shown.
fn run(conf: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .env("SETPOINT_CONFIG_DIR", conf)
        .env("SETPOINT_DATA_DIR", conf.join("data"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn settings(conf: &Path, toml: &str) {
    std::fs::create_dir_all(conf).unwrap();
    std::fs::write(conf.join("config.toml"), toml).unwrap();
}

#[test]
fn two_workspaces_with_the_same_environments_in_one_status_and_actions_reach_the_right_one() {
    let (eu, staging) = (workspace(), workspace());
    let conf = tempfile::tempdir().unwrap();
    let conf = conf.path();
    settings(
        conf,
        &format!(
            "[workspaces.\"{}\"]\nname = \"eu-prod\"\n[workspaces.\"{}\"]\nname = \"staging-eu\"\nread_only = true\n",
            eu.path().display(),
            staging.path().display()
        ),
    );
    let both = ["--context", "eu-prod", "--context", "staging-eu"];
    let status = json(&run(
        conf,
        &[&both[..], &["status", "--output", "json"]].concat(),
    ));
    let units = status["units"].as_array().unwrap();
    let mut ids: Vec<&str> = units.iter().map(|u| u["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "local/eu-prod/prod",
            "local/eu-prod/staging",
            "local/staging-eu/prod",
            "local/staging-eu/staging"
        ]
    );
    for u in units {
        let ctx = u["context"].as_str().unwrap();
        let dir = if ctx == "eu-prod" { &eu } else { &staging };
        assert_eq!(
            Path::new(u["workspace"].as_str().unwrap()),
            dir.path().canonicalize().unwrap(),
            "{u}"
        );
    }
    let sources: Vec<&str> = status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(sources.contains(&"local/eu-prod/src") && sources.contains(&"local/staging-eu/src"));
    let contexts = status["contexts"].as_array().unwrap();
    assert_eq!(contexts.len(), 2);
    assert!(
        contexts
            .iter()
            .any(|c| c["name"] == "staging-eu" && c["readOnly"] == true)
    );
    assert!(
        contexts.iter().all(|c| c["health"] == "live"),
        "{contexts:?}"
    );

    // `prod` alone is ambiguous now; its context makes it one.
    let out = run(
        conf,
        &[&both[..], &["suspend", "prod", "--reason", "x"]].concat(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("local/eu-prod/prod")
            && stderr(&out).contains("local/staging-eu/prod"),
        "{}",
        stderr(&out)
    );
    let out = run(
        conf,
        &[
            &both[..],
            &["suspend", "eu-prod/prod", "--reason", "incident 7"],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let suspended = |ws: &Ws, env: &str| ws.unit(env)["suspended"] == true;
    assert!(suspended(&eu, "prod"));
    assert!(!suspended(&staging, "prod") && !suspended(&eu, "staging"));

    // The read-only context refuses, naming itself, and nothing of it changes.
    let before = std::fs::read(staging.path().join(".setpoint/control/prod.json")).ok();
    let out = run(
        conf,
        &[&both[..], &["suspend", "staging-eu/prod", "--reason", "y"]].concat(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("context staging-eu is read-only"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(staging.path().join(".setpoint/control/prod.json")).ok(),
        before
    );
    // The audit log says which context each record is about, and where a local one lives.
    let audit = json(&run(
        conf,
        &[&both[..], &["audit", "--output", "json"]].concat(),
    ));
    let mine: Vec<(&str, &str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["origin"] == "local log")
        .map(|r| {
            (
                r["context"].as_str().unwrap(),
                r["unit"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [
            ("staging-eu", "local/staging-eu/prod", "denied"),
            ("eu-prod", "local/eu-prod/prod", "ok"),
        ]
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["workspace"].is_string())
    );

    // `contexts = [...]` in the settings is the default set; `--context` picks among them.
    settings(
        conf,
        &format!(
            "contexts = [\"eu-prod\", \"staging-eu\"]\n[workspaces.\"{}\"]\nname = \"eu-prod\"\n[workspaces.\"{}\"]\nname = \"staging-eu\"\n",
            eu.path().display(),
            staging.path().display()
        ),
    );
    let all = json(&run(conf, &["status", "--output", "json"]));
    assert_eq!(all["units"].as_array().unwrap().len(), 4);
    let one = json(&run(
        conf,
        &["--context", "eu-prod", "status", "--output", "json"],
    ));
    assert_eq!(one["units"].as_array().unwrap().len(), 2);
    let out = run(conf, &["--context", "eu-prd", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `eu-prod`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn two_contexts_with_the_same_name_are_an_error_naming_both_paths() {
    let parent = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        parent.path().join("one/ws"),
        parent.path().join("two/ws"),
        parent.path().join("three/ws"),
    );
    for d in [&a, &b, &c] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("setpoint.yaml"), "sources: []\nenvironments: []\n").unwrap();
    }
    let conf = parent.path().join("conf");
    settings(
        &conf,
        &format!(
            "[workspaces.\"{}\"]\n[workspaces.\"{}\"]\n[workspaces.\"{}\"]\n",
            a.display(),
            b.display(),
            c.display()
        ),
    );
    for args in [&["status"][..], &["--context", "ws", "sync", "dev"][..]] {
        let out = run(&conf, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(e.contains("two contexts are named `ws`"), "{e}");
        let named = ["one/ws", "two/ws", "three/ws"]
            .iter()
            .filter(|p| e.contains(*p))
            .count();
        assert!(
            named == 2 && e.contains("name = "),
            "both paths and the fix: {e}"
        );
    }
    // Named apart, each is reachable.
    settings(
        &conf,
        &format!(
            "[workspaces.\"{}\"]\nname = \"ws-one\"\n[workspaces.\"{}\"]\nname = \"ws-two\"\n[workspaces.\"{}\"]\n",
            a.display(),
            b.display(),
            c.display()
        ),
    );
    for name in ["ws-one", "ws-two", "ws"] {
        let out = run(&conf, &["--context", name, "status", "--output", "json"]);
        let st = json(&out);
        assert_eq!(st["contexts"][0]["name"], name);
    }
}

#[test]
fn a_context_that_cannot_be_opened_is_shown_failed_beside_the_others() {
    let ok = workspace();
    let parent = tempfile::tempdir().unwrap();
    let gone = parent.path().join("gone");
    let conf = parent.path().join("conf");
    settings(
        &conf,
        &format!(
            "contexts = [\"ok\", \"gone\"]\n[workspaces.\"{}\"]\nname = \"ok\"\n[workspaces.\"{}\"]\n",
            ok.path().display(),
            gone.display()
        ),
    );
    let out = run(&conf, &["status", "--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        st["units"].as_array().unwrap().len(),
        2,
        "the other context is shown"
    );
    let failed = st["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "gone")
        .unwrap();
    assert_eq!(failed["health"], "failed");
    assert!(stderr(&out).contains("gone"), "{}", stderr(&out));
}
