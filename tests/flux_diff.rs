//! The Flux diff against the real tier (tests/k8s_tier): a plain directory and an overlay with a
//! kustomization.yaml, the Kustomization's patches/namePrefix/targetNamespace/postBuild; drift made by
//! editing live objects with kube, a Secret masked, an annotated object skipped, a pruned object shown
//! removed, an unreadable substituteFrom said in the header; and the set of changed objects compared with
//! what `flux diff kustomization` (the tier's flux CLI) reports on the same cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod k8s_tier;
mod tmux_harness;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use k8s_tier::{BoxError, Check, Repo, Tier, err, git, git_repository, kustomization, wait_for};

const NS: &str = "fd";
const TARGET_NS: &str = "fd-target";
const POLL: Duration = Duration::from_millis(250);
const LONG: Duration = Duration::from_secs(120);

#[test]
fn flux_diff_on_the_tier() {
    k8s_tier::run_on_tier("flux diff test", |tier| Box::pin(run(tier)));
}

fn cm(name: &str, extra_meta: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {NS}\n{extra_meta}data:\n{data}"
    )
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: fd\n\
                      stringData:\n  password: hunter2\n  user: admin\n";

const OVERLAY_K: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
                         resources:\n  - settings.yaml\ncommonLabels:\n  tier: overlay\n";
const SETTINGS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  \
                        env: \"${env}\"\n  region: \"${region:=eu}\"\n  size: small\n";

/// Runs setpoint's CLI `diff` on a unit; the exit code and the JSON.
fn setpoint_diff(tier: &Tier, dirs: &Path, unit: &str, path: Option<&str>) -> (i32, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_setpoint"));
    cmd.args([
        "--backend",
        "flux",
        "--context",
        "admin",
        "diff",
        unit,
        "--output",
        "json",
    ])
    .env("KUBECONFIG", tier.kubeconfig())
    .env("SETPOINT_CONFIG_DIR", dirs.join("config"))
    .env("SETPOINT_DATA_DIR", dirs.join("data"));
    match path {
        Some(p) => {
            cmd.env("PATH", p).env_remove("SETPOINT_KUSTOMIZE");
        }
        None => {
            cmd.env("SETPOINT_KUSTOMIZE", tier.kustomize_bin().unwrap());
        }
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// The changed objects of setpoint's JSON as `flux diff` words them: `Kind/ns/name drifted|created|deleted`.
fn changed_set(json: &Value) -> BTreeSet<String> {
    json["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let word = match o["change"].as_str().unwrap_or("") {
                "modified" => "drifted",
                "added" => "created",
                "removed" => "deleted",
                other => other,
            };
            format!("{} {word}", o["object"].as_str().unwrap_or(""))
        })
        .collect()
}

/// `flux diff kustomization NAME --path DIR`: its exit code and the set of changed objects it reports.
fn flux_diff(
    tier: &Tier,
    name: &str,
    dir: &Path,
) -> Result<(i32, BTreeSet<String>, String), BoxError> {
    let out = Command::new(tier.flux_bin()?)
        .args([
            "diff",
            "kustomization",
            name,
            "--namespace",
            NS,
            "--context",
            "admin",
        ])
        .arg("--path")
        .arg(dir)
        .arg("--progress-bar=false")
        .env("KUBECONFIG", tier.kubeconfig())
        .env("HOME", dir.parent().unwrap_or(dir))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let set = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("► "))
        .filter(|l| !l.ends_with(" skipped"))
        .map(str::to_owned)
        .collect();
    Ok((
        out.status.code().unwrap_or(-1),
        set,
        format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
    ))
}

async fn ready_at(ks: &Api<DynamicObject>, name: &str, rev: &str) -> Result<(), BoxError> {
    wait_for(&format!("{name} applied at {rev}"), LONG, POLL, || async {
        let o = ks.get(name).await?;
        let applied = o
            .data
            .pointer("/status/lastAppliedRevision")
            .and_then(Value::as_str)
            .unwrap_or("");
        Ok(if applied == rev {
            Check::Done(())
        } else {
            Check::Pending(format!("{:?}", o.data.get("status")))
        })
    })
    .await
}

