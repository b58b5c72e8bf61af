//! The Argo CD diff and history against the tier's real Argo CD (application-controller, repo-server and API
//! server), through the real binary. An Application synced, then a live object edited by hand and a commit
//! pushed that changes one object, adds one and deletes one: `diff` shows exactly those objects, rendered
//! locally (no argocd CLI config) and from the API server (the argocd CLI's config, logged in as admin),
//! and both ways agree. A Helm app without helm: the header says so, exit 2. A multi-source app: its directory
//! rendered, its Helm repository chart listed as not covered. `history` lists the source's
//! commits marked with what was deployed, `status` the commits behind. Then Helm (with the tier's helm, when
//! built) and kustomize apps with overrides: in sync after a sync, a live edit shown (argo_diff/render.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod k8s_tier;
#[path = "argo_diff/render.rs"]
mod render;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use k8s_tier::objects::describe_application;
use k8s_tier::watching::str_at;
use k8s_tier::{
    ARGOCD_IN_CLUSTER, ARGOCD_NAMESPACE, BoxError, Check, Repo, Tier, application, config_map, err,
    wait_for,
};

const NS: &str = "argo-diff";
const POLL: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(180);

#[test]
fn argo_diff_and_history_on_the_tier() {
    k8s_tier::run_on_tier_with_argo("Argo CD diff", |tier| Box::pin(steps(tier)));
}

fn unit(name: &str) -> String {
    format!("argo/admin/{ARGOCD_NAMESPACE}/Application/{name}")
}

fn app(name: &str, url: &str, path: &str) -> Result<DynamicObject, BoxError> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": {"project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": path},
            "destination": {"server": ARGOCD_IN_CLUSTER, "namespace": NS},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}}
    }))?)
}

async fn until(
    apps: &Api<DynamicObject>,
    what: &str,
    ok: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject, BoxError> {
    wait_for(what, LONG, POLL, || async {
        let a = apps.get("plain").await?;
        Ok(if ok(&a) {
            Check::Done(a)
        } else {
            Check::Pending(describe_application(&a))
        })
    })
    .await
}

/// The OutOfSync objects of `status.resources`, as `kind/name`.
fn out_of_sync(a: &DynamicObject) -> BTreeSet<String> {
    a.data
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == "OutOfSync")
        .map(|r| {
            format!(
                "{}/{}",
                r["kind"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

struct Cli<'a> {
    tier: &'a Tier,
    dirs: tempfile::TempDir,
    /// The helm program (`SETPOINT_HELM`); None: no helm (PATH has none).
    helm: Option<String>,
}

impl Cli<'_> {
    /// The real binary with the argocd CLI config of `argocd_dir` (an empty directory: none): (exit code,
    /// stdout).
    fn run(&self, argocd_dir: &Path, args: &[&str]) -> Result<(i32, String), BoxError> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_setpoint"));
        match &self.helm {
            Some(h) => cmd.env("SETPOINT_HELM", h),
            None => cmd.env_remove("SETPOINT_HELM"),
        };
        let out = cmd
            .args(["--backend", "argo", "--context", "admin"])
            .args(args)
            .env("KUBECONFIG", self.tier.kubeconfig())
            .env("SETPOINT_CONFIG_DIR", self.dirs.path().join("config"))
            .env("SETPOINT_DATA_DIR", self.dirs.path().join("data"))
            .env("SETPOINT_KUSTOMIZE", self.tier.kustomize_bin()?)
            .env("HOME", self.dirs.path())
            .env("ARGOCD_CONFIG_DIR", argocd_dir)
            .env_remove("ARGOCD_SERVER")
            .env("PATH", "/usr/bin:/bin") // no helm
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!(
            "setpoint {args:?} -> {:?}\n{stdout}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.code().unwrap_or(-1), stdout))
    }

    /// `diff --output json`: exit code, the JSON, and the changed objects as `object change`.
    fn diff(
        &self,
        argocd_dir: &Path,
        name: &str,
    ) -> Result<(i32, Value, BTreeSet<String>), BoxError> {
        let (code, out) = self.run(argocd_dir, &["diff", &unit(name), "--output", "json"])?;
        let v: Value = serde_json::from_str(&out).map_err(|e| err(format!("{e}: {out}")))?;
        let changed = v["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                format!(
                    "{} {}",
                    o["object"].as_str().unwrap_or(""),
                    o["change"].as_str().unwrap_or("")
                )
            })
            .collect();
        Ok((code, v, changed))
    }
}

/// Logs in to the tier's Argo CD API server as admin and writes an argocd CLI config for it in `dir`.
async fn login(tier: &Tier, dir: &Path) -> Result<(), BoxError> {
    let url = tier.var("ARGOCD_SERVER_URL")?.to_owned();
    let password = tier.var("ARGOCD_ADMIN_PASSWORD")?.to_owned();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || session(&url, &password, &dir))
        .await
        .map_err(|e| err(e.to_string()))?
}

