//! The status table against Applications dumped from the tier's real Argo CD 3.3.0 (fixtures/).

use super::*;

fn fixture(name: &str) -> DynamicObject {
    let path = format!(
        "{}/src/backend/argo/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const C1: &str = "ba228625cbb6db1dc6cd8a9d6cac253c870c957b";
const C2: &str = "1cf3890101e01310268cb04b132f9f5301d4ebb5";

#[test]
fn ids_round_trip_with_a_slash_in_the_context() {
    let id = unit_id("arn:aws/eks", "argocd", "web");
    assert_eq!(id, "argo/arn:aws/eks/argocd/Application/web");
    assert_eq!(parse_id("arn:aws/eks", &id), Some(("argocd", "web")));
    assert_eq!(parse_id("other", &id), None);
    assert_eq!(parse_id("c", "argo/c/argocd/Kustomization/web"), None);
}

#[test]
fn out_of_sync_with_auto_sync_is_progressing_not_failed() {
    let app = fixture("auto");
    let u = unit("admin", &app);
    assert_eq!(
        u.status.kind,
        StatusKind::Progressing,
        "{}",
        u.status.message
    );
    assert_eq!(u.status.message, "OutOfSync, Healthy; auto-sync on");
    assert!(auto_sync(&app));
    // applied: the newest history entry; latest: what main resolves to now
    assert_eq!(u.applied_revision.as_ref().map(|r| r.sha()), Some(C2));
    assert_eq!(u.latest_revision.as_ref().map(|r| r.sha()), Some(C2));
    assert_eq!(u.commits_behind, Some(0));
    assert_eq!(u.drifted_objects, vec!["ConfigMap fx/settings"]);
    assert_eq!(u.environment, "in-cluster/fx");
    assert!(!u.suspended);
    let h = history(&app);
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].revision.sha(), C2);
    assert!(h[0].applied && h[0].last_good && !h[1].applied);
    assert_eq!(h[0].author, "auto-sync");
}

#[test]
fn out_of_sync_without_auto_sync_is_ready_with_its_drift() {
    let app = fixture("manual");
    let u = unit("admin", &app);
    assert!(!auto_sync(&app));
    assert_eq!(u.status.kind, StatusKind::Ready);
    assert_eq!(
        u.status.message,
        "OutOfSync, Healthy; auto-sync off, not applied"
    );
    assert_eq!(u.applied_revision, None, "never synced: nothing applied");
    assert_eq!(u.latest_revision.as_ref().map(|r| r.sha()), Some(C2));
    assert_eq!(u.drifted_objects, vec!["ConfigMap fx/settings"]);
}

#[test]
fn a_failed_operation_is_failed_with_its_message() {
    let u = unit("admin", &fixture("rejected"));
    assert_eq!(u.status.kind, StatusKind::Failed);
    assert!(
        u.status
            .message
            .starts_with("sync Failed: one or more objects failed to apply"),
        "{}",
        u.status.message
    );
    assert!(u.status.message.contains("Not_Valid"));
    assert_eq!(u.attempted_revision.as_ref().map(|r| r.sha()), Some(C2));
}

#[test]
fn a_comparison_error_is_failed_and_a_branch_name_is_no_revision() {
    let u = unit("admin", &fixture("broken"));
    assert_eq!(u.status.kind, StatusKind::Failed);
    assert!(
        u.status
            .message
            .starts_with("ComparisonError: Failed to load target state"),
        "{}",
        u.status.message
    );
    // status.sync.revision is `main` until a comparison succeeds: not a commit
    assert_eq!(u.latest_revision, None);
}

#[test]
fn multi_source_lists_every_source_with_its_revision() {
    let app = fixture("multi");
    let snap = snapshot("admin", [&app]);
    let u = &snap.units[0];
    assert_eq!(u.status.kind, StatusKind::Ready);
    assert_eq!(u.status.message, "Synced, Healthy");
    assert_eq!(u.applied_revision.as_ref().map(|r| r.sha()), Some(C2));
    assert_eq!(snap.sources.len(), 2);
    assert_eq!(
        snap.sources[1].id,
        "argo/admin/argocd/Application/multi/source/1"
    );
    assert_eq!(snap.sources[1].revision.as_ref().map(|r| r.sha()), Some(C2));
    assert_eq!(snap.sources[1].reference, "revision:main");
    let h = history(&app);
    assert_eq!(
        h.iter().map(|e| e.revision.sha()).collect::<Vec<_>>(),
        [C2, C1]
    );
}

