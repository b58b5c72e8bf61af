//! The two bottom lines: the input or message line, and the hint bar generated from the keymap.

use ratatui::text::{Line, Span};

use crate::config::keymap::{Command, Mode};
use crate::model::ActionKind;
use crate::tui::app::{App, Flash, InputKind, Tone};

/// The prompt / filter / search being typed, else the action in flight, a message, or the last outcome.
pub fn message_line(app: &App) -> Line<'static> {
    let t = &app.setup.theme;
    if let Some(input) = &app.input {
        let lead = match input.kind {
            InputKind::Prompt => ":",
            InputKind::Filter => "/",
            InputKind::Search => "search: ",
        };
        let mut spans = vec![
            Span::styled(lead, t.style("prompt")),
            Span::raw(input.line.text.clone()),
            Span::styled(if app.setup.ascii { "_" } else { "▏" }, t.style("prompt")),
        ];
        if !input.candidates.is_empty() {
            spans.push(Span::styled(
                format!("   {}", input.candidates.join("  ")),
                t.style("muted"),
            ));
        }
        return Line::from(spans);
    }
    if let Some(p) = &app.pending {
        let state = match &p.accepted {
            None => "asking the backend".to_owned(),
            Some(m) => format!("accepted ({m}); waiting for the effect"),
        };
        return Line::styled(
            format!(
                "... {} {}: {state} ({}s)",
                p.action,
                p.unit,
                p.elapsed(app.now)
            ),
            t.style("status.progressing"),
        );
    }
    if let Some(f) = app.flash.as_ref().or(app.outcome.as_ref()) {
        return Line::styled(f.text.clone(), t.style(flash_style(f)));
    }
    Line::default()
}

/// The theme key of a message: by the kind of failure, so that a refusal or an unreachable backend does
/// not look like a breakage.
fn flash_style(f: &Flash) -> &'static str {
    match f.tone {
        Tone::Plain if f.ok => "message.ok",
        Tone::Plain | Tone::Failed => "message.error",
        Tone::Denied => "status.suspended",
        Tone::Unavailable => "badge.stale",
        Tone::Invalid => "status.stalled",
    }
}

/// The message area's lines at `width`: a message or outcome longer than one line wraps at spaces onto
/// up to three lines (the third ends in `…` when even that is not enough); anything else is one line.
pub fn message_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let flash = app.flash.as_ref().or(app.outcome.as_ref());
    match flash {
        Some(f)
            if app.input.is_none() && app.pending.is_none() && f.text.chars().count() > width =>
        {
            let style = app.setup.theme.style(flash_style(f));
            let mut parts = crate::format::wrap_words(&f.text, width);
            if parts.len() > 3 {
                parts.truncate(3);
                if let Some(last) = parts.last_mut() {
                    *last = crate::format::truncate(&format!("{last} …"), width);
                }
            }
            parts.into_iter().map(|p| Line::styled(p, style)).collect()
        }
        _ => vec![message_line(app)],
    }
}

/// The commands worth a hint in each mode, in order; unbound ones are left out.
fn hinted(mode: Mode) -> &'static [Command] {
    match mode {
        Mode::Units => &[
            Command::Open,
            Command::Diff,
            Command::History,
            Command::Suspend,
            Command::Resume,
            Command::Sync,
            Command::Filter,
            Command::CommandPrompt,
            Command::Help,
            Command::Quit,
        ],
        Mode::Sources => &[
            Command::Open,
            Command::SyncWithSource,
            Command::Filter,
            Command::Back,
            Command::Help,
        ],
        Mode::Detail => &[
            Command::Diff,
            Command::History,
            Command::Suspend,
            Command::Resume,
            Command::Sync,
            Command::NextPane,
            Command::Back,
            Command::Help,
        ],
        Mode::Diff => &[
            Command::NextFile,
            Command::NextHunk,
            Command::PrevHunk,
            Command::SideBySide,
            Command::Search,
            Command::Back,
            Command::Help,
        ],
        Mode::Compare => &[
            Command::NextFile,
            Command::NextHunk,
            Command::SwapSides,
            Command::CompareWith,
            Command::SideBySide,
            Command::Back,
            Command::Help,
        ],
        Mode::History => &[
            Command::Rollback,
            Command::Open,
            Command::Back,
            Command::Help,
        ],
        Mode::Help => &[Command::Down, Command::Up, Command::Back, Command::Quit],
        Mode::Dialog => &[Command::Confirm, Command::Cancel],
        Mode::Input => &[Command::Submit, Command::Complete, Command::Cancel],
        Mode::Global => &[],
    }
}

