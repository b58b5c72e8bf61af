//! HelmReleases on the real tier with helm-controller (tests/k8s_tier, `Tier::start_with_helm`): a chart in a
//! git repository of the tier's git server, packaged by source-controller (a HelmChart made by helm-controller)
//! and installed by helm-controller; every action through the real binary (`--backend flux --output json`),
//! with the controllers' reaction as the assertion: the ConfigMap the chart renders, the HelmRelease's status.
//! A HelmRelease whose chart comes from a HelmRepository is refused rollback before anything is sent, and the
//! viewer is refused every action before anything is sent. The diff of a HelmRelease: tests/flux_helm/diff.rs;
//! its spec.driftDetection.ignore rules: tests/flux_helm/drift.rs; a HelmRelease whose `spec.chartRef` is an
//! OCIRepository, its chart pushed to the tier's OCI registry: tests/flux_helm/oci.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "flux_helm/diff.rs"]
mod diff;
#[path = "flux_helm/drift.rs"]
mod drift;
mod k8s_tier;
#[path = "flux_helm/oci.rs"]
mod oci;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

use k8s_tier::{BoxError, Check, Repo, Tier, TimedOut, err, git_repository, wait_for};

const NS: &str = "hx";
const UNIT: &str = "flux/admin/hx/HelmRelease/web";
const REMOTE: &str = "flux/admin/hx/HelmRelease/remote";
const POLL: Duration = Duration::from_millis(250);
const LONG: Duration = Duration::from_secs(120);

#[test]
fn helm_release_on_the_tier() {
    k8s_tier::run_on_tier_with_helm("flux helm test", |tier| Box::pin(run(tier)));
}

fn helm_release() -> ApiResource {
    let gvk = GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease");
    ApiResource::from_gvk_with_plural(&gvk, "helmreleases")
}

fn helm_repository() -> ApiResource {
    let gvk = GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "HelmRepository");
    ApiResource::from_gvk_with_plural(&gvk, "helmrepositories")
}

/// The files of the chart `charts/demo` at `version`, its ConfigMap saying `greeting`; `template` replaces
/// the ConfigMap's template (a broken one).
fn chart(version: &str, greeting: &str) -> Vec<(String, Option<String>)> {
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  \
                    greeting: {{ .Values.greeting | quote }}\n  chart: {{ .Chart.Version | quote }}\n";
    vec![
        (
            "charts/demo/Chart.yaml".into(),
            Some(format!("apiVersion: v2\nname: demo\nversion: {version}\n")),
        ),
        (
            "charts/demo/values.yaml".into(),
            Some(format!("greeting: {greeting}\n")),
        ),
        (
            "charts/demo/templates/cm.yaml".into(),
            Some(template.to_owned()),
        ),
        (
            "charts/demo/templates/secret.yaml".into(),
            Some(
                "{{- if not .Values.noSecret }}\napiVersion: v1\nkind: Secret\nmetadata:\n  name: \
                 {{ .Release.Name }}-secret\ndata:\n  token: {{ .Values.token | default \"none\" | b64enc | quote }}\n\
                 {{- end }}\n"
                    .to_owned(),
            ),
        ),
    ]
}

fn commit(
    repo: &Repo,
    message: &str,
    files: &[(String, Option<String>)],
) -> Result<String, BoxError> {
    let files: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_deref()))
        .collect();
    repo.commit(message, &files)
}

/// The real binary in a context of the tier's kubeconfig: exit code, stdout, stderr.
fn setpoint(
    tier: &Tier,
    dirs: &Path,
    context: &str,
    args: &[&str],
) -> Result<(i32, String, String), BoxError> {
    let out = Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args([
            "--backend",
            "flux",
            "--context",
            context,
            "--output",
            "json",
        ])
        .args(args)
        .env("KUBECONFIG", tier.kubeconfig())
        .env("SETPOINT_CONFIG_DIR", dirs.join("config"))
        .env("SETPOINT_DATA_DIR", dirs.join("data"))
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The ConfigMap the chart renders: (greeting, chart version).
async fn rendered(cms: &Api<ConfigMap>) -> Result<Option<(String, String)>, BoxError> {
    Ok(cms.get_opt("web-cm").await?.and_then(|cm| {
        let d = cm.data?;
        Some((d.get("greeting")?.clone(), d.get("chart")?.clone()))
    }))
}

async fn wait_rendered(cms: &Api<ConfigMap>, greeting: &str) -> Result<(String, String), BoxError> {
    wait_for(
        &format!("the ConfigMap to say {greeting}"),
        LONG,
        POLL,
        || async {
            Ok(match rendered(cms).await? {
                Some((g, c)) if g == greeting => Check::Done((g, c)),
                other => Check::Pending(format!("{other:?}")),
            })
        },
    )
    .await
}

fn text<'a>(obj: &'a DynamicObject, pointer: &str) -> &'a str {
    obj.data
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

