//! Several contexts in one console: the CONTEXT column and the context bar, `:ctx` filtering that keeps
//! the selection, read-only per context, error kinds, capabilities, and actions in flight on quit.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::audit::AuditLog;
use crate::backend::{Audited, BackendError, Composite, ReadOnly};
use crate::tui::connection::Connection;
use crate::tui::event_loop::{Opener, Runner};

/// The scripted world twice: `demo` (writable, its agent embedded) and `ops-eu` (read-only, stale for
/// two minutes), with the same environment names.
pub(crate) fn two_contexts() -> Snapshot {
    let mut snap = demo_snapshot();
    let mut other = demo_snapshot();
    for u in other.units.iter_mut().map(Arc::make_mut) {
        u.id = u.id.replace("local/demo/", "local/ops-eu/");
        u.context = "ops-eu".into();
    }
    for s in other.sources.iter_mut().map(Arc::make_mut) {
        s.id = s.id.replace("local/demo/", "local/ops-eu/");
        s.context = "ops-eu".into();
    }
    snap.units.extend(other.units);
    snap.sources.extend(other.sources);
    let ctx = |name: &str, read_only: bool| ContextState {
        name: name.into(),
        backend: BackendKind::Local,
        workspace: None,
        read_only,
        health: ContextHealth::Live,
        since: None,
        message: None,
        reconciler: Some(Reconciler::Embedded),
    };
    snap.contexts = vec![
        ctx("demo", false),
        ContextState {
            health: ContextHealth::Stale,
            since: Some(ts(-120)),
            message: Some("connection refused".into()),
            reconciler: Some(Reconciler::None),
            ..ctx("ops-eu", true)
        },
    ];
    snap.sort();
    snap
}

pub(crate) fn app_two(size: (u16, u16)) -> App {
    let mut app = App::new(
        Setup {
            context: "demo,ops-eu".into(),
            contexts: vec!["demo".into(), "ops-eu".into(), "staging-eu".into()],
            ..setup(false)
        },
        size,
        now(),
    );
    app.update(Msg::Backend(Update::Snapshot(two_contexts())), now());
    app
}

#[test]
fn two_contexts_show_a_context_column_and_a_bar_with_each_ones_state() {
    let app = app_two((120, 40));
    let s = screen(&app, 120, 40);
    assert!(s.contains("2 contexts"), "{s}");
    assert!(s.contains("CONTEXT"), "{s}");
    let bar = s.lines().nth(1).unwrap();
    assert!(
        bar.contains(" demo ") && bar.contains("agent: embedded"),
        "{bar}"
    );
    assert!(
        bar.contains(" ops-eu ") && bar.contains(" RO ") && bar.contains("STALE 2m"),
        "{bar}"
    );
    assert!(bar.contains("NO AGENT"), "{bar}");
    // Both prods are listed, each with its context; only ops-eu's rows say RO.
    let prods: Vec<&str> = s.lines().filter(|l| l.contains(" prod ")).collect();
    assert_eq!(prods.len(), 2, "{s}");
    assert!(prods.iter().any(|l| l.contains("ops-eu RO")), "{s}");
    assert!(
        prods
            .iter()
            .any(|l| l.contains("demo") && !l.contains(" RO")),
        "{s}"
    );
    // One context: no column, no bar.
    let one = screen(&app_with(false, (120, 40)), 120, 40);
    assert!(
        !one.contains("CONTEXT") && one.contains("local:demo"),
        "{one}"
    );
}

