//! The diff of a HelmRelease: its desired state built as helm-controller v1.6 builds it (the chart of its
//! HelmChart or `spec.chartRef` source, `chart.rs`; the values of `spec.values` and `spec.valuesFrom`,
//! `values.rs`; rendered by `helm template` as the release helm-controller names, with its post-rendering,
//! `render.rs`), then each object dry-run applied server-side as `helm-controller` and compared with live,
//! as the Kustomization diff does (`dryrun.rs`, `live.rs`), leaving out what `spec.driftDetection.ignore`
//! ignores as helm-controller does (`ignore.rs`, its targets `selector.rs`). Helm's release storage is the inventory
//! (`storage.rs`): objects of the newest release's manifest no longer rendered are shown removed, as the next
//! upgrade deletes them. What it cannot cover is said in the report, never a silent "in sync"; without helm
//! nothing is rendered and the report says so.

mod chart;
mod ignore;
mod render;
mod selector;
mod storage;
pub(crate) mod values;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::dryrun::{self, KindCache};
use super::{build, str_at};
use crate::backend::BackendError;
use crate::backend::flux::connect::Conn;
use crate::backend::helm_cli::{self, Cluster};
use crate::model::DiffReport;
use render::Crds;
use values::{Got, Reference};

/// The field manager helm-controller applies (and detects drift) with.
const CONTROLLER_MANAGER: &str = "helm-controller";
const KEEP: &str = "helm.sh/resource-policy";

/// The diff of the HelmRelease `hr` (as read from the API server).
pub async fn report(conn: &Conn, hr: &DynamicObject) -> Result<DiffReport, BackendError> {
    let hr = serde_json::to_value(hr)
        .map_err(|e| BackendError::Invalid(format!("the HelmRelease: {e}")))?;
    let mut report = DiffReport::default();
    let Some(program) = helm_cli::helm_program() else {
        report.uncovered.push(
            "helm not on PATH: a HelmRelease's desired state is rendered with `helm template` \
             (install helm, or set SETPOINT_HELM); nothing was rendered or compared"
                .into(),
        );
        return Ok(report);
    };
    let tmp = tempfile::tempdir().map_err(|e| BackendError::Invalid(format!("temp dir: {e}")))?;
    if let Err(why) = build_and_compare(conn, &hr, &program, tmp.path(), &mut report).await {
        report.uncovered.push(why);
    }
    report
        .objects
        .sort_by(|a, b| (!a.is_different(), &a.object).cmp(&(!b.is_different(), &b.object)));
    Ok(report)
}

