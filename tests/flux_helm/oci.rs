//! A HelmRelease whose `spec.chartRef` is an OCIRepository, on the tier: a chart packaged and pushed with the
//! tier's helm (`helm push`) to the tier's OCI registry, fetched by the real source-controller and installed by
//! the real helm-controller (which gives the chart the version `<version>+<12 hex of the artifact's digest>`).
//! Through the real binary: `status` names the OCIRepository as the unit's source, with the artifact's digest
//! as its revision and the release's; the diff is in sync, from the source-controller artifact of the
//! OCIRepository, and a live edit shows exactly that object; rollback is refused before anything is sent (it
//! pins a GitRepository); a new chart under a new tag, the OCIRepository moved to it while the release is
//! suspended, shows in status and in the diff as the next upgrade, and resume installs it. Without the tier's
//! helm nothing can be pushed, and the test says loudly that it did NOT run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use super::diff::{diff_unit, only_changed, uninstall};
use super::k8s_tier::{BoxError, Check, Tier, err, wait_for};
use super::setpoint;

const NS: &str = "ox";
const UNIT: &str = "flux/admin/ox/HelmRelease/oci";
const LONG: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(250);
const HELM_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

fn oci_repository() -> ApiResource {
    let gvk = GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "OCIRepository");
    ApiResource::from_gvk_with_plural(&gvk, "ocirepositories")
}

/// Runs the tier's helm with its homes in `home`; fails unless it succeeds. Returns stdout and stderr.
fn helm(bin: &str, home: &Path, args: &[&str]) -> Result<String, BoxError> {
    let out = Command::new(bin)
        .args(args)
        .env("HOME", home)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(err(format!("helm {args:?}: {}: {text}", out.status)));
    }
    Ok(text)
}

/// The chart `demo` at `version` (its ConfigMap `<release>-cm` says `greeting` and the chart version helm
/// rendered it with), packaged and pushed to `oci://<registry>/charts/demo:<version>`; returns the digest
/// helm push reports (`sha256:<hex>`).
fn push_chart(
    bin: &str,
    home: &Path,
    registry: &str,
    version: &str,
    greeting: &str,
) -> Result<String, BoxError> {
    let dir = home.join(format!("src-{version}")).join("demo");
    std::fs::create_dir_all(dir.join("templates"))?;
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: demo\nversion: {version}\n"),
    )?;
    std::fs::write(dir.join("values.yaml"), format!("greeting: {greeting}\n"))?;
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  \
         greeting: {{ .Values.greeting | quote }}\n  chart: {{ .Chart.Version | quote }}\n",
    )?;
    let out_dir = home.join("packages");
    let dir_s = dir.to_string_lossy().into_owned();
    let out_s = out_dir.to_string_lossy().into_owned();
    helm(bin, home, &["package", &dir_s, "-d", &out_s])?;
    let tgz = out_dir
        .join(format!("demo-{version}.tgz"))
        .to_string_lossy()
        .into_owned();
    let pushed = helm(
        bin,
        home,
        &[
            "push",
            &tgz,
            &format!("oci://{registry}/charts"),
            "--plain-http",
        ],
    )?;
    eprintln!("flux helm oci: {pushed}");
    pushed
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .map(|d| d.trim().to_owned())
        .ok_or_else(|| err(format!("helm push said no digest: {pushed}")))
}

/// The ConfigMap the chart renders: (greeting, chart version).
async fn rendered(cms: &Api<ConfigMap>) -> Result<Option<(String, String)>, BoxError> {
    Ok(cms.get_opt("oci-cm").await?.and_then(|cm| {
        let d = cm.data?;
        Some((d.get("greeting")?.clone(), d.get("chart")?.clone()))
    }))
}

