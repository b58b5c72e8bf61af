//! The diff of a Kustomization: its desired state built from the source at the applied revision (see
//! `source.rs` and `build.rs`), each object dry-run applied server-side with kustomize-controller's field
//! manager and compared with live (`live.rs`), inventory objects no longer desired shown as removed when
//! prune is on. What it cannot cover is said in the report, never a silent "in sync".

pub(crate) mod build;
pub(crate) mod dryrun;
pub(crate) mod helm;
pub(crate) mod live;
pub(crate) mod source;
mod subst;

use std::collections::BTreeMap;
use std::path::{Component, Path};

use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::connect::Conn;
use super::kinds;
use crate::backend::BackendError;
use crate::model::{DiffReport, ObjectDiff};
use dryrun::KindCache;

/// The field manager kustomize-controller applies with; the dry run uses it so that what it would take
/// over is what the controller takes over.
const CONTROLLER_MANAGER: &str = "kustomize-controller";
const GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// The diff of the Kustomization `ks` (as read from the API server).
pub async fn report(conn: &Conn, ks: &DynamicObject) -> Result<DiffReport, BackendError> {
    let ks = serde_json::to_value(ks)
        .map_err(|e| BackendError::Invalid(format!("the Kustomization: {e}")))?;
    let kustomize = build::Kustomize::find()?;
    let ns = str_at(&ks, &["metadata", "namespace"]).to_owned();
    let name = str_at(&ks, &["metadata", "name"]).to_owned();
    let spec = ks.get("spec").cloned().unwrap_or(Value::Null);
    let mut report = DiffReport::default();

    let tmp = tempfile::tempdir().map_err(|e| BackendError::Invalid(format!("temp dir: {e}")))?;
    let root = tmp.path().join("source");
    match read_source(conn, &ks, &ns, tmp.path(), &root).await {
        Ok((from, gap)) => {
            report.desired_from = Some(from);
            report.uncovered.extend(gap);
        }
        Err(why) => {
            report
                .uncovered
                .push(format!("the desired state cannot be read: {why}"));
            return Ok(report);
        }
    }
    let desired =
        match desired_objects(conn, &kustomize, &root, &spec, &ns, &name, &mut report).await {
            Ok(objects) => objects,
            Err(why) => {
                report
                    .uncovered
                    .push(format!("the desired state does not build: {why}"));
                return Ok(report);
            }
        };
    let mut kinds = KindCache::default();
    let mut desired_ids = Vec::new();
    for mut obj in desired {
        if let Some(d) = compare_one(conn, &mut kinds, &mut obj, &ns, &mut report).await {
            report.objects.push(d);
        }
        // desired even when skipped or not covered: the controller does not prune it
        desired_ids.push(inventory_id(&obj));
    }
    if spec.get("prune").and_then(Value::as_bool) == Some(true) {
        pruned(conn, &mut kinds, &ks, &desired_ids, &mut report).await;
    }
    report
        .objects
        .sort_by(|a, b| (!a.is_different(), &a.object).cmp(&(!b.is_different(), &b.object)));
    Ok(report)
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Unpacks the source at the applied revision into `root`; says where it came from, and what of the
/// source-controller's filtering a gix checkout could not repeat.
async fn read_source(
    conn: &Conn,
    ks: &Value,
    ns: &str,
    scratch: &Path,
    root: &Path,
) -> Result<(String, Option<String>), String> {
    let kind_name = str_at(ks, &["spec", "sourceRef", "kind"]);
    let src_name = str_at(ks, &["spec", "sourceRef", "name"]);
    let src_ns = match str_at(ks, &["spec", "sourceRef", "namespace"]) {
        "" => ns,
        other => other,
    };
    let kind =
        kinds::by_name(kind_name).ok_or_else(|| format!("unknown source kind {kind_name}"))?;
    let ar = conn.resource(kind).map_err(|e| e.to_string())?;
    let api: Api<DynamicObject> = Api::namespaced_with(conn.client.clone(), src_ns, ar);
    let src = api
        .get(src_name)
        .await
        .map_err(|e| format!("{kind_name} {src_ns}/{src_name}: {e}"))?;
    let src = serde_json::to_value(&src).map_err(|e| e.to_string())?;
    let applied = str_at(ks, &["status", "lastAppliedRevision"]).to_owned();
    let artifact = source::artifact(&src);
    let url = str_at(&src, &["spec", "url"]).to_owned();
    let (scratch, root) = (scratch.to_owned(), root.to_owned());
    let is_git = kind_name == "GitRepository";
    let spec_ignore = src.get("spec").and_then(|s| s.get("ignore")).is_some();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        let mut why = Vec::new();
        if let Some(a) = &artifact
            && (applied.is_empty() || a.revision == applied)
        {
            match source::unpack_artifact(a, &root) {
                Ok(()) => {
                    let from = format!(
                        "{} revision {} (the source-controller artifact)",
                        if applied.is_empty() { "latest" } else { "applied" },
                        a.revision
                    );
                    return Ok((from, None));
                }
                Err(e) => why.push(e),
            }
        }
        if let (true, Some(commit)) = (is_git, source::commit_of(&applied)) {
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
            match source::checkout(&url, commit, &scratch, &root) {
                Ok(sourceignore) => {
                    let from = format!("applied revision {applied} (cloned from {url} with gix)");
                    let gap = (sourceignore || spec_ignore).then(|| {
                        "the source's ignore rules (.sourceignore, spec.ignore) are not applied to a gix \
                         checkout: files they exclude may show as desired"
                            .to_owned()
                    });
                    return Ok((from, gap));
                }
                Err(e) => why.push(e),
            }
        }
        if let Some(a) = artifact.filter(|a| a.revision != applied && !applied.is_empty()) {
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
            source::unpack_artifact(&a, &root).map_err(|e| {
                why.push(e);
                why.join("; ")
            })?;
            let from = format!(
                "latest revision {} (the source-controller artifact): the applied revision {applied} could \
                 not be read ({})",
                a.revision,
                why.join("; ")
            );
            return Ok((from, None));
        }
        if why.is_empty() {
            why.push("the source has no artifact and no applied commit to clone".into());
        }
        Err(why.join("; "))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The directory at `spec.path` of the source, refused when it would leave the source.
fn spec_dir(root: &Path, spec: &Value) -> Result<std::path::PathBuf, String> {
    let path = spec.get("path").and_then(Value::as_str).unwrap_or("./");
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("spec.path {path} leaves the source"));
    }
    let dir = root.join(rel);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("spec.path {path} is not a directory of the source"))
    }
}

