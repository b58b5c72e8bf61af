//! `setpoint demo --no-tui`: the demo workspace in the states the issue describes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::Ws;

#[test]
fn demo_shows_three_environments_in_the_described_states() {
    let ws = Ws::new();
    let dir = ws.path().join("demo");
    let d = dir.to_str().unwrap();
    let out = ws.ok(&["demo", d, "--no-tui"]);
    assert!(
        out.contains("UNIT") && out.contains("local/demo/prod"),
        "{out}"
    );

    let in_demo = |args: &[&str]| {
        let out = ws.cmd_at(&dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let status: serde_json::Value =
        serde_json::from_str(&in_demo(&["status", "--output", "json"])).unwrap();
    let unit = |n: &str| {
        status["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == n)
            .unwrap()
            .clone()
    };
    let (dev, staging, prod) = (unit("dev"), unit("staging"), unit("prod"));
    assert_eq!(status["units"].as_array().unwrap().len(), 3);

    assert_eq!(dev["status"], "suspended");
    assert!(
        dev["message"].as_str().unwrap().contains("load test"),
        "{dev}"
    );
    assert_eq!(dev["commitsBehind"], 1);

    assert_eq!(staging["status"], "ready");
    assert_eq!(staging["driftedObjects"], serde_json::json!(["nginx.conf"]));
    assert_eq!(staging["appliedRevision"], staging["latestRevision"]);

    assert_eq!(prod["status"], "failed");
    assert_eq!(prod["protected"], true);
    assert_eq!(
        prod["commitsBehind"], 1,
        "prod stays on its last good revision"
    );
    assert_ne!(prod["appliedRevision"], prod["latestRevision"]);
    let msg = prod["message"].as_str().unwrap();
    assert!(
        msg.contains("environments/prod/app.patch.yaml:") && msg.contains("still at last good"),
        "{msg}"
    );
    assert_eq!(status["units"][0]["name"], "prod", "failing first");

    let history: serde_json::Value =
        serde_json::from_str(&in_demo(&["history", "prod", "--output", "json"])).unwrap();
    let commits = history["commits"].as_array().unwrap();
    assert!(commits.len() >= 12, "at least 12 commits");
    let authors: std::collections::BTreeSet<&str> = commits
        .iter()
        .map(|c| c["author"].as_str().unwrap())
        .collect();
    assert!(authors.len() >= 3, "a few authors: {authors:?}");
    assert_eq!(commits[0]["failed"], true);
    assert_eq!(commits[1]["applied"], true);
    assert_eq!(commits[1]["lastGood"], true);

    // An existing demo is kept unless --force; --force never replaces a directory the demo did not make.
    let again = ws.run(&["demo", d, "--no-tui"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    ws.ok(&["demo", d, "--no-tui", "--force"]);
    let mine = ws.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("precious.txt"), "keep me").unwrap();
    let refused = ws.run(&["demo", mine.to_str().unwrap(), "--no-tui", "--force"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(mine.join("precious.txt")).unwrap(),
        "keep me"
    );

    // agent --once converges on the demo: nothing changes any more.
    let out = in_demo(&["agent", "--once"]);
    assert!(
        out.contains("staging ready") && out.contains("prod failed"),
        "{out}"
    );
}
