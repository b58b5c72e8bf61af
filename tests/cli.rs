//! The command-line contract: help, exit codes, configuration errors, unit addressing, read-only mode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::Ws;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn demo_like(ws: &Ws) {
    ws.write("base/app.yaml", "replicas: 1\n");
    ws.write("envs/prod/overlay.yaml", "bases: [base]\n");
    ws.write("envs/prod-eu/overlay.yaml", "bases: [base]\n");
    ws.write("envs/staging/overlay.yaml", "bases: [base]\n");
    ws.commit("init");
    ws.simple_spec(&[
        ("prod", "envs/prod", "    protected: true\n"),
        ("prod-eu", "envs/prod-eu", ""),
        ("staging", "envs/staging", ""),
    ]);
}

/// Makes `ws` read-only through `[workspaces."PATH"]` in its config dir; returns that dir.
fn read_only_in_settings(ws: &Ws) -> std::path::PathBuf {
    let conf = ws.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("config.toml"),
        format!(
            "[workspaces.\"{}\"]\nread_only = true\n",
            ws.path().display()
        ),
    )
    .unwrap();
    conf
}

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let ws = Ws::new();
    let help = ws.ok(&["--help"]);
    for cmd in support::COMMANDS {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help lacks {cmd}:\n{help}"
        );
    }
    for opt in [
        "--workspace",
        "--backend",
        "--context",
        "--read-only",
        "--config",
        "--theme",
        "--keymap",
        "--ascii",
        "--output",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
    assert!(help.contains("Exit codes:") && help.contains("differences found"));
    let bash = ws.ok(&["completions", "bash"]);
    assert!(bash.contains("_setpoint"), "bash completion script");
}

