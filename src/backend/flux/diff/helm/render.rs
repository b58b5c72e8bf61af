//! The `helm template` run standing in for helm-controller's install or upgrade, and the post-rendering it
//! does after Helm renders: `spec.postRenderers` kustomize patches and images (through kustomize, as its
//! post-renderer builds an in-memory kustomization), `spec.commonMetadata`, the origin labels
//! `helm.toolkit.fluxcd.io/name|namespace`, then the metadata Helm sets on every object it applies
//! (`app.kubernetes.io/managed-by: Helm`, `meta.helm.sh/release-name|namespace`).

use std::path::Path;

use serde_json::{Value, json};

use crate::backend::flux::diff::build;
use crate::backend::helm_cli::Cluster;

const ORIGIN_GROUP: &str = "helm.toolkit.fluxcd.io";

/// What helm-controller does with the chart's `crds/` directory (`spec.install.crds` on install, default
/// Create; `spec.upgrade.crds` on upgrade, default Skip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crds {
    Skip,
    /// Created when missing, an existing one left alone.
    Create,
    CreateReplace,
}

impl Crds {
    pub fn of(spec: &Value, upgrade: bool) -> Result<Self, String> {
        let (field, default) = if upgrade {
            ("upgrade", Crds::Skip)
        } else {
            ("install", Crds::Create)
        };
        match spec
            .get(field)
            .and_then(|s| s.get("crds"))
            .and_then(Value::as_str)
            .unwrap_or("")
        {
            "" => Ok(default),
            "Skip" => Ok(Crds::Skip),
            "Create" => Ok(Crds::Create),
            "CreateReplace" => Ok(Crds::CreateReplace),
            other => Err(format!("spec.{field}.crds {other} is not a CRD policy")),
        }
    }
}

/// What one render is made of.
pub struct Plan<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    pub chart: &'a Path,
    pub values_file: &'a Path,
    pub cluster: Option<&'a Cluster>,
    pub upgrade: bool,
    pub crds: Crds,
    pub skip_schema: bool,
}

fn path_arg(p: &Path) -> Result<String, String> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

/// The arguments of `helm template`: hooks left out (they are not part of the release's manifest).
pub fn args(p: &Plan<'_>) -> Result<Vec<String>, String> {
    let mut a: Vec<String> = vec![
        "template".into(),
        p.release.into(),
        path_arg(p.chart)?,
        "--namespace".into(),
        p.namespace.into(),
        "--values".into(),
        path_arg(p.values_file)?,
        "--no-hooks".into(),
    ];
    if let Some(c) = p.cluster {
        if !c.kube_version.is_empty() {
            a.extend(["--kube-version".into(), c.kube_version.clone()]);
        }
        for v in &c.api_versions {
            a.extend(["--api-versions".into(), v.clone()]);
        }
    }
    if p.upgrade {
        a.push("--is-upgrade".into());
    }
    if p.crds != Crds::Skip {
        a.push("--include-crds".into());
    }
    if p.skip_schema {
        a.push("--skip-schema-validation".into());
    }
    Ok(a)
}

/// The objects of helm's output, each with whether it comes from the chart's `crds/` directory.
pub fn objects(yaml: &str) -> Result<Vec<(Value, bool)>, String> {
    let mut out = Vec::new();
    for doc in build::documents(yaml) {
        // `chart/crds/x.yaml`, or a subchart's `chart/charts/sub/crds/x.yaml`; never a template
        let crd_dir = doc.lines().any(|l| {
            l.strip_prefix("# Source: ").is_some_and(|s| {
                let parts: Vec<&str> = s.split('/').collect();
                parts.contains(&"crds") && !parts.contains(&"templates")
            })
        });
        let obj: Value =
            serde_saphyr::from_str(&doc).map_err(|e| format!("helm template output: {e}"))?;
        if obj.is_object() {
            out.push((obj, crd_dir));
        }
    }
    Ok(out)
}

/// The kustomization of one `spec.postRenderers[].kustomize` over `input` (helm's output file name).
pub fn post_kustomization(k: &Value, input: &str) -> Value {
    let mut out = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [input],
    });
    for field in ["patches", "images"] {
        if let Some(v) = k
            .get(field)
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        {
            out[field] = v.clone();
        }
    }
    out
}

