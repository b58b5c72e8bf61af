//! Key-driven tests of the console (no terminal), whole-screen snapshots of every view at 80x24 and
//! 120x40 with their styles, on the scripted backend's one consistent world; every view pinned at the
//! tiny sizes 1x1, 2x2, 10x3 and 20x5, and a property test over sizes down to 1x1.

use jiff::Timestamp;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::sync::Arc;

use super::app::{App, Effect, InputKind, Loadable, Msg, Setup, View};
use super::diffdoc::DiffDoc;
use super::test_screen;
use crate::backend::Update;
use crate::backend::scripted::{self, rev, ts, world};
use crate::config::keymap::{Key, Keymap};
use crate::config::theme::{ColorDepth, Theme};
use crate::model::*;

/// The scripted world (dev ready, staging drifted, prod failed and protected, qa suspended).
pub(crate) fn demo_snapshot() -> Snapshot {
    scripted::demo_snapshot()
}

fn setup(read_only: bool) -> Setup {
    Setup {
        theme: Theme::load("default", None, ColorDepth::Ansi16).unwrap(),
        keymap: Keymap::load("default", None).unwrap(),
        ascii: false,
        read_only,
        backend: "local".into(),
        context: "demo".into(),
        contexts: vec!["demo".into()],
        themes: vec!["default".into(), "mono".into()],
    }
}

fn now() -> Timestamp {
    ts(0)
}

pub(crate) fn app_with(read_only: bool, size: (u16, u16)) -> App {
    let mut app = App::new(setup(read_only), size, now());
    app.update(Msg::Backend(Update::Snapshot(demo_snapshot())), now());
    app
}

fn app() -> App {
    app_with(false, (80, 24))
}

fn press(app: &mut App, key: &str) -> Vec<Effect> {
    let k = Key::parse(key).unwrap();
    app.update(Msg::Key(KeyEvent::new(k.code, k.mods)), now())
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(
            Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
            now(),
        );
    }
}

fn selected_id(app: &App) -> String {
    app.current_unit().unwrap().id.clone()
}

/// Moves the selection to `id`; fails (instead of looping) when the list does not hold it.
fn select(app: &mut App, id: &str) {
    press(app, "home");
    for _ in 0..=app.units.visible.len() {
        if app.current_unit().is_some_and(|u| u.id == id) {
            return;
        }
        press(app, "down");
    }
    panic!(
        "no unit {id} in the list: {:?}",
        app.units
            .visible
            .iter()
            .filter_map(|&i| app.snapshot.units.get(i).map(|u| u.id.clone()))
            .collect::<Vec<_>>()
    );
}

/// `snap` as the composite backend sends it for the one context `demo`, reconciled by `by`.
fn reconciled_by(mut snap: Snapshot, by: Reconciler) -> Snapshot {
    snap.contexts = vec![ContextState {
        name: "demo".into(),
        backend: BackendKind::Local,
        workspace: None,
        read_only: false,
        health: ContextHealth::Live,
        since: None,
        message: None,
        reconciler: Some(by),
    }];
    snap
}

/// The id of the one action the effects send.
fn act_id(effects: &[Effect]) -> u64 {
    match effects {
        [Effect::Act { id, .. }] => *id,
        other => panic!("expected one action, got {other:?}"),
    }
}

/// The unit `id` of the snapshot on screen.
fn unit_of(app: &App, id: &str) -> Unit {
    app.snapshot
        .units
        .iter()
        .find(|u| u.id == id)
        .map(|u| Unit::clone(u))
        .unwrap_or_else(|| panic!("no unit {id}"))
}

/// Answers a view's loads as the scripted backend would, from the same world as the snapshot.
fn answer(app: &mut App, effects: Vec<Effect>) {
    for e in effects {
        let msg = match e {
            Effect::LoadDiff { seq, unit } => Msg::Diff {
                seq,
                result: Ok(DiffDoc::build(&world::diff(&unit_of(app, &unit)))),
            },
            Effect::LoadHistory { seq, unit } => Msg::History {
                seq,
                result: Ok(world::history(&unit_of(app, &unit))),
            },
            Effect::LoadEvents { seq, unit } => Msg::Events {
                seq,
                result: Ok(world::events(&unit_of(app, &unit))),
            },
            Effect::LoadDetail { seq, unit } => Msg::Detail {
                seq,
                result: Ok(flux_detail(&unit)),
            },
            Effect::LoadCompare { seq, a, b } => Msg::Compare {
                seq,
                result: Ok(Box::new(super::compare::Compared::new(world::compare(
                    &unit_of(app, &a),
                    &unit_of(app, &b),
                )))),
            },
            _ => continue,
        };
        app.update(msg, now());
    }
}

const FLUX_UNIT: &str = "flux/demo/apps/Kustomization/infra";

