//! Operator actions in the console: the read-only guard, the confirmation dialog (reason, protected-unit
//! name), the request in flight until the backend shows its effect or times out, and the outcome.

use std::time::Duration;

use jiff::Timestamp;
use ratatui::crossterm::event::KeyEvent;
use ratatui_textarea::TextArea;

use super::app::{App, Effect, Flash, Loadable, Tone, View};
use super::diffdoc::DiffDoc;
use super::input::LineInput;
use crate::backend::{BackendError, READ_ONLY_REASON};
use crate::config::keymap::{Command, Key, Mode};
use crate::model::{Action, Revision, Unit};

/// How long the console waits for the backend to show an accepted action's effect.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Which field of the dialog takes the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Reason,
    Name,
    /// Nothing to type: enter confirms.
    None,
}

/// The confirmation of one action: the exact operation and its target, a reason when the action carries
/// one, and the unit's name typed when it is protected.
pub struct Dialog {
    pub unit: Unit,
    /// Backend and context, as the header shows them.
    pub context: String,
    pub action: Action,
    pub reason: Option<TextArea<'static>>,
    pub name: LineInput,
    pub field: Field,
    pub error: Option<String>,
    /// What the operator should know before confirming (a commit known to fail, a roll forward).
    pub warning: Option<String>,
    /// A rollback's preview: live against the chosen commit's render.
    pub preview: Option<Loadable<DiffDoc>>,
    /// A rollback whose source is applied by a parent that would revert the pin: whether to suspend that
    /// parent too (tab toggles it); `None` when there is no such parent.
    pub suspend_parent: Option<bool>,
}

impl Dialog {
    pub fn reason_text(&self) -> String {
        self.reason
            .as_ref()
            .map(|t| t.lines().join(" ").trim().to_owned())
            .unwrap_or_default()
    }

    /// The action with the typed reason.
    fn final_action(&self) -> Action {
        let reason = self.reason_text();
        match &self.action {
            Action::Suspend { .. } => Action::Suspend { reason },
            Action::Rollback { to, .. } => Action::Rollback {
                to: to.clone(),
                reason,
                suspend_parent: self.suspend_parent == Some(true),
            },
            other => other.clone(),
        }
    }
}

/// An accepted request waiting for its effect to show in the update stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: u64,
    pub unit: String,
    pub action: Action,
    pub started: Timestamp,
    /// What the backend said when it accepted; `None` while the call runs.
    pub accepted: Option<String>,
    /// A fetch of the source `unit` names (the sources screen): its answer is its outcome.
    pub on_source: bool,
}

impl Pending {
    pub fn elapsed(&self, now: Timestamp) -> i64 {
        now.as_second().saturating_sub(self.started.as_second())
    }

    /// Whether the action asks for a reconcile whose result is the action's result.
    fn reconciles(&self) -> bool {
        !matches!(
            self.action,
            Action::Suspend { .. } | Action::Terminate | Action::Refresh { .. }
        )
    }

    /// Whether `unit` shows the effect of the action.
    fn done(&self, unit: &Unit) -> bool {
        match &self.action {
            Action::Suspend { .. } => unit.suspended,
            Action::Resume => !unit.suspended && unit.pinned_revision.is_none(),
            Action::Sync { .. } | Action::Refresh { .. } => {
                unit.last_reconcile_at.is_some_and(|t| t >= self.started)
            }
            // the operation ended: no longer shown running or terminating
            Action::Terminate => unit.status.kind != crate::model::StatusKind::Progressing,
            Action::Rollback { to, .. } => unit.pinned_revision.as_ref().is_some_and(|p| {
                p.same_commit(to)
                    && (unit
                        .applied_revision
                        .as_ref()
                        .is_some_and(|a| a.same_commit(to))
                        || unit.status.kind.is_bad())
            }),
        }
    }
}

