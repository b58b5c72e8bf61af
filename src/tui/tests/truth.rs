//! The console tells the truth: outcomes of actions, the selection across snapshots, held units and failed
//! sources on screen; on the helpers of `tests.rs`, with snapshots it builds itself.

use super::*;
use crate::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;

/// dev ready, staging drifted, prod failed and protected (the scripted demo).
fn app_on(snap: Snapshot, size: (u16, u16)) -> App {
    let mut app = App::new(setup(false), size, now());
    app.update(Msg::Backend(Update::Snapshot(snap)), now());
    app
}

fn snapshot_with(app: &mut App, snap: Snapshot) {
    app.update(Msg::Backend(Update::Snapshot(snap)), now());
}

/// The table row of the unit named `name`.
fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.starts_with(&format!("│{name} ")))
        .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
}

// ---------- 1. honest outcomes ----------

#[test]
fn a_sync_whose_pass_fails_is_a_failed_action() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    select(&mut app, "local/demo/dev");
    press(&mut app, "Y");
    let id = act_id(&press(&mut app, "enter"));
    // Handed to the running agent, which then reports the pass as failed.
    app.update(
        Msg::Acted {
            id,
            result: Ok("fetch and reconcile requested; handed to the running agent".into()),
        },
        now(),
    );
    let mut snap = app.snapshot.clone();
    let dev = snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .find(|u| u.id == "local/demo/dev")
        .unwrap();
    dev.last_reconcile_at = Some(ts(1));
    dev.status = Status::new(StatusKind::Failed, "source platform-config failed", ts(1));
    snapshot_with(&mut app, snap);
    let o = app.outcome.clone().expect("an outcome");
    assert!(!o.ok, "{}", o.text);
    assert!(o.text.contains('✗'), "{}", o.text);
    assert!(
        o.text
            .contains("reconcile failed: source platform-config failed"),
        "{}",
        o.text
    );
}

#[test]
fn a_failed_source_shows_in_the_header_and_on_its_units() {
    let mut snap = scripted::demo_snapshot();
    Arc::make_mut(&mut snap.sources[0]).status = Status::new(
        StatusKind::Failed,
        "connection refused; keeping last good commit main@0404040",
        ts(-5),
    );
    let app = app_on(snap, (120, 40));
    let s = screen(&app, 120, 40);
    let header = s.lines().next().unwrap();
    assert!(header.contains("1 source failed"), "{header}");
    let dev = row(&s, "dev");
    assert!(dev.contains("✗ src"), "{dev}");
    assert!(dev.contains("[source platform-config failed]"), "{dev}");
}

// ---------- 2. no action on the wrong unit ----------

#[test]
fn the_selection_follows_the_unit_across_a_resort() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    select(&mut app, "local/demo/staging");
    // A new failing unit sorts first, and every row below it moves down one.
    let mut snap = app.snapshot.clone();
    let mut canary = scripted::unit("local/demo/canary");
    canary.status = Status::new(StatusKind::Failed, "render failed", ts(1));
    snap.units.push(canary.into());
    snapshot_with(&mut app, snap);
    assert_eq!(
        app.selected_unit_id().as_deref(),
        Some("local/demo/staging")
    );
    // An action now acts on staging, not on whatever took its row.
    press(&mut app, "y");
    assert_eq!(app.dialog.as_ref().unwrap().unit.id, "local/demo/staging");
}

#[test]
fn a_vanished_unit_is_said_not_silently_replaced() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    select(&mut app, "local/demo/staging");
    let mut snap = app.snapshot.clone();
    snap.units.retain(|u| u.id != "local/demo/staging");
    snapshot_with(&mut app, snap);
    let flash = app.flash.clone().expect("a message");
    assert!(
        flash.text.contains("local/demo/staging is no longer"),
        "{}",
        flash.text
    );
}

// ---------- 3. a hold is never shown as healthy ----------

#[test]
fn a_pinned_unit_is_shown_and_counted_as_pinned_not_ready() {
    let mut snap = scripted::demo_snapshot();
    let dev = snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .find(|u| u.id == "local/demo/dev")
        .unwrap();
    dev.pinned_revision = Some(rev(2));
    dev.applied_revision = Some(rev(2));
    let app = app_on(snap, (120, 40));
    let s = screen(&app, 120, 40);
    let header = s.lines().next().unwrap();
    assert!(header.contains("◆ 1 pinned"), "{header}");
    assert!(
        header.contains("● 1 ready"),
        "only staging is ready: {header}"
    );
    let dev = row(&s, "dev");
    assert!(dev.contains("◆ pinned"), "{dev}");
    assert!(!dev.contains("● ready"), "{dev}");
}