fn session(url: &str, password: &str, dir: &Path) -> Result<(), BoxError> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?
        .post(format!("{url}/api/v1/session"))
        .header("Content-Type", "application/json")
        .body(json!({"username": "admin", "password": password}).to_string())
        .send()?;
    let status = resp.status();
    let body = resp.text()?;
    if !status.is_success() {
        return Err(err(format!("POST /api/v1/session: {status} {body}")));
    }
    let token: Value = serde_json::from_str(&body)?;
    let token = token["token"].as_str().ok_or("no token in the session")?;
    let server = url.trim_start_matches("http://");
    std::fs::write(
        dir.join("config"),
        format!(
            "contexts:\n- name: {server}\n  server: {server}\n  user: {server}\ncurrent-context: {server}\n\
             servers:\n- grpc-web-root-path: \"\"\n  plain-text: true\n  server: {server}\n\
             users:\n- auth-token: {token}\n  name: {server}\n"
        ),
    )?;
    Ok(())
}

async fn steps(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "argo-diff")?;
    let cm = |name: &str, rev: &str| config_map(NS, name, rev);
    let c1 = repo.commit(
        "first",
        &[
            ("plain/a.yaml", Some(&cm("a", "1"))),
            ("plain/b.yaml", Some(&cm("b", "1"))),
            ("plain/d.yaml", Some(&cm("d", "1"))),
            ("plain/notes.md", Some("not a manifest\n")),
            (
                "chart/Chart.yaml",
                Some("apiVersion: v2\nname: chart\nversion: 0.1.0\n"),
            ),
            ("chart/templates/cm.yaml", Some(&cm("from-chart", "1"))),
            ("multi/m.yaml", Some(&cm("m", "1"))),
        ],
    )?;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    let post = PostParams::default();
    apps.create(&post, &app("plain", &repo.url, "plain")?)
        .await?;
    apps.create(&post, &app("chart", &repo.url, "chart")?)
        .await?;
    until(&apps, "plain compared with c1", |a| {
        str_at(a, "/status/sync/revision") == c1
    })
    .await?;
    let op = json!({"operation": {"initiatedBy": {"username": "argo-diff-test"},
        "sync": {"revision": c1, "syncOptions": ["CreateNamespace=true"]}}});
    apps.patch("plain", &PatchParams::default(), &Patch::Merge(&op))
        .await?;
    until(&apps, "plain synced at c1", |a| {
        str_at(a, "/status/sync/status") == "Synced"
            && str_at(a, "/status/operationState/phase") == "Succeeded"
            && str_at(a, "/status/operationState/syncResult/revision") == c1
    })
    .await?;

    let cli = Cli {
        tier,
        dirs: tempfile::tempdir()?,
        helm: None,
    };
    let none = tempfile::tempdir()?; // no argocd CLI config
    let api_dir = tempfile::tempdir()?;
    login(tier, api_dir.path()).await?;

    // synced: both ways find nothing (Argo CD's tracking annotation is no difference)
    let (code, v, changed) = cli.diff(none.path(), "plain")?;
    let from = v["desiredFrom"].as_str().unwrap_or_default();
    if code != 0
        || !changed.is_empty()
        || !from.starts_with("rendered locally:")
        || !from.contains(&c1[..12])
    {
        return Err(err(format!("local diff when synced: exit {code}: {v}")));
    }
    let (code, v, changed) = cli.diff(api_dir.path(), "plain")?;
    if code != 0 || !changed.is_empty() {
        return Err(err(format!("API diff when synced: exit {code}: {v}")));
    }

    // a live object edited by hand, and a commit that changes b, adds c and deletes d
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"revision": "by hand"}})),
    )
    .await?;
    let c2 = repo.commit(
        "second",
        &[
            ("plain/b.yaml", Some(&cm("b", "2"))),
            ("plain/c.yaml", Some(&cm("c", "2"))),
            ("plain/d.yaml", None),
        ],
    )?;
    let refresh = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}});
    apps.patch("plain", &PatchParams::default(), &Patch::Merge(&refresh))
        .await?;
    let want_oos: BTreeSet<String> = ["ConfigMap/a", "ConfigMap/b", "ConfigMap/c", "ConfigMap/d"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    until(&apps, "plain compared with c2, a b c d OutOfSync", |a| {
        str_at(a, "/status/sync/revision") == c2 && out_of_sync(a) == want_oos
    })
    .await?;

    let want: BTreeSet<String> = [
        format!("ConfigMap/{NS}/a modified"),
        format!("ConfigMap/{NS}/b modified"),
        format!("ConfigMap/{NS}/c added"),
        format!("ConfigMap/{NS}/d removed"),
    ]
    .into_iter()
    .collect();
    let (code, local, local_changed) = cli.diff(none.path(), "plain")?;
    if code != 1 || local_changed != want {
        return Err(err(format!(
            "local diff: exit {code}: {local_changed:?}: {local}"
        )));
    }
    let from = local["desiredFrom"].as_str().unwrap_or_default();
    if !from.contains(&c2[..12]) || !from.contains("(directory, from setpoint's mirror)") {
        return Err(err(format!("local diff header: {from}")));
    }
    let a = local["objects"]
        .as_array()
        .and_then(|os| {
            os.iter()
                .find(|o| o["object"] == format!("ConfigMap/{NS}/a"))
        })
        .ok_or("a not in the diff")?;
    if !a["live"].as_str().unwrap_or("").contains("by hand")
        || !a["desired"]
            .as_str()
            .unwrap_or("")
            .contains("revision: '1'")
            && !a["desired"]
                .as_str()
                .unwrap_or("")
                .contains("revision: \"1\"")
    {
        return Err(err(format!("a's sides: {a}")));
    }

    let (code, api, api_changed) = cli.diff(api_dir.path(), "plain")?;
    let from = api["desiredFrom"].as_str().unwrap_or_default();
    if code != 1
        || !from.starts_with(&format!(
            "Argo CD API server {}",
            tier.var("ARGOCD_SERVER_URL")?
        ))
    {
        return Err(err(format!("API diff: exit {code}: {api}")));
    }
    if api_changed != local_changed {
        return Err(err(format!(
            "the API server's diff {api_changed:?} and the local render's {local_changed:?} differ"
        )));
    }

    // a token the server refuses: rendered locally, and said why
    let bad = tempfile::tempdir()?;
    let text = std::fs::read_to_string(api_dir.path().join("config"))?;
    let token_line = text
        .lines()
        .find(|l| l.contains("auth-token"))
        .ok_or("no token line")?;
    std::fs::write(
        bad.path().join("config"),
        text.replace(token_line, "- auth-token: not-a-token"),
    )?;
    let (code, v, changed) = cli.diff(bad.path(), "plain")?;
    let notes = v["notes"].to_string();
    if code != 1 || changed != want || !notes.contains("the Argo CD API server could not be used") {
        return Err(err(format!("refused token: exit {code}: {v}")));
    }

    // a Helm chart and no helm: the header says so; nothing else found: exit 2
    let (code, v, changed) = cli.diff(none.path(), "chart")?;
    if code != 2 || !changed.is_empty() || !v["uncovered"].to_string().contains("helm not on PATH")
    {
        return Err(err(format!("helm missing: exit {code}: {v}")));
    }

    // multi-source: the directory source rendered (Argo CD reports no revision: the head of main), the chart
    // from a Helm repository listed as not covered
    let multi: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "multi", "namespace": ARGOCD_NAMESPACE},
        "spec": {"project": "default",
            "sources": [
                {"repoURL": repo.url, "targetRevision": "main", "path": "multi"},
                {"repoURL": "http://127.0.0.1:9/charts", "chart": "nothing", "targetRevision": "1.0.0"}],
            "destination": {"server": ARGOCD_IN_CLUSTER, "namespace": NS}}
    }))?;
    apps.create(&post, &multi).await?;
    let (code, v, changed) = cli.diff(none.path(), "multi")?;
    let from = v["desiredFrom"].as_str().unwrap_or_default();
    let uncovered = v["uncovered"].to_string();
    if code != 1
        || changed != BTreeSet::from([format!("ConfigMap/{NS}/m added")])
        || !from.contains(&format!("{} multi at {}", repo.url, &c2[..12]))
        || !uncovered
            .contains("source 2 (http://127.0.0.1:9/charts): chart nothing from a Helm repository")
    {
        return Err(err(format!("multi-source: exit {code}: {v}")));
    }

    // history: the source's commits, c1 deployed, c2 not yet; status: one commit behind
    let (code, out) = cli.run(
        none.path(),
        &["history", &unit("plain"), "--output", "json"],
    )?;
    let h: Value = serde_json::from_str(&out).map_err(|e| err(format!("{e}: {out} ({code})")))?;
    let entries = h["commits"]
        .as_array()
        .ok_or_else(|| err(format!("history: {h}")))?;
    let entry = |sha: &str| {
        entries
            .iter()
            .find(|e| e["revision"].as_str().unwrap_or("").ends_with(sha))
            .cloned()
    };
    let (e1, e2) = (entry(&c1), entry(&c2));
    match (&e1, &e2) {
        (Some(e1), Some(e2))
            if e1["applied"] == true && e2["applied"] != true && e2["summary"] == "second" => {}
        _ => return Err(err(format!("history: c1 {e1:?} c2 {e2:?} in {h}"))),
    }
    let (_, out) = cli.run(none.path(), &["status", "--output", "json"])?;
    let s: Value = serde_json::from_str(&out)?;
    let u = s["units"]
        .as_array()
        .and_then(|us| us.iter().find(|u| u["id"] == unit("plain")).cloned())
        .ok_or("plain not listed")?;
    if u["commitsBehind"] != 1 {
        return Err(err(format!("commits behind: {u}")));
    }

    // Helm and kustomize apps rendered as the repo-server renders them (tests/argo_diff/render.rs)
    render::steps(tier, &admin).await
}
