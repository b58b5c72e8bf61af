//! `setpoint audit` shows the workspace's shared record of operator actions (every user's, from the
//! workspace journal) with the local log, newest first, with context, target revision and options.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Stdio;

use support::Ws;

#[test]
fn another_users_data_dir_sees_the_workspaces_operator_actions() {
    let ws = Ws::new();
    ws.write("base/app.yaml", "name: web\n");
    ws.write("envs/a/overlay.yaml", "bases: [base]\n");
    let c1 = ws.commit("first");
    ws.write("base/app.yaml", "name: web2\n");
    ws.commit("second");
    ws.simple_spec(&[("a", "envs/a", "    interval: 1h\n")]);
    ws.ok(&["agent", "--once"]);
    // Operator one (the Ws's own data dir) acts.
    ws.ok(&["sync", "a", "--with-source"]);
    ws.ok(&[
        "rollback",
        "a",
        "--to",
        &format!("sha1:{c1}"),
        "--reason",
        "bad second",
    ]);

    // Operator two, with a data dir of their own, asks for the audit of the same workspace.
    let other = ws.path().join("other-data");
    let out = ws
        .cmd()
        .env("SETPOINT_DATA_DIR", &other)
        .args(["audit", "--output", "json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let recs = recs.as_array().unwrap();
    assert_eq!(recs.len(), 2, "{recs:#?}");
    assert_eq!(recs[0]["action"], "rollback", "newest first: {recs:#?}");
    assert_eq!(recs[0]["reason"], "bad second");
    assert_eq!(recs[0]["revision"], format!("sha1:{c1}"));
    assert!(recs[0]["context"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(recs[1]["action"], "sync");
    assert_eq!(recs[1]["options"], "withSource");

    // The first operator sees each of their actions once, with its result from the local log.
    let own: serde_json::Value =
        serde_json::from_str(&ws.ok(&["audit", "--output", "json"])).unwrap();
    let own = own.as_array().unwrap();
    assert_eq!(own.len(), 2, "{own:#?}");
    assert!(own.iter().all(|r| r["origin"] == "local log"), "{own:#?}");
    let table = ws.ok(&["audit"]);
    assert!(table.contains(&format!("to {}", &c1[..7])), "{table}");
}
