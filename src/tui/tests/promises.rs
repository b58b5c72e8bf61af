//! README promises about the console that are checked without a terminal: `:theme` recolours the cells,
//! History keys, word emphasis in diffs, the KIND column, colour depth detection, and the prompt commands
//! listed in Help.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::audit::AuditLog;
use crate::backend::Audited;
use crate::tui::connection::Connection;
use crate::tui::event_loop::{Opener, Runner};
use crate::tui::input::{VERBS, parse_prompt};
use crate::tui::test_screen::{buffer, cell_style, columns_styled, find_row};

/// The style of the first cell of `needle` on the frame `app` draws at `w`x`h`.
pub(super) fn style_of(app: &App, w: u16, h: u16, needle: &str) -> String {
    let buf = buffer(app, w, h);
    let (x, y) = find_row(&buf, needle).unwrap_or_else(|| panic!("no {needle:?} on screen"));
    cell_style(&buf, x, y)
}

/// `:theme mono` goes through the real runner (which loads the theme file) and the cells change colour.
#[tokio::test]
async fn theme_command_recolours_the_cells() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Audited::new(
        Arc::new(scripted::Scripted::demo()),
        AuditLog::new(dir.path().join("audit.jsonl")),
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let opener: Opener = Arc::new(|_: &str| Err("no contexts".into()));
    let mut runner = Runner::new(
        Connection::without_agent(Arc::new(crate::backend::Composite::new(vec![backend]))),
        tx,
        dir.path().to_owned(),
        ColorDepth::Ansi16,
        opener,
    );
    let mut app = app();
    press(&mut app, "down"); // prod's row is no longer selected (reversed)
    assert_eq!(style_of(&app, 120, 40, "✗ failed"), "red+bold");
    assert_eq!(style_of(&app, 120, 40, "● ready"), "green");

    press(&mut app, ":");
    type_text(&mut app, "theme mono");
    let effects = press(&mut app, "enter");
    assert_eq!(effects, vec![Effect::LoadTheme("mono".into())]);
    effects.into_iter().for_each(|e| runner.run(e));
    let msg = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Some(m @ Msg::Theme(_)) => break Some(m),
                Some(_) => continue,
                None => break None,
            }
        }
    })
    .await
    .expect("the theme loads within 10 s")
    .expect("the runner answers");
    app.update(msg, now());
    assert_eq!(app.setup.theme.name, "mono");
    assert_eq!(style_of(&app, 120, 40, "✗ failed"), "+bold+reversed");
    assert_eq!(style_of(&app, 120, 40, "● ready"), "");
    runner.close().await;
}

