//! The manifests of one Application source at a commit, rendered here the way Argo CD's repo-server renders
//! them: the tool named by the source (`helm`, `kustomize`, `directory`, `plugin`), else detected from the
//! directory (a `Chart.yaml`: Helm; a kustomization file: kustomize; else a plain directory). Plain
//! directories are read natively (YAML and JSON files, `recurse`, `include` and `exclude` globs); kustomize
//! apps are built by the kustomize program the Flux diff uses; Helm apps by `helm template` when helm is on
//! PATH (or `$SETPOINT_HELM`). What cannot be rendered is returned as the reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::backend::flux::diff::build::{self, Kustomize};

/// The environment variable naming the helm program to run.
pub const HELM_ENV: &str = "SETPOINT_HELM";
const HELM_TIMEOUT: Duration = Duration::from_secs(120);

/// Manifests rendered, how, and what of the source's settings was not applied.
#[derive(Debug, Default)]
pub struct Rendered {
    pub objects: Vec<Value>,
    pub tool: &'static str,
    pub gaps: Vec<String>,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn set(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

/// Renders `source` (one entry of `spec.sources`, or `spec.source`) from the checkout at `root`.
pub async fn render(
    root: &Path,
    source: &Value,
    app_name: &str,
    dest_ns: &str,
) -> Result<Rendered, String> {
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
    if set(source, "plugin") {
        return Err("config management plugins are not run here".into());
    }
    if set(source, "helm") || (!set(source, "kustomize") && dir.join("Chart.yaml").is_file()) {
        return helm(&dir, source, app_name, dest_ns).await;
    }
    if set(source, "kustomize") || build::kustomization_file(&dir).is_some() {
        return kustomize(&dir, source).await;
    }
    directory(&dir, source)
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
    if set(&d, "jsonnet") {
        out.gaps
            .push("directory.jsonnet settings are not applied".into());
    }
    for rel in files {
        if (!include.is_empty() && !glob(include, &rel))
            || (!exclude.is_empty() && glob(exclude, &rel))
        {
            continue;
        }
        let ext = rel.rsplit('.').next().unwrap_or("");
        if ext == "jsonnet" || ext == "libsonnet" {
            out.gaps
                .push(format!("{rel}: jsonnet is not rendered here"));
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

async fn kustomize(dir: &Path, source: &Value) -> Result<Rendered, String> {
    let k = Kustomize::find().map_err(|e| e.to_string())?;
    let mut gaps = Vec::new();
    if let Some(o) = source
        .get("kustomize")
        .and_then(Value::as_object)
        .filter(|o| !o.is_empty())
    {
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        gaps.push(format!(
            "spec.source.kustomize ({}) is not applied to the local build",
            keys.join(", ")
        ));
    }
    let yaml = k.build(dir).await?;
    Ok(Rendered {
        objects: parse(&yaml, false, "kustomize output")?,
        tool: "kustomize",
        gaps,
    })
}

/// `$SETPOINT_HELM`, else `helm` on PATH.
pub fn helm_program() -> Option<PathBuf> {
    std::env::var_os(HELM_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| build::on_path("helm"))
}

async fn helm(
    dir: &Path,
    source: &Value,
    app_name: &str,
    dest_ns: &str,
) -> Result<Rendered, String> {
    let program = helm_program().ok_or_else(|| {
        "a Helm chart, and helm not on PATH (install helm, or set SETPOINT_HELM)".to_owned()
    })?;
    let h = source.get("helm").cloned().unwrap_or(Value::Null);
    let release = match text(&h, "/releaseName") {
        "" => app_name,
        r => r,
    };
    let mut gaps = Vec::new();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.arg("template")
        .arg(release)
        .arg(dir)
        .arg("--namespace")
        .arg(dest_ns)
        .arg("--include-crds")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for f in h
        .get("valueFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if f.starts_with('$') || f.contains("://") {
            gaps.push(format!(
                "helm value file {f} (from another source or a URL) is not read"
            ));
            continue;
        }
        cmd.arg("--values").arg(dir.join(f));
    }
    let scratch = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let inline = match (h.get("valuesObject"), h.get("values")) {
        (Some(o), _) if !o.is_null() => Some(serde_json::to_string(o).map_err(|e| e.to_string())?),
        (_, Some(Value::String(s))) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    if let Some(values) = inline {
        let f = scratch.path().join("values.yaml");
        std::fs::write(&f, values).map_err(|e| format!("{}: {e}", f.display()))?;
        cmd.arg("--values").arg(f);
    }
    for p in h
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let flag = if p.get("forceString").and_then(Value::as_bool) == Some(true) {
            "--set-string"
        } else {
            "--set"
        };
        cmd.arg(flag)
            .arg(format!("{}={}", text(p, "/name"), text(p, "/value")));
    }
    let out = tokio::time::timeout(HELM_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("helm template did not finish in {HELM_TIMEOUT:?}"))?
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "helm template failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let yaml = String::from_utf8(out.stdout).map_err(|_| "helm printed non-UTF-8 output")?;
    Ok(Rendered {
        objects: parse(&yaml, false, "helm template output")?,
        tool: "helm template",
        gaps,
    })
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
}