async fn build_and_compare(
    conn: &Conn,
    hr: &Value,
    program: &std::path::Path,
    scratch: &std::path::Path,
    report: &mut DiffReport,
) -> Result<(), String> {
    let ns = str_at(hr, &["metadata", "namespace"]).to_owned();
    let name = str_at(hr, &["metadata", "name"]).to_owned();
    let spec = hr.get("spec").cloned().unwrap_or(Value::Null);
    let release = values::release_name(&spec, &name);
    let or_ns = |k: &str| match str_at(&spec, &[k]) {
        "" => ns.clone(),
        other => other.to_owned(),
    };
    let (release_ns, storage_ns) = (or_ns("targetNamespace"), or_ns("storageNamespace"));

    let chart = chart::fetch(conn, hr, scratch)
        .await
        .map_err(|why| format!("the chart cannot be read: {why}"))?;
    report.uncovered.extend(chart.gaps.iter().cloned());

    let refs = Reference::all(&spec);
    let mut got = Vec::new();
    for r in refs {
        let g = read_reference(conn, &ns, &r).await;
        got.push((r, g));
    }
    let composed =
        values::compose(spec.get("values").unwrap_or(&Value::Null), &got).map_err(|why| {
            format!("the values do not compose (helm-controller fails the same way): {why}")
        })?;
    report.uncovered.extend(composed.gaps);

    let stored = match storage::newest(&conn.client, &storage_ns, &release).await {
        Ok(r) => Ok(r),
        Err(e) => {
            report.uncovered.push(format!(
                "Helm's release storage cannot be read ({e}): whether this is an install or an upgrade \
                 is not known (rendered as an upgrade), and objects no longer rendered are not looked for"
            ));
            Err(())
        }
    };
    let upgrade = !matches!(stored, Ok(None));
    let cluster = match Cluster::read(&conn.client).await {
        Ok(c) => Some(c),
        Err(e) => {
            report.uncovered.push(format!(
                "the cluster's version and API versions could not be read ({e}): helm's defaults used for \
                 .Capabilities"
            ));
            None
        }
    };
    let crds = Crds::of(&spec, upgrade)?;
    let values_file = scratch.join("values.yaml");
    let text = serde_json::to_string(&Value::Object(composed.values)).map_err(|e| e.to_string())?;
    std::fs::write(&values_file, text).map_err(|e| format!("{}: {e}", values_file.display()))?;
    let plan = render::Plan {
        release: &release,
        namespace: &release_ns,
        chart: &chart.path,
        values_file: &values_file,
        cluster: cluster.as_ref(),
        upgrade,
        crds,
        skip_schema: spec
            .get(if upgrade { "upgrade" } else { "install" })
            .and_then(|s| s.get("disableSchemaValidation"))
            .and_then(Value::as_bool)
            == Some(true),
    };
    let args = render::args(&plan)?;
    let cwd = scratch.to_owned();
    let mut yaml = helm_cli::template(program, &args, &cwd, scratch)
        .await
        .map_err(|e| format!("helm template failed: {e}"))?;
    yaml = post_render(&spec, yaml, scratch, report).await;
    let rendered = render::objects(&yaml)?;
    report.desired_from = Some(format!(
        "{}, rendered by `helm template` as the {} of release {release} in {release_ns} with spec.values{}; \
         inventory: {}",
        chart.from,
        if upgrade { "upgrade" } else { "install" },
        match got.len() {
            0 => String::new(),
            n => format!(" and {n} valuesFrom"),
        },
        match &stored {
            Ok(Some(r)) => format!(
                "Helm's release storage ({release} v{} {}, in {storage_ns})",
                r.version, r.status
            ),
            Ok(None) => format!("none (no release {release} stored in {storage_ns})"),
            Err(()) => "not read".into(),
        }
    ));
    report.notes.push(
        "Helm hooks and tests are left out: helm-controller runs them, they are not in the release's manifest"
            .into(),
    );
    report.notes.extend(ignore::mode_note(&spec));
    let mut rules = ignore::Rules::of(&spec);
    report.uncovered.append(&mut rules.problems);
    report.notes.append(&mut rules.quirks);

    let mut kinds = KindCache::default();
    let mut desired = Vec::new();
    for (mut obj, crd_dir) in rendered {
        render::finish(&mut obj, &spec, &ns, &name, &release, &release_ns);
        let t = dryrun::target(&conn.client, &mut kinds, &mut obj, &release_ns, report).await;
        desired.push(id(&obj));
        let Some(t) = t else { continue };
        if crd_dir && crds == Crds::Create && t.current.is_some() {
            report.notes.push(format!(
                "skipped {}: a CRD of the chart's crds/ directory that exists (policy Create leaves it)",
                t.label
            ));
            continue;
        }
        if let Some(side) = ignore::excluded(&obj, t.current.as_ref()) {
            report.notes.push(format!(
                "{} is left out: its {side} object is marked {}: disabled, which helm-controller's drift \
                 detection skips",
                t.label,
                ignore::EXCLUDE_KEY
            ));
            continue;
        }
        let paths = rules.paths_for(&obj, &t.label);
        if let Some(i) = ignore::whole(&paths) {
            report.notes.push(format!(
                "{} is left out: spec.driftDetection.ignore[{i}] ignores it whole (path \"\")",
                t.label
            ));
            continue;
        }
        let strip = |dry: &mut Value, live: &mut Value| ignore::strip(dry, live, &paths);
        let strip = (!paths.is_empty()).then_some(&strip as dryrun::Strip<'_>);
        if let Some(d) = dryrun::compare_stripped(t, &obj, CONTROLLER_MANAGER, strip, report).await
        {
            report.objects.push(d);
        }
    }
    report.notes.extend(rules.notes());
    if let Ok(Some(r)) = &stored {
        removed(conn, &mut kinds, &r.manifest, &release_ns, &desired, report).await;
    }
    Ok(())
}

/// (apiVersion group, kind, namespace, name) of an object.
fn id(obj: &Value) -> (String, String, String, String) {
    let group = str_at(obj, &["apiVersion"])
        .split_once('/')
        .map(|(g, _)| g)
        .unwrap_or("");
    (
        group.to_owned(),
        str_at(obj, &["kind"]).to_owned(),
        str_at(obj, &["metadata", "namespace"]).to_owned(),
        str_at(obj, &["metadata", "name"]).to_owned(),
    )
}

/// One valuesFrom reference read from the HelmRelease's namespace.
async fn read_reference(conn: &Conn, ns: &str, r: &Reference) -> Got {
    let key = r.key.clone();
    let got: Result<Option<Option<String>>, kube::Error> = match r.kind.as_str() {
        "ConfigMap" => Api::<ConfigMap>::namespaced(conn.client.clone(), ns)
            .get_opt(&r.name)
            .await
            .map(|c| c.map(|c| c.data.unwrap_or_default().remove(&key))),
        "Secret" => Api::<Secret>::namespaced(conn.client.clone(), ns)
            .get_opt(&r.name)
            .await
            .map(|s| {
                s.map(|s| {
                    s.data
                        .unwrap_or_default()
                        .remove(&key)
                        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                })
            }),
        // refused by compose, as helm-controller refuses it
        _ => Ok(Some(None)),
    };
    match got {
        Ok(Some(d)) => Got::Data(d),
        Ok(None) => Got::NotFound,
        Err(e) => Got::Unreadable(short(&e)),
    }
}

/// An API error as its message and code (`... is forbidden: ... (403)`), anything else as it displays.
pub(crate) fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

/// `spec.postRenderers` kustomize patches and images applied to helm's output in order, through kustomize;
/// when kustomize is missing or fails, the output as helm printed it (said in the report).
async fn post_render(
    spec: &Value,
    yaml: String,
    scratch: &std::path::Path,
    report: &mut DiffReport,
) -> String {
    let steps: Vec<&Value> = spec
        .get("postRenderers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("kustomize"))
        .collect();
    if steps.is_empty() {
        return yaml;
    }
    let kustomize = match build::Kustomize::find() {
        Ok(k) => k,
        Err(e) => {
            report
                .uncovered
                .push(format!("spec.postRenderers are not applied: {e}"));
            return yaml;
        }
    };
    let mut out = yaml;
    for (i, k) in steps.into_iter().enumerate() {
        let dir = scratch.join(format!("post-{i}"));
        let input = "helm-output.yaml";
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(input), &out))
            .and_then(|()| {
                let k = render::post_kustomization(k, input);
                std::fs::write(dir.join("kustomization.yaml"), k.to_string())
            });
        let built = match written {
            Ok(()) => kustomize.build(&dir).await,
            Err(e) => Err(e.to_string()),
        };
        match built {
            Ok(y) => out = y,
            Err(e) => {
                report
                    .uncovered
                    .push(format!("spec.postRenderers[{i}] is not applied: {e}"));
                return out;
            }
        }
    }
    out
}