#[test]
fn sync_with_source_on_the_sources_screen_fetches_the_source() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    press(&mut app, "2");
    let effects = press(&mut app, "Y");
    let [Effect::Fetch { id, source }] = effects.as_slice() else {
        panic!("expected a fetch of the source, got {effects:?}")
    };
    assert_eq!(source, "local/demo/platform-config");
    assert!(app.dialog.is_none(), "a fetch names no unit to confirm");
    app.update(
        Msg::Acted {
            id: *id,
            result: Err(crate::backend::BackendError::Failed(
                "fetch of source platform-config failed: connection refused".into(),
            )),
        },
        now(),
    );
    let o = app.outcome.clone().unwrap();
    assert!(!o.ok && o.text.contains("connection refused"), "{}", o.text);
    // Other actions do not pick a unit of the source behind the operator's back.
    assert!(press(&mut app, "y").is_empty());
    assert!(app.dialog.is_none());
    assert!(
        app.flash
            .as_ref()
            .unwrap()
            .text
            .contains("fetches local/demo/platform-config")
    );
}

/// Commits 4 (newest, failed) to 1; 3 is applied and last good.
fn history() -> Vec<HistoryEntry> {
    (1..=4u8)
        .rev()
        .map(|n| HistoryEntry {
            revision: rev(n),
            author: "Ada Lovelace".into(),
            time: ts(-3600 * i64::from(5 - n)),
            summary: format!("change number {n}"),
            applied: n == 3,
            last_good: n == 3,
            failed: n == 4,
            pinned: false,
        })
        .collect()
}

/// Opens the history of `id` and answers it.
fn open_history(app: &mut App, id: &str) {
    select(app, id);
    for e in press(app, "h") {
        if let Effect::LoadHistory { seq, .. } = e {
            app.update(
                Msg::History {
                    seq,
                    result: Ok(history()),
                },
                now(),
            );
        }
    }
}

#[test]
fn history_opens_on_the_applied_commit_and_rollback_warns_about_failed_or_newer_commits() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    open_history(&mut app, "local/demo/prod");
    assert_eq!(
        app.history.selected, 1,
        "the cursor starts on the applied commit"
    );
    press(&mut app, "up");
    press(&mut app, "b");
    let w = app
        .dialog
        .as_ref()
        .unwrap()
        .warning
        .clone()
        .expect("a warning");
    assert!(w.contains("failed to reconcile before"), "{w}");
    let s = screen(&app, 120, 40);
    assert!(s.contains("⚠"), "the warning is on screen:\n{s}");
    press(&mut app, "esc");
    press(&mut app, "down");
    press(&mut app, "down");
    press(&mut app, "b");
    assert_eq!(
        app.dialog.as_ref().unwrap().warning,
        None,
        "an older good commit"
    );
}

#[test]
fn resume_warns_when_the_latest_commit_is_known_not_to_render() {
    let mut snap = scripted::demo_snapshot();
    let prod = snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .find(|u| u.id == "local/demo/prod")
        .unwrap();
    prod.suspended = true;
    prod.status = Status::new(
        StatusKind::Failed,
        "render failed: app.patch.yaml:3",
        ts(-60),
    );
    let mut app = app_on(snap, (120, 40));
    select(&mut app, "local/demo/prod");
    press(&mut app, "r");
    let w = app
        .dialog
        .as_ref()
        .unwrap()
        .warning
        .clone()
        .expect("a warning");
    assert!(w.contains("known not to render"), "{w}");
}

// ---------- 4. is anything reconciling? ----------

#[test]
fn the_header_says_who_reconciles_and_warns_when_nobody_does() {
    use crate::backend::Reconciler;
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    let header = |app: &App| screen(app, 120, 40).lines().next().unwrap().to_owned();
    let by = |app: &mut App, r: Reconciler| {
        let snap = reconciled_by(scripted::demo_snapshot(), r);
        app.update(Msg::Backend(Update::Snapshot(snap)), now());
    };
    by(&mut app, Reconciler::Embedded);
    assert!(header(&app).contains("agent: embedded"), "{}", header(&app));
    by(
        &mut app,
        Reconciler::Process("pid 4242 of ann@bastion, since 2026-11-26T23:00:00Z".into()),
    );
    assert!(header(&app).contains("agent: pid 4242"), "{}", header(&app));
    by(&mut app, Reconciler::None);
    assert!(header(&app).contains("NO AGENT"), "{}", header(&app));
}

