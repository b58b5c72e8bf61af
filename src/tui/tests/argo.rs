//! The console over Argo CD Applications as the Argo CD backend maps them, from objects dumped from the test
//! tier's real application-controller (`src/backend/argo/fixtures`): the units view and an Application's detail.

use kube::api::DynamicObject;

use super::*;
use crate::backend::argo::{detail, map, windows};

const CONTEXT: &str = "kind-tier";

/// Auto-sync on, auto-sync off and drifted, a comparison error (a path that does not exist), a multi-source
/// app in sync, and a sync the controller failed.
pub(crate) fn applications() -> Vec<DynamicObject> {
    [
        include_str!("../../backend/argo/fixtures/auto.json"),
        include_str!("../../backend/argo/fixtures/manual.json"),
        include_str!("../../backend/argo/fixtures/broken.json"),
        include_str!("../../backend/argo/fixtures/multi.json"),
        include_str!("../../backend/argo/fixtures/rejected.json"),
    ]
    .into_iter()
    .map(|json| serde_json::from_str(json).unwrap())
    .collect()
}

/// The console on one Argo CD context holding [`applications`].
pub(crate) fn app_argo(size: (u16, u16)) -> App {
    let apps = applications();
    let mut snap = map::snapshot(CONTEXT, &apps);
    // the project's sync windows as the watch judges them: a deny window over one Application, and one that
    // still lets a manual sync through over another
    let project: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "default", "namespace": "argocd"},
        "spec": {"syncWindows": [
            {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["broken"],
             "description": "freeze"},
            {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["manual"],
             "manualSync": true},
        ]},
    }))
    .unwrap();
    windows::judge_snapshot(&mut snap, CONTEXT, apps.iter(), Ok(&[project]), now());
    snap.contexts = vec![ContextState::live_cluster(CONTEXT, BackendKind::Argo)];
    let mut app = App::new(
        Setup {
            backend: "argo".into(),
            context: CONTEXT.into(),
            contexts: vec![CONTEXT.into()],
            ..setup(false)
        },
        size,
        now(),
    );
    app.update(Msg::Backend(Update::Snapshot(snap)), now());
    app
}

/// The detail of the Application whose last sync the controller failed: its sync, health, that operation and
/// Argo CD's SyncError condition, and the object it manages.
pub(crate) fn detail_argo(size: (u16, u16)) -> App {
    let mut app = app_argo(size);
    let apps = applications();
    let rejected = &apps[4];
    let id = map::unit_id(
        CONTEXT,
        rejected.metadata.namespace.as_deref().unwrap(),
        rejected.metadata.name.as_deref().unwrap(),
    );
    select(&mut app, &id);
    for e in press(&mut app, "enter") {
        let msg = match e {
            Effect::LoadDetail { seq, unit } => Msg::Detail {
                seq,
                result: Ok(detail::detail(&unit, rejected)),
            },
            Effect::LoadEvents { seq, .. } => Msg::Events {
                seq,
                result: Ok(Vec::new()),
            },
            Effect::LoadDiff { seq, .. } => Msg::Diff {
                seq,
                result: Ok(DiffDoc::from_report(&DiffReport::default())),
            },
            _ => continue,
        };
        app.update(msg, now());
    }
    app
}

#[test]
fn every_application_is_a_unit_of_the_argo_context() {
    let app = app_argo((120, 40));
    assert_eq!(app.snapshot.units.len(), applications().len());
    let text = screen(&app, 120, 40);
    for a in applications() {
        let name = a.metadata.name.unwrap();
        assert!(text.contains(&name), "{name} not shown:\n{text}");
    }
}