async fn run(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let dirs = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "charts")?;
    let c1 = commit(&repo, "one", &chart("0.1.0", "one"))?;

    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await?;
    let post = PostParams::default();
    let gitrepos: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &git_repository());
    let releases: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &helm_release());
    let helmrepos: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &helm_repository());
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);
    gitrepos
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "charts", "namespace": NS},
                "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "10m", "timeout": "30s"}
            }))?,
        )
        .await?;
    // reconcileStrategy Revision: the chart version names the commit it was packaged from (0.1.0+<12 hex>)
    releases
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "web", "namespace": NS},
                "spec": {"interval": "10m", "timeout": "1m",
                         "chart": {"spec": {"chart": "charts/demo", "reconcileStrategy": "Revision",
                                            "interval": "10m",
                                            "sourceRef": {"kind": "GitRepository", "name": "charts"}}}}
            }))?,
        )
        .await?;
    // a chart from a Helm repository that nothing serves (a port of 127.0.0.1 nobody listens on)
    let unserved = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    helmrepos
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                "metadata": {"name": "remote", "namespace": NS},
                "spec": {"url": format!("http://127.0.0.1:{unserved}/charts"), "interval": "10m",
                         "timeout": "5s"}
            }))?,
        )
        .await?;
    releases
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "remote", "namespace": NS},
                "spec": {"interval": "10m",
                         "chart": {"spec": {"chart": "demo", "version": "*",
                                            "sourceRef": {"kind": "HelmRepository", "name": "remote"}}}}
            }))?,
        )
        .await?;

    // --- installed by helm-controller: the ConfigMap of the chart at c1
    let (_, chart1) = wait_rendered(&cms, "one").await?;
    let short1 = &c1[..12];
    if chart1 != format!("0.1.0+{short1}") {
        return Err(err(format!("chart version of c1: {chart1}")));
    }
    wait_for("web to be ready", LONG, POLL, || async {
        let hr = releases.get("web").await?;
        let ready = hr
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        Ok(if ready {
            Check::Done(())
        } else {
            Check::Pending(format!("{:?}", hr.data.get("status")))
        })
    })
    .await?;

    // --- diff of a HelmRelease with valuesFrom (tests/flux_helm/diff.rs), while the chart is at c1
    diff::run(tier, &admin, &releases).await?;
    // --- spec.driftDetection.ignore in the diff and in helm-controller (tests/flux_helm/drift.rs)
    drift::run(tier, &admin, &releases).await?;
    // --- a HelmRelease whose spec.chartRef is an OCIRepository, its chart in the tier's registry (oci.rs)
    oci::run(tier, &admin).await?;

    // --- status: the HelmRelease as Flux reports it, its applied revision the commit of its chart
    let (code, stdout, stderr) = setpoint(tier, dirs.path(), "admin", &["status"])?;
    let status: Value = serde_json::from_str(&stdout)
        .map_err(|e| err(format!("status JSON ({code}, {stderr}): {e}: {stdout}")))?;
    let web = status["units"]
        .as_array()
        .and_then(|us| us.iter().find(|u| u["id"] == UNIT))
        .cloned()
        .unwrap_or_default();
    if code != 0
        || web["status"] != "ready"
        || web["kind"] != "HelmRelease"
        || web["appliedRevision"] != json!(format!("sha1:{short1}"))
        || web["latestRevision"] != json!(format!("main@sha1:{c1}"))
        || web["commitsBehind"] != json!(0)
        || web["source"] != json!(format!("{NS}/{NS}-web"))
    {
        return Err(err(format!("status of web: {code} {stderr} {web}")));
    }
    eprintln!("flux helm: status {web}");

    // --- history and detail of a HelmRelease: its Helm releases, its conditions and the objects it manages
    let (code, stdout, stderr) = setpoint(tier, dirs.path(), "admin", &["history", UNIT])?;
    let history: Value = serde_json::from_str(&stdout)
        .map_err(|e| err(format!("history JSON ({code}, {stderr}): {e}: {stdout}")))?;
    let first = history
        .as_array()
        .or_else(|| history["commits"].as_array())
        .and_then(|h| h.first())
        .cloned()
        .unwrap_or_default();
    if code != 0
        || !first["revision"]
            .as_str()
            .is_some_and(|r| r.contains(short1))
        || first["applied"] != json!(true)
    {
        return Err(err(format!("history of web: {code} {stderr} {stdout}")));
    }
    let (code, stdout, stderr) = setpoint(tier, dirs.path(), "admin", &["detail", UNIT])?;
    if code != 0 || !stdout.contains("InstallSucceeded") || !stdout.contains("web-cm") {
        return Err(err(format!("detail of web: {code} {stderr} {stdout}")));
    }

    // --- suspend: helm-controller stops; a new commit's chart is packaged but not installed
    let (code, stdout, stderr) = setpoint(
        tier,
        dirs.path(),
        "admin",
        &["suspend", UNIT, "--reason", "helm freeze"],
    )?;
    let hr = releases.get("web").await?;
    let annotations = hr.metadata.annotations.clone().unwrap_or_default();
    if code != 0
        || hr.data.pointer("/spec/suspend") != Some(&json!(true))
        || annotations
            .get("setpoint.dev/suspend-reason")
            .map(String::as_str)
            != Some("helm freeze")
        || !annotations.contains_key("setpoint.dev/suspended-by")
        || !annotations.contains_key("setpoint.dev/suspended-at")
    {
        return Err(err(format!(
            "suspend: {code} {stdout} {stderr} {annotations:?}"
        )));
    }
    let c2 = commit(&repo, "two", &chart("0.2.0", "two"))?;
    let short2 = &c2[..12];
    // the source fetches it and the chart is packaged (neither is suspended) ...
    let charts: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        NS,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "HelmChart"),
            "helmcharts",
        ),
    );
    gitrepos
        .patch(
            "charts",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": format!("test-{short2}")}}})),
        )
        .await?;
    wait_for("the chart of c2 to be packaged", LONG, POLL, || async {
        let c = charts.get(&format!("{NS}-web")).await?;
        let rev = text(&c, "/status/artifact/revision").to_owned();
        Ok(if rev == format!("0.2.0+{short2}") {
            Check::Done(())
        } else {
            Check::Pending(rev)
        })
    })
    .await?;
    // ... and the suspended HelmRelease does not install it: given 5 s, the ConfigMap stays
    match wait_rendered_within(&cms, "two", Duration::from_secs(5)).await {
        Err(e) if e.is::<TimedOut>() => {}
        other => {
            return Err(err(format!(
                "a suspended HelmRelease applied c2: {other:?}"
            )));
        }
    }
    let hr = releases.get("web").await?;
    if text(&hr, "/status/lastAttemptedRevision") != format!("0.1.0+{short1}") {
        return Err(err(format!(
            "suspended web attempted: {:?}",
            hr.data.get("status")
        )));
    }

    // --- resume: the annotations go and the new commit is installed (resume waits for the result)
    let (code, stdout, stderr) = setpoint(tier, dirs.path(), "admin", &["resume", UNIT])?;
    let hr = releases.get("web").await?;
    let annotations = hr.metadata.annotations.clone().unwrap_or_default();
    if code != 0
        || !stdout.contains("ready")
        || hr.data.pointer("/spec/suspend") != Some(&json!(false))
        || annotations.keys().any(|k| k.starts_with("setpoint.dev/"))
        || rendered(&cms).await? != Some(("two".into(), format!("0.2.0+{short2}")))
    {
        return Err(err(format!(
            "resume: {code} {stdout} {stderr} {annotations:?} {:?}",
            rendered(&cms).await?
        )));
    }
    eprintln!("flux helm: suspend held c2 back, resume installed it");

    // --- sync with source: GitRepository, then the HelmChart, then the HelmRelease, each the controller's result
    let c3 = commit(&repo, "three", &chart("0.3.0", "three"))?;
    let short3 = &c3[..12];
    let (code, stdout, stderr) =
        setpoint(tier, dirs.path(), "admin", &["sync", UNIT, "--with-source"])?;
    if code != 0
        || !stdout.contains("GitRepository hx/charts: ready")
        || !stdout.contains("HelmChart hx/hx-web: ready")
        || !stdout.contains("HelmRelease hx/web: ready")
        || rendered(&cms).await? != Some(("three".into(), format!("0.3.0+{short3}")))
    {
        return Err(err(format!(
            "sync --with-source: {code} {stdout} {stderr} {:?}",
            rendered(&cms).await?
        )));
    }
    eprintln!("flux helm: sync --with-source installed c3: {stdout}");

    // --- rollback: the GitRepository pinned at c1, the chart of c1 packaged and installed
    let (code, stdout, stderr) = setpoint(
        tier,
        dirs.path(),
        "admin",
        &["rollback", UNIT, "--to", &c1, "--reason", "bad three"],
    )?;
    let src = gitrepos.get("charts").await?;
    if code != 0
        || src.data.pointer("/spec/ref/commit") != Some(&json!(c1))
        || rendered(&cms).await? != Some(("one".into(), format!("0.1.0+{short1}")))
    {
        return Err(err(format!(
            "rollback: {code} {stdout} {stderr} {:?} {:?}",
            src.data.pointer("/spec/ref"),
            rendered(&cms).await?
        )));
    }
    let (_, stdout, _) = setpoint(tier, dirs.path(), "admin", &["status"])?;
    let status: Value = serde_json::from_str(&stdout)?;
    let web = status["units"]
        .as_array()
        .and_then(|us| us.iter().find(|u| u["id"] == UNIT))
        .cloned()
        .unwrap_or_default();
    if web["pinnedRevision"] != json!(format!("sha1:{c1}")) {
        return Err(err(format!(
            "a rolled back HelmRelease is not shown pinned: {web}"
        )));
    }
    // resume restores the ref, and the HelmRelease installs the branch's chart again
    let (code, stdout, stderr) = setpoint(tier, dirs.path(), "admin", &["resume", UNIT])?;
    let src = gitrepos.get("charts").await?;
    if code != 0
        || src.data.pointer("/spec/ref") != Some(&json!({"branch": "main"}))
        || rendered(&cms).await? != Some(("three".into(), format!("0.3.0+{short3}")))
    {
        return Err(err(format!(
            "resume of the pin: {code} {stdout} {stderr} {:?} {:?}",
            src.data.pointer("/spec/ref"),
            rendered(&cms).await?
        )));
    }
    eprintln!("flux helm: rollback to c1 and resume to the branch, by helm-controller");

    // --- a chart that does not render: sync with source reports the failure, with the condition's message
    let mut broken = chart("0.4.0", "four");
    broken[2].1 = Some(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  \
         greeting: {{ .Values.greeting | nosuchfunction }}\n"
            .into(),
    );
    commit(&repo, "four (broken)", &broken)?;
    let (code, stdout, stderr) =
        setpoint(tier, dirs.path(), "admin", &["sync", UNIT, "--with-source"])?;
    if code != 3 || !stderr.contains("nosuchfunction") || !stderr.contains("HelmRelease hx/web") {
        return Err(err(format!(
            "sync of a broken chart: {code} {stdout} {stderr}"
        )));
    }
    if rendered(&cms).await? != Some(("three".into(), format!("0.3.0+{short3}"))) {
        return Err(err("a failed upgrade changed the ConfigMap"));
    }
    eprintln!("flux helm: a broken chart is reported failed (exit 3): {stderr}");

    // --- a chart from a HelmRepository: rollback refused before anything is sent, with the reason
    let before = helmrepos.get("remote").await?;
    let (code, stdout, stderr) = setpoint(
        tier,
        dirs.path(),
        "admin",
        &["rollback", REMOTE, "--to", &c1, "--reason", "not git"],
    )?;
    let after = helmrepos.get("remote").await?;
    // refused up front by its capabilities (exit 3, as every action not allowed now), nothing sent
    if code != 3
        || !stderr.contains("not allowed now")
        || !stderr.contains("comes from a HelmRepository")
        || !stderr.contains("rollback pins a GitRepository")
        || after.metadata.resource_version != before.metadata.resource_version
    {
        return Err(err(format!(
            "rollback of a HelmRepository chart: {code} {stdout} {stderr}"
        )));
    }
    eprintln!("flux helm: rollback of a chart from a HelmRepository refused: {stderr}");

    // --- the viewer: every action refused before anything is sent
    let before = releases.get("web").await?.metadata.resource_version;
    let src_before = gitrepos.get("charts").await?.metadata.resource_version;
    for args in [
        vec!["suspend", "web", "--reason", "viewer"],
        vec!["resume", "web"],
        vec!["sync", "web", "--with-source"],
        vec!["rollback", "web", "--to", c1.as_str(), "--reason", "viewer"],
    ] {
        let (code, stdout, stderr) = setpoint(tier, dirs.path(), "viewer", &args)?;
        if code != 3 || !stderr.contains("not allowed") {
            return Err(err(format!("viewer {args:?}: {code} {stdout} {stderr}")));
        }
    }
    if releases.get("web").await?.metadata.resource_version != before
        || gitrepos.get("charts").await?.metadata.resource_version != src_before
    {
        return Err(err("a refused viewer action changed something"));
    }
    eprintln!("flux helm: the viewer is refused every action before sending");
    Ok(())
}

async fn wait_rendered_within(
    cms: &Api<ConfigMap>,
    greeting: &str,
    within: Duration,
) -> Result<(), BoxError> {
    wait_for(
        &format!("the ConfigMap to say {greeting}"),
        within,
        POLL,
        || async {
            Ok(match rendered(cms).await? {
                Some((g, _)) if g == greeting => Check::Done(()),
                other => Check::Pending(format!("{other:?}")),
            })
        },
    )
    .await
}
