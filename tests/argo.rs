//! The Argo CD backend against the tier's real Argo CD 3.3.0, through the real binary: `status --output json`
//! shows what the application-controller reports; suspend stops auto-sync of a new commit and resume lets it
//! through; rollback syncs to a history revision and holds it against auto-sync until resume; sync reports
//! the operation's real result (a failed one fails); the viewer is refused before anything is sent.
//! A watch started again resumes from its cache (argo/resume.rs). The controller's reactions are the
//! assertions; every wait is bounded.

mod k8s_tier;
#[path = "argo/resume.rs"]
mod resume;

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::{Value, json};
use setpoint::backend::Backend;
use setpoint::backend::argo::ArgoBackend;
use setpoint::model::StatusKind;
use tokio::sync::mpsc;

use k8s_tier::objects::{config_map_revision, describe_application};
use k8s_tier::watching::{next_snapshot, str_at};
use k8s_tier::{
    ARGOCD_IN_CLUSTER, ARGOCD_NAMESPACE, BoxError, Check, Repo, Tier, application, config_map, err,
    wait_for,
};

const AUTO: &str = "web";
const MANUAL: &str = "hand";
const DEST_NS: &str = "argo-it";
const POLL: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(180);

#[test]
fn argo_backend_on_the_real_controller() {
    k8s_tier::run_on_tier_with_argo("Argo CD backend", |tier| Box::pin(steps(tier)));
}

fn app(name: &str, url: &str, path: &str, auto: bool) -> Result<DynamicObject, BoxError> {
    let mut policy =
        json!({"syncOptions": ["CreateNamespace=true", "PrunePropagationPolicy=background"]});
    if auto {
        policy["automated"] = json!({"prune": true, "selfHeal": false});
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": {"project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": path},
            "destination": {"server": ARGOCD_IN_CLUSTER, "namespace": DEST_NS},
            "syncPolicy": policy}
    }))?)
}

/// Waits until the controller reports `name` Synced and Healthy at `commit` after a successful operation.
async fn synced_at(
    apps: &Api<DynamicObject>,
    name: &str,
    commit: &str,
) -> Result<DynamicObject, BoxError> {
    wait_for(
        &format!("{name} synced at {commit}"),
        LONG,
        POLL,
        || async {
            let a = apps.get(name).await?;
            let ok = str_at(&a, "/status/sync/status") == "Synced"
                && str_at(&a, "/status/sync/revision") == commit
                && str_at(&a, "/status/operationState/phase") == "Succeeded"
                && str_at(&a, "/status/operationState/syncResult/revision") == commit;
            Ok(if ok {
                Check::Done(a)
            } else {
                Check::Pending(describe_application(&a))
            })
        },
    )
    .await
}

/// A refresh (what a webhook asks for), then waits until the controller compared `name` with `commit`.
async fn compared_with(
    apps: &Api<DynamicObject>,
    name: &str,
    commit: &str,
) -> Result<DynamicObject, BoxError> {
    let refresh = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&refresh))
        .await?;
    wait_for(
        &format!("{name} compared with {commit}"),
        LONG,
        POLL,
        || async {
            let a = apps.get(name).await?;
            let ok = str_at(&a, "/status/sync/revision") == commit
                && a.metadata
                    .annotations
                    .as_ref()
                    .is_none_or(|m| !m.contains_key("argocd.argoproj.io/refresh"));
            Ok(if ok {
                Check::Done(a)
            } else {
                Check::Pending(describe_application(&a))
            })
        },
    )
    .await
}

async fn expect_revision(
    cms: &Api<ConfigMap>,
    when: &str,
    name: &str,
    want: &str,
) -> Result<(), BoxError> {
    let got = config_map_revision(cms, name).await?;
    if got.as_deref() != Some(want) {
        return Err(err(format!(
            "{when}: ConfigMap {name} has revision {got:?}, want {want}"
        )));
    }
    Ok(())
}

struct Cli<'a> {
    tier: &'a Tier,
    dirs: tempfile::TempDir,
}

impl Cli<'_> {
    /// The real binary: (exit code, stdout, stderr).
    fn run(&self, context: &str, args: &[&str]) -> Result<(i32, String, String), BoxError> {
        let out = Command::new(env!("CARGO_BIN_EXE_setpoint"))
            .args(["--backend", "argo", "--context", context])
            .args(args)
            .env("KUBECONFIG", self.tier.kubeconfig())
            .env("SETPOINT_CONFIG_DIR", self.dirs.path().join("config"))
            .env("SETPOINT_DATA_DIR", self.dirs.path().join("data"))
            .output()?;
        let r = (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        eprintln!(
            "setpoint {context} {args:?} -> {} {} {}",
            r.0,
            r.1.trim(),
            r.2.trim()
        );
        Ok(r)
    }

    fn ok(&self, args: &[&str]) -> Result<String, BoxError> {
        let (code, out, e) = self.run("admin", args)?;
        if code != 0 {
            return Err(err(format!("setpoint {args:?}: exit {code}: {out} {e}")));
        }
        Ok(out)
    }
}

