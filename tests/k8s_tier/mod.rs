//! setpoint's Kubernetes test tier for integration tests: a real etcd, kube-apiserver and the Flux
//! source-controller and kustomize-controller (helm-controller, Argo CD on request), a git server and an OCI
//! registry on 127.0.0.1, started by `scripts/k8s-tier up` in a temporary
//! state directory and stopped by `scripts/k8s-tier down`.
//!
//! Use it from one `#[test]` per test binary:
//!
//! ```ignore
//! let Some(tier) = k8s_tier::Tier::start().expect("tier") else { return }; // skipped, loudly
//! let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| { /* steps */ }));
//! tier.down()?; // also run by Drop when a step panics
//! ```
//!
//! Teardown happens on every path: `Tier`'s `Drop` runs `down`; when the test binary dies without unwinding
//! (SIGKILL, abort), the watchdog that `up` starts for `SETPOINT_K8S_OWNER_PID` runs `down` once this
//! process is gone. Everything the tier starts is a process-group leader, and `down` waits until every group
//! is gone.
//!
//! `SETPOINT_K8S_TIER=skip` skips the tier (with a loud message); any other value, or none, runs it and
//! builds missing binaries first (`scripts/k8s-tier build`, about an hour on 2 busy cores when nothing is cached, Argo CD included).

#![allow(dead_code)] // each test binary uses a different subset

pub mod objects;
pub mod watching;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error of a harness step: what was being done and why it failed.
#[derive(Debug)]
pub struct TierError(pub String);

impl fmt::Display for TierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TierError {}

pub fn err(msg: impl Into<String>) -> BoxError {
    Box::new(TierError(msg.into()))
}

/// The error of a wait whose condition never came true before its timeout (and only that: an error of
/// the probe itself is returned as it is), so that a caller can tell "it never happened" from "I could not
/// look".
#[derive(Debug)]
pub struct TimedOut(pub String);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimedOut {}

/// A running tier. Dropping it stops the tier (`scripts/k8s-tier down`) and removes its state directory.
pub struct Tier {
    script: PathBuf,
    kubeconfig: PathBuf,
    env: BTreeMap<String, String>,
    stopped: bool,
    // last field: dropped (removed) after `Drop::drop` has stopped the processes that use it
    state: tempfile::TempDir,
}

impl Tier {
    /// Start a tier for this test binary (Flux only: Argo CD is not started, which saves each Flux test
    /// binary ~20 s and ~330 MB), or `Ok(None)` when `SETPOINT_K8S_TIER=skip`.
    pub fn start() -> Result<Option<Tier>, BoxError> {
        Self::start_with(false, false)
    }

    /// Start a tier with Argo CD as well (its application-controller, repo-server, API server and redis).
    pub fn start_with_argo() -> Result<Option<Tier>, BoxError> {
        Self::start_with(true, false)
    }

    /// Start a Flux tier with helm-controller (and the HelmRelease CRD) as well; the other tiers have neither,
    /// so that a HelmRelease is not installed there and their start stays as fast as it was.
    pub fn start_with_helm() -> Result<Option<Tier>, BoxError> {
        Self::start_with(false, true)
    }

