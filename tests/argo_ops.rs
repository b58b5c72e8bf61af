//! Argo CD operations through the real binary on the tier's real Argo CD 3.3.0, the controller's reactions
//! being the assertions: suspend with `automated.enabled: false` (the served CRD has it) keeps prune and
//! selfHeal and stops auto-sync, resume restores; refresh (normal and hard) returns once the controller
//! compared again; a deny sync window refuses setpoint's sync while the controller holds a sync written
//! around setpoint, and its manualSync lets both through (`status` shows the window); an AppProject that does
//! not permit the destination: setpoint refuses the sync before sending it (exit 3), the controller reports
//! InvalidSpecError and the unit's status says so; terminate stops a sync waiting on a PreSync hook
//! Job that never completes, and the waiting `sync` reports the controller's Failed; the application-controller
//! killed mid-operation and started again: the waiting `sync` reports the operation's real end; the Application
//! CRD deleted and installed again while setpoint watches: its Applications appear again (discovery again).
//! Every wait is bounded.

mod k8s_tier;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::{Value, json};
use setpoint::backend::argo::ArgoBackend;
use setpoint::backend::{Backend, Update};
use tokio::sync::mpsc;

use k8s_tier::objects::{config_map_revision, describe_application};
use k8s_tier::watching::{next_snapshot, str_at};
use k8s_tier::{
    ARGOCD_IN_CLUSTER, ARGOCD_NAMESPACE, BoxError, Check, Repo, Tier, app_project, application,
    config_map, err, wait_for,
};

const NS: &str = "argo-ops";
const WEB: &str = "ops-web";
const WINDOWED: &str = "ops-window";
const HOOKED: &str = "ops-hook";
const FENCED: &str = "ops-fenced";
const POLL: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(180);

#[test]
fn argo_operations_on_the_real_controller() {
    k8s_tier::run_on_tier_with_argo("Argo CD operations", |tier| Box::pin(steps(tier)));
}

fn unit(name: &str) -> String {
    format!("argo/admin/{ARGOCD_NAMESPACE}/Application/{name}")
}

fn app(
    name: &str,
    project: &str,
    url: &str,
    path: &str,
    auto: bool,
) -> Result<DynamicObject, BoxError> {
    let mut policy = json!({"syncOptions": ["PrunePropagationPolicy=background"]});
    if auto {
        policy["automated"] = json!({"prune": true, "selfHeal": false});
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": {"project": project,
            "source": {"repoURL": url, "targetRevision": "main", "path": path},
            "destination": {"server": ARGOCD_IN_CLUSTER, "namespace": NS},
            "syncPolicy": policy}
    }))?)
}

/// A PreSync hook Job: the tier runs no job controller, so it never completes unless a test says so.
fn hook_job() -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pre\n  namespace: {NS}\n  annotations:\n    \
         argocd.argoproj.io/hook: PreSync\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      \
         restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n        command: [\"true\"]\n"
    )
}

async fn wait_app(
    apps: &Api<DynamicObject>,
    name: &str,
    what: &str,
    ok: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject, BoxError> {
    wait_for(&format!("{name}: {what}"), LONG, POLL, || async {
        let a = apps.get(name).await?;
        Ok(if ok(&a) {
            Check::Done(a)
        } else {
            Check::Pending(describe_application(&a))
        })
    })
    .await
}

struct Cli<'a> {
    tier: &'a Tier,
    dirs: tempfile::TempDir,
}

impl Cli<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_setpoint"));
        c.args(["--backend", "argo", "--context", "admin"])
            .args(args)
            .env("KUBECONFIG", self.tier.kubeconfig())
            .env("SETPOINT_CONFIG_DIR", self.dirs.path().join("config"))
            .env("SETPOINT_DATA_DIR", self.dirs.path().join("data"))
            .stdin(Stdio::null());
        c
    }

    /// The real binary: (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> Result<(i32, String, String), BoxError> {
        let out = self.command(args).output()?;
        let r = (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        eprintln!("setpoint {args:?} -> {} {} {}", r.0, r.1.trim(), r.2.trim());
        Ok(r)
    }

    fn ok(&self, args: &[&str]) -> Result<String, BoxError> {
        let (code, out, e) = self.run(args)?;
        if code != 0 {
            return Err(err(format!("setpoint {args:?}: exit {code}: {out} {e}")));
        }
        Ok(out)
    }

    /// The binary started in the background (its output collected when it ends).
    fn spawn(&self, args: &[&str]) -> Result<Child, BoxError> {
        Ok(self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?)
    }
}

