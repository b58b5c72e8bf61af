//! `setpoint compare A B` on the demo workspace: the commits staging runs that prod has not got, the files
//! that differ, the exit codes, the JSON contract, and what it says when it cannot compare.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::Ws;

fn demo(ws: &Ws) -> PathBuf {
    let dir = ws.path().join("demo");
    ws.ok(&["demo", dir.to_str().unwrap(), "--no-tui"]);
    dir
}

fn run_in(ws: &Ws, dir: &Path, args: &[&str]) -> Output {
    ws.cmd_at(dir).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The unit of the demo's status whose name is `name`.
fn unit(ws: &Ws, dir: &Path, name: &str) -> Value {
    let status = json(&run_in(ws, dir, &["status", "--output", "json"]));
    status["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no unit {name}"))
}

#[test]
fn staging_against_prod_lists_the_commit_and_the_files_that_differ() {
    let ws = Ws::new();
    let dir = demo(&ws);
    let (staging, prod) = (unit(&ws, &dir, "staging"), unit(&ws, &dir, "prod"));
    let (staging_id, prod_id) = (
        staging["id"].as_str().unwrap(),
        prod["id"].as_str().unwrap(),
    );
    // staging runs the newest commit; prod stays on the one before (the newest breaks its overlay).
    let newest = staging["appliedRevision"].as_str().unwrap();
    let sha = newest.rsplit(':').next().unwrap();
    assert_ne!(staging["appliedRevision"], prod["appliedRevision"]);

    let out = run_in(&ws, &dir, &["compare", "staging", "prod"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("1 commit in {staging_id} not yet in {prod_id}:")),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with(&sha[..7]))
        .unwrap_or_else(|| panic!("no row for {sha}: {text}"));
    assert!(
        row.contains("Grace Hopper") && row.contains("prod: tune upstream timeouts"),
        "{row}"
    );
    assert!(text.contains("2 of 3 files differ"), "{text}");
    for file in ["app.yaml", "flags.json"] {
        assert!(
            text.contains(&format!("--- {prod_id}/{file}\n+++ {staging_id}/{file}\n")),
            "{file}: {text}"
        );
    }
    assert!(
        !text.contains("/nginx.conf"),
        "nginx.conf is the same: {text}"
    );
    // prod's replicas and pool against staging's, and the flag only staging has on.
    for line in [
        "-  replicas: 6",
        "+  replicas: 3",
        "-  pool: 50",
        "+  pool: 10",
        "-  \"new-checkout\": false",
        "+  \"new-checkout\": true",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}`: {text}");
    }

    // The other way round: prod has nothing staging lacks, and the files differ all the same.
    let back = run_in(&ws, &dir, &["compare", "prod", "staging"]);
    let text = stdout(&back);
    assert_eq!(back.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "{staging_id} has every commit of {prod_id}'s revision"
        )),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "+  replicas: 6"), "{text}");
}

#[test]
fn json_contract_and_exit_codes() {
    let ws = Ws::new();
    let dir = demo(&ws);
    let (staging, prod) = (unit(&ws, &dir, "staging"), unit(&ws, &dir, "prod"));

    let out = run_in(
        &ws,
        &dir,
        &["compare", "staging", "prod", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let c = json(&out);
    assert_eq!(c["a"]["unit"], staging["id"]);
    assert_eq!(c["b"]["unit"], prod["id"]);
    assert_eq!(c["a"]["source"], "platform-config");
    assert_eq!(c["a"]["revision"], staging["appliedRevision"]);
    assert_eq!(c["b"]["revision"], prod["appliedRevision"]);
    assert_eq!(c["a"]["error"], Value::Null, "{c}");
    assert_eq!(c["b"]["error"], Value::Null, "{c}");
    assert_eq!(c["commitsNote"], Value::Null, "{c}");
    assert_eq!(c["verdict"], "different");
    let commits = c["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 1, "{c}");
    let commit = &commits[0];
    assert!(
        staging["appliedRevision"]
            .as_str()
            .unwrap()
            .ends_with(commit["sha"].as_str().unwrap())
    );
    assert_eq!(commit["sha"].as_str().unwrap().len(), 40);
    assert_eq!(commit["author"], "Grace Hopper");
    assert_eq!(commit["summary"], "prod: tune upstream timeouts");
    assert!(
        commit["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
    let objects = c["objects"].as_array().unwrap();
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o["object"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app.yaml", "flags.json"]);
    for o in objects {
        assert_eq!(o["change"], "modified");
        assert_ne!(o["a"], o["b"]);
        assert_eq!(o["masked"], false);
    }
    assert!(objects[0]["a"].as_str().unwrap().contains("replicas: 3"));
    assert!(objects[0]["b"].as_str().unwrap().contains("replicas: 6"));
    assert_eq!(c["unchanged"], serde_json::json!(["nginx.conf"]));

    // A unit against itself: equal, nothing to promote.
    let same = run_in(&ws, &dir, &["compare", "staging", "staging"]);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    assert!(stdout(&same).contains("desired states are equal (3 files)"));
    let same = json(&run_in(
        &ws,
        &dir,
        &["compare", "staging", "staging", "--output", "json"],
    ));
    assert_eq!(same["verdict"], "equal");
    assert_eq!(same["commits"], serde_json::json!([]));
    assert_eq!(same["objects"], serde_json::json!([]));

    // An unknown unit is a usage error naming the units there are.
    let unknown = run_in(&ws, &dir, &["compare", "staging", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("no unit `nope`"), "{err}");
    assert!(unknown.stdout.is_empty());
}

#[test]
fn says_what_it_cannot_compare_instead_of_claiming_equal() {
    let ws = Ws::new();
    let dir = demo(&ws);
    // qa follows the same repository under another source name, with staging's overlay; not reconciled yet.
    let spec = dir.join("setpoint.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap();
    let yaml = yaml
        .replace(
            "environments:\n",
            "  - name: mirror-config\n    url: ./repos/platform-config.git\n    branch: main\nenvironments:\n",
        )
        .replace(
            "  - name: staging\n",
            "  - name: qa\n    source: mirror-config\n    path: environments/staging\n    target: ./live/qa\n  - name: staging\n",
        );
    std::fs::write(&spec, yaml).unwrap();

    let out = run_in(&ws, &dir, &["compare", "staging", "qa", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let c = json(&out);
    assert_eq!(c["verdict"], "unknown");
    assert_eq!(c["a"]["error"], Value::Null, "{c}");
    assert!(
        c["b"]["error"]
            .as_str()
            .unwrap()
            .contains("qa has not applied a revision yet"),
        "{c}"
    );
    assert_eq!(c["commits"], Value::Null);
    assert!(
        c["commitsNote"]
            .as_str()
            .unwrap()
            .contains("different sources"),
        "{c}"
    );
    let text = stdout(&run_in(&ws, &dir, &["compare", "staging", "qa"]));
    assert!(
        text.contains("desired states not compared") && text.contains("qa has not applied"),
        "{text}"
    );

    // A state file that cannot be read is named, not taken for "nothing applied".
    let status = dir.join(".setpoint/environments/prod/status.json");
    let kept = std::fs::read(&status).unwrap();
    std::fs::write(&status, b"{\"applied\": ").unwrap();
    let out = run_in(
        &ws,
        &dir,
        &["compare", "staging", "prod", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let c = json(&out);
    let error = c["b"]["error"].as_str().unwrap();
    assert!(
        error.contains("status.json") && !error.contains("has not applied"),
        "{error}"
    );
    std::fs::write(&status, kept).unwrap();

    // Once qa has applied the same overlay at the same commit, the desired states are equal; the commits
    // of two sources are still not compared.
    let agent = run_in(&ws, &dir, &["agent", "--once"]);
    assert!(agent.status.success(), "{}", stdout(&agent));
    let out = run_in(&ws, &dir, &["compare", "staging", "qa", "--output", "json"]);
    let c = json(&out);
    assert_eq!(out.status.code(), Some(0), "{c}");
    assert_eq!(c["verdict"], "equal");
    assert_eq!(c["commits"], Value::Null);
    assert!(c["commitsNote"].as_str().unwrap().contains("mirror-config"));
}