fn ready(obj: &DynamicObject) -> bool {
    obj.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Waits until helm-controller installed the chart saying `greeting` and the HelmRelease is Ready.
async fn wait_installed(
    releases: &Api<DynamicObject>,
    cms: &Api<ConfigMap>,
    greeting: &str,
) -> Result<(), BoxError> {
    wait_for(
        &format!("oci to be ready with the chart saying {greeting}"),
        LONG,
        POLL,
        || async {
            let hr = releases.get("oci").await?;
            let r = rendered(cms).await?;
            Ok(
                if ready(&hr) && r.as_ref().is_some_and(|(g, _)| g == greeting) {
                    Check::Done(())
                } else {
                    Check::Pending(format!("{r:?} {:?}", hr.data.get("status")))
                },
            )
        },
    )
    .await
}

/// `setpoint status`: the unit `oci` and the source `ox/demo`.
fn status(tier: &Tier, dirs: &Path) -> Result<(Value, Value), BoxError> {
    let (code, stdout, stderr) = setpoint(tier, dirs, "admin", &["status"])?;
    let v: Value = serde_json::from_str(&stdout)
        .map_err(|e| err(format!("status JSON ({code}, {stderr}): {e}: {stdout}")))?;
    let find = |list: &str, key: &str, want: &str| {
        v[list]
            .as_array()
            .and_then(|xs| xs.iter().find(|x| x[key] == want))
            .cloned()
            .unwrap_or_default()
    };
    Ok((
        find("units", "id", UNIT),
        find("sources", "name", "ox/demo"),
    ))
}

pub async fn run(tier: &Tier, admin: &kube::Client) -> Result<(), BoxError> {
    let Some(bin) = tier.helm_bin().map(str::to_owned) else {
        let banner = "!".repeat(100);
        eprintln!(
            "{banner}\n!!! the tier built no helm: a HelmRelease with spec.chartRef to an OCIRepository was NOT \
             tested (nothing to push a chart with; SETPOINT_K8S_HELM_CLI=on scripts/k8s-tier build)\n{banner}"
        );
        return Ok(());
    };
    let registry = tier.registry_addr()?.to_owned();
    let home = tempfile::tempdir()?;
    let dirs = tempfile::tempdir()?;
    let post = PostParams::default();
    Api::<Namespace>::all(admin.clone())
        .create(
            &post,
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await?;
    let repos: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &oci_repository());
    let releases: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), NS, &super::helm_release());
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);

    // --- a chart pushed with helm to the tier's registry, read by source-controller, installed by helm-controller
    let d1 = push_chart(&bin, home.path(), &registry, "0.1.0", "one")?;
    repos
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                "metadata": {"name": "demo", "namespace": NS},
                "spec": {"url": format!("oci://{registry}/charts/demo"), "insecure": true,
                         "interval": "10m", "timeout": "30s", "ref": {"tag": "0.1.0"},
                         "layerSelector": {"mediaType": HELM_LAYER, "operation": "copy"}}
            }))?,
        )
        .await?;
    releases
        .create(
            &post,
            &serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "oci", "namespace": NS},
                "spec": {"interval": "10m", "timeout": "1m",
                         "chartRef": {"kind": "OCIRepository", "name": "demo"}}
            }))?,
        )
        .await?;
    wait_installed(&releases, &cms, "one").await?;
    let src = repos.get("demo").await?;
    let rev1 = format!("0.1.0@{d1}");
    let short1 = d1
        .strip_prefix("sha256:")
        .and_then(|h| h.get(..12))
        .unwrap_or_default();
    let version1 = format!("0.1.0+{short1}");
    if src.data.pointer("/status/artifact/revision") != Some(&json!(rev1))
        || rendered(&cms).await? != Some(("one".into(), version1.clone()))
    {
        return Err(err(format!(
            "the pushed chart as the controllers took it: {:?} {:?}",
            src.data.pointer("/status/artifact"),
            rendered(&cms).await?
        )));
    }
    eprintln!(
        "flux helm oci: source-controller fetched {rev1}, helm-controller installed chart {version1}"
    );

    // --- status: the OCIRepository is the unit's source, the artifact's digest its revision and the release's
    let (unit, source) = status(tier, dirs.path())?;
    if unit["status"] != "ready"
        || unit["kind"] != "HelmRelease"
        || unit["source"] != "ox/demo"
        || unit["latestRevision"] != json!(rev1)
        || unit["appliedRevision"] != json!(d1)
        || unit["commitsBehind"] != json!(0)
        || source["ref"] != "tag:0.1.0"
        || source["url"] != json!(format!("oci://{registry}/charts/demo"))
        || source["revision"] != json!(rev1)
        || source["status"] != "ready"
    {
        return Err(err(format!("status of oci: {unit}\nsource: {source}")));
    }
    eprintln!("flux helm oci: status {unit}\nsource {source}");

    // --- the diff: in sync, the chart from the OCIRepository's artifact with helm-controller's version
    let diff = || {
        diff_unit(
            tier,
            tier.kubeconfig(),
            "admin",
            UNIT,
            dirs.path(),
            Some(&bin),
        )
    };
    let (code, v) = diff()?;
    let from = v["desiredFrom"].as_str().unwrap_or("");
    if code != 0
        || v["inSync"] != json!(true)
        || v["complete"] != json!(true)
        || !from.contains(&format!(
            "chart {rev1} (the source-controller artifact of OCIRepository ox/demo; version {version1}"
        ))
        || !from.contains("release oci in ox")
    {
        return Err(err(format!("diff of the installed OCI chart: exit {code}: {v}")));
    }
    eprintln!("flux helm oci: diff in sync: {from}");

    // --- a live edit of the rendered ConfigMap: exactly that object
    let edit = PatchParams {
        field_manager: Some("kubectl-patch".into()),
        ..PatchParams::default()
    };
    cms.patch(
        "oci-cm",
        &edit,
        &Patch::Merge(json!({"data": {"greeting": "edited"}})),
    )
    .await?;
    let (code, v) = diff()?;
    let objects = v["objects"].to_string();
    if !only_changed(code, &v, "ConfigMap/ox/oci-cm", "modified")
        || !objects.contains("edited")
        || !objects.contains("one")
    {
        return Err(err(format!("diff after a live edit: exit {code}: {v}")));
    }
    cms.patch(
        "oci-cm",
        &edit,
        &Patch::Merge(json!({"data": {"greeting": "one"}})),
    )
    .await?;
    eprintln!("flux helm oci: a live edit shows exactly that object");

    // --- rollback: refused before anything is sent (it pins a GitRepository; the chart is an OCI artifact)
    let before = repos.get("demo").await?.metadata.resource_version;
    let hr_before = releases.get("oci").await?.metadata.resource_version;
    let (code, stdout, stderr) = setpoint(
        tier,
        dirs.path(),
        "admin",
        &["rollback", UNIT, "--to", &d1, "--reason", "not git"],
    )?;
    if code != 3
        || !stderr.contains("not allowed now")
        || !stderr.contains("rollback pins a GitRepository")
        || !stderr.contains("OCIRepository (ox/demo)")
        || repos.get("demo").await?.metadata.resource_version != before
        || releases.get("oci").await?.metadata.resource_version != hr_before
    {
        return Err(err(format!(
            "rollback of a chart from an OCIRepository: {code} {stdout} {stderr}"
        )));
    }
    eprintln!("flux helm oci: rollback refused: {stderr}");

    // --- a new chart under a new tag, the OCIRepository moved to it while the release is suspended: status
    // and diff show what source-controller fetched and what the next upgrade installs
    let (code, stdout, stderr) = setpoint(
        tier,
        dirs.path(),
        "admin",
        &["suspend", UNIT, "--reason", "hold 0.2.0"],
    )?;
    if code != 0 {
        return Err(err(format!("suspend: {code} {stdout} {stderr}")));
    }
    let d2 = push_chart(&bin, home.path(), &registry, "0.2.0", "two")?;
    let rev2 = format!("0.2.0@{d2}");
    let short2 = d2
        .strip_prefix("sha256:")
        .and_then(|h| h.get(..12))
        .unwrap_or_default();
    let version2 = format!("0.2.0+{short2}");
    repos
        .patch(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ref": {"tag": "0.2.0"}}})),
        )
        .await?;
    wait_for("source-controller to fetch 0.2.0", LONG, POLL, || async {
        let o = repos.get("demo").await?;
        let rev = o
            .data
            .pointer("/status/artifact/revision")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(if rev == rev2 {
            Check::Done(())
        } else {
            Check::Pending(rev)
        })
    })
    .await?;
    let (unit, source) = status(tier, dirs.path())?;
    if unit["status"] != "suspended"
        || unit["latestRevision"] != json!(rev2)
        || unit["appliedRevision"] != json!(d1)
        || unit["commitsBehind"] != Value::Null
        || !unit["commitsBehindUnknown"]
            .as_str()
            .is_some_and(|w| w.contains("OCIRepository"))
        || source["ref"] != "tag:0.2.0"
        || source["revision"] != json!(rev2)
    {
        return Err(err(format!(
            "status after the tag moved: {unit}\nsource: {source}"
        )));
    }
    let (code, v) = diff()?;
    let objects = v["objects"].to_string();
    let from = v["desiredFrom"].as_str().unwrap_or("");
    if !only_changed(code, &v, "ConfigMap/ox/oci-cm", "modified")
        || !objects.contains("two")
        || !objects.contains(&version2)
        || !from.contains(&format!(
            "chart {rev2} (the source-controller artifact of OCIRepository ox/demo"
        ))
    {
        return Err(err(format!("diff of the next chart: exit {code}: {v}")));
    }
    if rendered(&cms).await? != Some(("one".into(), version1.clone())) {
        return Err(err("a suspended HelmRelease installed the new chart"));
    }
    eprintln!(
        "flux helm oci: the new tag is in status and in the diff, not installed while suspended"
    );

    // --- resume: helm-controller upgrades to the new chart; status and diff follow
    let (code, stdout, stderr) = setpoint(tier, dirs.path(), "admin", &["resume", UNIT])?;
    if code != 0 || !stdout.contains("ready") {
        return Err(err(format!("resume: {code} {stdout} {stderr}")));
    }
    wait_installed(&releases, &cms, "two").await?;
    if rendered(&cms).await? != Some(("two".into(), version2.clone())) {
        return Err(err(format!("after resume: {:?}", rendered(&cms).await?)));
    }
    let (unit, _) = status(tier, dirs.path())?;
    if unit["status"] != "ready"
        || unit["latestRevision"] != json!(rev2)
        || unit["appliedRevision"] != json!(d2)
        || unit["commitsBehind"] != json!(0)
    {
        return Err(err(format!("status after the upgrade: {unit}")));
    }
    let (code, v) = diff()?;
    if code != 0 || v["inSync"] != json!(true) {
        return Err(err(format!("diff after the upgrade: exit {code}: {v}")));
    }
    eprintln!("flux helm oci: resume installed {version2}; status and diff follow");

    uninstall(&releases, "oci").await
}