#[test]
fn bad_config_file_exits_2_with_file_line_column_and_nearest_key() {
    let ws = Ws::new();
    let bad = ws.path().join("bad.toml");
    std::fs::write(
        &bad,
        "backend = \"local\"\nread_only = false\nthme = \"mono\"\n",
    )
    .unwrap();
    let out = ws.run(&["--config", bad.to_str().unwrap(), "status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:3:1: unknown key `thme` (did you mean `theme`?)",
            bad.display()
        )),
        "{err}"
    );
    // The option is global: after the command too.
    let out = ws.run(&["status", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    // A missing --config file is an error too.
    let out = ws.run(&["--config", "/nonexistent/setpoint.toml", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/setpoint.toml: cannot read"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_theme_and_keymap_files_exit_2_naming_file_and_line() {
    let ws = Ws::new();
    demo_like(&ws);
    let conf = ws.path().join("config");
    std::fs::create_dir_all(conf.join("themes")).unwrap();
    std::fs::create_dir_all(conf.join("keymaps")).unwrap();

    std::fs::write(
        conf.join("themes/mono.toml"),
        "[status]\nready = \"green\"\nfaild = \"red\"\n",
    )
    .unwrap();
    let out = ws.run(&["--theme", "mono", "status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("themes/mono.toml:3:"), "{err}");
    assert!(
        err.contains("unknown theme key `status.faild` (did you mean `status.failed`?)"),
        "{err}"
    );

    std::fs::write(
        conf.join("keymaps/vim.toml"),
        "[units]\ndiff = \"x\"\nopen = \"x\"\n",
    )
    .unwrap();
    let err = stderr(&ws.run(&["--keymap", "vim", "status"]));
    assert!(
        err.contains("keymaps/vim.toml:3:") && err.contains("key `x` is bound twice in [units]"),
        "{err}"
    );

    std::fs::write(conf.join("keymaps/vim.toml"), "[units]\ndif = \"x\"\n").unwrap();
    let err = stderr(&ws.run(&["--keymap", "vim", "status"]));
    assert!(
        err.contains("keymaps/vim.toml:2:")
            && err.contains("unknown command `dif` (did you mean `diff`?)"),
        "{err}"
    );

    std::fs::write(
        conf.join("keymaps/vim.toml"),
        "[global]\nquit = \"ctrl-shift-banana\"\n",
    )
    .unwrap();
    let out = ws.run(&["--keymap", "vim", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("keymaps/vim.toml:2:") && stderr(&out).contains("is not a key"),
        "{}",
        stderr(&out)
    );

    let out = ws.run(&["--theme", "nosuch", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown theme `nosuch`"));
}

#[test]
fn bad_workspace_file_exits_2_with_line_and_field() {
    let ws = Ws::new();
    ws.spec("sources:\n  - name: s\n    url: ./repo\nenvironments:\n  - name: a\n    source: s\n    path: x\n    target: ./live/a\n    intervall: 5s\n");
    let out = ws.run(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("setpoint.yaml:9: unknown field `intervall` (did you mean `interval`?)"),
        "{err}"
    );
}

#[test]
fn units_by_id_or_unambiguous_suffix() {
    let ws = Ws::new();
    demo_like(&ws);
    ws.ok(&["agent", "--once"]);
    assert!(
        ws.ok(&["events", "staging"]).contains("InSync")
            || ws.ok(&["events", "staging"]).contains("Applied")
    );
    // prod and prod-eu both end in "prod" as text; only prod-eu is changed by hand, so which unit a
    // query picked shows in the exit code and in the unit the output names.
    std::fs::write(ws.live("prod-eu").join("app.yaml"), "replicas: 9\n").unwrap();
    let picked = |query: &str| -> (Option<i32>, serde_json::Value) {
        let out = ws.run(&["diff", query, "--output", "json"]);
        let json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("diff {query}: {e}: {}", stderr(&out)));
        (out.status.code(), json)
    };
    let (prod, prod_eu) = (ws.id("prod"), ws.id("prod-eu"));
    for query in [prod.as_str(), "prod", "/prod", "local/prod"] {
        let (code, json) = picked(query);
        assert_eq!(json["unit"], prod.as_str(), "{query} picked {json}");
        assert_eq!(code, Some(0), "{query}: prod is in sync");
    }
    for query in [prod_eu.as_str(), "prod-eu"] {
        let (code, json) = picked(query);
        assert_eq!(json["unit"], prod_eu.as_str(), "{query} picked {json}");
        assert_eq!(code, Some(1), "{query}: prod-eu was changed by hand");
    }
    // A suffix is whole name segments: `eu` and `rod` name nothing.
    for query in ["eu", "rod"] {
        let out = ws.run(&["diff", query]);
        assert_eq!(out.status.code(), Some(2), "{query}");
        assert!(
            stderr(&out).contains(&format!("no unit `{query}`")),
            "{}",
            stderr(&out)
        );
    }
    let out = ws.run(&["diff", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no unit `nope`; units are:")
            && stderr(&out).contains(&ws.id("staging"))
    );
}

#[test]
fn flux_without_a_cluster_is_a_configuration_or_backend_error() {
    let ws = Ws::new();
    // the Flux backend without a cluster: no kubeconfig is a configuration error (2), an API server that
    // cannot be reached a backend error (3)
    let flux = |kubeconfig: &std::path::Path| {
        ws.cmd()
            .env("KUBECONFIG", kubeconfig)
            .args(["--backend", "flux", "status"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = flux(&ws.path().join("no-kubeconfig"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("reading the kubeconfig"),
        "{}",
        stderr(&out)
    );
    let kubeconfig = ws.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: nowhere\n  context:\n    cluster: c\n    user: u\ncurrent-context: nowhere\n\
         users:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    let out = flux(&kubeconfig);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("context nowhere (flux): backend unavailable"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn protected_units_need_their_name_and_read_only_refuses_everything() {
    let ws = Ws::new();
    demo_like(&ws);
    ws.ok(&["agent", "--once"]);
    let out = ws.run(&["suspend", "prod", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--confirm prod"));
    ws.ok(&["suspend", "prod", "--reason", "x", "--confirm", "prod"]);
    ws.ok(&["resume", "prod", "--confirm", "prod"]);

    let before = ws.status();
    for args in [
        vec!["suspend", "staging", "--reason", "audit"],
        vec!["resume", "staging"],
        vec!["sync", "staging", "--with-source"],
        vec![
            "rollback",
            "staging",
            "--to",
            "sha1:0000000",
            "--reason",
            "audit",
        ],
    ] {
        let mut a = vec!["--read-only"];
        a.extend(args);
        let out = ws.run(&a);
        assert_eq!(out.status.code(), Some(3), "{a:?}");
        assert!(
            stderr(&out).contains("read-only audit mode: not allowed"),
            "{}",
            stderr(&out)
        );
    }
    let after = ws.status();
    assert_eq!(before["units"], after["units"], "read-only changed nothing");

    // Per-workspace read-only from the config file.
    read_only_in_settings(&ws);
    let out = ws.run(&["sync", "staging"]);
    assert_eq!(out.status.code(), Some(3));

    let audit: serde_json::Value =
        serde_json::from_str(&ws.ok(&["audit", "--output", "json"])).unwrap();
    let recs = audit.as_array().unwrap();
    let denied = recs
        .iter()
        .filter(|r| r["result"] == "denied" && r["readOnly"] == true)
        .count();
    assert_eq!(denied, 5, "{audit:#}");
    assert!(recs.iter().any(|r| r["result"] == "denied"
        && r["unit"] == ws.id("prod").as_str()
        && r["readOnly"] == false));
    assert_eq!(recs.iter().filter(|r| r["result"] == "ok").count(), 2);
    assert!(ws.ok(&["audit", "--limit", "1"]).lines().count() == 2);
}

#[test]
fn context_picks_a_workspace_named_in_the_settings() {
    let ws = Ws::new();
    demo_like(&ws);
    ws.ok(&["agent", "--once"]);
    let conf = read_only_in_settings(&ws);
    let name = ws.path().file_name().unwrap().to_str().unwrap().to_owned();
    // Run from a directory of the same name that is no workspace: the configured one is meant.
    let elsewhere = tempfile::tempdir().unwrap();
    let cwd = elsewhere.path().join(&name);
    std::fs::create_dir(&cwd).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_setpoint"))
            .current_dir(&cwd)
            .env("SETPOINT_CONFIG_DIR", &conf)
            .env("SETPOINT_DATA_DIR", ws.path().join("data"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--context", &name, "status", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["units"].as_array().unwrap().len(), 3);
    // The context's read-only setting applies.
    let out = run(&["--context", &name, "sync", "staging"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    let out = run(&["--context", "nope", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown context `nope`; valid contexts: "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(&name), "{}", stderr(&out));
}
