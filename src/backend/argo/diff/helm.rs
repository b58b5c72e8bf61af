//! A Helm Application source rendered with `helm template` as Argo CD's repo-server runs it: the release
//! named after the Application (or `helm.releaseName`), in the destination namespace (or
//! `helm.namespace`), the cluster's Kubernetes version and API versions (or `helm.kubeVersion` /
//! `helm.apiVersions`), the value files (`$ref/...` ones read from the checkout of the source with that
//! `ref`), then `values`/`valuesObject`, `parameters` (`--set` / `--set-string`, build variables
//! substituted), `fileParameters` (`--set-file`), CRDs included unless `skipCrds`, `skipTests` and
//! `skipSchemaValidation` passed on. Remote value files are not fetched: they are said not covered.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::render::{Ctx, Rendered, parse};

#[cfg(test)]
use crate::backend::helm_cli::generic_version;
pub use crate::backend::helm_cli::{Cluster, HELM_ENV, helm_program};

/// The arguments of `helm template`, the inline values to write to `values_file` (named among the
/// arguments), and what of the source is not applied.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub args: Vec<String>,
    pub inline_values: Option<String>,
    pub gaps: Vec<String>,
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn path_arg(p: &Path) -> Result<String, String> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

/// The `helm template` invocation for the chart in `dir` with the source's `helm` settings `h`.
pub fn plan(
    dir: &Path,
    repo_root: &Path,
    h: &Value,
    ctx: &Ctx<'_>,
    values_file: &Path,
) -> Result<Plan, String> {
    let mut p = Plan::default();
    let release = match text(h, "releaseName") {
        "" => ctx.app_name,
        r => r,
    };
    p.args = vec![
        "template".into(),
        path_arg(dir)?,
        "--name-template".into(),
        release.into(),
    ];
    let ns = match text(h, "namespace") {
        "" => ctx.dest_ns,
        n => n,
    };
    if !ns.is_empty() {
        p.args.extend(["--namespace".into(), ns.into()]);
    }
    let kube_version = match text(h, "kubeVersion") {
        "" => ctx.cluster.map(|c| c.kube_version.as_str()).unwrap_or(""),
        v => v,
    };
    if !kube_version.is_empty() {
        p.args
            .extend(["--kube-version".into(), kube_version.to_owned()]);
    }
    for param in h
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let flag = if param.get("forceString").and_then(Value::as_bool) == Some(true) {
            "--set-string"
        } else {
            "--set"
        };
        let value = clean_set(&ctx.env.subst(text(param, "value")));
        p.args
            .extend([flag.into(), format!("{}={value}", text(param, "name"))]);
    }
    for fp in h
        .get("fileParameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let raw = text(fp, "path");
        match resolve(raw, dir, repo_root, ctx)? {
            Resolved::Local(path) => p.args.extend([
                "--set-file".into(),
                format!("{}={}", text(fp, "name"), clean_set(&path_arg(&path)?)),
            ]),
            Resolved::Remote(url) => p.gaps.push(format!(
                "helm file parameter {} from {url} is not fetched",
                text(fp, "name")
            )),
        }
    }
    let ignore_missing = h.get("ignoreMissingValueFiles").and_then(Value::as_bool) == Some(true);
    for raw in strings(h, "valueFiles") {
        match resolve(&raw, dir, repo_root, ctx)? {
            Resolved::Local(path) => {
                if ignore_missing && !path.exists() {
                    continue;
                }
                p.args.extend(["--values".into(), path_arg(&path)?]);
            }
            Resolved::Remote(url) => p.gaps.push(format!("helm value file {url} is not fetched")),
        }
    }
    let inline = match (h.get("valuesObject"), h.get("values")) {
        (Some(o), _) if !o.is_null() => Some(serde_json::to_string(o).map_err(|e| e.to_string())?),
        (_, Some(Value::String(s))) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    if let Some(v) = inline {
        p.args.extend(["--values".into(), path_arg(values_file)?]);
        p.inline_values = Some(v);
    }
    let api_versions = match strings(h, "apiVersions") {
        v if !v.is_empty() => v,
        _ => ctx
            .cluster
            .map(|c| c.api_versions.clone())
            .unwrap_or_default(),
    };
    for v in api_versions {
        p.args.extend(["--api-versions".into(), v]);
    }
    let on = |k: &str| h.get(k).and_then(Value::as_bool) == Some(true);
    if !on("skipCrds") {
        p.args.push("--include-crds".into());
    }
    if on("skipSchemaValidation") {
        p.args.push("--skip-schema-validation".into());
    }
    if on("skipTests") {
        p.args.push("--skip-tests".into());
    }
    if ctx.cluster.is_none() {
        p.gaps.push(
            "the cluster's Kubernetes version and API versions could not be read: helm's defaults used for .Capabilities"
                .into(),
        );
    }
    Ok(p)
}