/// History: up/down/home/end move the selection (the reversed row), enter opens the commit.
#[test]
fn history_keys_move_and_open() {
    let mut app = app_with(false, (120, 40));
    select(&mut app, "local/demo/prod");
    let effects = press(&mut app, "h");
    answer(&mut app, effects);
    assert_eq!(app.view(), View::History);
    let selected_sha = |app: &App| {
        let buf = buffer(app, 120, 40);
        (0..40)
            .filter(|&y| columns_styled(&buf, y, "+reversed").len() > 100)
            .map(|y| {
                (0..120)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
    };
    let row = |n: u8| rev(n).short_sha().to_owned();
    let rows = selected_sha(&app);
    assert_eq!(rows.len(), 1, "one selected row: {rows:?}");
    // History opens on the applied commit (prod runs 0303030, its last good), not on the failed newest.
    assert!(rows[0].contains(&row(3)), "{rows:?}");
    press(&mut app, "down");
    assert!(selected_sha(&app)[0].contains(&row(2)));
    press(&mut app, "end");
    assert!(selected_sha(&app)[0].contains(&row(1)));
    press(&mut app, "down");
    assert!(selected_sha(&app)[0].contains(&row(1)), "stays at the end");
    press(&mut app, "up");
    assert!(selected_sha(&app)[0].contains(&row(2)));
    press(&mut app, "home");
    assert!(selected_sha(&app)[0].contains(&row(4)));
    // The marks: prod failed at 0404040 and runs 0303030, its last good commit.
    let text = screen(&app, 120, 40);
    let line = |sha: &str| {
        text.lines()
            .find(|l| l.contains(sha))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line(&row(4)).contains('✗') && !line(&row(4)).contains('●'));
    assert!(line(&row(3)).contains("●✓"));
    // enter on a commit loads what that commit changed for the unit.
    press(&mut app, "down");
    let effects = press(&mut app, "enter");
    assert!(
        matches!(effects.as_slice(), [Effect::LoadCommitDiff { unit, revision, .. }]
            if unit == "local/demo/prod" && revision.short_sha() == row(3)),
        "{effects:?}"
    );
}

/// The diff marks the changed words themselves, not only the changed lines.
#[test]
fn diff_words_are_emphasised() {
    for (size, sbs) in [((120, 40), true), ((80, 24), false)] {
        let mut app = app_with(false, size);
        select(&mut app, "local/demo/staging");
        let effects = press(&mut app, "d");
        answer(&mut app, effects);
        assert_eq!(app.diff_side_by_side(), sbs);
        let buf = buffer(&app, size.0, size.1);
        // Live has 1.4.0 and 5 replicas, desired 1.4.2 and 3: the differing characters are emphasised.
        let (x, y) = find_row(&buf, "checkout:1.4.0").unwrap();
        let removed = columns_styled(&buf, y, "black/red");
        assert!(
            removed.contains(&(x + 13)),
            "the 0 of 1.4.0 ({sbs}): {removed:?}\n{}",
            test_screen::styled(&buf)
        );
        assert!(!removed.contains(&x), "`checkout` itself is unchanged");
        let (x, y) = find_row(&buf, "checkout:1.4.2").unwrap();
        let added = columns_styled(&buf, y, "black/green");
        assert!(added.contains(&(x + 13)), "the 2 of 1.4.2: {added:?}");
        assert!(!added.contains(&x));
    }
}

/// Units show their kind when there is room; narrow terminals drop the column before the message.
#[test]
fn kind_column() {
    let app = app_with(false, (200, 40));
    let text = screen(&app, 200, 40);
    let header = text.lines().find(|l| l.contains("NAME")).unwrap();
    let kind_at = header.find("KIND").unwrap_or_else(|| panic!("{text}"));
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("platform-config"))
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    for line in rows {
        assert_eq!(
            line.get(kind_at..kind_at + "environment".len()),
            Some("environment"),
            "{line}"
        );
    }
    let narrow = screen(&app_with(false, (80, 24)), 80, 24);
    assert!(!narrow.contains("KIND"), "{narrow}");
}

/// Colour depth: NO_COLOR, a dumb terminal, COLORTERM truecolor/24bit, a 256-colour TERM, else 16.
#[test]
fn colour_depth_detection() {
    let cases: [(&[(&str, &str)], ColorDepth); 8] = [
        (&[], ColorDepth::Ansi16),
        (&[("TERM", "xterm")], ColorDepth::Ansi16),
        (&[("TERM", "xterm-256color")], ColorDepth::Ansi256),
        (&[("COLORTERM", "truecolor")], ColorDepth::TrueColor),
        (
            &[("COLORTERM", "24bit"), ("TERM", "xterm")],
            ColorDepth::TrueColor,
        ),
        (&[("COLORTERM", "TrueColor")], ColorDepth::TrueColor),
        (
            &[("COLORTERM", "truecolor"), ("NO_COLOR", "1")],
            ColorDepth::None,
        ),
        (
            &[("TERM", "dumb"), ("COLORTERM", "truecolor")],
            ColorDepth::None,
        ),
    ];
    for (vars, want) in cases {
        let env = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(ColorDepth::detect(&env), want, "{vars:?}");
    }
    // The depth reaches the cells: truecolor keeps an RGB colour that 16 colours approximate.
    let rgb = crate::config::theme::adapt(
        ratatui::style::Style::new().fg(ratatui::style::Color::Rgb(220, 50, 47)),
        ColorDepth::TrueColor,
    );
    assert_eq!(rgb.fg, Some(ratatui::style::Color::Rgb(220, 50, 47)));
}

/// Help lists every prompt command there is (`:help` included), and each of them parses.
#[test]
fn help_lists_every_prompt_command() {
    let mut app = app_with(false, (200, 60));
    press(&mut app, "?");
    let text = screen(&app, 200, 60);
    for verb in VERBS {
        assert!(
            text.contains(&format!(":{verb}")),
            ":{verb} missing:\n{text}"
        );
        let line = if matches!(*verb, "ctx" | "theme" | "compare") {
            format!("{verb} x")
        } else {
            (*verb).to_owned()
        };
        assert!(parse_prompt(&line).is_ok(), "{line}");
    }
}

static RESTORED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn mark_restored() {
    RESTORED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The panic hook the console installs (`terminal::enter`) runs the restore before anything else; the
/// restore itself is proven on the real binary by the quit and SIGTERM tests in tmux.
#[test]
fn a_panic_runs_the_restore_first() {
    crate::logging::install_panic_hook(mark_restored);
    let result = std::panic::catch_unwind(|| panic!("a panic in the console"));
    assert!(result.is_err());
    assert!(RESTORED.load(std::sync::atomic::Ordering::SeqCst));
}