async fn desired_objects(
    conn: &Conn,
    kustomize: &build::Kustomize,
    root: &Path,
    spec: &Value,
    ns: &str,
    name: &str,
    report: &mut DiffReport,
) -> Result<Vec<Value>, String> {
    let dir = spec_dir(root, spec)?;
    let (mut k, kfile) = match build::kustomization_file(&dir) {
        Some(f) => {
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let k: Value = serde_saphyr::from_str(&text).map_err(|e| {
                format!(
                    "{}: {e}",
                    f.file_name().unwrap_or_default().to_string_lossy()
                )
            })?;
            (k, f)
        }
        None => (build::generated(&dir)?, dir.join("kustomization.yaml")),
    };
    build::overlay(&mut k, spec, &dir)?;
    let text = serde_json::to_string_pretty(&k).map_err(|e| e.to_string())?;
    std::fs::write(&kfile, text).map_err(|e| format!("{}: {e}", kfile.display()))?;
    let yaml = kustomize.build(&dir).await?;
    let vars = match spec.get("postBuild") {
        Some(post) => Some(variables(conn, post, ns, report).await),
        None => None,
    };
    build::objects(&yaml, vars.as_ref(), spec, ns, name)
}

/// postBuild variables: substituteFrom ConfigMaps and Secrets (those that cannot be read are said in the
/// report), then the inline substitute, which wins.
async fn variables(
    conn: &Conn,
    post: &Value,
    ns: &str,
    report: &mut DiffReport,
) -> BTreeMap<String, String> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let mut vars = BTreeMap::new();
    for r in post
        .get("substituteFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = str_at(r, &["kind"]);
        let name = str_at(r, &["name"]);
        let optional = r.get("optional").and_then(Value::as_bool) == Some(true);
        let got: Result<Vec<(String, String)>, kube::Error> = match kind {
            "ConfigMap" => Api::<ConfigMap>::namespaced(conn.client.clone(), ns)
                .get(name)
                .await
                .map(|c| c.data.unwrap_or_default().into_iter().collect()),
            "Secret" => Api::<Secret>::namespaced(conn.client.clone(), ns)
                .get(name)
                .await
                .map(|s| {
                    s.data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                        .collect()
                }),
            other => {
                report.uncovered.push(format!(
                    "postBuild.substituteFrom kind {other} is not known"
                ));
                continue;
            }
        };
        match got {
            Ok(pairs) => vars.extend(pairs.into_iter().map(|(k, v)| (k, v.replace('\n', "")))),
            Err(kube::Error::Api(s)) if s.code == 404 && optional => {}
            Err(e) => report.uncovered.push(format!(
                "postBuild.substituteFrom {kind}/{ns}/{name} cannot be read ({e}): the variables it \
                 holds were substituted as empty"
            )),
        }
    }
    if let Some(inline) = post.get("substitute").and_then(Value::as_object) {
        for (k, v) in inline {
            if let Some(v) = v.as_str() {
                vars.insert(k.clone(), v.replace('\n', ""));
            }
        }
    }
    vars
}

