//! The chart a HelmRelease installs, as helm-controller loads it: the artifact of its HelmChart (made by
//! helm-controller from `spec.chart`) or of the source `spec.chartRef` names (an OCIRepository or a
//! HelmChart), a chart archive at `status.artifact.url` downloaded with its digest checked; a chart of an
//! OCIRepository is unpacked and its version given the artifact's digest, as helm-controller does. When this host
//! cannot reach the artifact and the HelmChart packages a chart from a GitRepository, the chart's directory
//! is checked out with gix at the commit the chart was packaged from (`status.observedSourceArtifactRevision`)
//! and its version set to the packaged one (`0.1.0+<commit>` under reconcileStrategy Revision).

use std::path::{Component, Path, PathBuf};

use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::super::{source, str_at};
use crate::backend::flux::connect::Conn;
use crate::backend::flux::kinds;

/// The chart to render: a `.tgz` archive or a directory, where it came from, and what of source-controller's
/// packaging could not be repeated.
#[derive(Debug)]
pub struct Chart {
    pub path: PathBuf,
    pub from: String,
    pub gaps: Vec<String>,
}

/// The source of the chart: (kind, namespace, name).
pub fn source_of(hr: &Value) -> Result<(String, String, String), String> {
    let ns = str_at(hr, &["metadata", "namespace"]);
    let name = str_at(hr, &["metadata", "name"]);
    let or_ns = |n: &str| {
        if n.is_empty() {
            ns.to_owned()
        } else {
            n.to_owned()
        }
    };
    if let Some(r) = hr.get("spec").and_then(|s| s.get("chartRef")) {
        let kind = str_at(r, &["kind"]);
        if kind != "OCIRepository" && kind != "HelmChart" {
            return Err(format!(
                "spec.chartRef kind {kind} is not one helm-controller takes"
            ));
        }
        return Ok((
            kind.to_owned(),
            or_ns(str_at(r, &["namespace"])),
            str_at(r, &["name"]).to_owned(),
        ));
    }
    // the HelmChart helm-controller made: status.helmChart, else <ns>-<name> in the source's namespace
    if let Some((cns, cname)) = str_at(hr, &["status", "helmChart"]).split_once('/') {
        return Ok(("HelmChart".into(), cns.to_owned(), cname.to_owned()));
    }
    let src_ns = str_at(hr, &["spec", "chart", "spec", "sourceRef", "namespace"]);
    Ok(("HelmChart".into(), or_ns(src_ns), format!("{ns}-{name}")))
}

async fn get(conn: &Conn, kind: &str, ns: &str, name: &str) -> Result<Value, String> {
    let k = kinds::by_name(kind).ok_or_else(|| format!("unknown kind {kind}"))?;
    let ar = conn.resource(k).map_err(|e| e.to_string())?;
    let api: Api<DynamicObject> = Api::namespaced_with(conn.client.clone(), ns, ar);
    let o = api
        .get(name)
        .await
        .map_err(|e| format!("{kind} {ns}/{name}: {}", super::short(&e)))?;
    serde_json::to_value(&o).map_err(|e| e.to_string())
}

/// Reads the chart of the HelmRelease `hr` into `scratch`.
pub async fn fetch(conn: &Conn, hr: &Value, scratch: &Path) -> Result<Chart, String> {
    let (kind, ns, name) = source_of(hr)?;
    let src = get(conn, &kind, &ns, &name).await?;
    let artifact = source::artifact(&src);
    let mut why = Vec::new();
    if let Some(a) = artifact {
        let rev = a.revision.clone();
        let oci = kind == "OCIRepository";
        let scratch = scratch.to_owned();
        // downloaded once: written as the archive helm renders, or unpacked for an OCIRepository's chart
        let placed = tokio::task::spawn_blocking(move || -> Result<(PathBuf, String), String> {
            let bytes = source::download(&a)?;
            if oci {
                // helm-controller loads a chart of an OCIRepository with the artifact's digest in its version
                let dir = scratch.join("oci-chart");
                let (dir, version) = with_digest_version(&bytes, &a.revision, &dir)?;
                return Ok((
                    dir,
                    format!("; version {version}, as helm-controller sets it"),
                ));
            }
            let file = scratch.join("chart.tgz");
            std::fs::write(&file, bytes).map_err(|e| format!("{}: {e}", file.display()))?;
            Ok((file, String::new()))
        })
        .await
        .map_err(|e| e.to_string())?;
        match placed {
            Ok((path, version)) => {
                return Ok(Chart {
                    path,
                    from: format!(
                        "chart {rev} (the source-controller artifact of {kind} {ns}/{name}{version})"
                    ),
                    gaps: Vec::new(),
                });
            }
            Err(e) => why.push(e),
        }
    } else {
        why.push(format!("{kind} {ns}/{name} has no artifact"));
    }
    if kind == "HelmChart" && str_at(&src, &["spec", "sourceRef", "kind"]) == "GitRepository" {
        match from_git(conn, &src, &ns, scratch).await {
            Ok(mut c) => {
                c.from = format!("{} ({})", c.from, why.join("; "));
                return Ok(c);
            }
            Err(e) => why.push(e),
        }
    }
    Err(why.join("; "))
}