    fn start_with(argo: bool, helm: bool) -> Result<Option<Tier>, BoxError> {
        if std::env::var("SETPOINT_K8S_TIER").as_deref() == Ok("skip") {
            let banner = "!".repeat(100);
            let msg = format!(
                "{banner}\n!!! SETPOINT_K8S_TIER=skip: the Kubernetes test tier is NOT running; the Flux tests of \
                 this binary did not run.\n{banner}\n"
            );
            // written to the process's stderr directly, past libtest's output capture: never a silent skip
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            return Ok(None);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let script = root.join("scripts").join("k8s-tier");
        if !script.is_file() {
            return Err(err(format!("{} is missing", script.display())));
        }

        // Build first, with its output shown live: a cold build takes a while and says what it builds.
        // past libtest's capture, like the build's own output: a cold build takes a while
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"k8s-tier harness: ensuring the tier's binaries (scripts/k8s-tier build) ...\n",
        );
        let status = Command::new("bash")
            .arg(&script)
            .arg("build")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .map_err(|e| err(format!("running scripts/k8s-tier build: {e}")))?;
        if !status.success() {
            return Err(err(format!("scripts/k8s-tier build failed ({status})")));
        }

        let state = tempfile::Builder::new()
            .prefix("setpoint-k8s-tier-")
            .tempdir()
            .map_err(|e| err(format!("creating the tier's state directory: {e}")))?;
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(&script)
            .arg("up")
            .env("SETPOINT_K8S_STATE", state.path())
            .env("SETPOINT_K8S_OWNER_PID", std::process::id().to_string())
            .env("SETPOINT_K8S_ARGO", if argo { "on" } else { "off" })
            .env("SETPOINT_K8S_HELM", if helm { "on" } else { "off" })
            .stdin(Stdio::null())
            .output()
            .map_err(|e| err(format!("running scripts/k8s-tier up: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{stderr}");
        if !out.status.success() {
            // `up` stops what it started when it fails; keep the logs for the report
            let logs = tail_logs(&state.path().join("logs"), 40);
            let kept = state.keep();
            return Err(err(format!(
                "scripts/k8s-tier up failed ({}); state kept in {}\n{logs}",
                out.status,
                kept.display()
            )));
        }
        let kubeconfig = stdout
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("KUBECONFIG="))
            .map(PathBuf::from)
            .ok_or_else(|| {
                err(format!(
                    "scripts/k8s-tier up did not end with KUBECONFIG=<path>: {stdout:?}"
                ))
            })?;
        let env = read_env(&state.path().join("tier.env"))?;
        eprintln!(
            "k8s-tier harness: tier up in {:.1}s ({})",
            started.elapsed().as_secs_f64(),
            state.path().display()
        );
        Ok(Some(Tier {
            script,
            kubeconfig,
            env,
            stopped: false,
            state,
        }))
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A value of the tier's `tier.env` (GIT_ROOT, GIT_HTTP_URL, APISERVER_URL, ...).
    pub fn var(&self, name: &str) -> Result<&str, BoxError> {
        self.env
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| err(format!("tier.env has no {name}")))
    }

    /// Directory whose bare repositories `NAME.git` are served at `git_url()/NAME.git`.
    pub fn git_root(&self) -> Result<PathBuf, BoxError> {
        self.var("GIT_ROOT").map(PathBuf::from)
    }

    /// Base URL of the smart-HTTP git server (http://127.0.0.1:PORT).
    pub fn git_url(&self) -> Result<&str, BoxError> {
        self.var("GIT_HTTP_URL")
    }

    /// Address (127.0.0.1:PORT) of the tier's in-memory OCI registry (plain HTTP): charts pushed to
    /// `oci://ADDR/NAME` are read by source-controller through an OCIRepository with `insecure: true`.
    pub fn registry_addr(&self) -> Result<&str, BoxError> {
        self.var("REGISTRY_ADDR")
    }

    /// The kustomize CLI the tier built (not started: a program for tests to run).
    pub fn kustomize_bin(&self) -> Result<&str, BoxError> {
        self.var("KUSTOMIZE_BIN")
    }

    /// The flux CLI the tier built, to compare setpoint with `flux diff kustomization`.
    pub fn flux_bin(&self) -> Result<&str, BoxError> {
        self.var("FLUX_BIN")
    }

    /// The helm CLI the tier built, if it did (opt-in: `SETPOINT_K8S_HELM_CLI=on scripts/k8s-tier build`).
    pub fn helm_bin(&self) -> Option<&str> {
        self.var("HELM_BIN").ok().filter(|p| !p.is_empty())
    }

    /// A client for a context of the tier's kubeconfig: `admin` or `viewer`.
    pub async fn client(&self, context: &str) -> Result<kube::Client, BoxError> {
        // Both of rustls's providers are compiled in (gix's HTTP stack and kube enable different ones), so
        // rustls cannot pick one by itself; an Err means one is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let options = KubeConfigOptions {
            context: Some(context.to_owned()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// The tier's kubeconfig with one more context, `context`, whose user is the admin's credentials
    /// impersonating `user` (whom the test's own RBAC objects then give what it is to have).
    pub fn impersonating(&self, context: &str, user: &str) -> Result<Kubeconfig, BoxError> {
        let mut kc = Kubeconfig::read_from(&self.kubeconfig)?;
        let mut auth = kc
            .auth_infos
            .iter()
            .find(|a| a.name == "admin")
            .cloned()
            .ok_or_else(|| err("no admin user in the kubeconfig"))?;
        auth.name = context.into();
        if let Some(a) = auth.auth_info.as_mut() {
            a.impersonate = Some(user.into());
        }
        let mut ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == "admin")
            .cloned()
            .ok_or_else(|| err("no admin context in the kubeconfig"))?;
        ctx.name = context.into();
        if let Some(c) = ctx.context.as_mut() {
            c.user = Some(context.into());
        }
        kc.auth_infos.push(auth);
        kc.contexts.push(ctx);
        Ok(kc)
    }

    /// Creates a ClusterRole `name` with `rules` and binds it to the user `user` (the admin client creates
    /// both).
    pub async fn grant(
        admin: &kube::Client,
        name: &str,
        user: &str,
        rules: serde_json::Value,
    ) -> Result<(), BoxError> {
        use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
        let post = kube::api::PostParams::default();
        let role = serde_json::json!({"metadata": {"name": name}, "rules": rules});
        kube::Api::<ClusterRole>::all(admin.clone())
            .create(&post, &serde_json::from_value(role)?)
            .await?;
        let binding = serde_json::json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        });
        kube::Api::<ClusterRoleBinding>::all(admin.clone())
            .create(&post, &serde_json::from_value(binding)?)
            .await?;
        Ok(())
    }