#[test]
fn ctx_filters_without_losing_the_selection() {
    let mut app = app_two((120, 40));
    select(&mut app, "local/ops-eu/staging");
    press(&mut app, ":");
    type_text(&mut app, "ctx ops-eu");
    assert!(
        press(&mut app, "enter").is_empty(),
        "a shown context opens nothing"
    );
    assert_eq!(selected_id(&app), "local/ops-eu/staging");
    assert_eq!(app.units.visible.len(), 4, "only ops-eu's units");
    assert!(
        app.units
            .visible
            .iter()
            .all(|&i| app.snapshot.units[i].context == "ops-eu")
    );
    press(&mut app, "2");
    assert_eq!(app.sources.visible.len(), 1, "only ops-eu's source");
    press(&mut app, "1");
    press(&mut app, ":");
    type_text(&mut app, "ctx all");
    press(&mut app, "enter");
    assert_eq!(selected_id(&app), "local/ops-eu/staging");
    assert_eq!(app.units.visible.len(), 8);
    // Completion offers every context, shown or only named in the settings, and `all`.
    press(&mut app, ":");
    type_text(&mut app, "ctx ");
    press(&mut app, "tab");
    let c = app.input.as_ref().unwrap().candidates.join(" ");
    assert!(
        c.contains("demo") && c.contains("ops-eu") && c.contains("staging-eu") && c.contains("all"),
        "{c}"
    );
}

#[test]
fn read_only_is_per_context_and_a_refusal_names_it() {
    let mut app = app_two((120, 40));
    select(&mut app, "local/ops-eu/staging");
    let effects = press(&mut app, "s");
    assert!(
        matches!(&effects[..], [Effect::Deny { unit, .. }] if unit == "local/ops-eu/staging"),
        "{effects:?}"
    );
    assert!(app.dialog.is_none());
    let msg = &app.flash.as_ref().unwrap().text;
    assert!(msg.contains("context ops-eu is read-only"), "{msg}");
    // The hint bar offers no actions on a read-only context's unit, and does on a writable one's.
    let hints = screen(&app, 120, 40);
    assert!(
        !hints.lines().last().unwrap().contains("suspend"),
        "{hints}"
    );
    select(&mut app, "local/demo/staging");
    assert!(
        screen(&app, 120, 40)
            .lines()
            .last()
            .unwrap()
            .contains("suspend")
    );
    press(&mut app, "s");
    assert!(app.dialog.is_some(), "demo is writable");
    assert_eq!(app.dialog.as_ref().unwrap().context, "local:demo");
}

#[test]
fn error_kinds_are_shown_differently() {
    let mut seen = Vec::new();
    for e in [
        BackendError::Denied("RBAC: cannot patch".into()),
        BackendError::Unavailable("connection refused".into()),
        BackendError::Invalid("bad revision".into()),
        BackendError::NotFound("no such unit".into()),
        BackendError::Failed("disk full".into()),
    ] {
        let mut app = app_two((120, 40));
        select(&mut app, "local/demo/dev");
        press(&mut app, "y");
        let id = act_id(&press(&mut app, "enter"));
        app.update(
            Msg::Acted {
                id,
                result: Err(e.clone()),
            },
            now(),
        );
        let o = app.outcome.clone().unwrap();
        assert!(!o.ok && o.text.contains(e.message()), "{}", o.text);
        let mark = o.text.split_whitespace().next().unwrap().to_owned();
        let style = super::promises::style_of(&app, 120, 40, e.message());
        seen.push((mark, style));
    }
    let marks: Vec<&str> = seen.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(marks, ["⊘", "⚠", "?", "?", "✗"]);
    let styles: std::collections::BTreeSet<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        styles.len(),
        4,
        "denied, unavailable, invalid and failed look different: {seen:?}"
    );
}

