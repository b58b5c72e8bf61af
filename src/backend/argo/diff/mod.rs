//! The diff of an Application, one of two ways (the header, `desiredFrom`, says which):
//!
//! 1. Argo CD's own comparison from its API server (`api.rs`), when the argocd CLI's config file has a
//!    token for a server that serves this very Application;
//! 2. else rendered here (`render.rs`): each source at the revision Argo CD compared with
//!    (`status.sync.revisions[i]` / `status.sync.revision`), checked out of a gix mirror of its repository,
//!    with Argo CD's tracking metadata added, then each object dry-run applied server-side as
//!    `argocd-controller` (the field manager Argo CD applies with when it applies server-side) and compared
//!    with live as the Flux diff does; objects in `status.resources` that are no longer rendered are shown
//!    removed. Every source is checked out first (those with a `ref` too: Helm value files `$ref/...` are
//!    read from them), then rendered (`render.rs`: plain directory, `kustomize.rs`, `helm.rs`). What cannot
//!    be rendered or applied (a Helm chart without helm, a Helm repository chart, a plugin, a `.jsonnet`
//!    file, a remote value file, a source at no commit) is listed in `uncovered`: never a silent "in sync".

pub mod api;
pub mod env;
pub mod helm;
pub mod kustomize;
pub mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject};
use serde_json::{Value, json};

use crate::backend::BackendError;
use crate::backend::flux::diff::dryrun::{self, KindCache, text_diff};
use crate::backend::flux::diff::{live, source};
use crate::backend::flux::mirror::{Mirrors, Wanted};
use crate::backend::local::git::Mirror;
use crate::backend::local::spec::GitRef;
use crate::model::{Change, DiffReport, Revision};
use env::BuildEnv;

/// The field manager Argo CD's application-controller applies with (server-side apply); the dry run uses it
/// so that what it would take over is what the controller takes over.
pub const CONTROLLER_MANAGER: &str = "argocd-controller";
const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
const INSTALLATION_ID: &str = "argocd.argoproj.io/installation-id";
const HOOK: &str = "argocd.argoproj.io/hook";
const HELM_HOOK: &str = "helm.sh/hook";

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The diff of the Application `app` (as read through kube): from the API server when one is configured
/// and serves it, else rendered here.
pub async fn report(
    client: &kube::Client,
    app: &DynamicObject,
    mirrors: Option<&Arc<Mirrors>>,
) -> Result<DiffReport, BackendError> {
    let value = serde_json::to_value(app)
        .map_err(|e| BackendError::Invalid(format!("the Application: {e}")))?;
    let ns = text(&value, "/metadata/namespace").to_owned();
    let name = text(&value, "/metadata/name").to_owned();
    let uid = text(&value, "/metadata/uid").to_owned();
    let why_local = match api::configured() {
        Ok(None) => None,
        Ok(Some(server)) => {
            let s = server.clone();
            let got = tokio::task::spawn_blocking(move || s.managed_resources(&ns, &name, &uid))
                .await
                .map_err(|e| BackendError::Invalid(format!("the Argo CD API request: {e}")))?;
            match got {
                Ok(managed) => return Ok(api::report(&server, &managed)),
                Err(e) => Some(e),
            }
        }
        Err(e) => Some(format!("the argocd CLI config: {e}")),
    };
    let mut report = local(client, &value, mirrors).await?;
    if let Some(why) = why_local {
        report.notes.push(format!(
            "rendered locally: the Argo CD API server could not be used: {why}"
        ));
    }
    Ok(report)
}

/// The sources and, for each, the revision Argo CD compared with.
fn sources(app: &Value) -> Vec<(Value, String)> {
    let rev = |i: usize| {
        app.pointer(&format!("/status/sync/revisions/{i}"))
            .and_then(Value::as_str)
            .or_else(|| {
                (i == 0)
                    .then(|| app.pointer("/status/sync/revision").and_then(Value::as_str))
                    .flatten()
            })
            .unwrap_or("")
            .to_owned()
    };
    match app.pointer("/spec/sources").and_then(Value::as_array) {
        Some(many) if !many.is_empty() => many
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), rev(i)))
            .collect(),
        _ => app
            .pointer("/spec/source")
            .map(|s| (s.clone(), rev(0)))
            .into_iter()
            .collect(),
    }
}