async fn run(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let dirs = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "fd")?;
    let skip_meta = "  annotations:\n    kustomize.toolkit.fluxcd.io/reconcile: disabled\n";
    let c1 = repo.commit(
        "first",
        &[
            ("plain/app.yaml", Some(&cm("app", "", "  color: blue\n"))),
            ("plain/creds.yaml", Some(SECRET)),
            (
                "plain/skipped.yaml",
                Some(&cm("skipped", skip_meta, "  x: \"1\"\n")),
            ),
            ("plain/gone.yaml", Some(&cm("gone", "", "  y: \"1\"\n"))),
            ("overlay/kustomization.yaml", Some(OVERLAY_K)),
            ("overlay/settings.yaml", Some(SETTINGS)),
        ],
    )?;
    let rev1 = format!("main@sha1:{c1}");

    let namespaces = Api::<Namespace>::all(admin.clone());
    for ns in [NS, TARGET_NS] {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
            )
            .await?;
    }
    let post = PostParams::default();
    Api::<ConfigMap>::namespaced(admin.clone(), NS)
        .create(
            &post,
            &serde_json::from_value(
                json!({"metadata": {"name": "vars"}, "data": {"region": "us"}}),
            )?,
        )
        .await?;
    // live before the Kustomization: the controller leaves it alone (reconcile: disabled). An annotated
    // object that is not live is also left alone, but flux diff 2.9.5 then names it "ConfigMap/ skipped"
    // and reports it deleted (its empty subject is missing from the new inventory); setpoint does not.
    Api::<ConfigMap>::namespaced(admin.clone(), NS)
        .create(
            &post,
            &serde_json::from_value(json!({"metadata": {"name": "skipped"}, "data": {"x": "0"}}))?,
        )
        .await?;
    let gitrepos: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &git_repository());
    let ks: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &kustomization());
    gitrepos
        .create(&post, &serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "fd", "namespace": NS},
            "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "10m", "timeout": "30s"}
        }))?)
        .await?;
    let base_spec = |path: &str| {
        json!({"sourceRef": {"kind": "GitRepository", "name": "fd"}, "path": path,
                                        "prune": true, "wait": false, "interval": "10m", "timeout": "1m"})
    };
    ks.create(
        &post,
        &serde_json::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "plain", "namespace": NS}, "spec": base_spec("./plain"),
        }))?,
    )
    .await?;
    let mut over = base_spec("./overlay");
    over["targetNamespace"] = json!(TARGET_NS);
    over["namePrefix"] = json!("p-");
    over["patches"] = json!([{"patch": "- op: add\n  path: /data/patched\n  value: \"yes\"",
                              "target": {"kind": "ConfigMap"}}]);
    over["postBuild"] = json!({"substitute": {"env": "prod"},
                               "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]});
    ks.create(
        &post,
        &serde_json::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "over", "namespace": NS}, "spec": over,
        }))?,
    )
    .await?;
    ready_at(&ks, "plain", &rev1).await?;
    ready_at(&ks, "over", &rev1).await?;

    // the controller applied the overlay as setpoint builds it: prefix, target namespace, patch, variables
    let settings = Api::<ConfigMap>::namespaced(admin.clone(), TARGET_NS)
        .get("p-settings")
        .await?;
    let data = settings.data.unwrap_or_default();
    assert_eq!(data.get("env").map(String::as_str), Some("prod"));
    assert_eq!(data.get("region").map(String::as_str), Some("us"));
    assert_eq!(data.get("patched").map(String::as_str), Some("yes"));

    // --- in sync right after the controller applied: exit 0, complete, the skipped object said
    let checkout = scratch.path().join("checkout");
    git(
        scratch.path(),
        &[
            "clone",
            "--quiet",
            &repo.work.to_string_lossy(),
            &checkout.to_string_lossy(),
        ],
    )?;
    git(&checkout, &["checkout", "--quiet", &c1])?;
    for (name, dir) in [("plain", "plain"), ("over", "overlay")] {
        let unit = format!("flux/admin/{NS}/Kustomization/{name}");
        let (code, json, stderr) = setpoint_diff(tier, dirs.path(), &unit, None);
        assert_eq!(code, 0, "{name} in sync: {json:#}\n{stderr}");
        assert_eq!(json["complete"], true, "{json:#}");
        assert_eq!(json["inSync"], true);
        let from = json["desiredFrom"].as_str().unwrap_or("");
        assert!(
            from.contains(&rev1) && from.contains("source-controller artifact"),
            "{json:#}"
        );
        let (fcode, fset, ftext) = flux_diff(tier, name, &checkout.join(dir))?;
        assert_eq!(
            (fcode, fset.len()),
            (0, 0),
            "flux diff {name} in sync: {ftext}"
        );
    }
    let (_, json, _) = setpoint_diff(
        tier,
        dirs.path(),
        &format!("flux/admin/{NS}/Kustomization/plain"),
        None,
    );
    let notes = json["notes"].to_string();
    assert!(
        notes.contains("ConfigMap/fd/skipped"),
        "the skipped object is said: {notes}"
    );

    // --- drift, made with kube under another field manager; the suspended Kustomizations stay as they are
    let suspend = json!({"spec": {"suspend": true}});
    for name in ["plain", "over"] {
        ks.patch(name, &PatchParams::default(), &Patch::Merge(&suspend))
            .await?;
    }
    let edit = PatchParams::default();
    let cms = Api::<ConfigMap>::namespaced(admin.clone(), NS);
    cms.patch(
        "app",
        &edit,
        &Patch::Merge(&json!({"data": {"color": "red"}})),
    )
    .await?;
    cms.patch(
        "skipped",
        &edit,
        &Patch::Merge(&json!({"data": {"x": "edited"}})),
    )
    .await?;
    Api::<Secret>::namespaced(admin.clone(), NS)
        .patch(
            "creds",
            &edit,
            &Patch::Merge(&json!({"stringData": {"password": "changed-live"}})),
        )
        .await?;
    Api::<ConfigMap>::namespaced(admin.clone(), TARGET_NS)
        .patch(
            "p-settings",
            &edit,
            &Patch::Merge(&json!({"data": {"size": "large"}})),
        )
        .await?;
    // gone: dropped from the desired state by a patch of the Kustomization, so prune would delete it
    ks.patch(
        "plain",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"patches": [{
        "patch": "$patch: delete\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n",
        "target": {"kind": "ConfigMap", "name": "gone"}}]}})),
    )
    .await?;

    let plain_unit = format!("flux/admin/{NS}/Kustomization/plain");
    let (code, json, stderr) = setpoint_diff(tier, dirs.path(), &plain_unit, None);
    assert_eq!(code, 1, "plain differs: {json:#}\n{stderr}");
    let ours = changed_set(&json);
    let want: BTreeSet<String> = [
        "ConfigMap/fd/app drifted",
        "Secret/fd/creds drifted",
        "ConfigMap/fd/gone deleted",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(ours, want, "{json:#}");
    let text = json.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("changed-live"),
        "Secret values masked: {text}"
    );
    let app = json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["object"] == "ConfigMap/fd/app")
        .unwrap();
    let (desired, live) = (
        app["desired"].as_str().unwrap(),
        app["live"].as_str().unwrap(),
    );
    assert!(
        desired.contains("color: blue") && live.contains("color: red"),
        "{app:#}"
    );
    for noise in [
        "managedFields",
        "resourceVersion",
        "uid:",
        "creationTimestamp",
    ] {
        assert!(
            !desired.contains(noise) && !live.contains(noise),
            "{noise} shown: {app:#}"
        );
    }
    let creds = json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["object"] == "Secret/fd/creds")
        .unwrap();
    assert_eq!(creds["masked"], true);
    let (fcode, fset, ftext) = flux_diff(tier, "plain", &checkout.join("plain"))?;
    assert_eq!(fcode, 1, "{ftext}");
    assert_eq!(
        ours, fset,
        "setpoint and flux diff agree on plain:\n{ftext}"
    );

    let over_unit = format!("flux/admin/{NS}/Kustomization/over");
    let (code, json, stderr) = setpoint_diff(tier, dirs.path(), &over_unit, None);
    assert_eq!(code, 1, "over differs: {json:#}\n{stderr}");
    let ours = changed_set(&json);
    assert_eq!(
        ours,
        BTreeSet::from([format!("ConfigMap/{TARGET_NS}/p-settings drifted")]),
        "{json:#}"
    );
    let (fcode, fset, ftext) = flux_diff(tier, "over", &checkout.join("overlay"))?;
    assert_eq!(fcode, 1, "{ftext}");
    assert_eq!(ours, fset, "setpoint and flux diff agree on over:\n{ftext}");

    // --- the source moved on (artifact at a new commit) while the applied revision stays: the applied
    // commit is cloned with gix, and the diff is the same
    let c2 = repo.commit(
        "second",
        &[("plain/app.yaml", Some(&cm("app", "", "  color: green\n")))],
    )?;
    let rev2 = format!("main@sha1:{c2}");
    let token = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "fd-2"}}});
    gitrepos
        .patch("fd", &PatchParams::default(), &Patch::Merge(&token))
        .await?;
    wait_for("the artifact at the second commit", LONG, POLL, || async {
        let o = gitrepos.get("fd").await?;
        let r = o
            .data
            .pointer("/status/artifact/revision")
            .and_then(Value::as_str)
            .unwrap_or("");
        Ok(if r == rev2 {
            Check::Done(())
        } else {
            Check::Pending(r.to_owned())
        })
    })
    .await?;
    let (code, json, stderr) = setpoint_diff(tier, dirs.path(), &plain_unit, None);
    assert_eq!(code, 1, "{json:#}\n{stderr}");
    let from = json["desiredFrom"].as_str().unwrap_or("");
    assert!(from.contains(&rev1) && from.contains("gix"), "{from}");
    assert_eq!(changed_set(&json), want, "{json:#}");

    // --- an unreadable substituteFrom: said, and never "in sync"
    Api::<ConfigMap>::namespaced(admin.clone(), TARGET_NS)
        .patch(
            "p-settings",
            &edit,
            &Patch::Merge(&json!({"data": {"size": "small"}})),
        )
        .await?;
    let mut post_build = json!({"substitute": {"env": "prod"},
        "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}, {"kind": "Secret", "name": "absent"}]});
    ks.patch(
        "over",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"postBuild": post_build.take()}})),
    )
    .await?;
    let (code, json, stderr) = setpoint_diff(tier, dirs.path(), &over_unit, None);
    assert_eq!(code, 2, "cannot know: {json:#}\n{stderr}");
    assert_eq!(json["complete"], false);
    assert_eq!(json["inSync"], false);
    let uncovered = json["uncovered"].to_string();
    assert!(uncovered.contains("Secret/fd/absent"), "{uncovered}");
    // the text output says it in its header and does not claim in sync
    let out = Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args([
            "--backend",
            "flux",
            "--context",
            "admin",
            "diff",
            &over_unit,
        ])
        .env("KUBECONFIG", tier.kubeconfig())
        .env("SETPOINT_CONFIG_DIR", dirs.path().join("config"))
        .env("SETPOINT_DATA_DIR", dirs.path().join("data"))
        .env("SETPOINT_KUSTOMIZE", tier.kustomize_bin()?)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("# not covered: postBuild.substituteFrom Secret/fd/absent"),
        "{text}"
    );
    assert!(
        text.contains("cannot know") && !text.contains(": in sync"),
        "{text}"
    );

    // --- the console: the diff view shows what is not covered above its panes, and the drifted objects
    console(tier)?;

    // --- no kustomize anywhere: a clear error naming what to install
    let (code, _, stderr) = setpoint_diff(tier, dirs.path(), &plain_unit, Some("/nonexistent"));
    assert!(
        code >= 2 && stderr.contains("install kustomize"),
        "{code}: {stderr}"
    );
    if code < 2 {
        return Err(err("missing kustomize was not an error"));
    }
    Ok(())
}