impl App {
    /// An action key: refused in read-only mode (and recorded), else a confirmation dialog.
    pub(super) fn start_action(&mut self, command: Command) -> Vec<Effect> {
        if self.view() == View::Sources {
            return self.source_action(command);
        }
        let Some(unit) = self.current_unit().cloned() else {
            self.error("no unit selected");
            return Vec::new();
        };
        let action = match command {
            Command::Suspend => Action::Suspend {
                reason: String::new(),
            },
            Command::Resume => Action::Resume,
            Command::Sync => Action::Sync { with_source: false },
            Command::SyncWithSource => Action::Sync { with_source: true },
            Command::Terminate => Action::Terminate,
            Command::RefreshUnit => Action::Refresh { hard: false },
            Command::Rollback => match self.selected_commit() {
                Some(to) => Action::Rollback {
                    to,
                    reason: String::new(),
                    suspend_parent: false,
                },
                None => {
                    self.error("select a commit in the history first");
                    return Vec::new();
                }
            },
            _ => return Vec::new(),
        };
        if self.read_only_for(&unit) {
            self.error(format!(
                "{READ_ONLY_REASON} ({} {}: context {} is read-only; recorded in the audit log)",
                action, unit.id, unit.context
            ));
            return vec![Effect::Deny {
                unit: unit.id,
                action,
            }];
        }
        if let Some(p) = &self.pending {
            self.error(format!(
                "wait: {} on {} is still in progress",
                p.action, p.unit
            ));
            return Vec::new();
        }
        // Say what is already so before asking for a reason.
        match &action {
            Action::Suspend { .. } if unit.suspended => {
                let why = unit.hold_note().unwrap_or_else(|| "suspended".into());
                self.error(format!("{} is already {why}", unit.id));
                return Vec::new();
            }
            Action::Resume if !unit.is_held() => {
                self.error(format!("{} is neither suspended nor pinned", unit.id));
                return Vec::new();
            }
            _ => {}
        }
        // The backend said it cannot be done now (RBAC, a corrupt control file, …): say why, ask nothing.
        if let Some(why) = self.denial_answered(action.kind()) {
            let mut text = format!("{} {}: not possible now: {why}", action, unit.id);
            // a sync refused while an operation runs: offer to terminate it
            if matches!(action, Action::Sync { .. } | Action::Rollback { .. })
                && self
                    .denial_answered(crate::model::ActionKind::Terminate)
                    .is_none()
                && let Some(key) = self.setup.keymap.hint(Mode::Units, Command::Terminate)
            {
                text.push_str(&format!("; {key} terminates it"));
            }
            self.error(text);
            return Vec::new();
        }
        let reason = action.reason().is_some().then(|| {
            let mut t = TextArea::default();
            t.set_placeholder_text("why (goes to the journal and the audit log)");
            t.set_cursor_line_style(ratatui::style::Style::default());
            t
        });
        let field = if reason.is_some() {
            Field::Reason
        } else if unit.protected {
            Field::Name
        } else {
            Field::None
        };
        let warning = self.action_warning(&unit, &action);
        let parent = match &action {
            Action::Rollback { .. } => self.source_parent(&unit),
            _ => None,
        };
        let warning = match (
            warning,
            self.rollback_notes(&unit, &action, parent.as_deref()),
        ) {
            (Some(w), Some(n)) => Some(format!("{w}; {n}")),
            (w, n) => w.or(n),
        };
        // an Argo CD Application generated by an ApplicationSet: the set reverts the syncPolicy edit
        let owned = match (&action, &unit.parent) {
            (Action::Suspend { .. } | Action::Rollback { .. }, Some(set))
                if unit.backend == crate::model::BackendKind::Argo =>
            {
                Some(format!(
                    "{set} owns this Application and reverts its syncPolicy edit unless the set ignores it"
                ))
            }
            _ => None,
        };
        let warning = match (warning, owned) {
            (Some(w), Some(o)) => Some(format!("{w}; {o}")),
            (w, o) => w.or(o),
        };
        let preview = match &action {
            Action::Rollback { to, .. } => Some(self.load_preview(&unit.id, to.clone())),
            _ => None,
        };
        self.dialog = Some(Dialog {
            context: format!("{}:{}", unit.backend, unit.context),
            unit,
            action,
            reason,
            name: LineInput::default(),
            field,
            error: None,
            warning,
            preview: preview.as_ref().map(|_| Loadable::Loading),
            suspend_parent: parent.map(|_| false),
        });
        preview.into_iter().collect()
    }