/// The objects of the newest release's manifest no longer rendered: removed, as the next upgrade deletes
/// them (unless annotated `helm.sh/resource-policy: keep`).
async fn removed(
    conn: &Conn,
    kinds: &mut KindCache,
    manifest: &str,
    release_ns: &str,
    desired: &[(String, String, String, String)],
    report: &mut DiffReport,
) {
    let objs = match render::objects(manifest) {
        Ok(o) => o,
        Err(e) => {
            report.uncovered.push(format!(
                "the stored release's manifest does not parse ({e}): objects no longer rendered are not looked for"
            ));
            return;
        }
    };
    for (obj, _) in objs {
        let api_version = str_at(&obj, &["apiVersion"]).to_owned();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.clone()),
        };
        let kind = str_at(&obj, &["kind"]).to_owned();
        let name = str_at(&obj, &["metadata", "name"]).to_owned();
        let mut ns = str_at(&obj, &["metadata", "namespace"]).to_owned();
        if ns.is_empty()
            && let Ok((_, true)) = kinds.get(&conn.client, &api_version, &kind).await
        {
            ns = release_ns.to_owned();
        }
        let key = (group.clone(), kind.clone(), ns.clone(), name.clone());
        if desired.contains(&key) {
            continue;
        }
        let Some((label, current)) = dryrun::no_longer_desired(
            &conn.client,
            kinds,
            (&group, &version, &kind),
            &ns,
            &name,
            "no longer rendered",
            report,
        )
        .await
        else {
            continue;
        };
        if build::marked(&current, KEEP, "keep") || build::marked(&obj, KEEP, "keep") {
            report.notes.push(format!(
                "{label} is no longer rendered but annotated {KEEP}: keep: Helm leaves it"
            ));
            continue;
        }
        report.objects.push(dryrun::removed(label, &current));
    }
}
