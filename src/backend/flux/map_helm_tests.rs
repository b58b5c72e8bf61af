//! The mapping of HelmReleases and their HelmCharts on objects dumped from the real tier (`kubectl get -o json`,
//! managedFields dropped): helm-controller v1.6.4 and source-controller v1.9.6 on kube-apiserver v1.36. `web`
//! installs the chart `charts/demo` of the GitRepository `charts` (reconcileStrategy Revision, so its chart
//! versions name their commits), now at release v5; `remote` takes its chart from a HelmRepository that nothing
//! serves. `oci` (namespace ox) takes its chart from the OCIRepository `demo` (`spec.chartRef`), a chart pushed
//! with `helm push` to the tier's OCI registry at tag 0.1.0.

use super::*;
use crate::backend::flux::history;

const SHA: &str = "80b34c2495162fc906ec35323c89e6454f036ff6";

fn fixture(name: &str) -> DynamicObject {
    let text = match name {
        "hr-web" => include_str!("fixtures/hr-web.json"),
        "hr-remote" => include_str!("fixtures/hr-remote.json"),
        "helmchart-web" => include_str!("fixtures/helmchart-web.json"),
        "helmchart-remote" => include_str!("fixtures/helmchart-remote.json"),
        "gitrepo-charts" => include_str!("fixtures/gitrepo-charts.json"),
        "hr-oci" => include_str!("fixtures/hr-oci.json"),
        "ocirepo-demo" => include_str!("fixtures/ocirepo-demo.json"),
        other => unreachable!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn objects() -> Vec<(FluxKind, DynamicObject)> {
    [
        ("HelmRelease", "hr-web"),
        ("HelmRelease", "hr-remote"),
        ("HelmChart", "helmchart-web"),
        ("HelmChart", "helmchart-remote"),
        ("GitRepository", "gitrepo-charts"),
    ]
    .into_iter()
    .map(|(k, f)| (kinds::by_name(k).unwrap(), fixture(f)))
    .collect()
}

fn snap_of(objs: &[(FluxKind, DynamicObject)]) -> Snapshot {
    snapshot("tier", objs.iter().map(|(k, o)| (*k, o)))
}

fn unit_named<'a>(s: &'a Snapshot, name: &str) -> &'a Unit {
    s.units.iter().find(|u| u.name == name).unwrap()
}

#[test]
fn chart_versions_name_commits_only_with_the_revision_strategy() {
    let r = chart_commit("0.2.0+80b34c249516").unwrap();
    assert_eq!(r.sha(), "80b34c249516");
    assert!(r.same_commit(&SHA.parse().unwrap()));
    // values files add the generation after the commit
    assert_eq!(
        chart_commit("0.2.0+80b34c249516.3").unwrap().sha(),
        "80b34c249516"
    );
    for none in ["0.2.0", "0.2.0+build1", "1.0.0+abc", ""] {
        assert_eq!(chart_commit(none), None, "{none}");
    }
}

#[test]
fn helm_release_from_git_with_its_applied_commit() {
    let s = snap_of(&objects());
    let u = unit_named(&s, "web");
    assert_eq!(u.id, "flux/tier/demo/HelmRelease/web");
    assert_eq!(u.kind, "HelmRelease");
    assert_eq!(u.source, "demo/demo-web");
    assert_eq!(u.status.kind, StatusKind::Ready);
    assert_eq!(
        u.status.message,
        "Helm upgrade succeeded for release demo/web.v5 with chart demo@0.2.0+80b34c249516"
    );
    assert_eq!(
        u.applied_revision.as_ref().map(Revision::sha),
        Some("80b34c249516")
    );
    assert_eq!(
        u.attempted_revision.as_ref().map(Revision::sha),
        Some("80b34c249516")
    );
    // the HelmChart's revision: the commit it packaged the chart from
    let latest: Revision = format!("main@sha1:{SHA}").parse().unwrap();
    assert_eq!(u.latest_revision.as_ref(), Some(&latest));
    assert_eq!(u.commits_behind, Some(0));
    assert_eq!(u.commits_behind_unknown, None);
    // the last Helm release's deploy time
    assert_eq!(
        u.last_reconcile_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-27T11:39:32Z")
    );
    let chart = s
        .sources
        .iter()
        .find(|x| x.name == "demo/demo-web")
        .unwrap();
    assert_eq!(chart.revision.as_ref(), Some(&latest));
    assert_eq!(chart.url, "GitRepository/demo/charts");
    assert_eq!(chart.reference, "chart:charts/demo@*");
}