/// A failing Flux Kustomization whose attempt brought one commit after the last good one, and whose source's
/// history cannot be read from here (as the Flux backend reports them).
fn flux_unit() -> Unit {
    let mut u = unit_of(&app(), "local/demo/staging");
    let history = world::history(&u);
    u.id = FLUX_UNIT.into();
    u.name = "infra".into();
    u.backend = BackendKind::Flux;
    u.kind = "Kustomization".into();
    u.environment = "demo/apps".into();
    u.source = "apps/apps".into();
    u.status = crate::model::Status::new(
        crate::model::StatusKind::Failed,
        "ReconciliationFailed: ConfigMap/apps/cm dry-run failed: data.x: Invalid value",
        ts(-300),
    );
    u.attempted_revision = history.first().map(|h| h.revision.clone());
    u.applied_revision = history.get(1).map(|h| h.revision.clone());
    u.latest_revision = u.attempted_revision.clone();
    u.commits_behind = None;
    u.commits_behind_unknown =
        Some("from this host: cannot fetch http://git.example/apps.git: connection refused".into());
    u.broken_by = history.into_iter().take(1).collect();
    u.drifted_objects = Vec::new();
    u
}

/// The demo with [`flux_unit`] added, selected.
fn flux_selected(size: (u16, u16)) -> App {
    let mut a = app_with(false, size);
    let mut snap = demo_snapshot();
    snap.units.push(flux_unit().into());
    a.update(Msg::Backend(Update::Snapshot(snap)), now());
    select(&mut a, FLUX_UNIT);
    a
}

/// What the Flux backend's detail says of [`flux_unit`]: its conditions and a two-level inventory tree.
fn flux_detail(unit: &str) -> crate::model::Detail {
    let node = |kind: &str, group: &str, ns: &str, name: &str, children: Vec<InventoryNode>| {
        InventoryNode {
            kind: kind.into(),
            group: group.into(),
            namespace: ns.into(),
            name: name.into(),
            children,
            note: None,
        }
    };
    let cond = |kind: &str, status: &str, reason: &str, message: &str| Condition {
        kind: kind.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        since: Some(ts(-300)),
    };
    Detail {
        unit: unit.into(),
        conditions: vec![
            cond(
                "Reconciling",
                "True",
                "ProgressingWithRetry",
                "Detecting drift for revision main@sha1:3c4d5e6f",
            ),
            cond(
                "Ready",
                "False",
                "ReconciliationFailed",
                "ConfigMap/apps/cm dry-run failed",
            ),
        ],
        inventory: vec![
            node("Namespace", "", "", "apps", vec![]),
            node("ConfigMap", "", "apps", "cm", vec![]),
            node(
                "Kustomization",
                "kustomize.toolkit.fluxcd.io",
                "apps",
                "child",
                vec![node("ConfigMap", "", "apps", "child-cm", vec![])],
            ),
        ],
        inventory_note: None,
    }
}

fn screen(app: &App, w: u16, h: u16) -> String {
    test_screen::text(&test_screen::buffer(app, w, h))
}

// ---------- key-driven tests ----------

