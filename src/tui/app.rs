//! The console's state and its one update function: messages in, effects out. No I/O here.

use std::fmt::Write as _;

use jiff::Timestamp;
use ratatui::crossterm::event::KeyEvent;

use super::actions::{Dialog, Pending};
use super::compare::{CompareState, Compared};
use super::diffdoc::DiffDoc;
use super::filter::filter;
use super::input::{LineInput, PromptCommand, complete, parse_prompt};
use crate::backend::Update;
use crate::config::keymap::{Command, Key, Keymap, Mode};
use crate::config::theme::Theme;
use crate::model::{Action, Event, HistoryEntry, Revision, Snapshot, StatusKind, Unit};

/// Columns one press of scroll left/right moves long diff lines.
const HSCROLL_STEP: usize = 8;

/// The screens of the console, stacked: `back` returns to the one below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Units,
    Sources,
    Detail,
    Diff,
    Compare,
    History,
    Help,
}

impl View {
    pub fn mode(self) -> Mode {
        match self {
            View::Units => Mode::Units,
            View::Sources => Mode::Sources,
            View::Detail => Mode::Detail,
            View::Diff => Mode::Diff,
            View::Compare => Mode::Compare,
            View::History => Mode::History,
            View::Help => Mode::Help,
        }
    }
}

/// Data fetched on demand for one unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Loadable<T> {
    Idle,
    Loading,
    Ready(T),
    Failed(String),
}

impl<T> Loadable<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Loadable::Ready(t) => Some(t),
            _ => None,
        }
    }
}

/// A filtered, navigable list: `visible` holds indices into the snapshot's list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListNav {
    pub selected: usize,
    pub visible: Vec<usize>,
    pub filter: String,
}

impl ListNav {
    pub fn current(&self) -> Option<usize> {
        self.visible.get(self.selected).copied()
    }

    fn clamp(&mut self) {
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }
}

/// What the one-line input at the bottom edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Prompt,
    Filter,
    Search,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub kind: InputKind,
    pub line: LineInput,
    /// Completion candidates of the prompt, shown after the text.
    pub candidates: Vec<String>,
    /// The filter before editing started, restored on cancel.
    pub before: String,
}

/// A one-line message: transient (cleared by the next key) or an action's outcome (kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
    /// How a failure is shown: by the backend's kind of error, so a refusal does not look like a breakage.
    pub tone: Tone,
}

/// The kind of a failed action's message, as the backend said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// By `ok` alone: success or error.
    Plain,
    /// Refused: read-only, RBAC, not possible now.
    Denied,
    /// The backend could not be reached: the action may not have been carried out.
    Unavailable,
    /// The request was wrong, or named something that is not there.
    Invalid,
    /// Carried out, and it failed.
    Failed,
}

