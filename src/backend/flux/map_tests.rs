//! The mapping on objects dumped from the real tier (`kubectl get -o json`, managedFields dropped):
//! source-controller and kustomize-controller v1.9.6 on kube-apiserver v1.36.

use super::*;
use serde_json::json;

fn fixture(name: &str) -> DynamicObject {
    let text = match name {
        "ks-ready" => include_str!("fixtures/ks-ready.json"),
        "ks-badpath" => include_str!("fixtures/ks-badpath.json"),
        "ks-dependent" => include_str!("fixtures/ks-dependent.json"),
        "ks-nosource" => include_str!("fixtures/ks-nosource.json"),
        "ks-suspended" => include_str!("fixtures/ks-suspended.json"),
        "gitrepo-apps" => include_str!("fixtures/gitrepo-apps.json"),
        "gitrepo-missing" => include_str!("fixtures/gitrepo-missing.json"),
        "helmrepo-charts" => include_str!("fixtures/helmrepo-charts.json"),
        "ocirepo-oci" => include_str!("fixtures/ocirepo-oci.json"),
        "bucket-bucket" => include_str!("fixtures/bucket-bucket.json"),
        other => unreachable!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

const SHA: &str = "112f5131c59ef7108dcc91a58cf45aca4309b2ee";

fn kind(name: &str) -> FluxKind {
    kinds::by_name(name).unwrap()
}

fn all() -> Vec<(FluxKind, DynamicObject)> {
    [
        ("Kustomization", "ks-ready"),
        ("Kustomization", "ks-badpath"),
        ("Kustomization", "ks-dependent"),
        ("Kustomization", "ks-nosource"),
        ("Kustomization", "ks-suspended"),
        ("GitRepository", "gitrepo-apps"),
        ("GitRepository", "gitrepo-missing"),
        ("HelmRepository", "helmrepo-charts"),
        ("OCIRepository", "ocirepo-oci"),
        ("Bucket", "bucket-bucket"),
    ]
    .into_iter()
    .map(|(k, f)| (kind(k), fixture(f)))
    .collect()
}

fn snap() -> Snapshot {
    let objs = all();
    snapshot("tier", objs.iter().map(|(k, o)| (*k, o)))
}

fn unit_named<'a>(s: &'a Snapshot, name: &str) -> &'a Unit {
    s.units.iter().find(|u| u.name == name).unwrap()
}

#[test]
fn ready_kustomization_with_its_revisions_and_source() {
    let s = snap();
    let u = unit_named(&s, "ready");
    assert_eq!(u.id, "flux/tier/apps/Kustomization/ready");
    assert_eq!(u.kind, "Kustomization");
    assert_eq!(u.environment, "tier/apps");
    assert_eq!(u.source, "apps/apps");
    assert_eq!(u.status.kind, StatusKind::Ready);
    assert_eq!(
        u.status.message,
        format!("Applied revision: main@sha1:{SHA}")
    );
    assert_eq!(u.status.since.to_string(), "2026-11-27T02:14:07Z");
    let rev: Revision = format!("main@sha1:{SHA}").parse().unwrap();
    assert_eq!(u.applied_revision.as_ref(), Some(&rev));
    assert_eq!(u.attempted_revision.as_ref(), Some(&rev));
    assert_eq!(u.latest_revision.as_ref(), Some(&rev));
    assert_eq!(u.commits_behind, Some(0));
    assert!(!u.suspended);
    assert_eq!(
        u.last_reconcile_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-27T02:14:07Z")
    );
}

#[test]
fn failed_while_retrying_is_failed_with_the_ready_reason() {
    let s = snap();
    let u = unit_named(&s, "badpath");
    assert_eq!(u.status.kind, StatusKind::Failed);
    assert!(
        u.status
            .message
            .starts_with("ArtifactFailed: kustomization path not found"),
        "{}",
        u.status.message
    );
    assert_eq!(u.applied_revision, None);
    let u = unit_named(&s, "nosource");
    assert_eq!(u.status.kind, StatusKind::Failed);
    assert_eq!(u.source, "apps/missing");
    assert_eq!(u.latest_revision, None);
    assert_eq!(u.commits_behind, None);
}

