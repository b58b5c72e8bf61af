//! The manifests of one Application source at a commit, rendered here the way Argo CD's repo-server renders
//! them: the tool named by the source (`helm`, `kustomize`, `directory`, `plugin`), else detected from the
//! directory (a kustomization file: kustomize; a `Chart.yaml`: Helm; else a plain directory). Plain
//! directories are read natively (YAML and JSON files, `recurse`, `include` and `exclude` globs); kustomize
//! apps are built with their `spec.source.kustomize` settings applied (`kustomize.rs`); Helm apps by
//! `helm template` (`helm.rs`). What cannot be rendered is returned as the reason; what is rendered but
//! not applied as gaps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::env::BuildEnv;
use super::helm::{self, Cluster};
use super::kustomize;
use crate::backend::flux::diff::build;

/// Manifests rendered, how, and what of the source's settings was not applied.
#[derive(Debug, Default)]
pub struct Rendered {
    pub objects: Vec<Value>,
    pub tool: &'static str,
    pub gaps: Vec<String>,
}

/// What a render needs besides the source and its checkout.
pub struct Ctx<'a> {
    pub app_name: &'a str,
    pub dest_ns: &'a str,
    pub env: &'a BuildEnv,
    /// `$name` of each source with a `ref`, and the root of its checkout.
    pub refs: &'a BTreeMap<String, PathBuf>,
    /// The cluster's version and API versions (for Helm); None when they could not be read.
    pub cluster: Option<&'a Cluster>,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn set(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

/// How a source is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Helm,
    Kustomize,
    Directory,
    Plugin,
}

/// The directory of `source` in the checkout at `root`, and its tool: the one the source names, else the
/// one its files call for.
pub fn tool(root: &Path, source: &Value) -> Result<(PathBuf, Tool), String> {
    let path = text(source, "/path");
    let rel = Path::new(path.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("path {path} leaves the repository"));
    }
    let dir = root.join(rel);
    if !dir.is_dir() {
        return Err(format!("path {path} is not a directory at this revision"));
    }
    let named: Vec<Tool> = [
        ("helm", Tool::Helm),
        ("kustomize", Tool::Kustomize),
        ("directory", Tool::Directory),
        ("plugin", Tool::Plugin),
    ]
    .into_iter()
    .filter(|(k, _)| set(source, k))
    .map(|(_, t)| t)
    .collect();
    let t = match named.as_slice() {
        [t] => *t,
        [] if build::kustomization_file(&dir).is_some() => Tool::Kustomize,
        [] if dir.join("Chart.yaml").is_file() => Tool::Helm,
        [] => Tool::Directory,
        _ => return Err("more than one of helm, kustomize, directory and plugin is set".into()),
    };
    Ok((dir, t))
}

/// Renders `source` (one entry of `spec.sources`, or `spec.source`) from the checkout at `root`.
pub async fn render(root: &Path, source: &Value, ctx: &Ctx<'_>) -> Result<Rendered, String> {
    let (dir, t) = tool(root, source)?;
    match t {
        Tool::Plugin => Err("config management plugins are not run here".into()),
        Tool::Helm => helm::render(&dir, root, source, ctx).await,
        Tool::Kustomize => {
            let opts = source.get("kustomize").cloned().unwrap_or(Value::Null);
            kustomize::render(&dir, &opts, ctx.env).await
        }
        Tool::Directory => directory(&dir, source),
    }
}

/// The objects of YAML (multi-document) or JSON text; `kind: List` unwrapped.
pub fn parse(text: &str, json: bool, what: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = if json {
        vec![serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))?]
    } else {
        build::documents(text)
            .iter()
            .map(|d| serde_saphyr::from_str::<Value>(d).map_err(|e| format!("{what}: {e}")))
            .collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for d in docs {
        if !d.is_object() {
            continue;
        }
        if d.get("kind").and_then(Value::as_str) == Some("List") {
            out.extend(
                d.get("items")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|i| i.is_object())
                    .cloned(),
            );
        } else {
            out.push(d);
        }
    }
    Ok(out)
}