    /// On the sources screen actions act on the source: sync with source fetches it now.
    fn source_action(&mut self, command: Command) -> Vec<Effect> {
        let Some(source) = self.selected_source_id() else {
            self.error("no source selected");
            return Vec::new();
        };
        if command != Command::SyncWithSource {
            let key = self
                .setup
                .keymap
                .hint(Mode::Sources, Command::SyncWithSource)
                .unwrap_or_else(|| "sync with source".into());
            self.error(format!(
                "on the sources screen only {key} acts: it fetches {source} now; enter lists its units"
            ));
            return Vec::new();
        }
        let action = Action::Sync { with_source: true };
        let context = self
            .snapshot
            .sources
            .iter()
            .find(|s| s.id == source)
            .and_then(|s| {
                self.contexts()
                    .iter()
                    .find(|c| c.name == s.context && c.backend == s.backend)
            });
        if self.setup.read_only || context.is_some_and(|c| c.read_only) {
            let name = context
                .map(|c| c.name.clone())
                .unwrap_or_else(|| self.setup.context.clone());
            self.error(format!(
                "read-only audit mode: fetch of {source} refused: context {name} is read-only (recorded in the audit log)"
            ));
            return vec![Effect::Deny {
                unit: source,
                action,
            }];
        }
        if let Some(p) = &self.pending {
            self.error(format!(
                "wait: {} on {} is still in progress",
                p.action, p.unit
            ));
            return Vec::new();
        }
        let id = self.next_seq();
        self.outcome = None;
        self.pending = Some(Pending {
            id,
            unit: source.clone(),
            action,
            started: self.now,
            accepted: None,
            on_source: true,
        });
        vec![Effect::Fetch { id, source }]
    }

    /// Warns before a rollback to a commit known to fail or newer than the applied one, and before a
    /// resume onto a latest commit known not to render.
    fn action_warning(&self, unit: &Unit, action: &Action) -> Option<String> {
        let entries = self
            .history
            .entries
            .ready()
            .filter(|_| self.unit.as_deref() == Some(unit.id.as_str()));
        match action {
            Action::Rollback { to, .. } => {
                let list = entries?;
                let chosen = list.iter().position(|e| e.revision.same_commit(to))?;
                let entry = list.get(chosen)?;
                if entry.failed {
                    return Some(format!(
                        "{} failed to reconcile before: the unit would be pinned to a commit known to fail",
                        to.short_sha()
                    ));
                }
                let applied = unit.applied_revision.as_ref()?;
                if applied.same_commit(to) {
                    return Some(format!(
                        "{} is the applied commit: this only pins the unit where it is",
                        to.short_sha()
                    ));
                }
                let applied_at = list.iter().position(|e| e.revision.same_commit(applied))?;
                (chosen < applied_at).then(|| {
                    format!(
                        "{} is newer than the applied {}: this rolls forward, not back",
                        to.short_sha(),
                        applied.short_sha()
                    )
                })
            }
            Action::Resume => {
                let latest = unit.latest_revision.as_ref()?;
                let known_bad = entries
                    .and_then(|l| l.iter().find(|e| e.revision.same_commit(latest)))
                    .map(|e| e.failed)
                    .unwrap_or_else(|| {
                        unit.status.kind.is_bad()
                            && unit
                                .attempted_revision
                                .as_ref()
                                .is_some_and(|a| a.same_commit(latest))
                    });
                known_bad.then(|| {
                    format!(
                        "the latest commit {} is known not to render: resuming will fail",
                        latest.short_sha()
                    )
                })
            }
            _ => None,
        }
    }