#[test]
fn failing_first_and_navigation() {
    let mut app = app();
    assert_eq!(selected_id(&app), "local/demo/prod");
    press(&mut app, "down");
    assert_eq!(selected_id(&app), "local/demo/qa");
    press(&mut app, "end");
    assert_eq!(selected_id(&app), "local/demo/staging");
    let effects = press(&mut app, "enter");
    assert_eq!(app.view(), View::Detail);
    assert!(
        matches!(effects[0], Effect::LoadEvents { ref unit, .. } if unit == "local/demo/staging")
    );
    assert!(matches!(effects[1], Effect::LoadDiff { .. }));
    answer(&mut app, effects);
    let effects = press(&mut app, "d");
    assert_eq!(app.view(), View::Diff);
    answer(&mut app, effects);
    press(&mut app, "esc");
    assert_eq!(app.view(), View::Detail);
    press(&mut app, "esc");
    assert_eq!(app.view(), View::Units);
    press(&mut app, "2");
    assert_eq!(app.view(), View::Sources);
    press(&mut app, "enter");
    assert_eq!(app.view(), View::Units);
    assert_eq!(app.units.filter, "platform-config");
    assert_eq!(press(&mut app, "q"), vec![Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn fuzzy_filter_live_keep_and_cancel() {
    let mut app = app();
    press(&mut app, "/");
    type_text(&mut app, "stg");
    assert_eq!(app.units.visible.len(), 1);
    assert_eq!(selected_id(&app), "local/demo/staging");
    press(&mut app, "enter");
    assert!(app.input.is_none());
    assert_eq!(app.units.filter, "stg");
    press(&mut app, "/");
    type_text(&mut app, "zz");
    assert!(app.units.visible.is_empty());
    press(&mut app, "esc");
    assert_eq!(app.units.filter, "stg", "cancel restores the filter");
    press(&mut app, "esc");
    assert_eq!(app.units.visible.len(), 4, "back clears the filter");
}

#[test]
fn command_prompt_with_completion() {
    let mut app = app();
    press(&mut app, ":");
    type_text(&mut app, "so");
    press(&mut app, "tab");
    assert_eq!(app.input.as_ref().unwrap().line.text, "sources");
    press(&mut app, "enter");
    assert_eq!(app.view(), View::Sources);
    press(&mut app, ":");
    type_text(&mut app, "theme mo");
    press(&mut app, "tab");
    assert_eq!(
        press(&mut app, "enter"),
        vec![Effect::LoadTheme("mono".into())]
    );
    press(&mut app, ":");
    type_text(&mut app, "ctx nope");
    press(&mut app, "enter");
    assert!(app.flash.as_ref().unwrap().text.contains("unknown context"));
    press(&mut app, ":");
    type_text(&mut app, "unitz");
    press(&mut app, "enter");
    assert!(app.flash.as_ref().unwrap().text.contains("did you mean"));
    press(&mut app, ":");
    assert_eq!(app.input.as_ref().unwrap().kind, InputKind::Prompt);
    type_text(&mut app, "q");
    assert_eq!(press(&mut app, "enter"), vec![Effect::Quit]);
}

#[test]
fn ctx_of_a_context_not_shown_opens_it_beside_the_others() {
    let mut app = App::new(
        Setup {
            contexts: vec!["demo".into(), "ops-eu".into()],
            ..setup(false)
        },
        (80, 24),
        now(),
    );
    app.update(Msg::Backend(Update::Snapshot(demo_snapshot())), now());
    press(&mut app, "enter");
    assert_eq!(app.view(), View::Detail);
    press(&mut app, ":");
    type_text(&mut app, "ctx ops");
    press(&mut app, "tab");
    assert_eq!(
        press(&mut app, "enter"),
        vec![Effect::OpenContext("ops-eu".into())]
    );
    assert_eq!(app.view(), View::Detail, "nothing is thrown away");
    assert_eq!(app.context_filter.as_deref(), Some("ops-eu"));

    app.update(Msg::Context(Err("no workspace file here".into())), now());
    assert!(app.flash.as_ref().unwrap().text.contains("cannot open"));
    assert_eq!(app.context_filter, None, "back to every context");
    assert!(
        app.loaded && !app.snapshot.units.is_empty(),
        "the units stay"
    );

    app.update(Msg::Context(Ok("ops-eu".into())), now());
    assert!(app.flash.as_ref().unwrap().text.contains("ops-eu opened"));
    press(&mut app, ":");
    type_text(&mut app, "ctx nope");
    assert!(press(&mut app, "enter").is_empty());
    assert!(app.flash.as_ref().unwrap().text.contains("unknown context"));
}

fn done(app: &mut App, id: u64, change: impl Fn(&mut Unit)) {
    app.update(
        Msg::Acted {
            id,
            result: Ok("accepted".into()),
        },
        now(),
    );
    let mut snap = app.snapshot.clone();
    let unit = snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .find(|u| Some(&u.id) == app.pending.as_ref().map(|p| &p.unit))
        .unwrap();
    change(unit);
    app.update(Msg::Backend(Update::Snapshot(snap)), now());
}

#[test]
fn suspend_asks_a_reason_then_acts_and_shows_the_outcome() {
    let mut app = app();
    select(&mut app, "local/demo/staging");
    assert!(press(&mut app, "s").is_empty());
    assert!(app.dialog.is_some());
    press(&mut app, "enter");
    assert_eq!(
        app.dialog.as_ref().unwrap().error.as_deref(),
        Some("a reason is required")
    );
    type_text(&mut app, "incident 42");
    let effects = press(&mut app, "enter");
    let [Effect::Act { id, unit, action }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(unit, "local/demo/staging");
    assert_eq!(
        action,
        &Action::Suspend {
            reason: "incident 42".into()
        }
    );
    assert!(app.dialog.is_none() && app.pending.is_some());
    assert!(screen(&app, 80, 24).contains("suspend local/demo/staging: asking the backend"));
    done(&mut app, *id, |u| u.suspended = true);
    assert!(app.pending.is_none());
    let outcome = app.outcome.clone().unwrap();
    assert!(outcome.ok && outcome.text.contains("suspend local/demo/staging"));
    press(&mut app, "down");
    assert!(
        screen(&app, 80, 24).contains("✓ suspend local/demo/staging"),
        "the outcome stays visible"
    );
}

#[test]
fn cancel_closes_the_dialog_without_acting() {
    let mut app = app();
    select(&mut app, "local/demo/staging");
    press(&mut app, "y");
    assert!(app.dialog.is_some());
    assert!(press(&mut app, "esc").is_empty());
    assert!(app.dialog.is_none() && app.pending.is_none());
    assert!(
        app.flash
            .as_ref()
            .unwrap()
            .text
            .starts_with("cancelled: sync")
    );
}

#[test]
fn protected_units_need_their_name_typed() {
    let mut app = app();
    select(&mut app, "local/demo/prod");
    press(&mut app, "y");
    assert!(press(&mut app, "enter").is_empty());
    assert!(
        app.dialog
            .as_ref()
            .unwrap()
            .error
            .as_ref()
            .unwrap()
            .contains("type `prod`"),
        "enter alone does not confirm a protected unit"
    );
    type_text(&mut app, "pro");
    assert!(press(&mut app, "enter").is_empty());
    type_text(&mut app, "d");
    let effects = press(&mut app, "enter");
    assert!(matches!(
        effects.as_slice(),
        [Effect::Act {
            action: Action::Sync { with_source: false },
            ..
        }]
    ));
}

#[test]
fn resume_sync_and_sync_with_source() {
    for (unit, key, want) in [
        ("local/demo/qa", "r", Action::Resume),
        ("local/demo/dev", "y", Action::Sync { with_source: false }),
        ("local/demo/dev", "Y", Action::Sync { with_source: true }),
    ] {
        let mut app = app();
        select(&mut app, unit);
        press(&mut app, key);
        let effects = press(&mut app, "enter");
        let [Effect::Act { id, action, .. }] = effects.as_slice() else {
            panic!("{effects:?}")
        };
        assert_eq!(action, &want);
        let id = *id;
        done(&mut app, id, |u| {
            u.suspended = false;
            u.last_reconcile_at = Some(ts(1));
        });
        assert!(app.outcome.as_ref().unwrap().ok, "{unit} {key}");
    }
}

#[test]
fn rollback_from_history_on_the_selected_commit() {
    let mut app = app();
    select(&mut app, "local/demo/staging");
    let effects = press(&mut app, "h");
    assert_eq!(app.view(), View::History);
    answer(&mut app, effects);
    // History opens on the applied commit, 0404040 (the newest); one down is 0303030.
    press(&mut app, "down");
    press(&mut app, "b");
    assert!(
        app.dialog
            .as_ref()
            .unwrap()
            .action
            .to_string()
            .contains(rev(3).short_sha())
    );
    type_text(&mut app, "bad release");
    let effects = press(&mut app, "enter");
    assert_eq!(
        effects,
        vec![Effect::Act {
            id: app.pending.as_ref().unwrap().id,
            unit: "local/demo/staging".into(),
            action: Action::Rollback {
                to: rev(3),
                reason: "bad release".into(),
                suspend_parent: false,
            }
        }]
    );
    let id = app.pending.as_ref().unwrap().id;
    done(&mut app, id, |u| {
        u.pinned_revision = Some(rev(3));
        u.applied_revision = Some(rev(3));
    });
    assert!(app.outcome.as_ref().unwrap().ok);
}

#[test]
fn a_cluster_units_detail_asks_for_its_diff_only_when_d_is_pressed() {
    let mut a = flux_selected((120, 40));
    let e = press(&mut a, "enter");
    assert!(
        !e.iter().any(|e| matches!(e, Effect::LoadDiff { .. })),
        "opening the detail renders nothing on the cluster: {e:?}"
    );
    assert!(
        screen(&a, 120, 40).contains("d: the diff (the source rendered"),
        "{}",
        screen(&a, 120, 40)
    );
    // a new status of the unit does not ask for it either
    let mut snap = a.snapshot.clone();
    for u in snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .filter(|u| u.id == FLUX_UNIT)
    {
        u.applied_revision = Some(rev(9));
    }
    let e = a.update(Msg::Backend(Update::Snapshot(snap)), now());
    assert!(
        !e.iter().any(|e| matches!(e, Effect::LoadDiff { .. })),
        "{e:?}"
    );
    let e = press(&mut a, "d");
    assert!(matches!(e.as_slice(), [Effect::LoadDiff { .. }]), "{e:?}");
}

#[test]
fn a_flux_rollback_names_the_sharing_units_and_offers_to_suspend_the_parent() {
    let mut app = app();
    let mut snap = demo_snapshot();
    let mut u = flux_unit();
    u.status = crate::model::Status::new(crate::model::StatusKind::Ready, "ok", ts(-300));
    let mut sibling = u.clone();
    sibling.id = "flux/demo/apps/Kustomization/web".into();
    sibling.name = "web".into();
    let mut src = world::source();
    src.id = "flux/demo/apps/GitRepository/apps".into();
    src.name = "apps/apps".into();
    src.backend = BackendKind::Flux;
    src.context = u.context.clone();
    src.applied_by = Some("flux-system/root".into());
    snap.units.extend([u.into(), sibling.into()]);
    snap.sources.push(src.into());
    app.update(Msg::Backend(Update::Snapshot(snap)), now());
    select(&mut app, FLUX_UNIT);
    let effects = press(&mut app, "h");
    answer(&mut app, effects);
    press(&mut app, "down");
    press(&mut app, "b");
    let d = app.dialog.as_ref().unwrap();
    let warning = d.warning.clone().unwrap_or_default();
    assert!(warning.contains("the pin also moves web"), "{warning}");
    assert!(
        warning.contains("Kustomization flux-system/root applies apps/apps"),
        "{warning}"
    );
    assert_eq!(d.suspend_parent, Some(false));
    press(&mut app, "tab");
    assert_eq!(app.dialog.as_ref().unwrap().suspend_parent, Some(true));
    let text = screen(&app, 120, 40);
    assert!(text.contains("[x] also suspend it (tab)"), "{text}");
    type_text(&mut app, "bad release");
    let effects = press(&mut app, "enter");
    match effects.as_slice() {
        [
            Effect::Act {
                action: Action::Rollback { suspend_parent, .. },
                ..
            },
        ] => assert!(*suspend_parent),
        other => panic!("expected the rollback: {other:?}"),
    }
}

#[test]
fn failures_and_timeouts_are_shown() {
    let mut app = app();
    select(&mut app, "local/demo/dev");
    press(&mut app, "y");
    let effects = press(&mut app, "enter");
    let [Effect::Act { id, .. }] = effects.as_slice() else {
        panic!()
    };
    app.update(
        Msg::Acted {
            id: *id,
            result: Err(crate::backend::BackendError::Failed("disk full".into())),
        },
        now(),
    );
    let o = app.outcome.clone().unwrap();
    assert!(!o.ok && o.text.contains("disk full"));

    press(&mut app, "y");
    let effects = press(&mut app, "enter");
    assert!(app.needs_tick());
    let [Effect::Act { id, .. }] = effects.as_slice() else {
        panic!()
    };
    app.update(
        Msg::Acted {
            id: *id,
            result: Ok("reconcile requested".into()),
        },
        now(),
    );
    app.update(Msg::Tick, ts(31));
    let o = app.outcome.clone().unwrap();
    assert!(!o.ok && o.text.contains("timed out"), "{}", o.text);
    assert!(!app.needs_tick());
}

/// Every action key in read-only mode is refused on screen, and the refusal runs through the real runner
/// into the audit log: one `denied` record per key, with the unit and the action, and nothing reaches the
/// backend.
#[tokio::test]
async fn read_only_denies_every_action_and_records_it() {
    use crate::audit::AuditLog;
    use crate::backend::{Audited, ReadOnly};
    use crate::model::{ActionKind, AuditResult};
    use crate::tui::connection::Connection;
    use crate::tui::event_loop::Runner;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let inner = Arc::new(scripted::Scripted::demo());
    let backend = Arc::new(Audited::new(
        Arc::new(ReadOnly::new(inner.clone())),
        AuditLog::new(&log),
    ));
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let opener: crate::tui::event_loop::Opener = Arc::new(|_: &str| Err("no contexts".into()));
    let mut runner = Runner::new(
        Connection::without_agent(Arc::new(crate::backend::Composite::new(vec![backend]))),
        tx,
        dir.path().to_owned(),
        ColorDepth::Ansi16,
        opener,
    );

    let mut app = app_with(true, (80, 24));
    let mut want = Vec::new();
    for (unit, key, kind) in [
        ("local/demo/staging", "s", ActionKind::Suspend),
        ("local/demo/qa", "r", ActionKind::Resume),
        ("local/demo/dev", "y", ActionKind::Sync),
        ("local/demo/dev", "Y", ActionKind::Sync),
    ] {
        select(&mut app, unit);
        let effects = press(&mut app, key);
        assert!(
            matches!(effects.as_slice(), [Effect::Deny { unit: u, .. }] if u == unit),
            "{effects:?}"
        );
        assert!(app.dialog.is_none());
        assert!(
            app.flash
                .as_ref()
                .unwrap()
                .text
                .starts_with("read-only audit mode: not allowed")
        );
        effects.into_iter().for_each(|e| runner.run(e));
        want.push((unit.to_owned(), kind));
    }
    let effects = press(&mut app, "h");
    answer(&mut app, effects);
    let effects = press(&mut app, "b");
    assert!(matches!(
        effects.as_slice(),
        [Effect::Deny {
            action: Action::Rollback { .. },
            ..
        }]
    ));
    effects.into_iter().for_each(|e| runner.run(e));
    want.push(("local/demo/dev".to_owned(), ActionKind::Rollback));

    // The runner records on the blocking pool: poll the log, bounded.
    let mut records = Vec::new();
    for _ in 0..200 {
        records = AuditLog::new(&log).read_all().unwrap_or_default();
        if records.len() >= want.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Each refusal is recorded on its own task: compare without the order.
    let mut got: Vec<(String, ActionKind)> =
        records.iter().map(|r| (r.unit.clone(), r.action)).collect();
    got.sort_by_key(|(u, a)| (u.clone(), a.to_string()));
    want.sort_by_key(|(u, a)| (u.clone(), a.to_string()));
    assert_eq!(got, want, "{records:?}");
    assert!(
        records
            .iter()
            .all(|r| r.result == AuditResult::Denied && r.read_only),
        "{records:?}"
    );
    assert_eq!(inner.act_calls(), 0, "an action reached the backend");
    runner.close().await;

    for view in ["1", "2"] {
        press(&mut app, view);
        assert!(screen(&app, 80, 24).starts_with(" READ-ONLY "));
    }
}

#[test]
fn stale_data_shows_its_age_and_recovers() {
    let mut app = app();
    app.update(
        Msg::Backend(Update::Unavailable("state dir gone".into())),
        ts(5),
    );
    assert!(app.needs_tick());
    app.update(Msg::Tick, ts(17));
    assert!(screen(&app, 80, 24).contains("STALE 12s"));
    app.update(Msg::Backend(Update::Snapshot(demo_snapshot())), ts(20));
    assert!(app.stale.is_none() && !app.needs_tick());
    assert!(!screen(&app, 80, 24).contains("STALE"));
}

#[test]
fn an_unchanged_snapshot_does_not_redraw() {
    let mut app = app();
    app.dirty = false;
    app.update(Msg::Backend(Update::Snapshot(demo_snapshot())), now());
    assert!(!app.dirty, "idle means no drawing");
    let mut changed = demo_snapshot();
    Arc::make_mut(&mut changed.units[0]).status.message = "new".into();
    app.update(Msg::Backend(Update::Snapshot(changed)), now());
    assert!(app.dirty);
}

#[test]
fn diff_hunks_side_by_side_and_search() {
    let mut app = app_with(false, (120, 40));
    select(&mut app, "local/demo/staging");
    let effects = press(&mut app, "d");
    answer(&mut app, effects);
    assert!(app.diff_side_by_side());
    press(&mut app, "v");
    assert!(!app.diff_side_by_side());
    // app.yaml's changes are close together: one hunk, so `n` and `p` have nowhere to go and say so.
    assert_eq!(app.diff_file().unwrap().hunks.len(), 1);
    press(&mut app, "n");
    assert_eq!(app.diff.scroll, 0);
    assert_eq!(app.flash.as_ref().unwrap().text, "no next hunk");
    press(&mut app, "p");
    assert_eq!(app.flash.as_ref().unwrap().text, "no previous hunk");
    press(&mut app, "/");
    type_text(&mut app, "image");
    press(&mut app, "enter");
    assert_eq!(app.diff.matches.len(), 2);
    assert!(app.flash.as_ref().unwrap().text.starts_with("match 1/2"));
    press(&mut app, "ctrl-n");
    assert!(app.flash.as_ref().unwrap().text.starts_with("match 2/2"));
    press(&mut app, "tab");
    assert_eq!(app.diff.file, 1);
    press(&mut app, "backtab");
    assert_eq!(app.diff.file, 0);
    // A result for an older request is dropped.
    app.update(
        Msg::Diff {
            seq: 0,
            result: Err("old".into()),
        },
        now(),
    );
    assert!(matches!(app.diff.doc, Loadable::Ready(_)));
}

/// A file with changes far apart: `n` and `p` move between its two hunks, in both layouts.
#[test]
fn next_and_previous_hunk_move_between_hunks() {
    let desired: String = (0..60).map(|i| format!("line {i}\n")).collect();
    let live = desired
        .replace("line 2\n", "line two\n")
        .replace("line 50\n", "line fifty\n");
    let objects = vec![ObjectDiff {
        object: "long.yaml".into(),
        change: Change::Modified,
        desired: Some(desired),
        live: Some(live),
        masked: false,
        note: None,
    }];
    for side_by_side in [false, true] {
        let mut app = app_with(false, (120, 20));
        select(&mut app, "local/demo/staging");
        let effects = press(&mut app, "d");
        let Some(Effect::LoadDiff { seq, .. }) = effects.first() else {
            panic!("{effects:?}")
        };
        let seq = *seq;
        app.update(
            Msg::Diff {
                seq,
                result: Ok(DiffDoc::build(&objects)),
            },
            now(),
        );
        if app.diff_side_by_side() != side_by_side {
            press(&mut app, "v");
        }
        let hunks = app.diff_file().unwrap().hunks.clone();
        assert_eq!(hunks.len(), 2, "{hunks:?}");
        assert_eq!(app.diff.scroll, 0);
        press(&mut app, "n");
        let second = app.diff.scroll;
        assert!(second > 0, "n moved to the second hunk");
        assert!(
            screen(&app, 120, 20).contains("line fifty"),
            "the second hunk is on screen:\n{}",
            screen(&app, 120, 20)
        );
        press(&mut app, "n");
        assert_eq!(app.diff.scroll, second);
        assert_eq!(app.flash.as_ref().unwrap().text, "no next hunk");
        press(&mut app, "p");
        assert!(app.diff.scroll < second, "p moved back");
        assert!(screen(&app, 120, 20).contains("line two"));
    }
}

#[test]
fn help_comes_from_the_keymap() {
    let mut app = app();
    press(&mut app, "?");
    assert_eq!(app.view(), View::Help);
    let text = screen(&app, 80, 24);
    assert!(text.contains("suspend the unit (asks a reason)"));
    let mut vim = App::new(
        Setup {
            keymap: Keymap::load("vim", None).unwrap(),
            ..setup(false)
        },
        (80, 24),
        now(),
    );
    vim.update(Msg::Backend(Update::Snapshot(demo_snapshot())), now());
    press(&mut vim, "?");
    let text = screen(&vim, 80, 24);
    assert!(text.contains("enter, l"), "{text}");
}

/// The id of the unit a suffix (`staging`) addresses, as the CLI and the prompt resolve it.
fn id_of(app: &App, suffix: &str) -> String {
    crate::backend::resolve_unit(&app.snapshot.units, suffix)
        .unwrap()
        .id
        .clone()
}

fn compare_effect(effects: &[Effect]) -> (String, String) {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::LoadCompare { a, b, .. } => Some((a.clone(), b.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no compare load in {effects:?}"))
}

#[test]
fn compare_from_the_units_list_swap_and_pick_another_unit() {
    let mut app = app_with(false, (120, 40));
    let (staging, prod, qa) = (
        id_of(&app, "staging"),
        id_of(&app, "prod"),
        id_of(&app, "qa"),
    );
    // A diff asked for and left before it arrived.
    select(&mut app, &prod);
    let stale = press(&mut app, "d");
    press(&mut app, "esc");
    // On prod, `C` compares the unit prod depends on (staging) with prod: promotion order.
    let effects = press(&mut app, "C");
    assert_eq!(app.view(), View::Compare);
    assert_eq!(compare_effect(&effects), (staging.clone(), prod.clone()));
    assert!(screen(&app, 120, 40).contains("loading..."));
    answer(&mut app, effects);
    let text = screen(&app, 120, 40);
    assert!(
        text.contains(&format!("1 commit in {staging} not yet in {prod}:")),
        "{text}"
    );
    assert!(
        text.contains("Ada Lovelace") && text.contains("checkout: TIMEOUT 30s"),
        "{text}"
    );
    assert!(text.contains("1 of 2 differ"), "{text}");
    assert!(
        text.contains(&format!("{prod} → {staging}: app.yaml +1 -0")),
        "{text}"
    );
    assert!(text.contains("+      TIMEOUT: 30s"), "{text}");

    // The diff asked for before is no longer awaited: it cannot replace the comparison's diff.
    let Some(Effect::LoadDiff { seq, .. }) = stale.first() else {
        panic!("no diff load: {stale:?}");
    };
    app.update(
        Msg::Diff {
            seq: *seq,
            result: Ok(DiffDoc::default()),
        },
        now(),
    );
    assert_eq!(app.diff.doc.ready().map(|d| d.files.len()), Some(2));
    // The diff keys work in the lower pane: the next file is flags.json, the same in both.
    press(&mut app, "tab");
    assert!(screen(&app, 120, 40).contains("the same in both"));

    // Swapped: prod has nothing staging lacks.
    let effects = press(&mut app, "x");
    assert_eq!(compare_effect(&effects), (prod.clone(), staging.clone()));
    answer(&mut app, effects);
    let text = screen(&app, 120, 40);
    assert!(
        text.contains(&format!("{staging} has every commit of {prod}'s revision")),
        "{text}"
    );

    // `C` here asks for another B, completing unit ids by suffix.
    press(&mut app, "C");
    type_text(&mut app, "q");
    press(&mut app, "tab");
    assert_eq!(
        app.input.as_ref().map(|i| i.line.text.clone()),
        Some(format!("compare {prod} {qa}"))
    );
    let effects = press(&mut app, "enter");
    assert_eq!(compare_effect(&effects), (prod.clone(), qa.clone()));
    assert_eq!(
        app.views,
        vec![View::Units, View::Compare],
        "replaced, not stacked"
    );
    press(&mut app, "esc");
    assert_eq!(app.view(), View::Units);

    // qa is in no promotion chain: `C` asks which unit to compare it with.
    select(&mut app, &qa);
    let effects = press(&mut app, "C");
    assert!(effects.is_empty());
    assert_eq!(app.view(), View::Units);
    assert_eq!(
        app.input.as_ref().map(|i| (i.kind, i.line.text.clone())),
        Some((InputKind::Prompt, format!("compare {qa} ")))
    );
    type_text(&mut app, "nope");
    press(&mut app, "enter");
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| !f.ok && f.text.contains("no unit `nope`"))
    );
    assert_eq!(app.view(), View::Units);

    // `:compare A B` from anywhere, here the unit's detail (which cannot stay below: the diff pane is the
    // comparison's now); refresh reloads what is shown.
    let effects = press(&mut app, "enter");
    answer(&mut app, effects);
    assert_eq!(app.view(), View::Detail);
    press(&mut app, ":");
    type_text(&mut app, "compare dev staging");
    let effects = press(&mut app, "enter");
    assert_eq!(
        compare_effect(&effects),
        (id_of(&app, "dev"), staging.clone())
    );
    assert_eq!(app.views, vec![View::Units, View::Compare]);
    answer(&mut app, effects);
    let effects = press(&mut app, "ctrl-r");
    assert_eq!(compare_effect(&effects), (id_of(&app, "dev"), staging));
}

#[test]
fn compare_follows_the_units_it_compares() {
    let mut app = app();
    let (staging, prod) = (id_of(&app, "staging"), id_of(&app, "prod"));
    select(&mut app, &staging);
    let effects = press(&mut app, "C");
    assert_eq!(compare_effect(&effects), (staging.clone(), prod.clone()));
    answer(&mut app, effects);
    // Nothing moved: no reload.
    let mut snap = demo_snapshot();
    Arc::make_mut(&mut snap.units[0])
        .status
        .message
        .push_str(" (again)");
    assert!(
        app.update(Msg::Backend(Update::Snapshot(snap.clone())), now())
            .is_empty()
    );
    // prod applied the newest commit: the comparison is reloaded, the old one stays until it arrives.
    for u in snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .filter(|u| u.id == prod)
    {
        u.applied_revision = Some(rev(4));
    }
    let effects = app.update(Msg::Backend(Update::Snapshot(snap)), now());
    assert_eq!(compare_effect(&effects), (staging, prod));
    assert!(matches!(app.compare.result, Loadable::Ready(_)));
}

// ---------- snapshots ----------

/// Every view, ready to draw.
fn views_at(size: (u16, u16)) -> Vec<(&'static str, App)> {
    let mut out = Vec::new();
    out.push(("units", app_with(false, size)));
    out.push(("units_read_only", app_with(true, size)));
    let mut a = app_with(false, size);
    press(&mut a, "/");
    type_text(&mut a, "st");
    out.push(("units_filter", a));
    let mut a = app_with(false, size);
    press(&mut a, "2");
    out.push(("sources", a));
    let mut a = app_with(false, size);
    select(&mut a, "local/demo/staging");
    let e = press(&mut a, "enter");
    answer(&mut a, e);
    out.push(("detail", a));
    let mut a = flux_selected(size);
    let e = press(&mut a, "enter");
    assert!(
        e.iter().any(|e| matches!(e, Effect::LoadDetail { .. })),
        "a Flux unit's detail asks for its conditions and inventory: {e:?}"
    );
    answer(&mut a, e);
    out.push(("detail_flux", a));
    let mut a = app_with(false, size);
    select(&mut a, "local/demo/staging");
    let e = press(&mut a, "d");
    answer(&mut a, e);
    out.push(("diff", a));
    // a diff that could not cover everything says so above the panes (as the Flux backend reports it)
    let mut a = app_with(false, size);
    select(&mut a, "local/demo/staging");
    let e = press(&mut a, "d");
    answer(&mut a, e);
    if let Loadable::Ready(doc) = &mut a.diff.doc {
        doc.header = crate::model::DiffReport {
            desired_from: Some(
                "applied revision main@sha1:5f2c9e1 (the source-controller artifact)".into(),
            ),
            uncovered: vec![
                "postBuild.substituteFrom Secret/apps/vars cannot be read (403)".into(),
            ],
            notes: vec!["skipped ConfigMap/apps/legacy: annotated reconcile: disabled".into()],
            ..Default::default()
        }
        .header();
    }
    out.push(("diff_coverage", a));
    let mut a = app_with(false, size);
    select(&mut a, "local/demo/staging");
    let e = press(&mut a, "h");
    answer(&mut a, e);
    press(&mut a, "down");
    out.push(("history", a));
    let mut a = app_with(false, size);
    let staging = id_of(&a, "staging");
    select(&mut a, &staging);
    let e = press(&mut a, "C");
    answer(&mut a, e);
    out.push(("compare", a));
    let mut a = app_with(false, size);
    press(&mut a, "?");
    out.push(("help", a));
    let mut a = app_with(false, size);
    select(&mut a, "local/demo/prod");
    press(&mut a, "s");
    type_text(&mut a, "incident 42");
    press(&mut a, "enter");
    type_text(&mut a, "pr");
    out.push(("confirm_protected", a));
    let mut a = app_with(false, size);
    press(&mut a, ":");
    type_text(&mut a, "t");
    press(&mut a, "tab");
    out.push(("prompt", a));
    out.push(("units_contexts", contexts::app_two(size)));
    let mut a = contexts::app_two(size);
    press(&mut a, ":");
    type_text(&mut a, "ctx ops-eu");
    press(&mut a, "enter");
    out.push(("units_one_context_of_two", a));
    out.push(("units_argo", argo::app_argo(size)));
    out.push(("detail_argo", argo::detail_argo(size)));
    out
}

#[test]
fn snapshots_of_every_view() {
    for size in [(80, 24), (120, 40)] {
        for (name, app) in views_at(size) {
            insta::assert_snapshot!(
                format!("{name}_{}x{}", size.0, size.1),
                test_screen::styled(&test_screen::buffer(&app, size.0, size.1))
            );
        }
    }
}

#[test]
fn ascii_mode_draws_only_ascii() {
    for size in [(80, 24), (120, 40)] {
        for (name, mut app) in views_at(size) {
            app.setup.ascii = true;
            let text = screen(&app, size.0, size.1);
            assert!(text.is_ascii(), "{name}:\n{text}");
        }
    }
}

mod sizes {
    use super::*;
    use proptest::prelude::*;

    /// The smallest terminals the README promises to handle.
    const TINY: [(u16, u16); 4] = [(1, 1), (2, 2), (10, 3), (20, 5)];

    /// Every view resized to `w`x`h` after it was opened at 80x24, as text.
    fn every_view_at(w: u16, h: u16) -> Vec<(&'static str, String)> {
        views_at((80, 24))
            .into_iter()
            .map(|(name, mut app)| {
                app.update(Msg::Resize(w, h), now());
                (name, screen(&app, w, h))
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn no_size_panics(w in 1u16..=130, h in 1u16..=45) {
            for (name, text) in every_view_at(w, h) {
                prop_assert_eq!(text.lines().count(), usize::from(h), "{}", name);
                prop_assert!(
                    text.lines().all(|l| l.chars().count() <= usize::from(w)),
                    "{name} wider than {w}:\n{text}"
                );
            }
        }
    }

    /// What the cells hold at each tiny size, every view, in one snapshot per size.
    #[test]
    fn every_view_at_tiny_sizes() {
        for (w, h) in TINY {
            let mut all = String::new();
            for (name, text) in every_view_at(w, h) {
                all.push_str(&format!("== {name}\n{text}"));
            }
            insta::assert_snapshot!(format!("tiny_{w}x{h}"), all);
        }
    }

    /// At 20x5 every view still says where it is and what it shows, with a hint to get out; in read-only
    /// mode the badge comes first and the name may be cut (with an ellipsis).
    #[test]
    fn every_view_at_20x5_names_itself() {
        for (name, text) in every_view_at(20, 5) {
            let first = text.lines().next().unwrap_or_default();
            let named = first.contains("setpoint")
                || (first.contains("READ-ONLY") && first.contains("setpoin…"));
            assert!(named, "{name}: {text}");
            assert!(!text.trim().is_empty(), "{name}");
        }
    }
}

mod argo;
mod contexts;
mod promises;
mod truth;