fn directory(dir: &Path, source: &Value) -> Result<Rendered, String> {
    let d = source.get("directory").cloned().unwrap_or(Value::Null);
    let recurse = d.get("recurse").and_then(Value::as_bool) == Some(true);
    let include = text(&d, "/include");
    let exclude = text(&d, "/exclude");
    let mut files = Vec::new();
    walk(dir, dir, recurse, &mut files)?;
    files.sort();
    let mut out = Rendered {
        tool: "directory",
        ..Rendered::default()
    };
    for rel in files {
        if (!include.is_empty() && !glob(include, &rel))
            || (!exclude.is_empty() && glob(exclude, &rel))
        {
            continue;
        }
        let ext = rel.rsplit('.').next().unwrap_or("");
        if ext == "jsonnet" {
            // Argo CD evaluates it (with directory.jsonnet's settings); a .libsonnet is only imported
            out.gaps.push(format!(
                "{rel}: jsonnet is not evaluated here (its objects are not compared)"
            ));
            continue;
        }
        if !matches!(ext, "yaml" | "yml" | "json") {
            continue;
        }
        let path = dir.join(&rel);
        let body = std::fs::read_to_string(&path).map_err(|e| format!("{rel}: {e}"))?;
        out.objects.extend(parse(&body, ext == "json", &rel)?);
    }
    Ok(out)
}

fn walk(base: &Path, dir: &Path, recurse: bool, out: &mut Vec<String>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        let ty = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if ty.is_dir() {
            if recurse && entry.file_name() != ".git" {
                walk(base, &path, recurse, out)?;
            }
        } else if ty.is_file() {
            let rel = path.strip_prefix(base).unwrap_or(&path);
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// Argo CD's include/exclude globs: `*` (any run, `/` included), `?`, and `{a,b}` alternatives.
pub fn glob(pattern: &str, path: &str) -> bool {
    if let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}'))
        && open < close
    {
        let (head, alts, tail) = (
            &pattern[..open],
            &pattern[open + 1..close],
            &pattern[close + 1..],
        );
        return alts
            .split(',')
            .any(|a| glob(&format!("{head}{a}{tail}"), path));
    }
    fn m(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some('?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    m(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_argo_cd_matches_them() {
        assert!(glob("*.yaml", "a.yaml"));
        assert!(glob("*.yaml", "sub/a.yaml"));
        assert!(glob("{a.yaml,b.yml}", "b.yml"));
        assert!(!glob("{a.yaml,b.yml}", "c.yml"));
        assert!(glob("config?.json", "config1.json"));
        assert!(!glob("*.json", "a.yaml"));
    }

    #[test]
    fn plain_directories_natively() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("a.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("l.json"),
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}]}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("README.md"), "# no").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(
            d.path().join("sub/d.yml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n",
        )
        .unwrap();
        let names = |r: Rendered| -> Vec<String> {
            r.objects
                .iter()
                .map(|o| text(o, "/metadata/name").to_owned())
                .collect()
        };
        let flat = directory(d.path(), &serde_json::json!({})).unwrap();
        assert_eq!(names(flat), ["a", "b", "c"]);
        let deep = directory(
            d.path(),
            &serde_json::json!({"directory": {"recurse": true}}),
        )
        .unwrap();
        assert_eq!(names(deep), ["a", "b", "c", "d"]);
        let only = directory(
            d.path(),
            &serde_json::json!({"directory": {"recurse": true, "exclude": "{l.json,sub/*}"}}),
        )
        .unwrap();
        assert_eq!(names(only), ["a", "b"]);
    }

    fn ctx_render(root: &Path, source: serde_json::Value) -> Result<Rendered, String> {
        let (env, refs) = (BuildEnv::default(), BTreeMap::new());
        let ctx = Ctx {
            app_name: "a",
            dest_ns: "n",
            env: &env,
            refs: &refs,
            cluster: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(render(root, &source, &ctx))
    }

    #[test]
    fn what_cannot_be_rendered_is_said() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("app")).unwrap();
        std::fs::write(d.path().join("app/main.jsonnet"), "{}").unwrap();
        std::fs::write(d.path().join("app/lib.libsonnet"), "{}").unwrap();
        std::fs::write(
            d.path().join("app/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )
        .unwrap();
        let plugin = ctx_render(
            d.path(),
            serde_json::json!({"path": "app", "plugin": {"name": "cmp"}}),
        );
        assert!(plugin.unwrap_err().contains("plugins are not run here"));
        let both = ctx_render(
            d.path(),
            serde_json::json!({"path": "app", "helm": {}, "directory": {}}),
        );
        assert!(both.unwrap_err().contains("more than one of"));
        let jsonnet = ctx_render(
            d.path(),
            serde_json::json!({"path": "app", "directory": {"jsonnet": {"tlas": []}}}),
        )
        .unwrap();
        assert_eq!(jsonnet.objects.len(), 1);
        assert_eq!(
            jsonnet.gaps,
            ["main.jsonnet: jsonnet is not evaluated here (its objects are not compared)"]
        );
        let outside = ctx_render(d.path(), serde_json::json!({"path": "../x"}));
        assert!(outside.unwrap_err().contains("leaves the repository"));
        let gone = ctx_render(d.path(), serde_json::json!({"path": "nope"}));
        assert!(gone.unwrap_err().contains("not a directory"));
    }
}
