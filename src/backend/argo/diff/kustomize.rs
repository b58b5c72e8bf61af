//! A kustomize Application source rendered as Argo CD's repo-server renders it: `spec.source.kustomize`
//! written into the kustomization file of the (temporary) checkout the way its `kustomize edit` commands
//! write it (`set nameprefix`, `set namesuffix`, `set image`, `set replicas`, `add label`,
//! `add annotation`, `set namespace`, the patches appended, `add component`, in that order), then built
//! by the kustomize program the Flux diff uses. The edit is done here on the file's mapping, so that
//! `kubectl kustomize` (which has no `edit`) serves too.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::env::BuildEnv;
use super::render::{Rendered, parse};
use crate::backend::flux::diff::build::{self, Kustomize};

/// Builds the kustomize source in `dir` with the Application's kustomize settings `opts` applied.
pub async fn render(dir: &Path, opts: &Value, env: &BuildEnv) -> Result<Rendered, String> {
    let k = Kustomize::find().map_err(|e| e.to_string())?;
    let mut gaps = not_applied(opts);
    if edits(opts) {
        let file = build::kustomization_file(dir).ok_or_else(|| {
            "spec.source.kustomize is set and the directory has no kustomization file".to_owned()
        })?;
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut kustomization: Value = serde_saphyr::from_str(&text).map_err(|e| {
            format!(
                "{}: {e}",
                file.file_name().unwrap_or_default().to_string_lossy()
            )
        })?;
        edit(&mut kustomization, opts, env, dir)?;
        let out = serde_json::to_string_pretty(&kustomization).map_err(|e| e.to_string())?;
        std::fs::write(&file, out).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let yaml = k.build(dir).await?;
    gaps.sort();
    Ok(Rendered {
        objects: parse(&yaml, false, "kustomize output")?,
        tool: "kustomize",
        gaps,
    })
}

/// The settings of `opts` this render does not apply, each said.
pub fn not_applied(opts: &Value) -> Vec<String> {
    let mut gaps = Vec::new();
    if let Some(v) = opts
        .get("version")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
    {
        gaps.push(format!(
            "kustomize.version {v} (a kustomize Argo CD's argocd-cm names) is not used: built with the kustomize found here"
        ));
    }
    for key in ["kubeVersion", "apiVersions"] {
        if opts.get(key).is_some_and(|v| !v.is_null()) {
            gaps.push(format!(
                "kustomize.{key} (for Helm charts inflated by kustomize) is not passed to the build"
            ));
        }
    }
    gaps
}

/// Whether `opts` has a setting that changes the kustomization file.
fn edits(opts: &Value) -> bool {
    opts.as_object().is_some_and(|o| {
        o.iter().any(|(k, v)| {
            !v.is_null() && !matches!(k.as_str(), "version" | "kubeVersion" | "apiVersions")
        })
    })
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool) == Some(true)
}