#[test]
fn health_and_setpoint_holds_by_the_table() {
    let mut app = fixture("multi");
    let set = |app: &mut DynamicObject, p: &str, v: Value| *app.data.pointer_mut(p).unwrap() = v;
    for (health, want) in [
        ("Degraded", StatusKind::Failed),
        ("Missing", StatusKind::Progressing),
        ("Progressing", StatusKind::Progressing),
        ("Suspended", StatusKind::Suspended),
        ("Unknown", StatusKind::Unknown),
        ("Healthy", StatusKind::Ready),
    ] {
        set(&mut app, "/status/health/status", health.into());
        assert_eq!(status(&app).kind, want, "{health}");
    }
    set(&mut app, "/status/operationState/phase", "Running".into());
    assert_eq!(status(&app).kind, StatusKind::Progressing);
    assert!(operation_in_progress(&app));
    set(&mut app, "/status/operationState/phase", "Error".into());
    assert_eq!(status(&app).kind, StatusKind::Failed);
    app.metadata.annotations = Some(
        [
            (SUSPENDED_BY.to_owned(), "me".to_owned()),
            (SUSPEND_REASON.to_owned(), "incident".to_owned()),
        ]
        .into(),
    );
    let u = unit("admin", &app);
    assert_eq!(u.status.kind, StatusKind::Suspended);
    assert_eq!(u.status.message, "auto-sync off (setpoint): incident");
    assert!(u.suspended);
    assert_eq!(u.suspend_reason.as_deref(), Some("incident"));
}

#[test]
fn automated_enabled_false_is_auto_sync_off() {
    let mut app = fixture("auto");
    *app.data.pointer_mut("/spec/syncPolicy/automated").unwrap() =
        serde_json::json!({"enabled": false, "prune": true});
    assert!(!auto_sync(&app));
}

/// The owner reference the applicationset-controller sets, added to a real Application dumped from the tier
/// (tests/argo_appset.rs runs the real controller).
#[test]
fn an_application_set_is_the_parent_and_suspend_warns_of_it() {
    let mut app = fixture("auto");
    assert_eq!(unit("admin", &app).parent, None);
    app.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "ApplicationSet".into(),
            name: "guestbook".into(),
            uid: "5c1a0e4e-0000-4000-8000-000000000001".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
    ]);
    let u = unit("admin", &app);
    assert_eq!(u.parent.as_deref(), Some("ApplicationSet argocd/guestbook"));
    let json = serde_json::to_value(&u).unwrap();
    assert_eq!(json["parent"], "ApplicationSet argocd/guestbook");
    assert_eq!(
        crate::backend::argo::act::owner_warning(&app).as_deref(),
        Some(
            "warning: ApplicationSet argocd/guestbook owns this Application: it reverts the syncPolicy edit \
             unless its ignoreApplicationDifferences covers /spec/syncPolicy, and removes setpoint's \
             annotations unless its preservedFields keep them"
        )
    );
}

#[test]
fn suspend_with_the_enabled_field_keeps_prune_and_self_heal_and_resume_restores() {
    use crate::backend::argo::act::{hold, restored};
    let app = fixture("auto");
    let before = app
        .data
        .pointer("/spec/syncPolicy/automated")
        .cloned()
        .unwrap();
    let with = hold(&app, serde_json::json!({}), true);
    assert_eq!(
        with["spec"]["syncPolicy"]["automated"],
        serde_json::json!({"enabled": false})
    );
    assert_eq!(
        with["metadata"]["annotations"][SAVED_AUTOMATED],
        before.to_string()
    );
    let without = hold(&app, serde_json::json!({}), false);
    assert_eq!(without["spec"]["syncPolicy"]["automated"], Value::Null);
    // resume: the remembered policy, and `enabled` removed when it had none
    let back = restored(before.clone());
    assert_eq!(back["enabled"], Value::Null);
    assert_eq!(back["prune"], before["prune"]);
    assert_eq!(restored(Value::Null), Value::Null);
}

#[test]
fn a_source_fails_only_when_argo_cd_could_not_generate_its_manifests() {
    let source_of = |name: &str| {
        let app = fixture(name);
        snapshot("admin", [&app]).sources[0].status.clone()
    };
    let broken = source_of("broken");
    assert_eq!(broken.kind, StatusKind::Failed);
    assert!(
        broken.message.starts_with("ComparisonError: "),
        "{broken:?}"
    );
    // a sync the controller failed is the Application's, not its source's
    let rejected = source_of("rejected");
    assert_eq!(rejected.kind, StatusKind::Ready, "{rejected:?}");
    assert!(rejected.message.starts_with("resolved "), "{rejected:?}");
}
