//! The desired objects of a Kustomization, built the way kustomize-controller builds them: the directory at
//! `spec.path` with its kustomization.yaml (or the one the controller generates: every YAML file, a
//! sub-directory with its own kustomization.yaml as one resource), overlaid with the Kustomization's own
//! spec (targetNamespace, namePrefix/nameSuffix, patches, components, images), built by the `kustomize`
//! program, then postBuild substitution, the owner labels and commonMetadata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::subst;
use crate::backend::BackendError;

/// kustomization file names kustomize recognises, in its order.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
/// The environment variable naming the kustomize program to run (tests point it at the tier's binary).
pub const KUSTOMIZE_ENV: &str = "SETPOINT_KUSTOMIZE";
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);
const OWNER_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// The kustomization file of `dir`, if it has one.
pub fn kustomization_file(dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// The kustomization the controller generates for a directory without one: every `.yaml`/`.yml` file
/// below it (hidden ones too, as the controller does; the source has already dropped what .sourceignore
/// excludes), and a sub-directory holding a kustomization file as one resource, not descended into.
pub fn generated(dir: &Path) -> Result<Value, String> {
    let mut resources = Vec::new();
    scan(dir, dir, &mut resources)?;
    resources.sort();
    let mut k = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    });
    if resources.is_empty() {
        // as the controller does, so that kustomize does not refuse an empty kustomization
        k["namespace"] = json!("_placeholder");
    } else {
        k["resources"] = json!(resources);
    }
    Ok(k)
}

fn scan(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let path = entry.path();
        let rel = || {
            format!(
                "./{}",
                path.strip_prefix(base).unwrap_or(&path).to_string_lossy()
            )
        };
        let ty = entry
            .file_type()
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if ty.is_dir() {
            if kustomization_file(&path).is_some() {
                out.push(rel());
            } else {
                scan(base, &path, out)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(rel());
        }
    }
    Ok(())
}

/// The Kustomization's spec applied to the kustomization `k` (of the directory `dir`), as the controller's
/// generator does before building.
pub fn overlay(k: &mut Value, spec: &Value, dir: &Path) -> Result<(), String> {
    let Some(obj) = k.as_object_mut() else {
        return Err("the kustomization file is not a mapping".into());
    };
    for (from, to) in [
        ("targetNamespace", "namespace"),
        ("namePrefix", "namePrefix"),
        ("nameSuffix", "nameSuffix"),
    ] {
        if let Some(v) = spec.get(from).and_then(Value::as_str) {
            obj.insert(to.into(), json!(v));
        }
    }
    if let Some(patches) = spec.get("patches").and_then(Value::as_array) {
        let mut list = take_list(obj, "patches");
        for p in patches {
            let mut entry = Map::new();
            if let Some(patch) = p.get("patch") {
                entry.insert("patch".into(), patch.clone());
            }
            if let Some(target) = p.get("target") {
                entry.insert("target".into(), target.clone());
            }
            list.push(Value::Object(entry));
        }
        put_list(obj, "patches", list);
    }
    if let Some(components) = spec.get("components").and_then(Value::as_array) {
        let ignore_missing = spec
            .get("ignoreMissingComponents")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut list = take_list(obj, "components");
        for c in components.iter().filter_map(Value::as_str) {
            if c.starts_with('/') || c.split('/').any(|part| part == "..") || c.contains("://") {
                return Err(format!("component path '{c}' must be local and relative"));
            }
            if ignore_missing && !dir.join(c).exists() {
                continue;
            }
            list.push(json!(c));
        }
        put_list(obj, "components", list);
    }
    if let Some(images) = spec.get("images").and_then(Value::as_array) {
        let mut list = take_list(obj, "images");
        for image in images {
            let name = image.get("name").and_then(Value::as_str).unwrap_or("");
            let field = |f: &str| {
                image
                    .get(f)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            match list
                .iter_mut()
                .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
            {
                Some(existing) => {
                    if let Some(n) = field("newName") {
                        existing["newName"] = json!(n);
                    }
                    // newTag and digest select the version together: setting one clears the other
                    if field("newTag").is_some() || field("digest").is_some() {
                        existing["newTag"] = json!(field("newTag").unwrap_or(""));
                        existing["digest"] = json!(field("digest").unwrap_or(""));
                    }
                }
                None => list.push(image.clone()),
            }
        }
        put_list(obj, "images", list);
    }
    if let Some(meta) = spec.get("buildMetadata").and_then(Value::as_array)
        && !meta.is_empty()
    {
        obj.insert("buildMetadata".into(), Value::Array(meta.clone()));
    }
    Ok(())
}

/// The list at `key` (empty when absent or not a list), taken out of `obj`; put back with `put_list`.
fn take_list(obj: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match obj.remove(key) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    }
}

fn put_list(obj: &mut Map<String, Value>, key: &str, list: Vec<Value>) {
    if !list.is_empty() {
        obj.insert(key.into(), Value::Array(list));
    }
}