/// The kustomization `k` (of `dir`) edited with `opts` as the repo-server's `kustomize edit` commands edit
/// it; an error where such a command fails (and so does Argo CD's manifest generation).
pub fn edit(k: &mut Value, opts: &Value, env: &BuildEnv, dir: &Path) -> Result<(), String> {
    let Some(obj) = k.as_object_mut() else {
        return Err("the kustomization file is not a mapping".into());
    };
    for (key, field) in [("namePrefix", "namePrefix"), ("nameSuffix", "nameSuffix")] {
        if !s(opts, key).is_empty() {
            obj.insert(field.into(), json!(s(opts, key)));
        }
    }
    if let Some(images) = opts.get("images").and_then(Value::as_array)
        && !images.is_empty()
    {
        let args = images
            .iter()
            .filter_map(Value::as_str)
            .map(|i| env.subst(i))
            .collect::<Vec<_>>();
        set_images(obj, &args)?;
    }
    if let Some(replicas) = opts.get("replicas").and_then(Value::as_array)
        && !replicas.is_empty()
    {
        set_replicas(obj, replicas)?;
    }
    if let Some(labels) = string_map(opts, "commonLabels") {
        let labels = labels
            .into_iter()
            .map(|(k, v)| (k, env.subst(&v)))
            .collect();
        let force = flag(opts, "forceCommonLabels");
        if flag(opts, "labelWithoutSelector") {
            labels_without_selector(obj, &labels, flag(opts, "labelIncludeTemplates"), force)?;
        } else {
            add_to_map(obj, "commonLabels", &labels, force, "label")?;
        }
    }
    if let Some(annotations) = string_map(opts, "commonAnnotations") {
        let annotations = if flag(opts, "commonAnnotationsEnvsubst") {
            annotations
                .into_iter()
                .map(|(k, v)| (k, env.subst(&v)))
                .collect()
        } else {
            annotations
        };
        let force = flag(opts, "forceCommonAnnotations");
        add_to_map(obj, "commonAnnotations", &annotations, force, "annotation")?;
    }
    if !s(opts, "namespace").is_empty() {
        obj.insert("namespace".into(), json!(s(opts, "namespace")));
    }
    if let Some(patches) = opts.get("patches").and_then(Value::as_array)
        && !patches.is_empty()
    {
        let mut list = match obj.remove("patches") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(l)) => l,
            Some(_) => return Err("the kustomization's patches are not a list".into()),
        };
        list.extend(patches.iter().cloned());
        obj.insert("patches".into(), Value::Array(list));
    }
    if let Some(components) = opts.get("components").and_then(Value::as_array) {
        let ignore_missing = flag(opts, "ignoreMissingComponents");
        let mut list = match obj.remove("components") {
            Some(Value::Array(l)) => l,
            _ => Vec::new(),
        };
        for c in components.iter().filter_map(Value::as_str) {
            let remote = c.contains("://") || c.starts_with("github.com/");
            if !remote && !dir.join(c).exists() {
                if ignore_missing {
                    continue;
                }
                return Err(format!("kustomize edit add component: {c} has no match"));
            }
            if !list.iter().any(|x| x.as_str() == Some(c)) {
                list.push(json!(c));
            }
        }
        if !list.is_empty() {
            obj.insert("components".into(), Value::Array(list));
        }
    }
    Ok(())
}

fn string_map(opts: &Value, key: &str) -> Option<BTreeMap<String, String>> {
    let m = opts.get(key)?.as_object()?;
    (!m.is_empty()).then(|| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
            .collect()
    })
}

/// `kustomize edit add label|annotation` into the mapping at `field`: an existing key is an error unless
/// forced.
fn add_to_map(
    obj: &mut Map<String, Value>,
    field: &str,
    pairs: &BTreeMap<String, String>,
    force: bool,
    what: &str,
) -> Result<(), String> {
    let entry = obj.entry(field).or_insert_with(|| json!({}));
    if entry.is_null() {
        *entry = json!({});
    }
    let Some(m) = entry.as_object_mut() else {
        return Err(format!("the kustomization's {field} is not a mapping"));
    };
    put_pairs(m, pairs, force, what)
}

fn put_pairs(
    m: &mut Map<String, Value>,
    pairs: &BTreeMap<String, String>,
    force: bool,
    what: &str,
) -> Result<(), String> {
    for (k, v) in pairs {
        if m.contains_key(k) && !force {
            return Err(format!(
                "kustomize edit add {what}: {what} {k} already in kustomization file (forceCommon{}s is not set)",
                if what == "label" {
                    "Label"
                } else {
                    "Annotation"
                }
            ));
        }
        m.insert(k.clone(), json!(v));
    }
    Ok(())
}

/// `kustomize edit add label --without-selector [--include-templates]`: into the `labels` entry that does
/// not include selectors and includes templates as asked, else a new one.
fn labels_without_selector(
    obj: &mut Map<String, Value>,
    pairs: &BTreeMap<String, String>,
    include_templates: bool,
    force: bool,
) -> Result<(), String> {
    let list = obj.entry("labels").or_insert_with(|| json!([]));
    if list.is_null() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else {
        return Err("the kustomization's labels are not a list".into());
    };
    let matches = |l: &Value| {
        !flag(l, "includeSelectors") && flag(l, "includeTemplates") == include_templates
    };
    let i = match list.iter().position(matches) {
        Some(i) => i,
        None => {
            let mut entry = json!({"pairs": {}});
            if include_templates {
                entry["includeTemplates"] = json!(true);
            }
            list.push(entry);
            list.len() - 1
        }
    };
    let entry = &mut list[i];
    if !entry["pairs"].is_object() {
        entry["pairs"] = json!({});
    }
    match entry["pairs"].as_object_mut() {
        Some(m) => put_pairs(m, pairs, force, "label"),
        None => Err("the kustomization's labels entry has no pairs mapping".into()),
    }
}