    /// What applies the unit's source and would revert a pin (a Flux GitRepository's parent Kustomization).
    fn source_parent(&self, unit: &Unit) -> Option<String> {
        self.snapshot
            .sources
            .iter()
            .find(|s| {
                s.context == unit.context && s.backend == unit.backend && s.name == unit.source
            })
            .and_then(|s| s.applied_by.clone())
    }

    /// A rollback pins the source: every other unit that shares it moves too, and a parent that applies
    /// the source reverts the pin unless it is suspended.
    fn rollback_notes(&self, unit: &Unit, action: &Action, parent: Option<&str>) -> Option<String> {
        if !matches!(action, Action::Rollback { .. })
            || unit.backend != crate::model::BackendKind::Flux
        {
            return None;
        }
        let others: Vec<&str> = self
            .snapshot
            .units
            .iter()
            .filter(|u| u.context == unit.context && u.source == unit.source && u.id != unit.id)
            .map(|u| u.name.as_str())
            .collect();
        let mut notes = Vec::new();
        if !others.is_empty() {
            notes.push(format!(
                "the pin also moves {} (same source {})",
                others.join(", "),
                unit.source
            ));
        }
        if let Some(p) = parent {
            notes.push(format!(
                "Kustomization {p} applies {} and reverts the pin at its next apply; tab: also suspend {p}                  (resume releases it)",
                unit.source
            ));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    fn selected_commit(&self) -> Option<Revision> {
        if self.view() != View::History {
            return None;
        }
        self.history
            .entries
            .ready()
            .and_then(|l| l.get(self.history.selected))
            .map(|e| e.revision.clone())
    }

    pub(super) fn dialog_key(&mut self, ev: KeyEvent, key: &Key) -> Vec<Effect> {
        let Some(mut d) = self.dialog.take() else {
            return Vec::new();
        };
        if key.code == crossterm::event::KeyCode::Tab
            && key.mods.is_empty()
            && let Some(on) = d.suspend_parent.as_mut()
        {
            *on = !*on;
            self.dialog = Some(d);
            return Vec::new();
        }
        match self.setup.keymap.lookup(Mode::Dialog, key) {
            Some(Command::Cancel) => {
                self.flash = Some(Flash {
                    ok: true,
                    tone: Tone::Plain,
                    text: format!("cancelled: {} {}", d.action, d.unit.id),
                });
                return Vec::new();
            }
            Some(Command::Confirm) => {
                d.error = None;
                if d.field == Field::Reason {
                    if d.reason_text().is_empty() {
                        d.error = Some("a reason is required".into());
                    } else if d.unit.protected {
                        d.field = Field::Name;
                    } else {
                        return self.submit(d);
                    }
                } else if d.unit.protected && d.name.text != d.unit.name {
                    d.error = Some(format!(
                        "type `{}` exactly to confirm (protected unit)",
                        d.unit.name
                    ));
                } else {
                    return self.submit(d);
                }
            }
            _ => match d.field {
                Field::Reason => {
                    if let Some(t) = d.reason.as_mut() {
                        t.input(ev);
                    }
                }
                Field::Name => {
                    d.name.edit(key);
                }
                Field::None => {}
            },
        }
        self.dialog = Some(d);
        Vec::new()
    }

    fn submit(&mut self, d: Dialog) -> Vec<Effect> {
        let id = self.next_seq();
        let action = d.final_action();
        self.outcome = None;
        self.pending = Some(Pending {
            id,
            unit: d.unit.id.clone(),
            action: action.clone(),
            started: self.now,
            accepted: None,
            on_source: false,
        });
        vec![Effect::Act {
            id,
            unit: d.unit.id,
            action,
        }]
    }

    pub(super) fn on_acted(&mut self, id: u64, result: Result<String, BackendError>) {
        let Some(p) = self.pending.as_mut().filter(|p| p.id == id) else {
            return;
        };
        match result {
            Ok(message) if p.on_source => self.finish(true, &message),
            Ok(message) => {
                p.accepted = Some(message);
                self.check_pending();
            }
            Err(e) => self.finish_as(Tone::of(&e), &e.to_string()),
        }
    }

    /// Ends the action in flight when the snapshot shows its effect, or when it timed out.
    pub(super) fn check_pending(&mut self) {
        let Some(p) = &self.pending else { return };
        let unit = self.snapshot.units.iter().find(|u| u.id == p.unit);
        if let (Some(message), Some(unit)) = (&p.accepted, unit)
            && p.done(unit)
        {
            // The pass the action asked for ran and failed: the action failed, whatever was accepted.
            // So did a sync with source whose fetch, made after the request, failed: the pass then ran
            // on the last good commit, not on what the source has now.
            let fetch_failed = matches!(p.action, Action::Sync { with_source: true })
                .then(|| {
                    self.snapshot.sources.iter().find(|s| {
                        s.name == unit.source
                            && s.context == unit.context
                            && s.backend == unit.backend
                            && s.status.kind.is_bad()
                            && s.last_fetch_at.is_some_and(|t| t >= p.started)
                    })
                })
                .flatten();
            let failed = p.reconciles() && (unit.status.kind.is_bad() || fetch_failed.is_some());
            let text = if let Some(src) = fetch_failed {
                format!(
                    "fetch of {} failed: {}; reconciled on the last good commit",
                    src.name, src.status.message
                )
            } else if failed {
                format!(
                    "{}; reconcile failed: {}",
                    p.action.kind().done_word(),
                    unit.status.message
                )
            } else {
                message.clone()
            };
            self.finish(!failed, &text);
        } else if p.elapsed(self.now) >= ACTION_TIMEOUT.as_secs() as i64 {
            let what = match &p.accepted {
                Some(_) => "accepted, but its effect did not show",
                None => "no answer from the backend",
            };
            let text = format!("timed out: {what} within {}s", ACTION_TIMEOUT.as_secs());
            self.finish(false, &text);
        }
    }

    /// Ends the action in flight with an outcome that stays on screen until the next action.
    fn finish(&mut self, ok: bool, detail: &str) {
        self.finish_as(if ok { Tone::Plain } else { Tone::Failed }, detail);
    }

    /// Ends the action in flight with its outcome, marked by its kind.
    fn finish_as(&mut self, tone: Tone, detail: &str) {
        if let Some(p) = self.pending.take() {
            let mark = mark(self.setup.ascii, tone);
            self.outcome = Some(Flash {
                ok: tone == Tone::Plain,
                tone,
                text: if p.on_source {
                    format!("{mark} fetch {}: {detail}", p.unit)
                } else {
                    format!("{mark} {} {}: {detail}", p.action, p.unit)
                },
            });
        }
    }
}

/// The outcome mark by kind: ✓ done, ✗ failed, ⊘ refused, ⚠ not reached, ? a wrong request; words in
/// ASCII mode.
fn mark(ascii: bool, tone: Tone) -> &'static str {
    match (ascii, tone) {
        (false, Tone::Plain) => "✓",
        (false, Tone::Failed) => "✗",
        (false, Tone::Denied) => "⊘",
        (false, Tone::Unavailable) => "⚠",
        (false, Tone::Invalid) => "?",
        (true, Tone::Plain) => "ok:",
        (true, Tone::Failed) => "FAILED:",
        (true, Tone::Denied) => "DENIED:",
        (true, Tone::Unavailable) => "UNREACHED:",
        (true, Tone::Invalid) => "INVALID:",
    }
}