/// commonMetadata, the origin labels and Helm's metadata set on a rendered object.
pub fn finish(
    obj: &mut Value,
    spec: &Value,
    hr_ns: &str,
    hr_name: &str,
    release: &str,
    release_ns: &str,
) {
    if let Some(common) = spec.get("commonMetadata") {
        for field in ["labels", "annotations"] {
            if let Some(m) = common.get(field).and_then(Value::as_object) {
                for (k, v) in m {
                    build::insert_meta(obj, field, k, v.clone());
                }
            }
        }
    }
    build::insert_meta(
        obj,
        "labels",
        &format!("{ORIGIN_GROUP}/name"),
        json!(hr_name),
    );
    build::insert_meta(
        obj,
        "labels",
        &format!("{ORIGIN_GROUP}/namespace"),
        json!(hr_ns),
    );
    build::insert_meta(obj, "labels", "app.kubernetes.io/managed-by", json!("Helm"));
    build::insert_meta(
        obj,
        "annotations",
        "meta.helm.sh/release-name",
        json!(release),
    );
    build::insert_meta(
        obj,
        "annotations",
        "meta.helm.sh/release-namespace",
        json!(release_ns),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_template_as_an_install_or_upgrade() {
        let cluster = Cluster {
            kube_version: "1.36".into(),
            api_versions: vec!["v1".into()],
        };
        let mut p = Plan {
            release: "web",
            namespace: "hx",
            chart: Path::new("/s/chart.tgz"),
            values_file: Path::new("/s/values.yaml"),
            cluster: Some(&cluster),
            upgrade: false,
            crds: Crds::of(&json!({}), false).unwrap(),
            skip_schema: false,
        };
        let a = args(&p).unwrap().join(" ");
        assert_eq!(
            a,
            "template web /s/chart.tgz --namespace hx --values /s/values.yaml --no-hooks \
             --kube-version 1.36 --api-versions v1 --include-crds"
        );
        p.upgrade = true;
        p.crds = Crds::of(&json!({}), true).unwrap();
        p.skip_schema = true;
        let a = args(&p).unwrap();
        assert!(a.contains(&"--is-upgrade".to_owned()));
        assert!(!a.contains(&"--include-crds".to_owned()));
        assert!(a.contains(&"--skip-schema-validation".to_owned()));
        let spec = json!({"upgrade": {"crds": "CreateReplace"}, "install": {"crds": "Skip"}});
        assert_eq!(Crds::of(&spec, true).unwrap(), Crds::CreateReplace);
        assert_eq!(Crds::of(&spec, false).unwrap(), Crds::Skip);
        assert!(Crds::of(&json!({"install": {"crds": "Sometimes"}}), false).is_err());
    }

    #[test]
    fn objects_of_the_crds_directory_are_told_apart() {
        let yaml = "---\n# Source: demo/crds/a.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: \
                    CustomResourceDefinition\nmetadata:\n  name: as.x.io\n---\n# Source: \
                    demo/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\n# Source: \
                    demo/charts/sub/crds/b.yaml\nkind: CustomResourceDefinition\n---\n# Source: \
                    demo/templates/crds/c.yaml\nkind: CustomResourceDefinition\n";
        let objs = objects(yaml).unwrap();
        assert_eq!(objs.len(), 4);
        assert!(objs[0].1 && !objs[1].1 && objs[2].1 && !objs[3].1);
    }

    #[test]
    fn post_rendered_metadata_as_helm_controller_sets_it() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let spec = json!({"commonMetadata": {"labels": {"team": "a",
                                                        "helm.toolkit.fluxcd.io/name": "spoof"},
                                             "annotations": {"note": "x"}}});
        finish(&mut obj, &spec, "hx", "web", "web", "apps");
        assert_eq!(
            obj["metadata"],
            json!({"name": "c",
                   "labels": {"team": "a", "helm.toolkit.fluxcd.io/name": "web",
                              "helm.toolkit.fluxcd.io/namespace": "hx",
                              "app.kubernetes.io/managed-by": "Helm"},
                   "annotations": {"note": "x", "meta.helm.sh/release-name": "web",
                                   "meta.helm.sh/release-namespace": "apps"}})
        );
        let k = json!({"patches": [{"patch": "- op: remove\n  path: /x", "target": {"kind": "Deployment"}}],
                       "images": []});
        let out = post_kustomization(&k, "helm-output.yaml");
        assert_eq!(out["resources"], json!(["helm-output.yaml"]));
        assert!(out.get("images").is_none() && out["patches"][0]["target"]["kind"] == "Deployment");
    }
}