/// One `kustomize edit set image` argument: `[name=]newName[:tag][@digest]`, or `name:tag` / `name@digest`.
pub fn parse_image(arg: &str) -> Result<Map<String, Value>, String> {
    let (key, value) = match arg.split_once('=') {
        Some((k, v)) => (Some(k), v),
        None => (None, arg),
    };
    let (name, tag, digest) = split_image(value);
    if name == arg {
        return Err(format!(
            "kustomize edit set image {arg}: invalid format of image, use one of the following options: <image>=<newimage>:<newtag> <image>=<newimage>@<digest> <image>=<newimage> <image>:<newtag> <image>@<digest>"
        ));
    }
    let mut m = Map::new();
    match key {
        Some(k) => {
            m.insert("name".into(), json!(k));
            m.insert("newName".into(), json!(name));
        }
        None => {
            m.insert("name".into(), json!(name));
        }
    }
    if !tag.is_empty() {
        m.insert("newTag".into(), json!(tag));
    }
    if !digest.is_empty() {
        m.insert("digest".into(), json!(digest));
    }
    Ok(m)
}

/// kustomize's image.Split: the name, the tag and the digest of an image reference (a registry's port is
/// no tag).
fn split_image(image: &str) -> (&str, &str, &str) {
    let slash = image.find('/').filter(|i| *i > 0).unwrap_or(0);
    let search = &image[slash..];
    let (at, colon) = (search.find('@'), search.find(':'));
    match (colon, at) {
        (None, None) => (image, "", ""),
        (Some(c), Some(d)) if c < d => (
            &image[..slash + c],
            &image[slash + c + 1..slash + d],
            &image[slash + d + 1..],
        ),
        (_, Some(d)) => (&image[..slash + d], "", &image[slash + d + 1..]),
        (Some(c), None) => (&image[..slash + c], &image[slash + c + 1..], ""),
    }
}

const PRESERVE: &str = "*";

/// `kustomize edit set image ARGS...`: each argument replaces the entry of its name (`*` keeps that field
/// of the existing entry), the others are kept, sorted by name.
fn set_images(obj: &mut Map<String, Value>, args: &[String]) -> Result<(), String> {
    let mut by_name: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for a in args {
        let image = parse_image(a)?;
        by_name.insert(s_of(&image, "name").to_owned(), image);
    }
    let existing = match obj.remove("images") {
        Some(Value::Array(l)) => l,
        _ => Vec::new(),
    };
    for old in existing {
        let Some(old) = old.as_object().cloned() else {
            continue;
        };
        let name = s_of(&old, "name").to_owned();
        match by_name.get_mut(&name) {
            Some(new) => {
                for f in ["newName", "newTag", "digest"] {
                    if s_of(new, f) == PRESERVE {
                        match old.get(f) {
                            Some(v) => new.insert(f.into(), v.clone()),
                            None => new.remove(f),
                        };
                    }
                }
            }
            None => {
                by_name.insert(name, old);
            }
        }
    }
    let images: Vec<Value> = by_name
        .into_values()
        .map(|mut i| {
            for f in ["newName", "newTag", "digest"] {
                if s_of(&i, f) == PRESERVE {
                    i.remove(f);
                }
            }
            Value::Object(i)
        })
        .collect();
    obj.insert("images".into(), Value::Array(images));
    Ok(())
}

fn s_of<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `kustomize edit set replicas name=count...`: each replaces the entry of its name, sorted by name.
fn set_replicas(obj: &mut Map<String, Value>, replicas: &[Value]) -> Result<(), String> {
    let mut by_name: BTreeMap<String, Value> = BTreeMap::new();
    for r in replicas {
        let name = s(r, "name");
        let count = match r.get("count") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(t)) => t.trim().parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            format!(
                "replicas of {name}: count {:?} is not a number",
                r.get("count")
            )
        })?;
        by_name.insert(name.to_owned(), json!({"name": name, "count": count}));
    }
    if let Some(Value::Array(old)) = obj.remove("replicas") {
        for r in old {
            by_name.entry(s(&r, "name").to_owned()).or_insert(r);
        }
    }
    obj.insert(
        "replicas".into(),
        Value::Array(by_name.into_values().collect()),
    );
    Ok(())
}

#[cfg(test)]
#[path = "kustomize_tests.rs"]
mod tests;