#[test]
fn an_action_the_unit_cannot_take_now_is_shown_unavailable_and_refused_with_the_reason() {
    let mut app = app_two((120, 40));
    select(&mut app, "local/demo/dev");
    let mut caps = Capabilities::all_allowed();
    caps.sync = Permission::Denied {
        reason: "RBAC: patch on kustomizations denied".into(),
    };
    app.update(
        Msg::Caps {
            unit: "local/demo/dev".into(),
            result: Ok(caps),
        },
        now(),
    );
    let hints = screen(&app, 200, 40);
    let last = hints.lines().last().unwrap();
    assert!(
        last.contains("sync: RBAC: patch on kustomizations denied"),
        "{last}"
    );
    let style = |needle| super::promises::style_of(&app, 200, 40, needle);
    assert_ne!(
        style("y sync"),
        style("s suspend"),
        "sync is shown unavailable"
    );
    assert!(press(&mut app, "y").is_empty());
    assert!(app.dialog.is_none());
    let msg = &app.flash.as_ref().unwrap().text;
    assert!(msg.contains("not possible now: RBAC"), "{msg}");
    // Another unit: its capabilities are asked for, and the old answer does not apply to it.
    let effects = {
        press(&mut app, "home");
        press(&mut app, "down")
    };
    assert!(
        effects.iter().any(|e| matches!(e, Effect::LoadCaps(_))),
        "{effects:?}"
    );
    // the old answer is not what the new unit's action is refused by; the hints keep it while the new
    // answer is on its way only when the snapshot says the two units are alike
    assert_eq!(app.denial_answered(ActionKind::Sync), None);
    let (dev, now_on) = (
        app.snapshot
            .units
            .iter()
            .find(|u| u.id == "local/demo/dev")
            .unwrap(),
        app.current_unit().unwrap(),
    );
    let alike = crate::tui::contexts::like(dev) == crate::tui::contexts::like(now_on);
    assert_eq!(app.denial(ActionKind::Sync).is_some(), alike);
    let other = now_on.id.clone();
    app.update(
        Msg::Caps {
            unit: other,
            result: Ok(Capabilities::all_allowed()),
        },
        now(),
    );
    assert_eq!(app.denial(ActionKind::Sync), None);
}

/// A sync refused because an operation runs (Argo CD) offers the terminate key; terminate, once allowed,
/// opens its confirmation.
#[test]
fn a_sync_refused_while_an_operation_runs_offers_terminate() {
    let mut app = app_two((120, 40));
    select(&mut app, "local/demo/dev");
    let mut caps = Capabilities::all_allowed();
    caps.sync = Permission::Denied {
        reason: "an operation is already Running: terminate it (setpoint terminate) or wait".into(),
    };
    app.update(
        Msg::Caps {
            unit: "local/demo/dev".into(),
            result: Ok(caps),
        },
        now(),
    );
    assert!(press(&mut app, "y").is_empty());
    let msg = &app.flash.as_ref().unwrap().text;
    assert!(msg.ends_with("; T terminates it"), "{msg}");
    press(&mut app, "T");
    let d = app.dialog.as_ref().expect("the terminate confirmation");
    assert_eq!(d.action, crate::model::Action::Terminate);
}

/// An Argo CD Application generated by an ApplicationSet: suspend warns that the set reverts the edit.
#[test]
fn suspending_an_application_of_an_application_set_warns_that_the_set_reverts_it() {
    let mut app = app_two((120, 40));
    select(&mut app, "local/demo/dev");
    for u in app.snapshot.units.iter_mut().map(Arc::make_mut) {
        if u.id == "local/demo/dev" {
            u.backend = BackendKind::Argo;
            u.parent = Some("ApplicationSet argocd/envs".into());
        }
    }
    press(&mut app, "s");
    let w = app.dialog.as_ref().and_then(|d| d.warning.clone());
    assert_eq!(
        w.as_deref(),
        Some(
            "ApplicationSet argocd/envs owns this Application and reverts its syncPolicy edit unless the set ignores it"
        )
    );
}

/// A runner over one scripted member whose actions take `delay`; the audit log in `dir`.
fn slow_runner(dir: &std::path::Path, delay: Duration) -> Runner {
    let inner = Arc::new(scripted::Scripted::demo());
    inner.slow_acts(delay);
    let member = Arc::new(Audited::new(inner, AuditLog::new(dir.join("audit.jsonl"))));
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::mem::forget(rx);
    let opener: Opener = Arc::new(|_: &str| Err("no contexts".into()));
    Runner::new(
        Connection::without_agent(Arc::new(Composite::new(vec![member]))),
        tx,
        dir.to_owned(),
        ColorDepth::Ansi16,
        opener,
    )
}

#[tokio::test]
async fn quitting_waits_for_an_action_in_flight_so_its_audit_record_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = slow_runner(dir.path(), Duration::from_millis(800));
    runner.run(Effect::Act {
        id: 1,
        unit: "local/demo/dev".into(),
        action: Action::Suspend {
            reason: "quit while it runs".into(),
        },
    });
    assert_eq!(runner.in_flight(), ["suspend local/demo/dev"]);
    runner.close().await;
    let recs = AuditLog::new(dir.path().join("audit.jsonl"))
        .read_all()
        .unwrap();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].result, AuditResult::Ok);
    assert_eq!(recs[0].reason.as_deref(), Some("quit while it runs"));
}