#[test]
fn a_pin_of_the_charts_git_repository_pins_the_helm_release() {
    let mut objs = objects();
    let (_, git) = objs
        .iter_mut()
        .find(|(k, _)| k.kind == "GitRepository")
        .unwrap();
    git.metadata
        .annotations
        .get_or_insert_default()
        .insert(PINNED_FROM.into(), r#"{"branch":"main"}"#.into());
    git.data["spec"]["ref"] = serde_json::json!({"commit": SHA});
    let s = snap_of(&objs);
    let u = unit_named(&s, "web");
    assert_eq!(u.pinned_revision.as_ref().map(Revision::sha), Some(SHA));
    assert!(u.hold_note().unwrap().starts_with("pinned at 80b34c2"));
}

#[test]
fn helm_release_whose_chart_source_is_not_served() {
    let s = snap_of(&objects());
    let u = unit_named(&s, "remote");
    assert_eq!(u.source, "demo/demo-remote");
    assert_eq!(u.status.kind, StatusKind::Failed);
    assert!(
        u.status.message.starts_with(
            "source demo/demo-remote is failed: NoSourceArtifact: no artifact available for HelmRepository \
             source 'remote'; SourceNotReady: HelmChart 'demo/demo-remote' is not ready"
        ),
        "{}",
        u.status.message
    );
    assert_eq!(u.applied_revision, None);
    assert_eq!(
        u.commits_behind_unknown.as_deref(),
        Some("nothing applied yet")
    );
    assert_eq!(
        chart_source_ref(&fixture("helmchart-remote")).map(|r| r.kind.kind),
        Some("HelmRepository")
    );
}

#[test]
fn helm_history_is_its_releases_newest_first() {
    let h = history::entries(&fixture("hr-web"));
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].revision.sha(), "80b34c249516");
    assert!(h[0].applied && h[0].last_good && !h[0].failed);
    assert_eq!(
        h[0].summary,
        "release v5 deployed: chart demo@0.2.0+80b34c249516, first deployed 2026-11-27T11:33:26Z, config \
         sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(h[1].revision.sha(), "161a4523ec28");
    assert!(!h[1].applied && !h[1].last_good && !h[1].failed);
    assert!(
        h[1].summary
            .starts_with("release v4 superseded: chart demo@0.1.0+161a4523ec28")
    );
    let marks = history::Marks::of(&fixture("hr-web"), None);
    assert_eq!(
        marks.applied.as_ref().map(Revision::sha),
        Some("80b34c249516")
    );
    assert_eq!(marks.failed_attempt, None);
}

/// helm-controller gives a chart of an OCIRepository the version `0.1.0+<12 hex of the artifact's digest>`: that
/// is no commit. The unit's revisions are the artifact's digest, the same as its source's, so it is up to date.
#[test]
fn helm_release_from_an_oci_repository_with_its_digest_not_a_commit() {
    const DIGEST: &str = "e88636ad629df6c12f65088112a14f7aad1a4931dd40af6d69f07859b9398510";
    let objs: Vec<(FluxKind, DynamicObject)> =
        [("HelmRelease", "hr-oci"), ("OCIRepository", "ocirepo-demo")]
            .into_iter()
            .map(|(k, f)| (kinds::by_name(k).unwrap(), fixture(f)))
            .collect();
    let s = snap_of(&objs);
    let src = s.sources.iter().find(|x| x.name == "ox/demo").unwrap();
    assert_eq!(src.reference, "tag:0.1.0");
    assert_eq!(
        src.revision.as_ref().map(ToString::to_string),
        Some(format!("0.1.0@sha256:{DIGEST}"))
    );
    let u = unit_named(&s, "oci");
    assert_eq!(u.source, "ox/demo");
    assert_eq!(u.status.kind, StatusKind::Ready);
    let digest = format!("sha256:{DIGEST}");
    assert_eq!(
        u.applied_revision.as_ref().map(ToString::to_string),
        Some(digest.clone())
    );
    assert_eq!(
        u.attempted_revision.as_ref().map(ToString::to_string),
        Some(digest.clone())
    );
    assert_eq!(u.latest_revision, src.revision);
    assert_eq!(u.commits_behind, Some(0));
    let h = history::entries(&fixture("hr-oci"));
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].revision.to_string(), digest);
    assert!(h[0].applied && h[0].last_good);
    assert!(
        h[0].summary
            .starts_with("release v1 deployed: chart demo@0.1.0+e88636ad629d")
    );
}
