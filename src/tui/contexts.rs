//! Several contexts in one console: which one `:ctx` shows, opening one more, and what each unit's
//! context allows.

use super::app::{App, Effect, Flash, Tone};
use crate::model::{ActionKind, Capabilities, ContextState, StatusKind, Unit};

/// `:ctx all` shows every context again.
pub const ALL: &str = "all";

impl App {
    /// The contexts shown, as the backend last described them.
    pub fn contexts(&self) -> &[ContextState] {
        &self.snapshot.contexts
    }

    /// Whether more than one context is shown (the CONTEXT column and the context bar appear).
    pub fn several_contexts(&self) -> bool {
        self.snapshot.contexts.len() > 1
    }

    /// The context a unit belongs to.
    pub fn context_of(&self, unit: &Unit) -> Option<&ContextState> {
        self.snapshot
            .contexts
            .iter()
            .find(|c| c.name == unit.context && c.backend == unit.backend)
    }

    /// Whether actions on the unit are refused here: its context is read-only (or every context is).
    pub fn read_only_for(&self, unit: &Unit) -> bool {
        self.setup.read_only || self.context_of(unit).is_some_and(|c| c.read_only)
    }

    /// Every context name `:ctx` completes: those shown, those the settings name, and `all`.
    pub fn context_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .snapshot
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect();
        for n in &self.setup.contexts {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names.push(ALL.to_owned());
        names
    }

    /// `:ctx NAME` shows only that context (opening it when it is not shown yet); `:ctx all` shows every
    /// one. The cursor stays on the selected unit whenever it is still shown.
    pub(super) fn show_context(&mut self, name: String) -> Vec<Effect> {
        let shown = self.snapshot.contexts.iter().any(|c| c.name == name);
        if name == ALL {
            self.context_filter = None;
            self.note(format!("all {} contexts", self.snapshot.contexts.len()));
        } else if shown {
            self.context_filter = Some(name.clone());
            self.note(format!("context {name} (`:ctx all` shows every context)"));
        } else if self.setup.contexts.contains(&name) {
            self.context_filter = Some(name.clone());
            self.note(format!("opening context {name}…"));
            self.refilter();
            return vec![Effect::OpenContext(name)];
        } else {
            let known = self.context_names();
            self.unknown("context", &name, &known);
            return Vec::new();
        }
        self.refilter();
        Vec::new()
    }

    /// Counts each context's units by status once per snapshot, so that drawing the bar is cheap.
    pub(super) fn count_by_context(&mut self) {
        let contexts = &self.snapshot.contexts;
        let mut counts = vec![[0usize; 6]; contexts.len()];
        if contexts.len() > 1 {
            for u in &self.snapshot.units {
                let at = contexts
                    .iter()
                    .position(|c| c.name == u.context && c.backend == u.backend);
                let kind = StatusKind::ALL.iter().position(|k| *k == u.status.kind);
                if let (Some(c), Some(k)) = (at, kind) {
                    counts[c][k] += 1;
                }
            }
        }
        self.context_counts = counts;
    }

    /// A context opened by `:ctx NAME`, or why it could not be.
    pub(super) fn context_opened(&mut self, result: Result<String, String>) {
        self.dirty = true;
        match result {
            Ok(name) => self.note(format!("context {name} opened")),
            Err(e) => {
                self.context_filter = None;
                self.refilter();
                self.error(format!("cannot open the context: {e}"));
            }
        }
    }

    fn note(&mut self, text: String) {
        self.flash = Some(Flash {
            ok: true,
            text,
            tone: Tone::Plain,
        });
        self.dirty = true;
    }
}

impl App {
    /// Asks which actions the selected unit allows when it has not been asked since the selection or the
    /// snapshot changed (only where action keys act: units, detail, history).
    pub(super) fn ask_caps(&mut self) -> Option<Effect> {
        use super::app::View;
        if !matches!(self.base_view(), View::Units | View::Detail | View::History) {
            return None;
        }
        let id = self.current_unit()?.id.clone();
        if self.caps_asked.as_deref() == Some(id.as_str()) {
            return None;
        }
        self.caps_asked = Some(id.clone());
        Some(Effect::LoadCaps(id))
    }

    pub(super) fn caps_loaded(&mut self, unit: String, result: Result<Capabilities, String>) {
        match result {
            Ok(caps) => {
                // Drawn again only when the screen changes: an answer that says what was shown (the
                // usual one, for a new selection) is no frame.
                let shown = self.denials();
                self.caps_like = self
                    .snapshot
                    .units
                    .iter()
                    .find(|u| u.id == unit)
                    .map(|u| like(u));
                self.caps = Some((unit, caps));
                if self.denials() != shown {
                    self.dirty = true;
                }
            }
            Err(e) => {
                tracing::debug!("capabilities of {unit}: {e}");
                // no answer about this unit: another unit's answer is not shown for it any longer
                let shown = self.denials();
                if self.caps.as_ref().is_some_and(|(id, _)| *id != unit) {
                    self.caps = None;
                }
                if self.denials() != shown {
                    self.dirty = true;
                }
            }
        }
    }

    /// Every action's denial for the selected unit, as the views show them.
    fn denials(&self) -> [Option<String>; ActionKind::ALL.len()] {
        ActionKind::ALL.map(|k| self.denial(k).map(str::to_owned))
    }

    /// Why the selected unit cannot take `kind` now, as the hints show it: the backend's answer about this
    /// unit; while that answer is on its way (one round trip after the cursor moved), the answer about the
    /// unit before when the snapshot says the two are alike ([`Like`]: same context, kind and namespace,
    /// so the same RBAC, and the same suspended and pinned state), so paging through alike units draws one
    /// frame per key, not a second one when the answer comes. The answer corrects it when it differs.
    pub fn denial(&self, kind: ActionKind) -> Option<&str> {
        if self.view() == super::app::View::Sources {
            return None;
        }
        let unit = self.current_unit()?;
        let (id, caps) = self.caps.as_ref()?;
        let pending = self.caps_asked.as_deref() == Some(unit.id.as_str());
        if *id == unit.id || (pending && self.caps_like.as_ref() == Some(&like(unit))) {
            caps.get(kind).denial()
        } else {
            None
        }
    }

    /// Why the selected unit cannot take `kind` now, by the backend's answer about this very unit (what an
    /// action is refused by before it is confirmed; the backend checks again when it acts).
    pub fn denial_answered(&self, kind: ActionKind) -> Option<&str> {
        if self.view() == super::app::View::Sources {
            return None;
        }
        let unit = self.current_unit()?;
        match &self.caps {
            Some((id, caps)) if *id == unit.id => caps.get(kind).denial(),
            _ => None,
        }
    }
}

/// What decides a unit's capabilities that the snapshot shows: where it is (its id up to the name: backend,
/// context, namespace, kind) and whether it is suspended or pinned.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Like {
    scope: String,
    suspended: bool,
    pinned: bool,
}

pub(super) fn like(u: &Unit) -> Like {
    Like {
        scope: u
            .id
            .rsplit_once('/')
            .map_or(u.id.as_str(), |(scope, _)| scope)
            .to_owned(),
        suspended: u.suspended,
        pinned: u.pinned_revision.is_some(),
    }
}