#[test]
fn ages_are_redrawn_exactly_when_a_shown_age_changes() {
    // Every unit was reconciled 30 s ago: "<1m" until the minute is full, then "1m".
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    assert_eq!(app.next_age_change(), Some(ts(30)));
    app.update(Msg::Tick, ts(30));
    assert!(screen(&app, 120, 40).contains(" 1m "));
    assert_eq!(app.next_age_change(), Some(ts(90)), "then at 2m");
}

// ---------- 12. copy over SSH ----------

#[test]
fn c_copies_the_unit_id_or_the_history_commit_with_osc_52() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    select(&mut app, "local/demo/staging");
    assert_eq!(
        press(&mut app, "c"),
        vec![Effect::Copy("local/demo/staging".into())]
    );
    assert!(
        app.flash
            .as_ref()
            .unwrap()
            .text
            .contains("copied unit id local/demo/staging")
    );
    open_history(&mut app, "local/demo/staging");
    assert_eq!(
        press(&mut app, "c"),
        vec![Effect::Copy(rev(3).sha().to_owned())]
    );
    assert!(app.flash.as_ref().unwrap().text.contains("copied commit"));
}

// ---------- 9. events ----------

#[test]
fn repeated_failures_collapse_and_the_operator_rollback_stays_in_view() {
    let mut app = app_on(scripted::demo_snapshot(), (80, 24));
    select(&mut app, "local/demo/prod");
    let mut events: Vec<Event> = (0..40)
        .map(|i| Event {
            time: ts(-5 * i),
            unit: "local/demo/prod".into(),
            severity: Severity::Error,
            reason: "ReconcileFailed".into(),
            message: format!("render failed: app.patch.yaml:3 ({} ms)", 3 + i % 4),
            revision: Some(rev(4)),
        })
        .collect();
    events.push(Event {
        time: ts(-300),
        unit: "local/demo/prod".into(),
        severity: Severity::Info,
        reason: "OperatorRollback".into(),
        message: "pinned at 0303030 until resumed (bad release) (by ann@bastion)".into(),
        revision: Some(rev(3)),
    });
    for e in press(&mut app, "enter") {
        if let Effect::LoadEvents { seq, .. } = e {
            app.update(
                Msg::Events {
                    seq,
                    result: Ok(events.clone()),
                },
                now(),
            );
        }
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("×40 over 3m"), "{s}");
    assert!(s.contains("OperatorRollback"), "{s}");
}

// ---------- 5. nothing cut off ----------

#[test]
fn the_selected_units_whole_message_is_readable_and_cut_rows_end_in_an_ellipsis() {
    let long = "render failed: commit 516c044: environments/prod/app.patch.yaml:3:7: mapping values are not allowed in this context; staying on main@0303030";
    for (w, h) in [(120, 40), (80, 24)] {
        let mut snap = scripted::demo_snapshot();
        let prod = snap
            .units
            .iter_mut()
            .map(Arc::make_mut)
            .find(|u| u.id == "local/demo/prod")
            .unwrap();
        prod.status.message = long.into();
        let mut app = app_on(snap, (w, h));
        select(&mut app, "local/demo/prod");
        let s = screen(&app, w, h);
        let prod = row(&s, "prod");
        assert!(
            prod.trim_end_matches('│').trim_end().ends_with('…'),
            "{w}x{h}: {prod}"
        );
        let joined: String = s
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(joined.contains("staying on main@0303030"), "{w}x{h}:\n{s}");
        assert!(
            joined.contains("mapping values are not allowed"),
            "{w}x{h}:\n{s}"
        );
    }
}

#[test]
fn side_by_side_below_120_columns_says_why_it_does_nothing() {
    let mut app = app_on(scripted::demo_snapshot(), (80, 24));
    select(&mut app, "local/demo/staging");
    press(&mut app, "d");
    press(&mut app, "v");
    let f = app.flash.clone().expect("a message");
    assert!(f.text.contains("120 columns"), "{}", f.text);
}