/// How many LIST requests of Applications the API server has served (its own metrics).
async fn list_requests(admin: &kube::Client) -> Result<f64, BoxError> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = admin.request_text(req).await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| l.contains("verb=\"LIST\"") && l.contains("resource=\"applications\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn unit(name: &str) -> String {
    format!("argo/admin/{ARGOCD_NAMESPACE}/Application/{name}")
}

async fn steps(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "argo-it")?;
    let cm = |name: &str, rev: &str| config_map(DEST_NS, name, rev);
    let c1 = repo.commit(
        "first",
        &[
            ("auto/web.yaml", Some(&cm("web", "1"))),
            ("manual/hand.yaml", Some(&cm("hand", "1"))),
        ],
    )?;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), DEST_NS);
    let post = PostParams::default();
    apps.create(&post, &app(AUTO, &repo.url, "auto", true)?)
        .await?;
    apps.create(&post, &app(MANUAL, &repo.url, "manual", false)?)
        .await?;
    synced_at(&apps, AUTO, &c1).await?;
    compared_with(&apps, MANUAL, &c1).await?;
    let cli = Cli {
        tier,
        dirs: tempfile::tempdir()?,
    };

    // status --output json: the states Argo CD reports
    let out = cli.ok(&["status", "--output", "json"])?;
    let json: Value = serde_json::from_str(&out)?;
    let find = |name: &str| {
        json["units"]
            .as_array()
            .and_then(|us| us.iter().find(|u| u["id"] == unit(name)).cloned())
    };
    let (web, hand) = (
        find(AUTO).ok_or("web not listed")?,
        find(MANUAL).ok_or("hand not listed")?,
    );
    if web["status"] != "ready"
        || !web["appliedRevision"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&c1)
    {
        return Err(err(format!("web: {web}")));
    }
    // never synced, auto-sync off: Argo CD reports OutOfSync and Healthy; not failed, its object listed
    let msg = hand["message"].as_str().unwrap_or_default();
    if hand["status"] != "ready"
        || msg != "OutOfSync, Healthy; auto-sync off, not applied"
        || hand["driftedObjects"] != json!([format!("ConfigMap {DEST_NS}/hand")])
    {
        return Err(err(format!("hand: {hand}")));
    }

    // --backend auto (the default) outside any workspace: the current kube context, where Argo CD is served
    let empty = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args(["status", "--output", "json"])
        .current_dir(empty.path())
        .env("KUBECONFIG", tier.kubeconfig())
        .env("SETPOINT_CONFIG_DIR", cli.dirs.path().join("config"))
        .env("SETPOINT_DATA_DIR", cli.dirs.path().join("data"))
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains(&format!("\"{}\"", unit(AUTO))) {
        return Err(err(format!(
            "--backend auto: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }

    // the viewer is refused before anything is sent
    let (code, _, stderr) = cli.run(
        "viewer",
        &[
            "suspend",
            "--reason",
            "x",
            &unit(AUTO).replace("/admin/", "/viewer/"),
        ],
    )?;
    if code == 0 || !stderr.contains("not allowed to patch applications.argoproj.io") {
        return Err(err(format!("viewer suspend: exit {code}: {stderr}")));
    }
    if apps
        .get(AUTO)
        .await?
        .metadata
        .annotations
        .is_some_and(|a| a.contains_key("setpoint.dev/suspended-by"))
    {
        return Err(err("the viewer's suspend changed the Application"));
    }

    // the watch: a first whole snapshot (its initial list over the watch: no LIST of Applications), then the
    // suspend below as it happens
    let lists_before = list_requests(&admin).await?;
    let mirrors = tempfile::tempdir()?;
    let argo =
        ArgoBackend::with_kubeconfig(Kubeconfig::read_from(tier.kubeconfig())?, Some("admin"))?
            .with_data_dir(mirrors.path());
    let (tx, mut rx) = mpsc::channel(64);
    let watch = tokio::spawn(async move { argo.watch(tx).await });
    next_snapshot(
        &mut rx,
        &unit(AUTO),
        "the first snapshot with both Applications",
        false,
        |s| {
            s.units
                .iter()
                .filter(|u| u.id == unit(AUTO) || u.id == unit(MANUAL))
                .count()
                == 2
        },
    )
    .await?;
    // no mirror of the source yet: the watch fetches it, and its units say what the mirror tells then
    next_snapshot(
        &mut rx,
        &unit(AUTO),
        "web 0 commits behind once the source's mirror is fetched",
        false,
        |s| {
            s.units
                .iter()
                .any(|u| u.id == unit(AUTO) && u.commits_behind == Some(0))
        },
    )
    .await?;
    let lists_after = list_requests(&admin).await?;
    // `status` above listed them: the metric is there, so an unchanged count means something
    if lists_before < 1.0 || lists_after != lists_before {
        return Err(err(format!(
            "LIST requests of applications went from {lists_before} to {lists_after} while the watch started"
        )));
    }

    // suspend: the controller does not auto-sync the next commit
    cli.ok(&["suspend", "--reason", "incident 42", &unit(AUTO)])?;
    next_snapshot(
        &mut rx,
        &unit(AUTO),
        "the watch showing web suspended",
        false,
        |s| {
            s.units.iter().any(|u| {
                u.id == unit(AUTO) && u.suspended && u.status.kind == StatusKind::Suspended
            })
        },
    )
    .await?;
    watch.abort();
    let c2 = repo.commit("second", &[("auto/web.yaml", Some(&cm("web", "2")))])?;
    let seen = compared_with(&apps, AUTO, &c2).await?;
    if str_at(&seen, "/status/sync/status") != "OutOfSync"
        || str_at(&seen, "/status/operationState/syncResult/revision") != c1
    {
        return Err(err(format!(
            "suspended, after comparing {c2}: {}",
            describe_application(&seen)
        )));
    }
    expect_revision(&cms, "suspended", "web", "1").await?;
    let out = cli.ok(&["status", "--output", "json"])?;
    if !out.contains("auto-sync off (setpoint): incident 42") {
        return Err(err(format!("suspended status: {out}")));
    }

    // resume: auto-sync is back and syncs it
    cli.ok(&["resume", &unit(AUTO)])?;
    synced_at(&apps, AUTO, &c2).await?;
    expect_revision(&cms, "resumed", "web", "2").await?;

    // rollback to c1, held against auto-sync of a newer commit until resume
    let out = cli.ok(&[
        "rollback",
        "--to",
        &c1,
        "--reason",
        "bad release",
        &unit(AUTO),
    ])?;
    if !out.contains("sync Succeeded") {
        return Err(err(format!("rollback: {out}")));
    }
    expect_revision(&cms, "rolled back", "web", "1").await?;
    let c3 = repo.commit("third", &[("auto/web.yaml", Some(&cm("web", "3")))])?;
    let seen = compared_with(&apps, AUTO, &c3).await?;
    if str_at(&seen, "/status/operationState/syncResult/revision") != c1 {
        return Err(err(format!(
            "rolled back, after comparing {c3}: {}",
            describe_application(&seen)
        )));
    }
    expect_revision(&cms, "held", "web", "1").await?;
    let (code, _, stderr) = cli.run("admin", &["sync", &unit(AUTO)])?;
    if code == 0 || !stderr.contains("resume it first") {
        return Err(err(format!("sync while held: exit {code}: {stderr}")));
    }
    cli.ok(&["resume", &unit(AUTO)])?;
    synced_at(&apps, AUTO, &c3).await?;
    expect_revision(&cms, "released", "web", "3").await?;

    // sync of an app without auto-sync: the operation's real result
    let out = cli.ok(&["sync", &unit(MANUAL)])?;
    if !out.contains("sync Succeeded") {
        return Err(err(format!("sync: {out}")));
    }
    expect_revision(&cms, "synced by hand", "hand", "1").await?;
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n  namespace: argo-it\ndata: {a: \"1\"}\n";
    repo.commit("invalid", &[("manual/bad.yaml", Some(bad))])?;
    let (code, _, stderr) = cli.run("admin", &["sync", &unit(MANUAL)])?;
    if code == 0 || !stderr.contains("sync Failed") || !stderr.contains("Not_Valid") {
        return Err(err(format!("failing sync: exit {code}: {stderr}")));
    }
    // detail: the failed operation and the objects Argo CD compared (the comparison with the new commit may
    // not have happened yet: the object synced before is the one always there)
    let out = cli.ok(&["detail", &unit(MANUAL)])?;
    let failed_op =
        |l: &str| l.starts_with("Operation") && l.contains("Failed") && l.contains("Not_Valid");
    if !out.lines().any(failed_op) || !out.contains(&format!("ConfigMap/{DEST_NS}/hand")) {
        return Err(err(format!("detail: {out}")));
    }
    // the Events setpoint recorded
    let out = cli.ok(&["events", &unit(AUTO)])?;
    for reason in ["SetpointSuspend", "SetpointResume", "SetpointRollback"] {
        if !out.contains(reason) {
            return Err(err(format!("events lack {reason}: {out}")));
        }
    }
    // a watch resumed from its cache: Applications of this repository's `manual` path, never synced
    resume::run(tier, &admin, |name| app(name, &repo.url, "manual", false)).await?;
    Ok(())
}