/// The chart version helm-controller gives a chart of an OCIRepository (its `mutateChartWithSourceRevision`): the
/// chart's version with its build metadata replaced by the first 12 hex digits of the artifact's digest, so
/// that a tag pushed again with other content upgrades the release. `revision` is the artifact's revision,
/// `<tag>@sha256:<hex>` or `sha256:<hex>`; `None` when it names no digest.
fn digest_version(chart_version: &str, revision: &str) -> Option<String> {
    let digest = revision.rsplit_once('@').map_or(revision, |(_, d)| d);
    let (_, hex) = digest.split_once(':')?;
    let short = hex.get(..12).filter(|h| !h.contains(':'))?;
    let base = chart_version
        .split_once('+')
        .map_or(chart_version, |(v, _)| v);
    Some(format!("{base}+{short}"))
}

/// The chart archive `tgz` (of an OCIRepository whose artifact revision is `revision`) unpacked into `dir`, its
/// Chart.yaml version set as helm-controller sets it ([`digest_version`]); blocking. Returns the chart's
/// directory and its version.
fn with_digest_version(
    tgz: &[u8],
    revision: &str,
    dir: &Path,
) -> Result<(PathBuf, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    source::unpack(tgz, dir).map_err(|e| format!("unpacking the chart of {revision}: {e}"))?;
    // a chart archive holds one top directory, the chart's
    let mut charts = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("Chart.yaml").is_file());
    let (Some(chart), None) = (charts.next(), charts.next()) else {
        return Err(format!(
            "the chart archive of {revision} does not hold exactly one chart directory"
        ));
    };
    let file = chart.join("Chart.yaml");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let meta: Value =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let version = meta
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = digest_version(version, revision)
        .ok_or_else(|| format!("the artifact revision {revision} names no digest"))?;
    set_version(&file, &version)?;
    Ok((chart, version))
}

/// The HelmChart's chart directory checked out from its GitRepository at the packaged commit.
async fn from_git(conn: &Conn, chart: &Value, ns: &str, scratch: &Path) -> Result<Chart, String> {
    let repo_name = str_at(chart, &["spec", "sourceRef", "name"]);
    let repo = get(conn, "GitRepository", ns, repo_name).await?;
    let url = str_at(&repo, &["spec", "url"]).to_owned();
    let observed = str_at(chart, &["status", "observedSourceArtifactRevision"]).to_owned();
    let commit = source::commit_of(&observed)
        .ok_or_else(|| {
            format!("the HelmChart names no commit it was packaged from ({observed:?})")
        })?
        .to_owned();
    let rel = str_at(chart, &["spec", "chart"])
        .trim_start_matches("./")
        .to_owned();
    if Path::new(&rel)
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::RootDir))
    {
        return Err(format!("the chart path {rel} leaves the source"));
    }
    let version = str_at(chart, &["status", "artifact", "revision"]).to_owned();
    let mut gaps = Vec::new();
    if chart
        .get("spec")
        .and_then(|s| s.get("valuesFiles"))
        .and_then(Value::as_array)
        .is_some_and(|v| !v.is_empty())
    {
        gaps.push(
            "the HelmChart's spec.valuesFiles are merged into the chart by source-controller; a gix checkout \
             does not merge them"
                .to_owned(),
        );
    }
    let dir = {
        let (scratch, rel, commit, version) = (
            scratch.to_owned(),
            rel.clone(),
            commit.clone(),
            version.clone(),
        );
        tokio::task::spawn_blocking(move || checkout_chart(&url, &commit, &rel, &version, &scratch))
            .await
            .map_err(|e| e.to_string())??
    };
    if version.is_empty() {
        gaps.push("the packaged chart version is unknown: the Chart.yaml version is used".into());
    }
    Ok(Chart {
        path: dir,
        from: format!("chart {rel} at commit {commit} (checked out with gix; version {version})"),
        gaps,
    })
}

/// The chart directory `rel` of `url` at `commit` written under `scratch` (blocking), its Chart.yaml version
/// set to `version` (the packaged one) unless empty.
fn checkout_chart(
    url: &str,
    commit: &str,
    rel: &str,
    version: &str,
    scratch: &Path,
) -> Result<PathBuf, String> {
    let root = scratch.join("git");
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    source::checkout(url, commit, scratch, &root)?;
    let dir = root.join(rel);
    if !dir.join("Chart.yaml").is_file() {
        return Err(format!("{rel} has no Chart.yaml at commit {commit}"));
    }
    if !version.is_empty() {
        set_version(&dir.join("Chart.yaml"), version)?;
    }
    Ok(dir)
}