// ---------- 6. NO_COLOR ----------

#[test]
fn side_by_side_marks_changed_lines_without_colour_and_cut_lines_end_in_an_ellipsis() {
    use crate::tui::diffdoc::DiffDoc;
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    app.setup.theme = Theme::load("default", None, ColorDepth::None).unwrap();
    select(&mut app, "local/demo/staging");
    let long = "x".repeat(80);
    let objects = vec![ObjectDiff {
        object: "app.yaml".into(),
        change: Change::Modified,
        desired: Some(format!("replicas: 3\n# hotfix, do not revert {long}\n")),
        live: Some("replicas: 5\n".into()),
        masked: false,
        note: None,
    }];
    for e in press(&mut app, "d") {
        if let Effect::LoadDiff { seq, .. } = e {
            app.update(
                Msg::Diff {
                    seq,
                    result: Ok(DiffDoc::build(&objects)),
                },
                now(),
            );
        }
    }
    assert!(app.diff_side_by_side());
    let s = screen(&app, 120, 40);
    let row = s.lines().find(|l| l.contains("replicas: 5")).unwrap();
    assert!(row.contains("1-replicas: 5"), "{row}");
    assert!(row.contains("1+replicas: 3"), "{row}");
    let cut = s.lines().find(|l| l.contains("# hotfix")).unwrap();
    assert!(cut.contains("xxx…"), "{cut}");
}

// ---------- 8. a history commit's files ----------

fn objects() -> Vec<ObjectDiff> {
    vec![ObjectDiff {
        object: "app.yaml".into(),
        change: Change::Modified,
        desired: Some("replicas: 3\nimage: v2\n".into()),
        live: Some("replicas: 3\nimage: v1\n".into()),
        masked: false,
        note: None,
    }]
}

#[test]
fn enter_on_a_history_commit_shows_the_files_it_changed() {
    use crate::tui::app::View;
    use crate::tui::diffdoc::DiffDoc;
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    open_history(&mut app, "local/demo/staging");
    let effects = press(&mut app, "enter");
    let [
        Effect::LoadCommitDiff {
            seq,
            unit,
            revision,
        },
    ] = effects.as_slice()
    else {
        panic!("expected the commit's diff to load, got {effects:?}")
    };
    assert_eq!((unit.as_str(), revision), ("local/demo/staging", &rev(3)));
    app.update(
        Msg::Diff {
            seq: *seq,
            result: Ok(DiffDoc::build(&objects())),
        },
        now(),
    );
    assert_eq!(app.view(), View::Diff);
    let s = screen(&app, 120, 40);
    assert!(s.contains("commit 0303030: parent"), "{s}");
    assert!(s.contains("image: v2"), "{s}");
    // A new snapshot does not replace the commit's diff with the live one.
    let mut snap = app.snapshot.clone();
    Arc::make_mut(&mut snap.units[0]).status.message = "changed".into();
    app.update(Msg::Backend(Update::Snapshot(snap)), now());
    assert!(app.diff.commit.is_some());
}

#[test]
fn the_rollback_confirmation_previews_what_will_change() {
    use crate::tui::diffdoc::DiffDoc;
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    open_history(&mut app, "local/demo/staging");
    press(&mut app, "down");
    let effects = press(&mut app, "b");
    let [Effect::LoadPreview { seq, revision, .. }] = effects.as_slice() else {
        panic!("expected a preview to load, got {effects:?}")
    };
    assert_eq!(revision, &rev(2));
    app.update(
        Msg::Preview {
            seq: *seq,
            result: Ok(DiffDoc::build(&objects())),
        },
        now(),
    );
    let s = screen(&app, 120, 40);
    assert!(s.contains("changes"), "{s}");
    assert!(s.contains("app.yaml +1 -1"), "{s}");
    assert!(s.contains("+image: v2"), "{s}");
}

#[test]
fn detail_wraps_the_message_at_spaces() {
    let mut snap = scripted::demo_snapshot();
    let prod = snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .find(|u| u.id == "local/demo/prod")
        .unwrap();
    prod.status.message = "render failed: commit 516c044: environments/prod/app.patch.yaml:3:7: mapping values are not allowed in this context".into();
    let mut app = app_on(snap, (80, 24));
    select(&mut app, "local/demo/prod");
    press(&mut app, "enter");
    let s = screen(&app, 80, 24);
    for word in [
        "environments/prod/app.patch.yaml:3:7:",
        "mapping",
        "context",
    ] {
        assert!(
            s.split(|c: char| c.is_whitespace() || c == '│')
                .any(|w| w == word),
            "`{word}` is cut:\n{s}"
        );
    }
}