#[test]
fn waiting_on_a_dependency_is_progressing_and_names_it() {
    let s = snap();
    let u = unit_named(&s, "dependent");
    assert_eq!(u.status.kind, StatusKind::Progressing);
    assert_eq!(
        u.status.message,
        "waiting: dependency 'apps/badpath' is not ready"
    );
    assert_eq!(u.depends_on, vec!["apps/badpath".to_owned()]);
}

#[test]
fn suspended_says_who_why_and_since() {
    let s = snap();
    let u = unit_named(&s, "suspended");
    assert_eq!(u.status.kind, StatusKind::Suspended);
    assert!(u.suspended);
    assert_eq!(
        u.suspend_reason.as_deref(),
        Some("incident 42 (by ann@bastion)")
    );
    assert_eq!(u.status.message, "suspended: incident 42 (by ann@bastion)");
    assert_eq!(u.status.since.to_string(), "2026-11-27T02:00:00Z");
    assert_eq!(
        u.hold_note().as_deref(),
        Some("suspended: incident 42 (by ann@bastion)")
    );
}

#[test]
fn sources_of_every_kind() {
    let s = snap();
    let by = |n: &str| s.sources.iter().find(|x| x.id.ends_with(n)).unwrap();
    let apps = by("/GitRepository/apps");
    assert_eq!(apps.id, "flux/tier/apps/GitRepository/apps");
    assert_eq!(apps.name, "apps/apps");
    assert_eq!(apps.reference, "branch:main");
    assert_eq!(apps.status.kind, StatusKind::Ready);
    assert_eq!(apps.revision.as_ref().map(|r| r.sha()), Some(SHA));
    assert!(apps.url.ends_with("/apps.git"));
    assert!(apps.last_fetch_at.is_some());
    let missing = by("/GitRepository/missing");
    assert_eq!(missing.status.kind, StatusKind::Failed);
    assert!(missing.status.message.starts_with("GitOperationFailed: "));
    for (id, reason) in [
        ("/HelmRepository/charts", "Failed: "),
        ("/OCIRepository/oci", "OCIArtifactPullFailed: "),
        ("/Bucket/bucket", "BucketOperationFailed: "),
    ] {
        let x = by(id);
        assert_eq!(x.status.kind, StatusKind::Failed, "{id}");
        assert!(
            x.status.message.starts_with(reason),
            "{id}: {}",
            x.status.message
        );
        assert_eq!(x.revision, None);
    }
    assert_eq!(by("/OCIRepository/oci").reference, "tag:latest");
    assert_eq!(by("/Bucket/bucket").url, "127.0.0.1:1/b");
    assert_eq!(s.sources.len(), 5);
    assert_eq!(s.units.len(), 5);
    // most urgent first
    assert_eq!(s.units[0].status.kind, StatusKind::Failed);
    assert_eq!(s.units[4].status.kind, StatusKind::Ready);
}

fn object(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

fn with_conditions(generation: i64, observed: i64, conds: Value) -> DynamicObject {
    object(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "x", "namespace": "n", "generation": generation,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "s", "namespace": "other"}},
        "status": {"observedGeneration": observed, "conditions": conds}
    }))
}

fn cond(kind: &str, status: &str, reason: &str, msg: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": msg,
           "lastTransitionTime": "2026-01-02T00:00:00Z"})
}