#[tokio::test]
async fn an_action_still_unanswered_when_the_wait_ends_is_recorded_with_an_unknown_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = slow_runner(dir.path(), Duration::from_secs(30));
    runner.run(Effect::Act {
        id: 1,
        unit: "local/demo/dev".into(),
        action: Action::Sync { with_source: false },
    });
    runner.wait_in_flight(Duration::from_millis(200)).await;
    let recs = AuditLog::new(dir.path().join("audit.jsonl"))
        .read_all()
        .unwrap();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].result, AuditResult::Failed);
    assert!(
        recs[0].detail.contains("outcome unknown"),
        "{}",
        recs[0].detail
    );
    assert!(runner.in_flight().is_empty());
}

#[tokio::test]
async fn a_refusal_in_a_read_only_member_is_recorded_under_that_context() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.jsonl"));
    let ro = Arc::new(Audited::new(
        Arc::new(ReadOnly::new(Arc::new(scripted::Scripted::demo()))),
        log.clone(),
    ));
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let opener: Opener = Arc::new(|_: &str| Err("no contexts".into()));
    let mut runner = Runner::new(
        Connection::without_agent(Arc::new(Composite::new(vec![ro]))),
        tx,
        dir.path().to_owned(),
        ColorDepth::Ansi16,
        opener,
    );
    runner.run(Effect::Deny {
        unit: "local/demo/prod".into(),
        action: Action::Resume,
    });
    runner.close().await;
    let recs = log.read_all().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].result, AuditResult::Denied);
    assert!(
        recs[0].detail.contains("context demo is read-only"),
        "{}",
        recs[0].detail
    );
}

#[test]
fn a_sync_with_source_whose_fetch_failed_after_the_request_is_a_failure_not_a_success() {
    let mut app = app_with(false, (120, 40));
    select(&mut app, "local/demo/dev");
    press(&mut app, "Y");
    let id = act_id(&press(&mut app, "enter"));
    app.update(
        Msg::Acted {
            id,
            result: Ok("fetch and reconcile requested; handed to the running agent".into()),
        },
        now(),
    );
    // The agent then reconciled dev (on its last good commit), and the fetch it made after the request
    // failed: the unit looks ready, the source says why it is not what was asked.
    let mut snap = demo_snapshot();
    for u in snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .filter(|u| u.name == "dev")
    {
        u.last_reconcile_at = Some(ts(5));
    }
    for s in snap.sources.iter_mut().map(Arc::make_mut) {
        s.status = Status::new(StatusKind::Failed, "connection reset by peer", ts(2));
        s.last_fetch_at = Some(ts(2));
    }
    app.update(Msg::Backend(Update::Snapshot(snap)), ts(6));
    let o = app.outcome.clone().expect("the action ended");
    assert!(!o.ok, "{}", o.text);
    assert!(
        o.text
            .contains("fetch of platform-config failed: connection reset by peer"),
        "{}",
        o.text
    );
}

#[test]
fn an_answer_about_capabilities_that_changes_nothing_on_screen_draws_no_frame() {
    let mut app = app_two((120, 40));
    select(&mut app, "local/demo/dev");
    let caps = |app: &mut App, result| {
        app.dirty = false;
        let unit = "local/demo/dev".into();
        app.update(Msg::Caps { unit, result }, now());
        app.dirty
    };
    // what was shown (nothing denied) is what the answer says: no second frame
    assert!(!caps(&mut app, Ok(Capabilities::all_allowed())));
    assert!(!caps(&mut app, Err("no answer".into())));
    // a denial changes the key hints: drawn
    assert!(caps(&mut app, Ok(Capabilities::all_denied("RBAC: no"))));
    assert!(!caps(&mut app, Ok(Capabilities::all_denied("RBAC: no"))));
    assert!(caps(&mut app, Ok(Capabilities::all_allowed())));
}