/// The console in tmux on the tier: the incomplete diff of `over` says what it does not cover; the diff
/// of `plain` lists its drifted objects.
fn console(tier: &Tier) -> Result<(), BoxError> {
    if !tmux_harness::have_tmux() {
        return Ok(());
    }
    let env = tmux_harness::Env::new();
    let start = || -> Result<(), BoxError> {
        env.start_cmd(&format!(
            "env KUBECONFIG='{}' SETPOINT_CONFIG_DIR='{}' SETPOINT_DATA_DIR='{}' SETPOINT_KUSTOMIZE='{}' \
             TERM=xterm-256color '{}' --backend flux --context admin",
            tier.kubeconfig().display(),
            env.config.display(),
            env.data.display(),
            tier.kustomize_bin()?,
            tmux_harness::BIN
        ));
        Ok(())
    };
    start()?;
    env.wait_for("Units (2)");
    env.select("over");
    env.keys(&["d"]);
    env.wait_for("not covered: postBuild.substituteFrom Secret/fd/absent");
    env.wait_for("desired: applied revision");
    env.quit();
    // a fresh console: the units filter of the first one would stay
    start()?;
    env.wait_for("Units (2)");
    env.select("plain");
    env.keys(&["d"]);
    let screen = env.wait_for("ConfigMap/fd/app");
    if !screen.contains("differ") {
        return Err(err(format!(
            "the plain diff lists no differences:\n{screen}"
        )));
    }
    env.quit();
    Ok(())
}