/// One desired object dry-run applied and compared with live; `None` when skipped or not covered (said in
/// the report).
async fn compare_one(
    conn: &Conn,
    kinds: &mut KindCache,
    obj: &mut Value,
    default_ns: &str,
    report: &mut DiffReport,
) -> Option<ObjectDiff> {
    let t = dryrun::target(&conn.client, kinds, obj, default_ns, report).await?;
    let label = t.label.clone();
    let skipped = |o: &Value| {
        build::marked(o, &format!("{GROUP}/reconcile"), "disabled")
            || build::marked(o, &format!("{GROUP}/ssa"), "ignore")
    };
    if skipped(obj) || t.current.as_ref().is_some_and(skipped) {
        report.notes.push(format!(
            "skipped {label}: annotated reconcile: disabled or ssa: ignore (the controller leaves it alone)"
        ));
        return None;
    }
    if t.current.is_some() && build::marked(obj, &format!("{GROUP}/ssa"), "ifnotpresent") {
        report.notes.push(format!(
            "skipped {label}: annotated ssa: IfNotPresent and it exists"
        ));
        return None;
    }
    dryrun::compare(t, obj, CONTROLLER_MANAGER, report).await
}

/// `namespace_name_group_kind`, the id of status.inventory entries.
fn inventory_id(obj: &Value) -> String {
    let api_version = str_at(obj, &["apiVersion"]);
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    format!(
        "{}_{}_{}_{}",
        str_at(obj, &["metadata", "namespace"]),
        str_at(obj, &["metadata", "name"]),
        group,
        str_at(obj, &["kind"])
    )
}

/// Inventory objects no longer desired: removed, as prune would delete them.
async fn pruned(
    conn: &Conn,
    kinds: &mut KindCache,
    ks: &Value,
    desired: &[String],
    report: &mut DiffReport,
) {
    let entries = ks
        .get("status")
        .and_then(|s| s.get("inventory"))
        .and_then(|i| i.get("entries"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for e in entries {
        let id = str_at(&e, &["id"]);
        if desired.iter().any(|d| d == id) {
            continue;
        }
        let mut parts = id.splitn(4, '_');
        let (Some(ns), Some(name), Some(group), Some(kind)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let gvk = (group, str_at(&e, &["v"]), kind);
        let Some((label, current)) =
            dryrun::no_longer_desired(&conn.client, kinds, gvk, ns, name, "to be pruned", report)
                .await
        else {
            continue;
        };
        if build::marked(&current, &format!("{GROUP}/prune"), "disabled") {
            report.notes.push(format!(
                "{label} is no longer desired but annotated prune: disabled: it stays"
            ));
            continue;
        }
        report.objects.push(dryrun::removed(label, &current));
    }
}