/// How kustomize is run: the program and the arguments before `build`.
#[derive(Debug, Clone)]
pub struct Kustomize {
    pub program: PathBuf,
    pub prefix: Vec<String>,
}

impl Kustomize {
    /// `$SETPOINT_KUSTOMIZE`, else `kustomize` on PATH, else `kubectl kustomize`; an error naming what to
    /// install when there is none.
    pub fn find() -> Result<Self, BackendError> {
        if let Some(p) = std::env::var_os(KUSTOMIZE_ENV).filter(|p| !p.is_empty()) {
            return Ok(Self {
                program: PathBuf::from(p),
                prefix: Vec::new(),
            });
        }
        if let Some(p) = on_path("kustomize") {
            return Ok(Self {
                program: p,
                prefix: Vec::new(),
            });
        }
        if let Some(p) = on_path("kubectl") {
            return Ok(Self {
                program: p,
                prefix: vec!["kustomize".into()],
            });
        }
        Err(BackendError::Invalid(
            "the Flux diff builds the desired state with kustomize, and neither `kustomize` nor `kubectl` \
             is on PATH: install kustomize (sigs.k8s.io/kustomize/kustomize/v5) or kubectl, or set \
             SETPOINT_KUSTOMIZE to a kustomize binary"
                .into(),
        ))
    }

    /// `kustomize build DIR` (loading files from anywhere in the source, as the controller allows); the
    /// multi-document YAML it prints.
    pub async fn build(&self, dir: &Path) -> Result<String, String> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.prefix)
            .args(if self.prefix.is_empty() {
                vec!["build"]
            } else {
                vec![]
            })
            .arg("--load-restrictor=LoadRestrictionsNone")
            .arg(dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(BUILD_TIMEOUT, cmd.output())
            .await
            .map_err(|_| format!("kustomize build did not finish in {BUILD_TIMEOUT:?}"))?
            .map_err(|e| format!("running {}: {e}", self.program.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("kustomize build failed: {}", err.trim()));
        }
        String::from_utf8(out.stdout).map_err(|_| "kustomize printed non-UTF-8 output".into())
    }
}

/// The program `name` in a directory of PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The documents of kustomize's output, each as its YAML text (what substitution works on).
pub fn documents(yaml: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in yaml.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(std::mem::take(&mut cur));
        } else {
            cur.push_str(line);
        }
    }
    docs.push(cur);
    docs.retain(|d| !d.trim().is_empty());
    docs
}

fn meta_value<'a>(obj: &'a Value, field: &str, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.get(key)?.as_str()
}

/// Whether the object's labels or annotations set `key` to `value`.
pub fn marked(obj: &Value, key: &str, value: &str) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|f| meta_value(obj, f, key).is_some_and(|v| v.eq_ignore_ascii_case(value)))
}

/// The objects of kustomize's output after postBuild substitution (when `vars` is set: the Kustomization
/// has a postBuild), the owner labels of the Kustomization `ks_ns/ks_name`, and commonMetadata.
pub fn objects(
    yaml: &str,
    vars: Option<&BTreeMap<String, String>>,
    spec: &Value,
    ks_ns: &str,
    ks_name: &str,
) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in documents(yaml) {
        let mut obj: Value =
            serde_saphyr::from_str(&doc).map_err(|e| format!("kustomize output: {e}"))?;
        if let Some(vars) = vars.filter(|v| !v.is_empty())
            && !marked(&obj, subst::DISABLED_KEY, "disabled")
        {
            let text = subst::substitute(&doc, vars).map_err(|e| {
                format!(
                    "var substitution failed for '{}': {e}",
                    meta_str(&obj, "name")
                )
            })?;
            obj = serde_saphyr::from_str(&text).map_err(|e| format!("after substitution: {e}"))?;
        }
        if !obj.is_object() {
            continue;
        }
        insert_meta(
            &mut obj,
            "labels",
            &format!("{OWNER_GROUP}/name"),
            json!(ks_name),
        );
        insert_meta(
            &mut obj,
            "labels",
            &format!("{OWNER_GROUP}/namespace"),
            json!(ks_ns),
        );
        if let Some(common) = spec.get("commonMetadata") {
            for field in ["labels", "annotations"] {
                if let Some(m) = common.get(field).and_then(Value::as_object) {
                    for (k, v) in m {
                        insert_meta(&mut obj, field, k, v.clone());
                    }
                }
            }
        }
        out.push(obj);
    }
    Ok(out)
}

fn meta_str(obj: &Value, field: &str) -> String {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Sets `metadata.<field>.<key>` (labels, annotations) of `obj`, a mapping.
pub(crate) fn insert_meta(obj: &mut Value, field: &str, key: &str, value: Value) {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if !obj["metadata"][field].is_object() {
        obj["metadata"][field] = json!({});
    }
    obj["metadata"][field][key] = value;
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