/// Checks out `at` of `url` into `dir` (blocking): through the backend's mirror of the URL when it has
/// mirrors (fetched first when it lacks the commit), else a clone in `scratch`. The commit and how it was
/// read.
fn checkout(
    mirrors: Option<&Arc<Mirrors>>,
    url: &str,
    at: &At,
    scratch: &Path,
    dir: &Path,
) -> Result<(String, &'static str), String> {
    let (mirror, how) = match mirrors {
        Some(m) => (m.mirror(url), "setpoint's mirror"),
        None => (Mirror::new(scratch.join("mirror.git")), "a clone"),
    };
    let commit = match at {
        At::Commit(c) if mirror.resolve_commit(c).is_ok() => c.clone(),
        At::Commit(c) => match mirrors {
            Some(m) => {
                m.fetch_blocking(&Wanted {
                    url: url.to_owned(),
                    commit: c.clone(),
                });
                if let Some(why) = m.failure(url) {
                    return Err(format!("fetching {url}: {why}"));
                }
                c.clone()
            }
            None => {
                mirror
                    .fetch(url, &GitRef::Commit(c.clone()))
                    .map_err(|e| format!("cloning {url}: {}", e.0))?;
                c.clone()
            }
        },
        At::Head(target) => mirror
            .fetch(url, &GitRef::Branch(target.clone()))
            .or_else(|_| mirror.fetch(url, &GitRef::Tag(target.clone())))
            .map_err(|e| format!("fetching {target} of {url}: {}", e.0))?
            .id
            .to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    source::write_tree(&mirror, &commit, dir, |_| false)
        .map_err(|e| format!("{url} at {commit}: {e}"))?;
    Ok((commit, how))
}

/// What of a source is rendered: the commit Argo CD compared with, or, when it reports none (manifest
/// generation failed), the head of the branch or tag `targetRevision` names.
enum At {
    Commit(String),
    Head(String),
}

/// One source checked out: where, at which commit, read how.
struct Checked {
    index: usize,
    src: Value,
    url: String,
    rev: String,
    root: std::path::PathBuf,
    sha: String,
    how: &'static str,
}

impl Checked {
    fn what(&self) -> String {
        format!("source {} ({})", self.index + 1, self.url)
    }
}

/// Checks out every source that can be (each reported when it cannot): the sources with a `ref` too,
/// whose files the Helm sources' `$ref/...` value files read.
async fn check_out_all(
    app: &Value,
    mirrors: Option<&Arc<Mirrors>>,
    tmp: &Path,
    report: &mut DiffReport,
    every_source: &mut bool,
) -> Result<Vec<Checked>, BackendError> {
    let mut out = Vec::new();
    for (i, (src, rev)) in sources(app).into_iter().enumerate() {
        let url = text(&src, "/repoURL").to_owned();
        let what = format!("source {} ({url})", i + 1);
        if !text(&src, "/chart").is_empty() {
            *every_source = false;
            report.uncovered.push(format!(
                "{what}: chart {} from a Helm repository (version {}) is not fetched here (that needs the network \
                 to the chart repository; Argo CD's own diff through its API server covers it)",
                text(&src, "/chart"),
                text(&src, "/targetRevision"),
            ));
            continue;
        }
        let target = match text(&src, "/targetRevision") {
            "" => "HEAD",
            t => t,
        };
        let at = match Revision::new(None, &rev) {
            Ok(c) => At::Commit(c.sha().to_owned()),
            Err(_) if target != "HEAD" => At::Head(target.to_owned()),
            Err(_) => {
                *every_source = false;
                report.uncovered.push(format!(
                    "{what}: Argo CD reports no revision it compared with, and targetRevision is HEAD"
                ));
                continue;
            }
        };
        let root = tmp.join(format!("source-{i}"));
        let (m, u, r, scratch) = (
            mirrors.cloned(),
            url.clone(),
            root.clone(),
            tmp.join(format!("clone-{i}")),
        );
        let checked =
            tokio::task::spawn_blocking(move || checkout(m.as_ref(), &u, &at, &scratch, &r))
                .await
                .map_err(|e| BackendError::Invalid(format!("checkout: {e}")))?;
        match checked {
            Ok((sha, how)) => out.push(Checked {
                index: i,
                src,
                url,
                rev,
                root,
                sha,
                how,
            }),
            Err(e) => {
                *every_source = false;
                report
                    .uncovered
                    .push(format!("{what}: cannot be read: {e}"));
            }
        }
    }
    Ok(out)
}

async fn local(
    client: &kube::Client,
    app: &Value,
    mirrors: Option<&Arc<Mirrors>>,
) -> Result<DiffReport, BackendError> {
    let mut report = DiffReport::default();
    let app_name = text(app, "/metadata/name").to_owned();
    let app_ns = text(app, "/metadata/namespace").to_owned();
    let dest_ns = text(app, "/spec/destination/namespace").to_owned();
    let project = text(app, "/spec/project").to_owned();
    let tmp = tempfile::tempdir().map_err(|e| BackendError::Invalid(format!("temp dir: {e}")))?;
    let mut every_source = true;
    let checked = check_out_all(app, mirrors, tmp.path(), &mut report, &mut every_source).await?;
    let refs: BTreeMap<String, PathBuf> = checked
        .iter()
        .filter(|c| !text(&c.src, "/ref").is_empty())
        .map(|c| (format!("${}", text(&c.src, "/ref")), c.root.clone()))
        .collect();
    let helm_sources = checked.iter().any(|c| {
        !text(&c.src, "/path").is_empty()
            && matches!(render::tool(&c.root, &c.src), Ok((_, render::Tool::Helm)))
    });
    let cluster = if helm_sources {
        match helm::Cluster::read(client).await {
            Ok(c) => Some(c),
            Err(e) => {
                report.notes.push(format!(
                    "the cluster's version and API versions could not be read for helm template: {e}"
                ));
                None
            }
        }
    } else {
        None
    };
    let mut from = Vec::new();
    let mut desired = Vec::new();
    for c in &checked {
        let what = c.what();
        let path = text(&c.src, "/path");
        let short = &c.sha[..c.sha.len().min(12)];
        if path.is_empty() && !text(&c.src, "/ref").is_empty() {
            report.notes.push(format!(
                "{what}: a values reference (${}) at {short}, no manifests of its own",
                text(&c.src, "/ref")
            ));
            continue;
        }
        let target = match text(&c.src, "/targetRevision") {
            "" => "HEAD",
            t => t,
        };
        let at_text = if c.rev.is_empty() {
            format!("{short}, the head of {target} (Argo CD reports no compared revision)")
        } else {
            short.to_owned()
        };
        let build_env = BuildEnv::new(&env::Of {
            app_name: &app_name,
            dest_ns: &dest_ns,
            project: &project,
            revision: &c.sha,
            repo_url: &c.url,
            path,
            target_revision: text(&c.src, "/targetRevision"),
        });
        let ctx = render::Ctx {
            app_name: &app_name,
            dest_ns: &dest_ns,
            env: &build_env,
            refs: &refs,
            cluster: cluster.as_ref(),
        };
        match render::render(&c.root, &c.src, &ctx).await {
            Ok(r) => {
                from.push(format!(
                    "{} {path} at {at_text} ({}, from {})",
                    c.url, r.tool, c.how
                ));
                report
                    .uncovered
                    .extend(r.gaps.into_iter().map(|g| format!("{what}: {g}")));
                desired.extend(r.objects);
            }
            Err(e) => {
                every_source = false;
                report.uncovered.push(format!("{what}: {e}"));
            }
        }
    }
    report.desired_from = Some(if from.is_empty() {
        "rendered locally: nothing could be rendered".to_owned()
    } else {
        format!(
            "rendered locally: {}; server-side apply dry run as {CONTROLLER_MANAGER}",
            from.join("; ")
        )
    });
    let tracking = Tracking::read(client, &app_ns, &app_name, &mut report).await;
    let mut kinds = KindCache::default();
    let mut rendered_ids = Vec::new();
    for mut obj in desired {
        let label = live::object_name(&obj);
        if hook(&obj) {
            report.notes.push(format!(
                "skipped {label}: a hook (run by a sync, not compared)"
            ));
            continue;
        }
        let Some(t) = dryrun::target(client, &mut kinds, &mut obj, &dest_ns, &mut report).await
        else {
            continue;
        };
        tracking.mark(&mut obj);
        rendered_ids.push(resource_id(&obj));
        if let Some(d) = dryrun::compare(t, &obj, CONTROLLER_MANAGER, &mut report).await {
            report.objects.push(d);
        }
    }
    if every_source {
        removed(client, &mut kinds, app, &rendered_ids, &mut report).await;
    } else {
        report.notes.push(
            "objects Argo CD manages that are no longer rendered are not listed: not every source was rendered"
                .into(),
        );
    }
    report
        .objects
        .sort_by(|a, b| (!a.is_different(), &a.object).cmp(&(!b.is_different(), &b.object)));
    Ok(report)
}

fn hook(obj: &Value) -> bool {
    let a = obj.pointer("/metadata/annotations");
    [HOOK, HELM_HOOK]
        .iter()
        .any(|k| a.and_then(|a| a.get(*k)).is_some())
}

/// `group/kind/namespace/name`, as `status.resources` entries identify objects.
fn resource_id(obj: &Value) -> String {
    let api_version = text(obj, "/apiVersion");
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    format!(
        "{group}/{}/{}/{}",
        text(obj, "/kind"),
        text(obj, "/metadata/namespace"),
        text(obj, "/metadata/name")
    )
}

/// How Argo CD marks the objects it manages (argocd-cm `application.resourceTrackingMethod`, annotation by
/// default since 3.0), so that the dry run keeps the marks the controller keeps.
struct Tracking {
    app: String,
    annotation: bool,
    label: Option<String>,
    installation: Option<String>,
}

impl Tracking {
    async fn read(
        client: &kube::Client,
        app_ns: &str,
        app_name: &str,
        report: &mut DiffReport,
    ) -> Self {
        // argocd-cm lives in the control plane's namespace; an Application elsewhere is named ns_name
        let cm = Api::<ConfigMap>::namespaced(client.clone(), app_ns)
            .get_opt("argocd-cm")
            .await;
        let (data, app) = match cm {
            Ok(Some(cm)) => (cm.data.unwrap_or_default(), app_name.to_owned()),
            Ok(None) => (Default::default(), format!("{app_ns}_{app_name}")),
            Err(e) => {
                report.notes.push(format!(
                    "argocd-cm cannot be read ({e}): tracking by annotation assumed"
                ));
                (Default::default(), app_name.to_owned())
            }
        };
        let method = data
            .get("application.resourceTrackingMethod")
            .map(String::as_str)
            .unwrap_or("annotation");
        let label_key = data
            .get("application.instanceLabelKey")
            .cloned()
            .unwrap_or_else(|| "app.kubernetes.io/instance".into());
        Self {
            app,
            annotation: method.contains("annotation"),
            label: method.contains("label").then_some(label_key),
            installation: data.get("installationID").cloned(),
        }
    }

    fn mark(&self, obj: &mut Value) {
        let api_version = text(obj, "/apiVersion");
        let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
        let id = format!(
            "{}:{group}/{}:{}/{}",
            self.app,
            text(obj, "/kind"),
            text(obj, "/metadata/namespace"),
            text(obj, "/metadata/name")
        );
        let mut put = |field: &str, key: &str, value: &str| {
            if !obj["metadata"][field].is_object() {
                obj["metadata"][field] = json!({});
            }
            obj["metadata"][field][key] = json!(value);
        };
        if self.annotation {
            put("annotations", TRACKING_ID, &id);
        }
        if let Some(key) = &self.label {
            put("labels", key, &self.app);
        }
        if let Some(i) = &self.installation {
            put("annotations", INSTALLATION_ID, i);
        }
    }
}

/// Objects of `status.resources` no longer rendered: removed (Argo CD marks them requiresPruning; a sync
/// deletes them when prune is on).
async fn removed(
    client: &kube::Client,
    kinds: &mut KindCache,
    app: &Value,
    rendered: &[String],
    report: &mut DiffReport,
) {
    let prune = app
        .pointer("/spec/syncPolicy/automated/prune")
        .and_then(Value::as_bool)
        == Some(true);
    let entries = app
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for e in entries {
        if e.get("hook").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let (group, version, kind) = (text(&e, "/group"), text(&e, "/version"), text(&e, "/kind"));
        let (ns, name) = (text(&e, "/namespace"), text(&e, "/name"));
        if rendered.contains(&format!("{group}/{kind}/{ns}/{name}")) {
            continue;
        }
        let Some((label, current)) = dryrun::no_longer_desired(
            client,
            kinds,
            (group, version, kind),
            ns,
            name,
            "no longer rendered",
            report,
        )
        .await
        else {
            continue;
        };
        let mut live_side = Some(live::normalise(&current));
        let secret = live::mask_secrets(live_side.as_mut(), None);
        if !prune {
            report.notes.push(format!(
                "{label} is no longer rendered: a sync with prune deletes it (auto-sync does not prune here)"
            ));
        }
        report
            .objects
            .push(text_diff(label, Change::Removed, None, live_side, secret));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_with_the_revision_argo_cd_compared() {
        let app = json!({"spec": {"sources": [{"repoURL": "a"}, {"repoURL": "b"}]},
            "status": {"sync": {"revisions": ["1111111", "2222222"]}}});
        let got: Vec<(String, String)> = sources(&app)
            .into_iter()
            .map(|(s, r)| (text(&s, "/repoURL").to_owned(), r))
            .collect();
        assert_eq!(
            got,
            [
                ("a".into(), "1111111".into()),
                ("b".into(), "2222222".into())
            ]
        );
        let one = json!({"spec": {"source": {"repoURL": "a"}}, "status": {"sync": {"revision": "3333333"}}});
        assert_eq!(sources(&one)[0].1, "3333333");
        let none = json!({"spec": {"source": {"repoURL": "a"}}});
        assert_eq!(sources(&none)[0].1, "");
    }

    #[test]
    fn tracking_marks_as_argo_cd_does() {
        let t = Tracking {
            app: "plain".into(),
            annotation: true,
            label: Some("app.kubernetes.io/instance".into()),
            installation: None,
        };
        let mut obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "n"}});
        t.mark(&mut obj);
        assert_eq!(
            obj["metadata"]["annotations"][TRACKING_ID],
            "plain:apps/Deployment:n/web"
        );
        assert_eq!(
            obj["metadata"]["labels"]["app.kubernetes.io/instance"],
            "plain"
        );
        assert!(hook(
            &json!({"metadata": {"annotations": {"argocd.argoproj.io/hook": "PreSync"}}})
        ));
        assert_eq!(resource_id(&obj), "apps/Deployment/n/web");
    }

    #[tokio::test]
    async fn a_helm_repository_chart_is_said_not_covered() {
        let app = json!({"spec": {"sources": [
            {"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "1.2.3"},
            {"repoURL": "https://charts.example.com", "chart": "db", "targetRevision": "2.0.0",
             "ref": "values"}]}});
        let tmp = tempfile::tempdir().unwrap();
        let mut report = DiffReport::default();
        let mut every = true;
        let checked = check_out_all(&app, None, tmp.path(), &mut report, &mut every)
            .await
            .unwrap();
        assert!(checked.is_empty());
        assert!(!every);
        assert_eq!(report.uncovered.len(), 2, "{:?}", report.uncovered);
        assert!(report.uncovered[0].starts_with(
            "source 1 (https://charts.example.com): chart web from a Helm repository (version 1.2.3) is not fetched here"
        ));
        // no revision and HEAD: said, not guessed
        let head =
            json!({"spec": {"source": {"repoURL": "https://git.example.com/x.git", "path": "p"}}});
        let mut report = DiffReport::default();
        check_out_all(&head, None, tmp.path(), &mut report, &mut every)
            .await
            .unwrap();
        assert!(report.uncovered[0].contains("reports no revision it compared with"));
    }
}