impl Tone {
    pub fn of(e: &crate::backend::BackendError) -> Self {
        use crate::backend::BackendError as E;
        match e {
            E::Denied(_) => Tone::Denied,
            E::Unavailable(_) => Tone::Unavailable,
            E::Invalid(_) | E::NotFound(_) => Tone::Invalid,
            E::Failed(_) => Tone::Failed,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetailState {
    pub events: Option<Loadable<Vec<Event>>>,
    /// Conditions and the inventory tree (backends that have them: Flux).
    pub info: Option<Loadable<crate::model::Detail>>,
    /// 0: objects, 1: events.
    pub pane: usize,
    pub scroll: [usize; 2],
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiffState {
    pub doc: Loadable<DiffDoc>,
    pub file: usize,
    /// First visible row of the current layout.
    pub scroll: usize,
    /// Keys move in the file list rather than the text.
    pub list_focus: bool,
    pub side_by_side: bool,
    pub search: String,
    pub matches: Vec<usize>,
    /// Columns of long lines scrolled out on the left.
    pub hscroll: usize,
    /// The diff shows what this history commit changed (against its parent), not live against desired.
    pub commit: Option<HistoryEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryState {
    pub entries: Loadable<Vec<HistoryEntry>>,
    pub selected: usize,
}

/// Everything the console shows, and nothing it does not.
pub struct App {
    /// How it was started: theme, keymap, backend and context, read-only.
    pub setup: Setup,
    pub now: Timestamp,
    pub size: (u16, u16),
    pub snapshot: Snapshot,
    pub loaded: bool,
    pub stale: Option<(Timestamp, String)>,
    pub views: Vec<View>,
    pub units: ListNav,
    pub sources: ListNav,
    /// The unit shown by detail, diff and history.
    pub unit: Option<String>,
    /// The one context `:ctx NAME` shows; every context when none.
    pub context_filter: Option<String>,
    /// Units by status of each context shown, in the snapshot's context order (for the context bar).
    pub context_counts: Vec<[usize; 6]>,
    /// The snapshot's sources whose last fetch failed, and its units by how each is shown (in
    /// `StatusKind::ALL` order) and pinned: worked out when the snapshot is set, as every frame asks them,
    /// its rows once each (5,000 units' sources scanned for each of 60 rows was most of a frame's time).
    pub failed_sources: Vec<std::sync::Arc<crate::model::Source>>,
    pub shown_counts: ([usize; 6], usize),
    /// What the backend allows on the selected unit now, as last asked (unit id, answer).
    pub caps: Option<(String, crate::model::Capabilities)>,
    /// The unit whose capabilities were asked for last (asked again when the snapshot changes).
    pub(super) caps_asked: Option<String>,
    /// What the unit of `caps` looked like when the answer came (see `App::denial`).
    pub(super) caps_like: Option<super::contexts::Like>,
    pub detail: DetailState,
    pub diff: DiffState,
    pub history: HistoryState,
    /// The two units the compare view shows; its diff is in `diff`.
    pub compare: CompareState,
    pub help_scroll: usize,
    pub input: Option<Input>,
    pub dialog: Option<Dialog>,
    pub pending: Option<Pending>,
    pub outcome: Option<Flash>,
    pub flash: Option<Flash>,
    pub dirty: bool,
    pub quit: bool,
    /// The first key of a two-key sequence, waiting for the second.
    pub prefix: Option<Key>,
    seq: u64,
    want: Wanted,
}

#[derive(Debug, Clone, Copy)]
enum Load {
    Diff,
    History,
    Events,
    Detail,
}

#[derive(Debug, Default)]
struct Wanted {
    preview: u64,
    diff: u64,
    history: u64,
    events: u64,
    detail: u64,
}

/// Everything that reaches the console.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    Backend(Update),
    Diff {
        seq: u64,
        result: Result<DiffDoc, String>,
    },
    History {
        seq: u64,
        result: Result<Vec<HistoryEntry>, String>,
    },
    Events {
        seq: u64,
        result: Result<Vec<Event>, String>,
    },
    /// A unit's conditions and inventory tree.
    Detail {
        seq: u64,
        result: Result<crate::model::Detail, String>,
    },
    /// A promotion compare (the compare view).
    Compare {
        seq: u64,
        result: Result<Box<Compared>, String>,
    },
    /// The rollback dialog's preview.
    Preview {
        seq: u64,
        result: Result<DiffDoc, String>,
    },
    Acted {
        id: u64,
        result: Result<String, crate::backend::BackendError>,
    },
    Theme(Result<Theme, String>),
    /// What the backend allows on a unit now.
    Caps {
        unit: String,
        result: Result<crate::model::Capabilities, String>,
    },
    /// A context `:ctx NAME` asked for is now shown too (or could not be opened).
    Context(Result<String, String>),
    /// Time passed (sent only while something shows an age that moves: stale data, an action in flight).
    Tick,
}

/// What the event loop does for the console: backend calls on tasks, and leaving.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadDiff {
        seq: u64,
        unit: String,
    },
    LoadHistory {
        seq: u64,
        unit: String,
    },
    LoadEvents {
        seq: u64,
        unit: String,
    },
    /// A unit's conditions and inventory tree (backends that have them).
    LoadDetail {
        seq: u64,
        unit: String,
    },
    /// What a history commit changed for the unit (its render against its parent's).
    LoadCommitDiff {
        seq: u64,
        unit: String,
        revision: Revision,
    },
    /// Compare unit `a` with unit `b` (promotion: A to B).
    LoadCompare {
        seq: u64,
        a: String,
        b: String,
    },
    /// What a rollback to `revision` would change: live against its render.
    LoadPreview {
        seq: u64,
        unit: String,
        revision: Revision,
    },
    Act {
        id: u64,
        unit: String,
        action: Action,
    },
    /// Fetch a source now (the sources screen's sync with source).
    Fetch {
        id: u64,
        source: String,
    },
    /// Record a refused action in the audit log (read-only audit mode).
    Deny {
        unit: String,
        action: Action,
    },
    LoadTheme(String),
    /// Put the text on the terminal's clipboard (OSC 52: through ssh and tmux).
    Copy(String),
    /// Open the named context and show it beside the others.
    OpenContext(String),
    /// Ask which actions the unit allows now.
    LoadCaps(String),
    Refresh,
    Quit,
}

/// How the console was started.
#[derive(Clone)]
pub struct Setup {
    pub theme: Theme,
    pub keymap: Keymap,
    /// Borders and marks in ASCII only.
    pub ascii: bool,
    pub read_only: bool,
    /// `local`, `flux`, …
    pub backend: String,
    pub context: String,
    /// Every context the settings name (`:ctx` completes them and opens those not shown yet).
    pub contexts: Vec<String>,
    pub themes: Vec<String>,
}

impl App {
    pub fn new(setup: Setup, size: (u16, u16), now: Timestamp) -> Self {
        Self {
            setup,
            now,
            size,
            snapshot: Snapshot::default(),
            loaded: false,
            stale: None,
            views: vec![View::Units],
            units: ListNav::default(),
            sources: ListNav::default(),
            unit: None,
            context_filter: None,
            failed_sources: Vec::new(),
            shown_counts: Default::default(),
            context_counts: Vec::new(),
            caps: None,
            caps_asked: None,
            caps_like: None,
            detail: DetailState::default(),
            diff: DiffState {
                doc: Loadable::Idle,
                file: 0,
                scroll: 0,
                list_focus: false,
                side_by_side: true,
                search: String::new(),
                matches: Vec::new(),
                hscroll: 0,
                commit: None,
            },
            history: HistoryState {
                entries: Loadable::Idle,
                selected: 0,
            },
            compare: CompareState::default(),
            help_scroll: 0,
            input: None,
            dialog: None,
            pending: None,
            outcome: None,
            flash: None,
            dirty: true,
            quit: false,
            prefix: None,
            seq: 0,
            want: Wanted::default(),
        }
    }

    pub fn view(&self) -> View {
        self.views.last().copied().unwrap_or(View::Units)
    }

    /// The view under the help screen (what help describes).
    pub fn base_view(&self) -> View {
        self.views
            .iter()
            .rev()
            .copied()
            .find(|v| *v != View::Help)
            .unwrap_or(View::Units)
    }

    /// Where keys are looked up now.
    pub fn mode(&self) -> Mode {
        if self.dialog.is_some() {
            Mode::Dialog
        } else if self.input.is_some() {
            Mode::Input
        } else {
            self.view().mode()
        }
    }

    /// Whether the loop should send [`Msg::Tick`]: only while an age on screen moves.
    pub fn needs_tick(&self) -> bool {
        self.stale.is_some()
            || self.pending.is_some()
            || self.snapshot.contexts.iter().any(|c| c.since.is_some())
    }

    /// The unit under the cursor (units list) or on screen (detail, diff, history).
    pub fn current_unit(&self) -> Option<&Unit> {
        match self.base_view() {
            View::Units => self
                .units
                .current()
                .and_then(|i| self.snapshot.units.get(i))
                .map(|u| &**u),
            View::Sources => None,
            _ => self
                .unit
                .as_deref()
                .and_then(|id| self.snapshot.units.iter().find(|u| u.id == id))
                .map(|u| &**u),
        }
    }

    /// Lines of list or text that fit in the body.
    pub fn page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(6)).max(1)
    }