/// The words of a hint: what the key does, for a person (`fetch now`, `side by side`).
pub fn hint_label(mode: Mode, command: Command) -> String {
    match (mode, command) {
        (Mode::Sources, Command::SyncWithSource) => "fetch now".into(),
        (_, Command::SyncWithSource) => "fetch+sync".into(),
        (_, Command::CommandPrompt) => "commands".into(),
        (_, Command::Open) => "open".into(),
        (_, Command::SwapSides) => "swap".into(),
        (_, Command::CompareWith) => "compare with".into(),
        (_, c) => c.name().replace('_', " "),
    }
}

/// The action a command asks for, if it is one.
fn action_kind(command: Command) -> Option<ActionKind> {
    match command {
        Command::Suspend => Some(ActionKind::Suspend),
        Command::Resume => Some(ActionKind::Resume),
        Command::Sync | Command::SyncWithSource => Some(ActionKind::Sync),
        Command::Rollback => Some(ActionKind::Rollback),
        Command::Terminate => Some(ActionKind::Terminate),
        Command::RefreshUnit => Some(ActionKind::Refresh),
        _ => None,
    }
}

/// Whether a command changes something (hidden from a read-only console's hint bar).
fn acts(command: Command) -> bool {
    matches!(
        command,
        Command::Suspend
            | Command::Resume
            | Command::Sync
            | Command::SyncWithSource
            | Command::Rollback
            | Command::Terminate
            | Command::RefreshUnit
    )
}

pub fn hint_line(app: &App, width: u16) -> Line<'static> {
    let t = &app.setup.theme;
    let mode = app.mode();
    let mut spans = Vec::new();
    let mut used = 0usize;
    let read_only = app
        .current_unit()
        .map_or(app.setup.read_only, |u| app.read_only_for(u));
    for &command in hinted(mode) {
        if read_only && acts(command) {
            continue;
        }
        // The shortest of the command's keys makes the tightest hint (`q` rather than `ctrl-c`).
        let Some(key) = app
            .setup
            .keymap
            .keys_for(mode, command)
            .iter()
            .map(ToString::to_string)
            .min_by_key(|k| k.chars().count())
        else {
            continue;
        };
        let text = format!(" {} ", hint_label(mode, command));
        let need = key.chars().count() + text.chars().count();
        if used + need > usize::from(width) {
            break;
        }
        used += need;
        // An action the unit cannot take now is shown unavailable; its reason follows when there is room.
        let unavailable = action_kind(command).and_then(|k| app.denial(k)).is_some();
        let (k, x) = if unavailable {
            ("muted", "muted")
        } else {
            ("hint.key", "hint.text")
        };
        spans.push(Span::styled(key, t.style(k)));
        spans.push(Span::styled(text, t.style(x)));
    }
    let reasons: Vec<String> = hinted(mode)
        .iter()
        .filter(|&&c| !read_only && acts(c))
        .filter_map(|&c| {
            let kind = action_kind(c)?;
            Some(format!("{}: {}", hint_label(mode, c), app.denial(kind)?))
        })
        .collect();
    if !reasons.is_empty() {
        let mark = if app.setup.ascii { "x" } else { "✗" };
        let text = format!(" {mark} {}", reasons.join("; "));
        let room = usize::from(width).saturating_sub(used);
        if room > 12 {
            spans.push(Span::styled(
                crate::format::truncate(&text, room),
                t.style("muted"),
            ));
        }
    }
    Line::from(spans)
}
