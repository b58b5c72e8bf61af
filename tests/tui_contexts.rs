//! Several contexts in one console, end to end in tmux: two demo workspaces whose environments have the
//! same names, one writable and one read-only. Both are listed with their context; an action is refused
//! in the read-only one (naming it) and carried out in the writable one; the read-only workspace's state
//! files stay byte-identical; `:ctx` filters and keeps the selection; the audit log says which context
//! each record is about. tmux is required (see tmux_harness).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tmux_harness;

use serde_json::Value;
use tmux_harness::{Env, have_tmux, state_files, text};

/// `setpoint ARGS --output json` on the contexts the settings choose.
fn json(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let out = env.setpoint(&all);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn one_console_two_workspaces_with_the_same_environments_and_read_only_per_context() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    let other = env.tmp.path().join("ops-eu");
    env.demo(&other);
    std::fs::create_dir_all(&env.config).unwrap();
    std::fs::write(
        env.config.join("config.toml"),
        format!(
            "contexts = [\"demo\", \"ops-eu\"]\n[workspaces.\"{}\"]\n[workspaces.\"{}\"]\nread_only = true\n",
            env.ws.display(),
            other.display()
        ),
    )
    .unwrap();
    let other_state = state_files(&other);

    // Headless: both workspaces, ids distinct and each carrying its context.
    let status = json(&env, &["status"]);
    let ids: Vec<&str> = status["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    for id in [
        "local/demo/prod",
        "local/ops-eu/prod",
        "local/demo/staging",
        "local/ops-eu/staging",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(status["units"].as_array().unwrap().iter().all(|u| {
        u["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("local/{}/", u["context"].as_str().unwrap()))
    }));
    let contexts = status["contexts"].as_array().unwrap();
    assert_eq!(contexts.len(), 2, "{status:#}");
    assert!(
        contexts
            .iter()
            .any(|c| c["name"] == "ops-eu" && c["readOnly"] == true)
    );

    env.start_cmd(&env.console_cmd_on_settings(""));
    let s = env.wait_for("2 contexts");
    env.wait_until("both contexts' rows", |s| {
        s.contains("ops-eu RO") && s.lines().filter(|l| l.contains(" prod ")).count() == 2
    });
    assert!(
        !s.contains("READ-ONLY"),
        "only one context is read-only:\n{s}"
    );

    // Refused in the read-only context, with its name.
    env.keys(&[":"]);
    env.type_text("ctx ops-eu");
    env.keys(&["Enter"]);
    env.wait_for(":ctx ops-eu");
    env.select("staging");
    env.keys(&["s"]);
    env.wait_for("context ops-eu is read-only");
    // `:ctx all` keeps the selection: the next key acts on ops-eu's staging still, and is refused again.
    env.keys(&[":"]);
    env.type_text("ctx all");
    env.keys(&["Enter"]);
    env.wait_until("every context", |s| s.contains("Units 2/6 /staging"));
    env.keys(&["y"]);
    env.wait_for("(sync local/ops-eu/staging: context ops-eu is read-only");

    // Carried out in the writable one.
    env.keys(&[":"]);
    env.type_text("ctx demo");
    env.keys(&["Enter"]);
    env.wait_for(":ctx demo");
    env.select("staging");
    env.keys(&["s"]);
    env.wait_for("why");
    env.type_text("maintenance window");
    env.keys(&["Enter"]);
    env.wait_for("✓ suspend local/demo/staging");
    env.quit();

    assert_eq!(
        state_files(&other),
        other_state,
        "the read-only workspace is untouched"
    );
    let suspended = |ctx: &str| {
        json(&env, &["status"])["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == format!("local/{ctx}/staging").as_str())
            .map(|u| u["suspended"] == true)
            .unwrap()
    };
    assert!(suspended("demo") && !suspended("ops-eu"));
    let audit = json(&env, &["audit"]); // newest first
    let records: Vec<(&str, &str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["origin"] != "workspace journal")
        .map(|r| {
            (
                r["context"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        records,
        [
            ("demo", "suspend", "ok"),
            ("ops-eu", "sync", "denied"),
            ("ops-eu", "suspend", "denied"),
        ],
        "{audit:#}"
    );
}