// ---------- 11. keys ----------

#[test]
fn emacs_quits_on_ctrl_x_ctrl_c_not_on_ctrl_x_alone() {
    let mut app = app_on(scripted::demo_snapshot(), (80, 24));
    app.setup.keymap = Keymap::load("emacs", None).unwrap();
    assert!(press(&mut app, "ctrl-x").is_empty());
    assert!(!app.quit, "ctrl-x alone is a prefix");
    assert!(press(&mut app, "ctrl-n").is_empty());
    assert!(!app.quit);
    assert!(app.flash.as_ref().unwrap().text.contains("not bound"));
    press(&mut app, "ctrl-x");
    assert_eq!(press(&mut app, "ctrl-c"), vec![Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn hints_are_for_people_and_read_only_hints_offer_no_actions() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    press(&mut app, "2");
    let s = screen(&app, 120, 40);
    let hints = s.lines().last().unwrap();
    assert!(hints.contains("Y fetch now"), "{hints}");
    assert!(!hints.contains('_'), "{hints}");
    let mut ro = App::new(
        Setup {
            read_only: true,
            ..setup(false)
        },
        (120, 40),
        now(),
    );
    ro.update(
        Msg::Backend(Update::Snapshot(scripted::demo_snapshot())),
        now(),
    );
    let s = screen(&ro, 120, 40);
    let hints = s.lines().last().unwrap();
    for action in ["suspend", "resume", "sync"] {
        assert!(!hints.contains(action), "{hints}");
    }
}

#[test]
fn suspending_a_suspended_unit_says_so_before_asking_a_reason() {
    let mut snap = scripted::demo_snapshot();
    let dev = snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .find(|u| u.id == "local/demo/dev")
        .unwrap();
    dev.suspended = true;
    dev.suspend_reason = Some("load test".into());
    dev.status = Status::new(StatusKind::Suspended, "suspended: load test", ts(-5));
    let mut app = app_on(snap, (80, 24));
    select(&mut app, "local/demo/dev");
    press(&mut app, "s");
    assert!(app.dialog.is_none());
    let f = app.flash.clone().unwrap();
    assert!(f.text.contains("already suspended"), "{}", f.text);
}

#[test]
fn a_refusal_in_read_only_mode_says_not_allowed_once() {
    let e = crate::backend::BackendError::Denied(crate::backend::READ_ONLY_REASON.into());
    assert_eq!(e.to_string().matches("not allowed").count(), 1, "{e}");
}

#[test]
fn object_marks_have_a_legend() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    select(&mut app, "local/demo/staging");
    for e in press(&mut app, "enter") {
        if let Effect::LoadDiff { seq, .. } = e {
            app.update(
                Msg::Diff {
                    seq,
                    result: Ok(crate::tui::diffdoc::DiffDoc::build(&objects())),
                },
                now(),
            );
        }
    }
    let s = screen(&app, 120, 40);
    assert!(s.contains("≠ drifted"), "{s}");
    assert!(s.contains("~ changed"), "{s}");
}

#[test]
fn a_search_match_highlights_the_whole_line_and_the_prompt_starts_empty() {
    use crate::tui::diffdoc::DiffDoc;
    let mut app = app_on(scripted::demo_snapshot(), (80, 24));
    select(&mut app, "local/demo/staging");
    for e in press(&mut app, "d") {
        if let Effect::LoadDiff { seq, .. } = e {
            app.update(
                Msg::Diff {
                    seq,
                    result: Ok(DiffDoc::build(&objects())),
                },
                now(),
            );
        }
    }
    press(&mut app, "/");
    for c in "image".chars() {
        press(&mut app, &c.to_string());
    }
    press(&mut app, "enter");
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| views::render(f, &app)).unwrap();
    let buf = terminal.backend().buffer().clone();
    let matched = app.setup.theme.style("diff.match");
    let y = (0..24u16)
        .find(|&y| {
            let line: String = (0..80u16)
                .map(|x| buf[(x, y)].symbol().to_owned())
                .collect();
            line.contains("image: v2")
        })
        .expect("the matching line is on screen");
    let line: String = (0..80u16)
        .map(|x| buf[(x, y)].symbol().to_owned())
        .collect();
    let x = line
        .find("image: v2")
        .map(|b| line[..b].chars().count() as u16)
        .unwrap();
    assert_eq!(
        buf[(x, y)].bg,
        matched.bg.unwrap_or_default(),
        "the text is highlighted, not only the sign"
    );
    press(&mut app, "/");
    assert_eq!(
        app.input.as_ref().unwrap().line.text,
        "",
        "the search prompt starts empty"
    );
}