    /// Whether the diff is shown side by side: asked for and wide enough.
    pub fn diff_side_by_side(&self) -> bool {
        self.diff.side_by_side && self.size.0 >= 120
    }

    /// Asks for the rollback dialog's preview; only the newest is awaited.
    pub(super) fn load_preview(&mut self, unit: &str, revision: Revision) -> Effect {
        let seq = self.next_seq();
        self.want.preview = seq;
        Effect::LoadPreview {
            seq,
            unit: unit.to_owned(),
            revision,
        }
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Awaits a new document for the diff pane (a comparison): loads asked for earlier are no longer
    /// awaited; `clear` starts the pane over.
    pub(super) fn expect_diff_doc(&mut self, clear: bool) -> u64 {
        let seq = self.next_seq();
        self.want.diff = seq;
        self.diff.commit = None;
        if clear {
            self.diff.doc = Loadable::Loading;
            self.diff.file = 0;
            self.diff.scroll = 0;
            self.diff.hscroll = 0;
            self.diff.matches.clear();
        }
        seq
    }

    pub(super) fn diff_doc_awaited(&self, seq: u64) -> bool {
        seq == self.want.diff
    }

    pub(super) fn set_diff_doc(&mut self, doc: Loadable<DiffDoc>) {
        self.diff.doc = doc;
        self.clamp_diff();
    }

    pub fn update(&mut self, msg: Msg, now: Timestamp) -> Vec<Effect> {
        let mut effects = self.update_state(msg, now);
        effects.extend(self.ask_caps());
        effects
    }

    fn update_state(&mut self, msg: Msg, now: Timestamp) -> Vec<Effect> {
        self.now = now;
        match msg {
            Msg::Tick => {
                self.dirty = true;
                self.check_pending();
                Vec::new()
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.dirty = true;
                Vec::new()
            }
            Msg::Key(ev) => {
                self.dirty = true;
                self.on_key(ev)
            }
            Msg::Backend(update) => self.on_update(update),
            Msg::Diff { seq, result } => {
                if seq == self.want.diff {
                    self.diff.doc = loaded(result);
                    self.clamp_diff();
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Compare { seq, result } => {
                self.on_compare(seq, result);
                Vec::new()
            }
            Msg::History { seq, result } => {
                if seq == self.want.history {
                    let first = matches!(self.history.entries, Loadable::Loading);
                    self.history.entries = loaded(result);
                    // A fresh history opens on the applied commit, never on a newer (maybe failed) one.
                    if first
                        && let Some(at) = self
                            .history
                            .entries
                            .ready()
                            .and_then(|l| l.iter().position(|e| e.applied))
                    {
                        self.history.selected = at;
                    }
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Preview { seq, result } => {
                if seq == self.want.preview
                    && let Some(d) = self.dialog.as_mut()
                {
                    d.preview = Some(loaded(result));
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Events { seq, result } => {
                if seq == self.want.events {
                    self.detail.events = Some(loaded(result));
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Detail { seq, result } => {
                if seq == self.want.detail {
                    self.detail.info = Some(loaded(result));
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Acted { id, result } => {
                self.dirty = true;
                self.on_acted(id, result);
                Vec::new()
            }
            Msg::Theme(result) => {
                self.dirty = true;
                match result {
                    Ok(theme) => {
                        self.flash = Some(Flash {
                            ok: true,
                            tone: Tone::Plain,
                            text: format!("theme {}", theme.name),
                        });
                        self.setup.theme = theme;
                    }
                    Err(e) => {
                        self.flash = Some(Flash {
                            ok: false,
                            text: e,
                            tone: Tone::Plain,
                        })
                    }
                }
                Vec::new()
            }
            Msg::Context(result) => {
                self.context_opened(result);
                Vec::new()
            }
            Msg::Caps { unit, result } => {
                self.caps_loaded(unit, result);
                Vec::new()
            }
        }
    }

    fn on_update(&mut self, update: Update) -> Vec<Effect> {
        match update {
            // The composite backend the console watches carries each context's reconciler in its
            // snapshot's `contexts`; a member's own word never reaches the console.
            Update::Reconciler(_) => Vec::new(),
            Update::Unavailable(reason) => {
                if self.stale.is_none() {
                    self.stale = Some((self.now, reason));
                }
                self.dirty = true;
                Vec::new()
            }
            Update::Snapshot(mut snap) => {
                snap.sort();
                let was_stale = self.stale.take().is_some();
                if self.loaded && snap == self.snapshot && !was_stale {
                    return Vec::new();
                }
                let before = self.current_unit().cloned();
                // The rows are indices into the snapshot: remember what they point at before replacing it.
                let (unit_id, source_id) = (self.selected_unit_id(), self.selected_source_id());
                self.snapshot = snap;
                self.loaded = true;
                self.dirty = true;
                self.caps_asked = None;
                self.count_by_context();
                self.summarize();
                self.refilter_keeping(unit_id, source_id);
                self.check_pending();
                let after = self.current_unit().cloned();
                // The unit on screen changed: its history marks and events changed with it.
                match (self.base_view(), before, after) {
                    (View::Detail | View::History | View::Diff, Some(b), Some(a)) if a != b => {
                        self.reload_unit_data(&a.id)
                    }
                    (View::Compare, _, _) => self.compare_follow(),
                    _ => Vec::new(),
                }
            }
        }
    }

    fn reload_unit_data(&mut self, unit: &str) -> Vec<Effect> {
        match self.base_view() {
            View::History => vec![self.load(Load::History, unit, false)],
            View::Detail => {
                let mut out = vec![self.load(Load::Events, unit, false)];
                out.extend(self.load_objects(unit, false));
                out.extend(self.load_detail(unit, false));
                out
            }
            // A commit's diff does not change with the live state.
            View::Diff if self.diff.commit.is_some() => Vec::new(),
            View::Diff => vec![self.load(Load::Diff, unit, false)],
            _ => Vec::new(),
        }
    }

    /// The id of the unit under the cursor of the units list.
    pub fn selected_unit_id(&self) -> Option<String> {
        self.units
            .current()
            .and_then(|i| self.snapshot.units.get(i))
            .map(|u| u.id.clone())
    }

    /// The id of the source under the cursor of the sources list.
    pub fn selected_source_id(&self) -> Option<String> {
        self.sources
            .current()
            .and_then(|i| self.snapshot.sources.get(i))
            .map(|s| s.id.clone())
    }

    /// Works out `failed_sources` and `shown_counts` from the snapshot.
    fn summarize(&mut self) {
        self.failed_sources = (self.snapshot.sources.iter())
            .filter(|s| s.status.kind.is_bad())
            .cloned()
            .collect();
        let (mut by_kind, mut pinned) = ([0usize; 6], 0);
        for u in &self.snapshot.units {
            match super::views::shown(u) {
                super::views::Shown::Kind(kind) => {
                    if let Some(i) = StatusKind::ALL.iter().position(|k| *k == kind) {
                        by_kind[i] += 1;
                    }
                }
                super::views::Shown::Pinned => pinned += 1,
            }
        }
        self.shown_counts = (by_kind, pinned);
    }

    /// Recomputes the visible rows of both lists (after a filter change), keeping the selected items.
    pub fn refilter(&mut self) {
        let (unit_id, source_id) = (self.selected_unit_id(), self.selected_source_id());
        self.refilter_keeping(unit_id, source_id);
    }

    /// Recomputes the visible rows of both lists; the cursor stays on the unit and source with the given
    /// ids. When the selected unit left the snapshot, the message line says so.
    fn refilter_keeping(&mut self, unit_id: Option<String>, source_id: Option<String>) {
        let keep = unit_id;
        self.units.visible = filter(&self.units.filter, &self.snapshot.units, |u, line| {
            let _ = write!(
                line,
                "{} {} {} {} {}",
                u.id, u.environment, u.source, u.status.kind, u.kind
            );
        });
        let units = &self.snapshot.units;
        let ctx = self.context_filter.clone();
        let in_ctx = |c: &str| ctx.as_deref().is_none_or(|f| f == c);
        self.units
            .visible
            .retain(|&i| units.get(i).is_some_and(|u| in_ctx(&u.context)));
        if let Some(id) = keep {
            match self
                .units
                .visible
                .iter()
                .position(|&i| self.snapshot.units.get(i).is_some_and(|u| u.id == id))
            {
                Some(pos) => self.units.selected = pos,
                None if !self.snapshot.units.iter().any(|u| u.id == id) => {
                    self.units.clamp();
                    let now_on = self
                        .selected_unit_id()
                        .map(|n| format!("; the cursor is on {n} now"))
                        .unwrap_or_default();
                    self.error(format!("{id} is no longer in the snapshot{now_on}"));
                }
                None => {}
            }
        }
        self.units.clamp();
        self.sources.visible = filter(&self.sources.filter, &self.snapshot.sources, |s, line| {
            let _ = write!(line, "{} {} {}", s.id, s.url, s.status.kind);
        });
        let sources = &self.snapshot.sources;
        self.sources
            .visible
            .retain(|&i| sources.get(i).is_some_and(|s| in_ctx(&s.context)));
        if let Some(id) = source_id
            && let Some(pos) = self
                .sources
                .visible
                .iter()
                .position(|&i| self.snapshot.sources.get(i).is_some_and(|s| s.id == id))
        {
            self.sources.selected = pos;
        }
        self.sources.clamp();
    }

    fn on_key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        let key = Key::from_event(&ev);
        if self.dialog.is_some() {
            return self.dialog_key(ev, &key);
        }
        if self.input.is_some() {
            return self.input_key(&key);
        }
        self.flash = None;
        // Two-key sequences (emacs `ctrl-x ctrl-c`): the first key waits for the second.
        let key = match self.prefix.take() {
            Some(first) => {
                let key = key.after(first);
                if self.setup.keymap.lookup(self.mode(), &key).is_none() {
                    self.error(format!("{key} is not bound"));
                    return Vec::new();
                }
                key
            }
            None if self.setup.keymap.is_prefix(self.mode(), &key) => {
                self.prefix = Some(key);
                self.flash = Some(Flash {
                    ok: true,
                    tone: Tone::Plain,
                    text: format!("{key} …"),
                });
                return Vec::new();
            }
            None => key,
        };
        match self.setup.keymap.lookup(self.mode(), &key) {
            Some(command) => self.command(command),
            // The diff shows one unit: its action keys act on it, as in the unit's detail. On the
            // sources screen they say what acts there instead of doing nothing.
            None if matches!(self.view(), View::Diff | View::Sources) => {
                match self.setup.keymap.lookup(Mode::Detail, &key) {
                    Some(
                        c @ (Command::Suspend
                        | Command::Resume
                        | Command::Sync
                        | Command::SyncWithSource
                        | Command::Terminate
                        | Command::RefreshUnit),
                    ) => self.command(c),
                    _ => Vec::new(),
                }
            }
            None => Vec::new(),
        }
    }

    fn input_key(&mut self, key: &Key) -> Vec<Effect> {
        let Some(mut input) = self.input.take() else {
            return Vec::new();
        };
        match self.setup.keymap.lookup(Mode::Input, key) {
            Some(Command::Cancel) => {
                if input.kind == InputKind::Filter {
                    self.list_mut().filter = input.before;
                    self.refilter();
                }
                Vec::new()
            }
            Some(Command::Submit) => self.submit_input(input),
            Some(Command::Complete) => {
                if input.kind == InputKind::Prompt {
                    let units: Vec<String> =
                        self.snapshot.units.iter().map(|u| u.id.clone()).collect();
                    let (line, cands) = complete(
                        &input.line.text,
                        &self.context_names(),
                        &self.setup.themes,
                        &units,
                    );
                    input.line.text = line;
                    input.candidates = cands;
                }
                self.input = Some(input);
                Vec::new()
            }
            _ => {
                if input.line.edit(key) {
                    input.candidates.clear();
                    if input.kind == InputKind::Filter {
                        self.list_mut().filter = input.line.text.clone();
                        self.refilter();
                    }
                }
                self.input = Some(input);
                Vec::new()
            }
        }
    }

    fn list_mut(&mut self) -> &mut ListNav {
        if self.base_view() == View::Sources {
            &mut self.sources
        } else {
            &mut self.units
        }
    }

    fn submit_input(&mut self, input: Input) -> Vec<Effect> {
        match input.kind {
            InputKind::Filter => Vec::new(),
            InputKind::Search => {
                self.diff.search = input.line.text;
                self.search_step(true, true);
                Vec::new()
            }
            InputKind::Prompt => match parse_prompt(&input.line.text) {
                Ok(PromptCommand::Units) => self.command(Command::ViewUnits),
                Ok(PromptCommand::Sources) => self.command(Command::ViewSources),
                Ok(PromptCommand::Help) => self.command(Command::Help),
                Ok(PromptCommand::Quit) => self.command(Command::Quit),
                Ok(PromptCommand::Compare(a, b)) => self.compare_prompt(a, b),
                Ok(PromptCommand::Theme(name)) => {
                    if self.setup.themes.contains(&name) {
                        vec![Effect::LoadTheme(name)]
                    } else {
                        let known = self.setup.themes.clone();
                        self.unknown("theme", &name, &known);
                        Vec::new()
                    }
                }
                Ok(PromptCommand::Context(name)) => self.show_context(name),
                Err(e) => {
                    self.error(e);
                    Vec::new()
                }
            },
        }
    }

    /// Says that `name` is not one of `known` (with the nearest as a suggestion).
    pub(super) fn unknown(&mut self, what: &str, name: &str, known: &[String]) {
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        self.error(crate::config::unknown_message(what, name, &known));
    }

    pub(super) fn error(&mut self, text: impl Into<String>) {
        self.flash = Some(Flash {
            ok: false,
            tone: Tone::Plain,
            text: text.into(),
        });
    }

    pub(super) fn open_input(&mut self, kind: InputKind, text: String) {
        self.input = Some(Input {
            kind,
            line: LineInput { text: text.clone() },
            candidates: Vec::new(),
            before: text,
        });
    }

    fn command(&mut self, command: Command) -> Vec<Effect> {
        match command {
            Command::Quit => {
                self.quit = true;
                return vec![Effect::Quit];
            }
            Command::Help => {
                if self.view() == View::Help {
                    self.views.pop();
                } else {
                    self.help_scroll = 0;
                    self.views.push(View::Help);
                }
            }
            Command::CommandPrompt => self.open_input(InputKind::Prompt, String::new()),
            Command::Filter => match self.view() {
                View::Units | View::Sources => {
                    let text = self.list_mut().filter.clone();
                    self.open_input(InputKind::Filter, text);
                }
                _ => self.error("the filter works in the units and sources lists"),
            },
            Command::Search => self.open_input(InputKind::Search, String::new()),
            Command::Back => {
                if self.views.len() > 1 {
                    self.views.pop();
                } else if !self.units.filter.is_empty() {
                    self.units.filter.clear();
                    self.refilter();
                }
            }
            Command::Up => self.move_by(-1),
            Command::Down => self.move_by(1),
            Command::PageUp => self.move_by(-(self.page() as i64)),
            Command::PageDown => self.move_by(self.page() as i64),
            Command::Top => self.move_by(i64::MIN / 2),
            Command::Bottom => self.move_by(i64::MAX / 2),
            Command::Refresh => {
                let mut out = vec![Effect::Refresh];
                if let Some(id) = self.unit.clone() {
                    out.extend(self.reload_unit_data(&id));
                }
                out.extend(self.compare_refresh());
                return out;
            }
            Command::Copy => return self.copy_selected(),
            Command::ViewUnits => self.views = vec![View::Units],
            Command::ViewSources => self.views = vec![View::Units, View::Sources],
            Command::Open => return self.open(),
            Command::Diff => return self.open_unit_view(View::Diff),
            Command::History => return self.open_unit_view(View::History),
            Command::Compare => return self.compare_selected(),
            Command::CompareWith => return self.compare_with(),
            Command::SwapSides => return self.swap_compare(),
            Command::NextPane => match self.view() {
                View::Detail => self.detail.pane = (self.detail.pane + 1) % 2,
                View::Diff | View::Compare => self.diff.list_focus = !self.diff.list_focus,
                _ => {}
            },
            Command::NextFile => self.step_file(1),
            Command::PrevFile => self.step_file(-1),
            Command::NextHunk => self.step_hunk(true),
            Command::PrevHunk => self.step_hunk(false),
            Command::SideBySide if self.size.0 < 120 => self.error(format!(
                "side by side needs 120 columns; this terminal has {}",
                self.size.0
            )),
            Command::SideBySide => {
                let line = self.diff_line_at_scroll();
                self.diff.side_by_side = !self.diff.side_by_side;
                self.scroll_to_line(line);
            }
            Command::ScrollLeft => {
                self.diff.hscroll = self.diff.hscroll.saturating_sub(HSCROLL_STEP)
            }
            Command::ScrollRight => {
                let longest = self.diff_file().map_or(0, |f| f.longest_line());
                if self.diff.hscroll < longest.saturating_sub(self.diff_text_width()) {
                    self.diff.hscroll += HSCROLL_STEP;
                } else {
                    self.error("already at the end of the longest line");
                }
            }
            Command::SearchNext => self.search_step(true, false),
            Command::SearchPrev => self.search_step(false, false),
            Command::Suspend
            | Command::Resume
            | Command::Sync
            | Command::SyncWithSource
            | Command::Rollback
            | Command::Terminate
            | Command::RefreshUnit => return self.start_action(command),
            Command::Confirm | Command::Cancel | Command::Submit | Command::Complete => {}
        }
        Vec::new()
    }

    fn open(&mut self) -> Vec<Effect> {
        match self.view() {
            View::Units => self.open_unit_view(View::Detail),
            View::Sources => {
                if let Some(s) = self
                    .sources
                    .current()
                    .and_then(|i| self.snapshot.sources.get(i))
                {
                    self.units.filter = s.name.clone();
                    self.views = vec![View::Units];
                    self.refilter();
                }
                Vec::new()
            }
            View::History => {
                let Some(e) = self
                    .history
                    .entries
                    .ready()
                    .and_then(|l| l.get(self.history.selected))
                    .cloned()
                else {
                    return Vec::new();
                };
                let Some(unit) = self.unit.clone() else {
                    return Vec::new();
                };
                self.flash = Some(Flash {
                    ok: true,
                    tone: Tone::Plain,
                    text: format!(
                        "{} by {} at {}: {}",
                        e.revision.short(),
                        e.author,
                        e.time.strftime("%Y-%m-%d %H:%M"),
                        e.summary
                    ),
                });
                // The files the commit changed under the unit's path, and how.
                let seq = self.next_seq();
                self.want.diff = seq;
                self.diff.doc = Loadable::Loading;
                self.diff.file = 0;
                self.diff.scroll = 0;
                self.diff.matches.clear();
                let revision = e.revision.clone();
                self.diff.commit = Some(e);
                self.views.push(View::Diff);
                vec![Effect::LoadCommitDiff {
                    seq,
                    unit,
                    revision,
                }]
            }
            _ => Vec::new(),
        }
    }

    fn open_unit_view(&mut self, view: View) -> Vec<Effect> {
        let Some(id) = self.current_unit().map(|u| u.id.clone()) else {
            self.error("no unit selected");
            return Vec::new();
        };
        let same = self.unit.as_deref() == Some(id.as_str()) && self.diff.commit.is_none();
        self.diff.commit = None;
        self.unit = Some(id.clone());
        self.views.push(view);
        match view {
            View::Detail => {
                self.detail = DetailState::default();
                let mut out = vec![self.load(Load::Events, &id, true)];
                out.extend(self.load_objects(&id, !same));
                out.extend(self.load_detail(&id, true));
                out
            }
            View::Diff => {
                self.diff.file = 0;
                self.diff.scroll = 0;
                self.diff.matches.clear();
                vec![self.load(Load::Diff, &id, !same)]
            }
            View::History => {
                self.history.selected = 0;
                vec![self.load(Load::History, &id, true)]
            }
            _ => Vec::new(),
        }
    }

    /// Asks for one unit's data; only the newest request of each kind is awaited.
    fn load(&mut self, kind: Load, unit: &str, clear: bool) -> Effect {
        let seq = self.next_seq();
        let unit = unit.to_owned();
        match kind {
            Load::Diff => {
                self.want.diff = seq;
                if clear || !matches!(self.diff.doc, Loadable::Ready(_)) {
                    self.diff.doc = Loadable::Loading;
                }
                Effect::LoadDiff { seq, unit }
            }
            Load::History => {
                self.want.history = seq;
                if clear {
                    self.history.entries = Loadable::Loading;
                }
                Effect::LoadHistory { seq, unit }
            }
            Load::Events => {
                self.want.events = seq;
                if clear {
                    self.detail.events = Some(Loadable::Loading);
                }
                Effect::LoadEvents { seq, unit }
            }
            Load::Detail => {
                self.want.detail = seq;
                if clear {
                    self.detail.info = Some(Loadable::Loading);
                }
                Effect::LoadDetail { seq, unit }
            }
        }
    }

    /// The detail's Objects panel: the local agent's diff (files in a directory: cheap, so it is always
    /// there). A cluster unit's diff renders its source and dry-runs every object against the API server, so
    /// the detail does not ask for it: `d` does, and the panel then keeps what it showed.
    fn load_objects(&mut self, unit: &str, clear: bool) -> Option<Effect> {
        if self.is_local(unit) {
            return Some(self.load(Load::Diff, unit, clear));
        }
        if clear {
            self.want.diff = 0;
            self.diff.doc = Loadable::Idle;
        }
        None
    }

    fn is_local(&self, unit: &str) -> bool {
        self.snapshot
            .units
            .iter()
            .find(|u| u.id == unit)
            .is_none_or(|u| u.backend == crate::model::BackendKind::Local)
    }

    /// Conditions and the inventory tree, for units of backends that have them (not the local agent's).
    fn load_detail(&mut self, unit: &str, clear: bool) -> Option<Effect> {
        let has = self.snapshot.units.iter().any(|u| u.id == unit) && !self.is_local(unit);
        has.then(|| self.load(Load::Detail, unit, clear))
    }

    fn move_by(&mut self, delta: i64) {
        let step = |pos: usize, len: usize| -> usize {
            let max = len.saturating_sub(1) as i64;
            (pos as i64).saturating_add(delta).clamp(0, max.max(0)) as usize
        };
        match self.view() {
            View::Units => {
                self.units.selected = step(self.units.selected, self.units.visible.len())
            }
            View::Sources => {
                self.sources.selected = step(self.sources.selected, self.sources.visible.len())
            }
            View::History => {
                let len = self.history.entries.ready().map_or(0, Vec::len);
                self.history.selected = step(self.history.selected, len);
            }
            View::Help => self.help_scroll = step(self.help_scroll, 200),
            View::Detail => {
                let pane = self.detail.pane.min(1);
                let len = if pane == 0 {
                    self.diff.doc.ready().map_or(0, |d| d.files.len())
                } else {
                    match &self.detail.events {
                        Some(Loadable::Ready(e)) => super::event_rows::collapse(e).len(),
                        _ => 0,
                    }
                };
                self.detail.scroll[pane] = step(self.detail.scroll[pane], len);
            }
            View::Diff | View::Compare => {
                if self.diff.list_focus {
                    let len = self.diff.doc.ready().map_or(0, |d| d.files.len());
                    let file = step(self.diff.file, len);
                    if file != self.diff.file {
                        self.select_file(file);
                    }
                } else {
                    self.diff.scroll = step(self.diff.scroll, self.diff_rows());
                }
            }
        }
    }

    // ----- diff navigation -----

    pub fn diff_file(&self) -> Option<&super::diffdoc::DiffFile> {
        self.diff
            .doc
            .ready()
            .and_then(|d| d.files.get(self.diff.file))
    }

    /// Columns of line text the diff pane shows (one side when side by side), as the view lays it out.
    pub fn diff_text_width(&self) -> usize {
        let w = self.size.0;
        let text = w.saturating_sub((w / 4).clamp(12, 32)).saturating_sub(2);
        let text = if self.diff_side_by_side() {
            (text.saturating_sub(1) / 2).saturating_sub(5)
        } else {
            text.saturating_sub(1)
        };
        usize::from(text).saturating_sub(1)
    }

    /// Rows of the current layout of the current file.
    pub fn diff_rows(&self) -> usize {
        self.diff_file().map_or(0, |f| {
            if self.diff_side_by_side() {
                f.sbs.len()
            } else {
                f.lines.len()
            }
        })
    }

    fn clamp_diff(&mut self) {
        let files = self.diff.doc.ready().map_or(0, |d| d.files.len());
        self.diff.file = self.diff.file.min(files.saturating_sub(1));
        self.diff.scroll = self.diff.scroll.min(self.diff_rows().saturating_sub(1));
    }

    fn select_file(&mut self, file: usize) {
        self.diff.file = file;
        self.diff.scroll = 0;
        self.diff.hscroll = 0;
        let needle = self.diff.search.clone();
        self.diff.matches = self
            .diff_file()
            .map(|f| f.search(&needle))
            .unwrap_or_default();
    }

    fn step_file(&mut self, delta: i64) {
        let files = self.diff.doc.ready().map_or(0, |d| d.files.len());
        if files == 0 {
            return;
        }
        let next = (self.diff.file as i64 + delta).rem_euclid(files as i64) as usize;
        self.select_file(next);
    }

    /// The unified line at the top of the view (mapping back from side-by-side rows).
    fn diff_line_at_scroll(&self) -> usize {
        let Some(f) = self.diff_file() else { return 0 };
        if self.diff_side_by_side() {
            f.sbs_of_line
                .iter()
                .position(|&r| r >= self.diff.scroll)
                .unwrap_or(0)
        } else {
            self.diff.scroll
        }
    }

    fn scroll_to_line(&mut self, line: usize) {
        let sbs = self.diff_side_by_side();
        if let Some(f) = self.diff_file() {
            self.diff.scroll = if sbs {
                f.sbs_of_line.get(line).copied().unwrap_or(0)
            } else {
                line
            };
        }
        self.clamp_diff();
    }

    fn step_hunk(&mut self, forward: bool) {
        let line = self.diff_line_at_scroll();
        let Some(f) = self.diff_file() else { return };
        let target = if forward {
            f.hunks.iter().copied().find(|&h| h > line)
        } else {
            f.hunks.iter().rev().copied().find(|&h| h < line)
        };
        match target {
            Some(t) => self.scroll_to_line(t),
            None => self.error(if forward {
                "no next hunk"
            } else {
                "no previous hunk"
            }),
        }
    }

    fn search_step(&mut self, forward: bool, fresh: bool) {
        let needle = self.diff.search.clone();
        self.diff.matches = self
            .diff_file()
            .map(|f| f.search(&needle))
            .unwrap_or_default();
        if self.diff.matches.is_empty() {
            if !needle.is_empty() {
                self.error(format!("`{needle}` not found in this file"));
            }
            return;
        }
        let line = self.diff_line_at_scroll();
        let m = &self.diff.matches;
        let target = if fresh {
            m.iter().copied().find(|&x| x >= line)
        } else if forward {
            m.iter().copied().find(|&x| x > line)
        } else {
            m.iter().rev().copied().find(|&x| x < line)
        };
        let target = target.or(if forward { m.first() } else { m.last() }.copied());
        if let Some(t) = target {
            let n = m.iter().position(|&x| x == t).unwrap_or(0) + 1;
            let total = m.len();
            self.scroll_to_line(t);
            self.flash = Some(Flash {
                ok: true,
                tone: Tone::Plain,
                text: format!("match {n}/{total} for `{needle}`"),
            });
        }
    }
}

fn loaded<T>(result: Result<T, String>) -> Loadable<T> {
    match result {
        Ok(t) => Loadable::Ready(t),
        Err(e) => Loadable::Failed(e),
    }
}