/// A `--set` value as Argo CD passes it: commas escaped (a `{a,b}` list left as is).
pub fn clean_set(v: &str) -> String {
    if v.starts_with('{') && v.ends_with('}') {
        return v.to_owned();
    }
    let mut out = String::with_capacity(v.len());
    let mut prev = '\0';
    for c in v.chars() {
        if c == ',' && prev != '\\' {
            out.push_str("\\,");
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

#[derive(Debug, PartialEq)]
enum Resolved {
    Local(PathBuf),
    Remote(String),
}

/// A value file or file parameter path as the repo-server resolves it: `$ref/path` in the checkout of
/// that source; a URL (http/https) remote; an absolute path from the repository root, a relative one from
/// the chart; never outside the repository.
fn resolve(raw: &str, dir: &Path, repo_root: &Path, ctx: &Ctx<'_>) -> Result<Resolved, String> {
    let (base, root, path) = match raw
        .strip_prefix('$')
        .and_then(|_| raw.split_once('/'))
        .and_then(|(r, rest)| ctx.refs.get(r).map(|root| (root, rest)))
    {
        Some((root, rest)) => (
            root.as_path(),
            root.as_path(),
            format!("/{}", ctx.env.subst(rest)),
        ),
        None => (dir, repo_root, ctx.env.subst(raw)),
    };
    if let Some((scheme, _)) = path.split_once("://") {
        return match scheme {
            "http" | "https" => Ok(Resolved::Remote(path.clone())),
            _ => Err(format!(
                "value file {raw}: the URL scheme '{scheme}' is not allowed"
            )),
        };
    }
    let joined = match path.strip_prefix('/') {
        Some(rel) => root.join(rel),
        None => base.join(&path),
    };
    let normal = normalize(&joined);
    if !normal.starts_with(normalize(root)) {
        return Err(format!(
            "value file {raw} resolved to outside the repository root"
        ));
    }
    Ok(Resolved::Local(normal))
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Renders the chart in `dir` of the checkout at `repo_root`.
pub async fn render(
    dir: &Path,
    repo_root: &Path,
    source: &Value,
    ctx: &Ctx<'_>,
) -> Result<Rendered, String> {
    let program = helm_program().ok_or_else(|| {
        "a Helm chart, and helm not on PATH (install helm, or set SETPOINT_HELM)".to_owned()
    })?;
    let h = source.get("helm").cloned().unwrap_or(Value::Null);
    let scratch = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let values_file = scratch.path().join("values.yaml");
    let p = plan(dir, repo_root, &h, ctx, &values_file)?;
    if let Some(v) = &p.inline_values {
        std::fs::write(&values_file, v).map_err(|e| format!("{}: {e}", values_file.display()))?;
    }
    let yaml = crate::backend::helm_cli::template(&program, &p.args, dir, scratch.path())
        .await
        .map_err(|err| {
            if err.contains("missing in charts/ directory") || err.contains("found in Chart.yaml") {
                format!(
                    "the chart's dependencies are not in its charts/ directory: Argo CD fetches them (helm dependency build), not done here: {err}"
                )
            } else {
                format!("helm template failed: {err}")
            }
        })?;
    Ok(Rendered {
        objects: parse(&yaml, false, "helm template output")?,
        tool: "helm template",
        gaps: p.gaps,
    })
}

#[cfg(test)]
#[path = "helm_tests.rs"]
mod tests;