    /// Fail unless every TCP listener of the tier's processes is bound to loopback (`scripts/k8s-tier listeners`).
    pub fn check_listeners(&self) -> Result<String, BoxError> {
        let out = self.script_cmd("listeners")?;
        if !out.status.success() {
            return Err(err(format!(
                "scripts/k8s-tier listeners failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The last lines of every component's log (for failure reports).
    pub fn logs(&self, lines: usize) -> String {
        tail_logs(&self.state.path().join("logs"), lines)
    }

    /// Stop the tier and wait until no process of it is left.
    pub fn down(&mut self) -> Result<(), BoxError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let out = self.script_cmd("down")?;
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            Ok(())
        } else {
            Err(err(format!(
                "scripts/k8s-tier down failed ({})",
                out.status
            )))
        }
    }

    /// Kill kube-apiserver (as a crash would), keep it away for `away`, start it again and wait until it is ready
    /// (`scripts/k8s-tier restart-apiserver`).
    pub fn restart_apiserver(&self, away: Duration) -> Result<(), BoxError> {
        let secs = away.as_secs().to_string();
        let out = self.script_args(&["restart-apiserver", &secs])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(err(format!(
                "scripts/k8s-tier restart-apiserver failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Kill one component (SIGKILL to its process group, as a crash) and wait until it is gone
    /// (`scripts/k8s-tier kill-component`), e.g. `argocd-application-controller`.
    pub fn kill_component(&self, name: &str) -> Result<(), BoxError> {
        self.script_ok(&["kill-component", name])
    }

    /// Start a killed component again with the command `up` used (`scripts/k8s-tier start-again`).
    pub fn start_again(&self, name: &str) -> Result<(), BoxError> {
        self.script_ok(&["start-again", name])
    }

    fn script_ok(&self, args: &[&str]) -> Result<(), BoxError> {
        let out = self.script_args(args)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(err(format!(
                "scripts/k8s-tier {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    fn script_cmd(&self, sub: &str) -> Result<std::process::Output, BoxError> {
        self.script_args(&[sub])
    }

    fn script_args(&self, args: &[&str]) -> Result<std::process::Output, BoxError> {
        let sub = args.first().copied().unwrap_or_default();
        Command::new("bash")
            .arg(&self.script)
            .args(args)
            .env("SETPOINT_K8S_STATE", self.state.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| err(format!("running scripts/k8s-tier {sub}: {e}")))
    }
}

impl Drop for Tier {
    fn drop(&mut self) {
        if let Err(e) = self.down() {
            eprintln!("k8s-tier harness: stopping the tier failed: {e}");
        }
    }
}

fn read_env(path: &Path) -> Result<BTreeMap<String, String>, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(format!("reading {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn tail_logs(dir: &Path, lines: usize) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        out.push_str(&format!(
            "----- {} (last {} lines)\n",
            p.display(),
            all.len() - from
        ));
        for l in &all[from..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// One observation of a condition being waited for.
pub enum Check<T> {
    Done(T),
    /// Not yet; the text describes what was observed (reported on timeout).
    Pending(String),
}

/// Poll `probe` every `interval` until it reports `Done`, at most until `timeout` has passed (and at most
/// `timeout / interval + 1` times). Errors of the probe end the wait at once; running out of time is a
/// [`TimedOut`] error.
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: F,
) -> Result<T, BoxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>, BoxError>>,
{
    let deadline = Instant::now() + timeout;
    let max_polls = timeout.as_millis() / interval.as_millis().max(1) + 1;
    let mut last = String::from("(never observed)");
    for _ in 0..max_polls {
        match probe().await? {
            Check::Done(v) => return Ok(v),
            Check::Pending(seen) => last = seen,
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    Err(Box::new(TimedOut(format!(
        "timed out after {timeout:?} waiting for {what}; last observed: {last}"
    ))))
}

/// Run the git CLI in `dir` (test infrastructure only; product code uses gix).
pub fn git(dir: &Path, args: &[&str]) -> Result<String, BoxError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=setpoint tests",
            "-c",
            "user.email=tests@setpoint.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("running git {args:?}: {e}")))?;
    if !out.status.success() {
        return Err(err(format!(
            "git {args:?} in {} failed ({}): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The repository served by the tier: a bare repository under GIT_ROOT and a work tree to commit from.
pub struct Repo {
    pub work: PathBuf,
    pub url: String,
}

impl Repo {
    pub fn create(tier: &Tier, scratch: &Path, name: &str) -> Result<Repo, BoxError> {
        let bare = tier.git_root()?.join(format!("{name}.git"));
        let work = scratch.join(name);
        std::fs::create_dir_all(&work)?;
        git(
            scratch,
            &[
                "init",
                "--quiet",
                "--bare",
                "-b",
                "main",
                &bare.to_string_lossy(),
            ],
        )?;
        git(&work, &["init", "--quiet", "-b", "main"])?;
        git(&work, &["remote", "add", "origin", &bare.to_string_lossy()])?;
        Ok(Repo {
            work,
            url: format!("{}/{name}.git", tier.git_url()?),
        })
    }

    /// Write files (path, content; `None` deletes), commit, push; returns the commit id.
    pub fn commit(
        &self,
        message: &str,
        files: &[(&str, Option<&str>)],
    ) -> Result<String, BoxError> {
        for (path, content) in files {
            let p = self.work.join(path);
            match content {
                Some(c) => {
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(&p, c)?;
                }
                None => std::fs::remove_file(&p)?,
            }
        }
        git(&self.work, &["add", "--all"])?;
        git(&self.work, &["commit", "--quiet", "-m", message])?;
        git(&self.work, &["push", "--quiet", "origin", "main"])?;
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

/// A test's steps on the tier: an async function of it.
pub type Steps =
    for<'a> fn(&'a Tier) -> std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + 'a>>;

/// Runs one test's `steps` on a freshly started tier, Flux only (skipped, loudly, when
/// `SETPOINT_K8S_TIER=skip`), and stops the tier on every path; a failure shows the tier's last log lines,
/// then fails the test.
pub fn run_on_tier(what: &str, steps: Steps) {
    run_on(what, Tier::start(), steps)
}

/// As [`run_on_tier`], on a tier with helm-controller too.
pub fn run_on_tier_with_helm(what: &str, steps: Steps) {
    run_on(what, Tier::start_with_helm(), steps)
}

/// As [`run_on_tier`], on a tier with Argo CD too.
pub fn run_on_tier_with_argo(what: &str, steps: Steps) {
    run_on(what, Tier::start_with_argo(), steps)
}

#[allow(clippy::panic)] // it is the test's verdict
fn run_on(what: &str, started: Result<Option<Tier>, BoxError>, steps: Steps) {
    let mut tier = match started {
        Ok(Some(tier)) => tier,
        Ok(None) => return,
        Err(e) => panic!("starting the Kubernetes test tier failed: {e}"),
    };
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(), BoxError> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(steps(&tier))
        }));
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".to_owned()),
        ),
    };
    if let Some(f) = &failure {
        eprintln!("{what} failed: {f}\n{}", tier.logs(60));
    }
    let down = tier.down();
    if let Some(f) = failure {
        panic!("{what} failed: {f}");
    }
    if let Err(e) = down {
        panic!("stopping the tier failed: {e}");
    }
}

/// A ConfigMap `name` in `namespace` whose data says `revision`: what the tier's repositories hold.
pub fn config_map(namespace: &str, name: &str, revision: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  revision: \"{revision}\"\n"
    )
}

/// Flux's GitRepository (source-controller), as the tier serves it.
pub fn git_repository() -> kube::api::ApiResource {
    flux_resource(
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
    )
}

/// Flux's Kustomization (kustomize-controller), as the tier serves it.
pub fn kustomization() -> kube::api::ApiResource {
    flux_resource(
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    )
}

fn flux_resource(group: &str, kind: &str, plural: &str) -> kube::api::ApiResource {
    let gvk = kube::api::GroupVersionKind::gvk(group, "v1", kind);
    kube::api::ApiResource::from_gvk_with_plural(&gvk, plural)
}

// ---------------------------------------------------------------------------------------------------------
// Argo CD on the tier (scripts/k8s-tier starts its application-controller, repo-server and API server)

/// The namespace of the tier's Argo CD (its Applications, AppProjects and settings).
pub const ARGOCD_NAMESPACE: &str = "argocd";

/// The destination server of Argo CD's in-cluster cluster: the tier's API server itself.
pub const ARGOCD_IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// Argo CD's Application (application-controller), as the tier serves it.
pub fn application() -> kube::api::ApiResource {
    argo_resource("Application", "applications")
}

/// Argo CD's AppProject, as the tier serves it.
pub fn app_project() -> kube::api::ApiResource {
    argo_resource("AppProject", "appprojects")
}

fn argo_resource(kind: &str, plural: &str) -> kube::api::ApiResource {
    let gvk = kube::api::GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind);
    kube::api::ApiResource::from_gvk_with_plural(&gvk, plural)
}