/// Waits (bounded) for a background `setpoint` to end: (exit code, stdout, stderr).
async fn finish(mut child: Child, within: Duration) -> Result<(i32, String, String), BoxError> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait()? {
            let out = child.wait_with_output()?;
            let r = (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
            eprintln!(
                "background setpoint -> {} {} {}",
                r.0,
                r.1.trim(),
                r.2.trim()
            );
            return Ok(r);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return Err(err(format!(
                "the background setpoint had not ended within {within:?}"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn steps(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "argo-ops")?;
    let cm = |name: &str, rev: &str| config_map(NS, name, rev);
    let job = hook_job();
    let c1 = repo.commit(
        "first",
        &[
            ("web/web.yaml", Some(&cm("web", "1"))),
            ("window/w.yaml", Some(&cm("windowed", "1"))),
            ("hook/cm.yaml", Some(&cm("hooked", "1"))),
            ("hook/job.yaml", Some(&job)),
        ],
    )?;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await?;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    let projects: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &app_project());
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);
    let jobs: Api<Job> = Api::namespaced(admin.clone(), NS);
    let post = PostParams::default();
    // a project whose deny window covers now (it fires every minute and lasts an hour)
    projects
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                "metadata": {"name": "frozen", "namespace": ARGOCD_NAMESPACE},
                "spec": {"sourceRepos": ["*"], "destinations": [{"namespace": "*", "server": "*"}],
                    "syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h",
                        "applications": [WINDOWED], "description": "change freeze"}]}
            }))?,
        )
        .await?;
    // a project that does not permit the namespace its Application deploys to
    projects
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                "metadata": {"name": "fenced", "namespace": ARGOCD_NAMESPACE},
                "spec": {"sourceRepos": ["*"], "destinations": [{"namespace": "elsewhere", "server": "*"}]}
            }))?,
        )
        .await?;
    // its own repository: no more work on the others' checkouts in the repo-server (seen once: a held sync
    // of ops-window ended Error "Failed to checkout FETCH_HEAD" with a third Application on the same repository)
    let fenced_repo = Repo::create(tier, scratch.path(), "argo-ops-fenced")?;
    fenced_repo.commit("first", &[("web/web.yaml", Some(&cm("fenced", "1")))])?;
    apps.create(
        &post,
        &app(FENCED, "fenced", &fenced_repo.url, "web", false)?,
    )
    .await?;
    apps.create(&post, &app(WEB, "default", &repo.url, "web", true)?)
        .await?;
    apps.create(&post, &app(WINDOWED, "frozen", &repo.url, "window", false)?)
        .await?;
    apps.create(&post, &app(HOOKED, "default", &repo.url, "hook", false)?)
        .await?;
    let synced = |rev: String| {
        move |a: &DynamicObject| {
            str_at(a, "/status/sync/status") == "Synced"
                && str_at(a, "/status/operationState/phase") == "Succeeded"
                && str_at(a, "/status/operationState/syncResult/revision") == rev
        }
    };
    wait_app(&apps, WEB, "synced at c1", synced(c1.clone())).await?;
    let cli = Cli {
        tier,
        dirs: tempfile::tempdir()?,
    };

    // --- suspend through automated.enabled: false (the 3.3.0 CRD serves it) --------------------------
    let before = apps
        .get(WEB)
        .await?
        .data
        .pointer("/spec/syncPolicy/automated")
        .cloned()
        .ok_or("ops-web has no automated policy")?;
    let mut off = before.clone();
    off["enabled"] = json!(false);
    let out = cli.ok(&["suspend", "--reason", "incident 7", &unit(WEB)])?;
    if !out.contains("automated.enabled: false") {
        return Err(err(format!("suspend: {out}")));
    }
    let a = apps.get(WEB).await?;
    let automated = a.data.pointer("/spec/syncPolicy/automated").cloned();
    if automated.as_ref() != Some(&off) || before.get("prune") != Some(&json!(true)) {
        return Err(err(format!("suspended: automated is {automated:?}")));
    }
    let c2 = repo.commit("second", &[("web/web.yaml", Some(&cm("web", "2")))])?;

    // --- refresh: returns once the controller compared again (here with c2, which it does not apply) ---
    let out = cli.ok(&["refresh", &unit(WEB)])?;
    if !out.contains(&format!("compared with {}: OutOfSync", &c2[..7])) {
        return Err(err(format!("refresh: {out}")));
    }
    let a = apps.get(WEB).await?;
    if a.metadata
        .annotations
        .as_ref()
        .is_some_and(|m| m.contains_key("argocd.argoproj.io/refresh"))
        || str_at(&a, "/status/operationState/syncResult/revision") != c1
    {
        return Err(err(format!("after refresh: {}", describe_application(&a))));
    }
    let revision = config_map_revision(&cms, "web").await?;
    if revision.as_deref() != Some("1") {
        return Err(err(format!("suspended: web has revision {revision:?}")));
    }
    let out = cli.ok(&["refresh", "--hard", &unit(WEB)])?;
    if !out.contains("refreshed (hard)") {
        return Err(err(format!("hard refresh: {out}")));
    }
    // resume: the policy as it was (enabled removed), and auto-sync applies c2
    cli.ok(&["resume", &unit(WEB)])?;
    let a = apps.get(WEB).await?;
    let automated = a.data.pointer("/spec/syncPolicy/automated").cloned();
    if automated.as_ref() != Some(&before) {
        return Err(err(format!("resumed: automated is {automated:?}")));
    }
    wait_app(&apps, WEB, "auto-synced at c2", synced(c2.clone())).await?;

    // --- sync windows ---------------------------------------------------------------------------------
    let (code, _, stderr) = cli.run(&["sync", &unit(WINDOWED)])?;
    // refused as every action that is not allowed now: exit 3
    if code != 3
        || !stderr
            .contains("sync denied by the active deny window '* * * * *' for 1h: change freeze")
    {
        return Err(err(format!("sync in a deny window: exit {code}: {stderr}")));
    }
    if apps
        .get(WINDOWED)
        .await?
        .data
        .get("operation")
        .is_some_and(|o| !o.is_null())
    {
        return Err(err("the refused sync wrote an operation"));
    }
    let out = cli.ok(&["detail", &unit(WINDOWED)])?;
    if !out
        .lines()
        .any(|l| l.starts_with("SyncWindow") && l.contains("Denied"))
    {
        return Err(err(format!("detail: {out}")));
    }
    // `status` says it too: the unit's syncWindow in JSON, a marker in the table
    let status: Value = serde_json::from_str(&cli.ok(&["status", "--output", "json"])?)?;
    let unit_json = |id: &str| {
        status["units"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["id"] == id))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let w = &unit_json(&unit(WINDOWED))["syncWindow"];
    if w["syncAllowed"] != json!(false)
        || !w["message"]
            .as_str()
            .unwrap_or_default()
            .contains("change freeze")
        || unit_json(&unit(WEB)).get("syncWindow").is_some()
    {
        return Err(err(format!("status --output json, windows: {status}")));
    }
    let table = cli.ok(&["status"])?;
    if !table
        .lines()
        .any(|l| l.starts_with(&unit(WINDOWED)) && l.contains("[sync denied]"))
    {
        return Err(err(format!("status, windows: {table}")));
    }
    // the controller agrees: a sync written around setpoint (as the API server would) is held
    let around = json!({"operation": {"sync": {"revision": "main", "prune": false},
        "initiatedBy": {"username": "someone-else"}}});
    apps.patch(WINDOWED, &PatchParams::default(), &Patch::Merge(&around))
        .await?;
    wait_app(&apps, WINDOWED, "held by the window", |a| {
        str_at(a, "/status/operationState/phase") == "Running"
            && str_at(a, "/status/operationState/message")
                == "Sync operation blocked by sync window"
    })
    .await?;
    let (code, _, stderr) = cli.run(&["sync", &unit(WINDOWED)])?;
    if code == 0 || !stderr.contains("already Running") {
        return Err(err(format!(
            "sync while one is held: exit {code}: {stderr}"
        )));
    }
    // manualSync: the controller lets the held manual sync through, and setpoint allows its own
    let manual = json!({"spec": {"syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h",
        "applications": [WINDOWED], "description": "change freeze", "manualSync": true}]}});
    projects
        .patch("frozen", &PatchParams::default(), &Patch::Merge(&manual))
        .await?;
    wait_app(&apps, WINDOWED, "the held sync done", |a| {
        str_at(a, "/status/operationState/phase") == "Succeeded"
    })
    .await?;
    let out = cli.ok(&["sync", &unit(WINDOWED)])?;
    if !out.contains("sync Succeeded") {
        return Err(err(format!("manual sync in a manualSync window: {out}")));
    }
    let out = cli.ok(&["detail", &unit(WINDOWED)])?;
    if !out
        .lines()
        .any(|l| l.starts_with("SyncWindow") && l.contains("ManualOnly"))
    {
        return Err(err(format!("detail, manualSync: {out}")));
    }

    // --- the AppProject: a destination it does not permit ---------------------------------------------
    let (code, _, stderr) = cli.run(&["sync", &unit(FENCED)])?;
    if code != 3
        || !stderr.contains(&format!(
            "project `fenced` does not permit destination {ARGOCD_IN_CLUSTER} namespace `{NS}`"
        ))
    {
        return Err(err(format!(
            "sync outside the project: exit {code}: {stderr}"
        )));
    }
    if apps
        .get(FENCED)
        .await?
        .data
        .get("operation")
        .is_some_and(|o| !o.is_null())
    {
        return Err(err("the sync refused by the project wrote an operation"));
    }
    let out = cli.ok(&["detail", &unit(FENCED)])?;
    if !out
        .lines()
        .any(|l| l.starts_with("Project") && l.contains("Denied"))
    {
        return Err(err(format!("detail, project: {out}")));
    }
    // the controller agrees (InvalidSpecError), and the unit's status says its words
    wait_app(&apps, FENCED, "InvalidSpecError", |a| {
        a.data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c["type"] == "InvalidSpecError"))
    })
    .await?;
    let status: Value = serde_json::from_str(&cli.ok(&["status", "--output", "json"])?)?;
    let fenced = status["units"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["id"] == unit(FENCED).as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    let message = fenced["message"].as_str().unwrap_or_default();
    if fenced["status"] != "failed"
        || !message.contains("InvalidSpecError")
        || !message.contains("project 'fenced'")
    {
        return Err(err(format!("status of {FENCED}: {fenced}")));
    }

    // --- terminate: a sync waiting on a hook Job that never completes ---------------------------------
    let (code, _, stderr) = cli.run(&["terminate", &unit(HOOKED)])?;
    if code == 0 || !stderr.contains("no operation is in progress") {
        return Err(err(format!(
            "terminate with nothing running: exit {code}: {stderr}"
        )));
    }
    let waiting = cli.spawn(&["sync", &unit(HOOKED)])?;
    let hook_running = |a: &DynamicObject| {
        str_at(a, "/status/operationState/phase") == "Running"
            && a.data
                .pointer("/status/operationState/syncResult/resources")
                .and_then(Value::as_array)
                .is_some_and(|r| {
                    r.iter()
                        .any(|r| r["kind"] == "Job" && r["hookPhase"] == "Running")
                })
    };
    wait_app(&apps, HOOKED, "the hook Job running", hook_running).await?;
    let (code, _, stderr) = cli.run(&["sync", &unit(HOOKED)])?;
    if code == 0 || !stderr.contains("terminate it") {
        return Err(err(format!("sync while one runs: exit {code}: {stderr}")));
    }
    let out = cli.ok(&["terminate", &unit(HOOKED)])?;
    if !out.contains("terminated: the controller ended the operation Failed") {
        return Err(err(format!("terminate: {out}")));
    }
    let a = apps.get(HOOKED).await?;
    if str_at(&a, "/status/operationState/phase") != "Failed"
        || !str_at(&a, "/status/operationState/message").contains("terminated")
    {
        return Err(err(format!(
            "after terminate: {}",
            describe_application(&a)
        )));
    }
    let (code, _, stderr) = finish(waiting, LONG).await?;
    if code == 0 || !stderr.contains("sync Failed") {
        return Err(err(format!("the terminated sync: exit {code}: {stderr}")));
    }

    // --- the controller killed mid-operation and started again ----------------------------------------
    let mut waiting = cli.spawn(&["sync", &unit(HOOKED)])?;
    let running = match wait_app(&apps, HOOKED, "the hook Job running again", hook_running).await {
        Ok(a) => a,
        Err(e) => {
            // what the sync said, if it ended
            let _ = waiting.kill();
            let out = waiting.wait_with_output()?;
            return Err(err(format!(
                "{e}; the sync: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    };
    let started = str_at(&running, "/status/operationState/startedAt").to_owned();
    tier.kill_component("argocd-application-controller")?;
    // while it is away the hook completes (what the job controller would write)
    let job = wait_for("the hook Job", LONG, POLL, || async {
        Ok(match jobs.get_opt("pre").await? {
            Some(j) => Check::Done(j),
            None => Check::Pending("no Job pre".into()),
        })
    })
    .await?;
    let now = jiff::Timestamp::now();
    let begun = job
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_else(|| now.to_string());
    let cond = |t: &str, reason: &str| {
        json!({"type": t, "status": "True", "reason": reason, "message": "completed by the test",
            "lastProbeTime": now.to_string(), "lastTransitionTime": now.to_string()})
    };
    let done = json!({"status": {"startTime": begun, "completionTime": now.to_string(), "succeeded": 1,
        "conditions": [cond("SuccessCriteriaMet", "CompletionsReached"), cond("Complete", "CompletionsReached")]}});
    jobs.patch_status("pre", &PatchParams::default(), &Patch::Merge(&done))
        .await?;
    if !finish_pending(&waiting)? {
        return Err(err("the waiting sync ended while the controller was away"));
    }
    tier.start_again("argocd-application-controller")?;
    // the waiting sync ends with what the controller made of *that* operation: the hook done, the sync
    // Succeeded; or (seen: a restarted controller may resume the operation before its AppProject informer
    // has synced) Error "Application referencing project default which does not exist". Either way the
    // report is the operation's own phase and message, never a success the controller did not write.
    let (code, out, stderr) = finish(waiting, LONG).await?;
    let a = apps.get(HOOKED).await?;
    let phase = str_at(&a, "/status/operationState/phase");
    let message = str_at(&a, "/status/operationState/message");
    if str_at(&a, "/status/operationState/startedAt") != started
        || !matches!(phase, "Succeeded" | "Failed" | "Error")
    {
        return Err(err(format!(
            "after the restart: {}",
            describe_application(&a)
        )));
    }
    eprintln!("the operation across the restart ended {phase}: {message}");
    if phase == "Succeeded" {
        if code != 0 || !out.contains("sync Succeeded") {
            return Err(err(format!(
                "the sync across the restart (Succeeded): exit {code}: {out} {stderr}"
            )));
        }
        let revision = config_map_revision(&cms, "hooked").await?;
        if revision.as_deref() != Some("1") {
            return Err(err(format!("after the restart: hooked has {revision:?}")));
        }
    } else if code == 0 || !stderr.contains(&format!("sync {phase}: {message}")) {
        return Err(err(format!(
            "the sync across the restart ({phase}: {message}): exit {code}: {out} {stderr}"
        )));
    }

    // --- discovery again: the Application CRD gone and installed again while setpoint watches -----------
    discovery_again(tier, &admin, &repo.url).await?;
    Ok(())
}

/// Whether a background process still runs.
fn finish_pending(child: &Child) -> Result<bool, BoxError> {
    // `try_wait` needs `&mut`; /proc tells without reaping it
    Ok(
        std::path::Path::new(&format!("/proc/{}", child.id())).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", child.id()))?
                .split(") ")
                .nth(1)
                .is_some_and(|s| s.starts_with('Z')),
    )
}

async fn discovery_again(tier: &Tier, admin: &kube::Client, url: &str) -> Result<(), BoxError> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let name = "applications.argoproj.io";
    let mut crd = crds.get(name).await?;
    let argo =
        ArgoBackend::with_kubeconfig(Kubeconfig::read_from(tier.kubeconfig())?, Some("admin"))?
            .with_rediscover(Duration::from_millis(500));
    let (tx, mut rx) = mpsc::channel::<Update>(64);
    let watch = tokio::spawn(async move { argo.watch(tx).await });
    next_snapshot(&mut rx, &unit(WEB), "the first snapshot", false, |s| {
        s.units.iter().any(|u| u.id == unit(WEB))
    })
    .await?;
    crds.delete(name, &DeleteParams::default()).await?;
    let not_installed = |s: &setpoint::model::Snapshot| {
        s.units.is_empty()
            && s.contexts.iter().any(|c| {
                c.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("not installed"))
            })
    };
    next_snapshot(
        &mut rx,
        &unit(WEB),
        "the watch saying not installed",
        true,
        not_installed,
    )
    .await?;
    wait_for("the CRD gone", LONG, POLL, || async {
        Ok(match crds.get_opt(name).await? {
            None => Check::Done(()),
            Some(_) => Check::Pending("still there".into()),
        })
    })
    .await?;
    crd.metadata = kube::api::ObjectMeta {
        name: Some(name.to_owned()),
        labels: crd.metadata.labels.take(),
        annotations: crd.metadata.annotations.take(),
        ..Default::default()
    };
    crd.status = None;
    crds.create(&PostParams::default(), &crd).await?;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    let created = wait_for("the Application kind served again", LONG, POLL, || async {
        match apps
            .create(
                &PostParams::default(),
                &app("late", "default", url, "web", false)?,
            )
            .await
        {
            Ok(_) => Ok(Check::Done(())),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Check::Pending(s.message)),
            Err(e) => Err(e.into()),
        }
    })
    .await;
    created?;
    next_snapshot(
        &mut rx,
        &unit("late"),
        "the Application created after the CRD came back",
        true,
        |s| s.units.iter().any(|u| u.id == unit("late")),
    )
    .await?;
    watch.abort();
    Ok(())
}