#[test]
fn a_long_outcome_wraps_instead_of_being_cut_mid_sentence() {
    let mut app = app_on(scripted::demo_snapshot(), (80, 24));
    select(&mut app, "local/demo/dev");
    press(&mut app, "y");
    let id = act_id(&press(&mut app, "enter"));
    let cause = "fetch of source platform-config failed: connection refused (os error 111) while talking to https://git.example.org/platform/config.git; dev not reconciled";
    app.update(
        Msg::Acted {
            id,
            result: Err(crate::backend::BackendError::Failed(cause.into())),
        },
        now(),
    );
    let s = screen(&app, 80, 24);
    let joined: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(joined.contains("dev not reconciled"), "{s}");
}

#[test]
fn long_diff_lines_end_in_an_ellipsis_and_scroll_horizontally() {
    use crate::tui::diffdoc::DiffDoc;
    let mut app = app_on(scripted::demo_snapshot(), (80, 24));
    select(&mut app, "local/demo/staging");
    let tail = "the end of a very long line";
    let objects = vec![ObjectDiff {
        object: "notes.txt".into(),
        change: Change::Modified,
        desired: Some(format!(
            "# hotfix, do not revert {} {tail}\n",
            "x".repeat(90)
        )),
        live: Some("# old\n".into()),
        masked: false,
        note: None,
    }];
    for e in press(&mut app, "d") {
        if let Effect::LoadDiff { seq, .. } = e {
            app.update(
                Msg::Diff {
                    seq,
                    result: Ok(DiffDoc::build(&objects)),
                },
                now(),
            );
        }
    }
    let s = screen(&app, 80, 24);
    let line = s.lines().find(|l| l.contains("+# hotfix")).unwrap();
    assert!(line.contains("x…"), "{line}");
    for _ in 0..20 {
        press(&mut app, "right");
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains(tail), "{s}");
    assert!(s.contains("◂ col "), "{s}");
    let f = app
        .flash
        .clone()
        .expect("told when there is nothing more to the right");
    assert!(f.text.contains("end of the longest line"), "{}", f.text);
}

#[test]
fn help_keeps_a_space_between_long_key_lists_and_their_description() {
    let mut app = app_on(scripted::demo_snapshot(), (120, 40));
    app.setup.keymap = Keymap::load("vim", None).unwrap();
    press(&mut app, "?");
    let s = screen(&app, 120, 40);
    assert!(!s.contains("pageuppage"), "{s}");
    assert!(s.contains("pageup page up"), "{s}");
}

#[test]
fn a_header_too_long_for_80_columns_drops_the_total_then_ends_in_an_ellipsis() {
    use crate::backend::Reconciler;
    let mut app = App::new(
        Setup {
            read_only: true,
            ..setup(false)
        },
        (80, 24),
        now(),
    );
    let mut snap = scripted::demo_snapshot();
    Arc::make_mut(&mut snap.sources[0]).status =
        Status::new(StatusKind::Failed, "connection refused", ts(-5));
    let dev = snap
        .units
        .iter_mut()
        .map(Arc::make_mut)
        .find(|u| u.id == "local/demo/dev")
        .unwrap();
    dev.pinned_revision = Some(rev(2));
    let snap = reconciled_by(snap, Reconciler::None);
    app.update(Msg::Backend(Update::Snapshot(snap)), now());
    let s = screen(&app, 80, 24);
    let header = s.lines().next().unwrap().trim_end();
    // 93 columns of badges and counts: the total goes, and the cut says so.
    assert!(!header.contains("units"), "{header}");
    assert!(header.ends_with('…'), "{header}");
    assert!(header.starts_with(" READ-ONLY "), "{header}");
}