/// Sets `version` in a Chart.yaml, as source-controller does when it packages.
fn set_version(file: &Path, version: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut v: Value =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    if !v.is_object() {
        return Err(format!("{} is not a mapping", file.display()));
    }
    v["version"] = Value::String(version.to_owned());
    let out = serde_json::to_string(&v).map_err(|e| e.to_string())?;
    std::fs::write(file, out).map_err(|e| format!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_chart_source_as_helm_controller_finds_it() {
        let hr = json!({"metadata": {"name": "web", "namespace": "hx"},
                        "spec": {"chart": {"spec": {"sourceRef": {"kind": "GitRepository", "name": "c"}}}}});
        assert_eq!(
            source_of(&hr).unwrap(),
            ("HelmChart".into(), "hx".into(), "hx-web".into())
        );
        let mut other_ns = hr.clone();
        other_ns["spec"]["chart"]["spec"]["sourceRef"]["namespace"] = json!("flux");
        assert_eq!(source_of(&other_ns).unwrap().1, "flux");
        let mut reported = hr.clone();
        reported["status"] = json!({"helmChart": "src/hx-web"});
        assert_eq!(source_of(&reported).unwrap().1, "src");
        let by_ref = json!({"metadata": {"name": "web", "namespace": "hx"},
                            "spec": {"chartRef": {"kind": "OCIRepository", "name": "podinfo"}}});
        assert_eq!(
            source_of(&by_ref).unwrap(),
            ("OCIRepository".into(), "hx".into(), "podinfo".into())
        );
        let bad = json!({"metadata": {"name": "web", "namespace": "hx"},
                         "spec": {"chartRef": {"kind": "Bucket", "name": "b"}}});
        assert!(source_of(&bad).is_err());
    }

    /// Runs git (test infrastructure only) in `dir`; returns trimmed stdout.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    #[test]
    fn the_chart_is_checked_out_at_the_packaged_commit_with_its_version() {
        let repo = tempfile::tempdir().unwrap();
        let chart = repo.path().join("charts/demo");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(chart.join("templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
        git(repo.path(), &["init", "-q", "-b", "main"]);
        git(repo.path(), &["add", "."]);
        git(repo.path(), &["commit", "-q", "-m", "one"]);
        let c1 = git(repo.path(), &["rev-parse", "HEAD"]);
        std::fs::write(chart.join("templates/cm.yaml"), "kind: Secret\n").unwrap();
        git(repo.path(), &["commit", "-q", "-am", "two"]);
        let scratch = tempfile::tempdir().unwrap();
        let url = repo.path().to_str().unwrap();
        let version = format!("0.1.0+{}", &c1[..12]);
        let dir = checkout_chart(url, &c1, "charts/demo", &version, scratch.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("templates/cm.yaml")).unwrap(),
            "kind: ConfigMap\n"
        );
        let meta: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(dir.join("Chart.yaml")).unwrap())
                .unwrap();
        assert_eq!(meta["version"], json!(version));
        let other = tempfile::tempdir().unwrap();
        let err = checkout_chart(url, &c1, "charts/none", "", other.path()).unwrap_err();
        assert!(err.contains("no Chart.yaml"), "{err}");
    }

    #[test]
    fn an_oci_chart_gets_the_digest_in_its_version_as_helm_controller_gives_it() {
        let digest = "sha256:e88636ad629df6c12f65088112a14f7aad1a4931dd40af6d69f07859b9398510";
        assert_eq!(
            digest_version("0.1.0", &format!("0.1.0@{digest}")).as_deref(),
            Some("0.1.0+e88636ad629d")
        );
        // build metadata is replaced, a revision of a digest alone is one too
        assert_eq!(
            digest_version("1.2.3-rc.1+old", digest).as_deref(),
            Some("1.2.3-rc.1+e88636ad629d")
        );
        assert_eq!(digest_version("0.1.0", "0.1.0"), None);
        assert_eq!(digest_version("0.1.0", "0.1.0@sha256:abc"), None);

        // a chart archive as `helm package` writes it: one top directory
        let d = tempfile::tempdir().unwrap();
        let tgz = d.path().join("demo-0.1.0.tgz");
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).unwrap(),
            flate2::Compression::default(),
        ));
        for (path, text) in [
            (
                "demo/Chart.yaml",
                "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
            ),
            ("demo/templates/cm.yaml", "kind: ConfigMap\n"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        let (dir, version) = with_digest_version(
            &std::fs::read(&tgz).unwrap(),
            &format!("0.1.0@{digest}"),
            &d.path().join("x"),
        )
        .unwrap();
        assert_eq!(version, "0.1.0+e88636ad629d");
        assert!(dir.join("templates/cm.yaml").is_file());
        let meta: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(dir.join("Chart.yaml")).unwrap())
                .unwrap();
        assert_eq!(meta["version"], "0.1.0+e88636ad629d");
        assert_eq!(meta["name"], "demo");
    }

    #[test]
    fn the_packaged_version_is_set() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("Chart.yaml");
        std::fs::write(&f, "apiVersion: v2\nname: demo\nversion: 0.1.0\n").unwrap();
        set_version(&f, "0.1.0+abc").unwrap();
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(v["version"], "0.1.0+abc");
        assert_eq!(v["name"], "demo");
    }
}