#[test]
fn the_rest_of_the_table() {
    let st = |o: &DynamicObject| (status(o).kind, status(o).message);
    let o = with_conditions(1, 1, json!([]));
    assert_eq!(st(&o), (StatusKind::Unknown, "not reconciled yet".into()));
    let o = with_conditions(
        1,
        1,
        json!([
            cond("Ready", "False", "BuildFailed", "bad"),
            cond("Stalled", "True", "InvalidPath", "no path")
        ]),
    );
    assert_eq!(st(&o), (StatusKind::Stalled, "InvalidPath: no path".into()));
    let o = with_conditions(
        2,
        1,
        json!([cond("Ready", "True", "ReconciliationSucceeded", "ok")]),
    );
    assert_eq!(st(&o).0, StatusKind::Progressing);
    assert!(st(&o).1.contains("generation 2"));
    let o = with_conditions(
        1,
        1,
        json!([
            cond("Ready", "True", "ReconciliationSucceeded", "ok"),
            cond("Reconciling", "True", "Progressing", "applying")
        ]),
    );
    assert_eq!(st(&o), (StatusKind::Progressing, "applying".into()));
    let o = with_conditions(
        1,
        1,
        json!([cond(
            "Ready",
            "Unknown",
            "Progressing",
            "Reconciliation in progress"
        )]),
    );
    assert_eq!(
        st(&o),
        (StatusKind::Progressing, "Reconciliation in progress".into())
    );
    let o = with_conditions(1, 1, json!([cond("Ready", "Unknown", "Whatever", "hm")]));
    assert_eq!(st(&o), (StatusKind::Unknown, "Whatever: hm".into()));
    // a source in another namespace
    let u = unit("c", kinds::KUSTOMIZATION, &o, &BTreeMap::new());
    assert_eq!(u.source, "other/s");
}

#[test]
fn helm_release_takes_its_chart_as_source() {
    let hr = object(json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "apps", "generation": 1},
        "spec": {"targetNamespace": "web", "chart": {"spec": {"chart": "podinfo",
                 "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}},
        "status": {"observedGeneration": 1, "helmChart": "apps/apps-web",
                   "lastAttemptedRevision": "6.5.0",
                   "conditions": [cond("Ready", "True", "InstallSucceeded", "Helm install succeeded")]}
    }));
    let u = unit("c", kinds::HELM_RELEASE, &hr, &BTreeMap::new());
    assert_eq!(u.id, "flux/c/apps/HelmRelease/web");
    assert_eq!(u.source, "apps/apps-web");
    assert_eq!(u.environment, "c/web");
    assert_eq!(u.status.kind, StatusKind::Ready);
    // a chart version is not a commit
    assert_eq!(u.attempted_revision, None);
    hr.data.pointer("/status/helmChart").unwrap();
    let mut bare = hr.clone();
    bare.data["status"] = json!({});
    assert_eq!(
        unit("c", kinds::HELM_RELEASE, &bare, &BTreeMap::new()).source,
        "apps/charts"
    );
}

#[test]
fn a_source_pinned_by_setpoint_pins_its_units() {
    let mut objs = all();
    for (k, o) in objs.iter_mut() {
        if k.kind == "GitRepository" && o.metadata.name.as_deref() == Some("apps") {
            o.data["spec"]["ref"]["commit"] = json!(SHA);
            o.metadata
                .annotations
                .get_or_insert_default()
                .insert(PINNED_FROM.into(), r#"{"branch":"main"}"#.into());
        }
    }
    let s = snapshot("tier", objs.iter().map(|(k, o)| (*k, o)));
    let u = unit_named(&s, "ready");
    assert_eq!(u.pinned_revision.as_ref().map(|r| r.sha()), Some(SHA));
    assert_eq!(u.hold_note().as_deref(), Some("pinned at 112f513"));
    assert_eq!(unit_named(&s, "nosource").pinned_revision, None);
    let src = s.sources.iter().find(|x| x.name == "apps/apps").unwrap();
    assert_eq!(src.reference, format!("commit:{SHA}"));
    // a commit in the ref without setpoint's annotation is the user's own choice, not a pin
    let plain = all();
    let s = snapshot("tier", plain.iter().map(|(k, o)| (*k, o)));
    assert_eq!(unit_named(&s, "ready").pinned_revision, None);
}

#[test]
fn a_unit_whose_source_is_not_ready_names_the_source_and_its_message() {
    let s = snap();
    let u = unit_named(&s, "nosource");
    assert_eq!(u.status.kind, StatusKind::Failed);
    assert!(
        u.status
            .message
            .starts_with("source apps/missing is failed: GitOperationFailed: failed to checkout"),
        "{}",
        u.status.message
    );
    assert!(
        u.status
            .message
            .ends_with("ArtifactFailed: Source artifact not found, retrying in 30s")
    );
    // a unit whose source is ready says only its own reason
    let bad = unit_named(&s, "badpath");
    assert!(
        !bad.status.message.starts_with("source "),
        "{}",
        bad.status.message
    );
}
