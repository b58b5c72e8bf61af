//! The one loop where everything arrives: terminal events (and its hangup), backend updates, results of
//! backend calls, ticks (only while an age on screen moves) and SIGTERM/SIGHUP. It draws only when the state changed.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::crossterm::event::{Event, KeyEventKind};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::app::{App, Effect, Msg};
use super::connection::{Connection, Member};
use super::diffdoc::DiffDoc;
use super::heap;
use super::terminal_input::{self, Input};
use super::views;
use crate::backend::{Backend, Composite, DiffBase, Update};
use crate::config::theme::{ColorDepth, Theme};

/// How long the watch rests after the backend failed before it asks again.
const WATCH_RETRY: Duration = Duration::from_secs(2);
/// How long the selection must rest on a unit before its capabilities are asked for.
const CAPS_SETTLE: Duration = Duration::from_millis(120);
/// How long leaving the console waits for actions still in flight to finish and be recorded.
pub const IN_FLIGHT_WAIT: Duration = Duration::from_secs(20);

/// An action sent to a backend whose answer has not come yet.
struct InFlight {
    unit: String,
    action: crate::model::Action,
    task: JoinHandle<()>,
}

/// Opens one more context by name. Blocking (it reads files); runs on the blocking pool, inside the
/// runtime, because the embedded agent is a task.
pub type Opener = Arc<dyn Fn(&str) -> Result<Member, String> + Send + Sync>;

/// Runs backend calls on tasks; keeps only the newest pending load of each kind. Owns the connection to
/// the contexts shown and the watch of their updates, and adds a context on `:ctx NAME`.
pub struct Runner {
    conn: Connection,
    tx: mpsc::Sender<Msg>,
    loads: [Option<JoinHandle<()>>; 6],
    config_dir: PathBuf,
    depth: ColorDepth,
    open: Opener,
    updates: mpsc::Receiver<Update>,
    watcher: JoinHandle<()>,
    opened_tx: mpsc::Sender<Result<(String, Member), String>>,
    opened: mpsc::Receiver<Result<(String, Member), String>>,
    /// Actions sent and not answered yet: leaving waits for them, so that each is in the audit log.
    in_flight: Vec<InFlight>,
    /// When the capabilities of a unit were last asked for (see [`CAPS_SETTLE`]).
    caps_asked_at: Option<Instant>,
}

impl Runner {
    /// Must be called inside the tokio runtime: it starts watching the backend.
    pub fn new(
        conn: Connection,
        tx: mpsc::Sender<Msg>,
        config_dir: PathBuf,
        depth: ColorDepth,
        open: Opener,
    ) -> Self {
        let (updates, watcher) = watch(conn.backend.clone());
        let (opened_tx, opened) = mpsc::channel(1);
        Self {
            conn,
            tx,
            loads: [None, None, None, None, None, None],
            caps_asked_at: None,
            config_dir,
            depth,
            open,
            updates,
            watcher,
            opened_tx,
            opened,
            in_flight: Vec::new(),
        }
    }

    /// Shows a context opened by `:ctx NAME` beside the others: the composite's watch takes it up.
    fn install(&mut self, opened: Result<(String, Member), String>) -> Msg {
        Msg::Context(opened.map(|(name, member)| {
            self.conn.add(member);
            name
        }))
    }

    /// Stops everything: loads, the watch, and every embedded agent (each finishes the file it writes).
    /// Actions in flight are waited for first (see [`Runner::wait_in_flight`]).
    pub async fn close(mut self) {
        self.wait_in_flight(IN_FLIGHT_WAIT).await;
        self.abort_all();
        self.watcher.abort();
        self.conn.close().await;
    }

    /// The actions still in flight, as `suspend local/ws/prod`.
    pub fn in_flight(&mut self) -> Vec<String> {
        self.in_flight.retain(|f| !f.task.is_finished());
        self.in_flight
            .iter()
            .map(|f| format!("{} {}", f.action, f.unit))
            .collect()
    }

    /// Waits at most `limit` for the actions in flight: each records its own result in the audit log.
    /// One still unanswered then is recorded as failed with an unknown outcome, never left out.
    pub async fn wait_in_flight(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        for f in std::mem::take(&mut self.in_flight) {
            let mut task = f.task;
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                let detail = format!(
                    "outcome unknown: the console closed while waiting {} s for the backend's answer",
                    limit.as_secs()
                );
                tracing::warn!("{} {}: {detail}", f.action, f.unit);
                let (b, unit, action) = (self.conn.backend.clone(), f.unit, f.action);
                let _ =
                    tokio::task::spawn_blocking(move || b.record_failed(&unit, &action, &detail))
                        .await;
            }
        }
    }

    fn load(&mut self, slot: usize, task: impl Future<Output = Msg> + Send + 'static) {
        if let Some(old) = self.loads[slot].take() {
            old.abort();
        }
        let tx = self.tx.clone();
        self.loads[slot] = Some(tokio::spawn(async move {
            let _ = tx.send(task.await).await;
        }));
    }

    fn spawn(&self, task: impl Future<Output = Option<Msg>> + Send + 'static) {
        self.spawn_task(task);
    }

    fn spawn_task(
        &self,
        task: impl Future<Output = Option<Msg>> + Send + 'static,
    ) -> JoinHandle<()> {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Some(msg) = task.await {
                let _ = tx.send(msg).await;
            }
        })
    }

    /// Sends an action and keeps track of it until it is answered.
    fn send_action(
        &mut self,
        unit: String,
        action: crate::model::Action,
        task: impl Future<Output = Option<Msg>> + Send + 'static,
    ) {
        self.in_flight.retain(|f| !f.task.is_finished());
        let task = self.spawn_task(task);
        self.in_flight.push(InFlight { unit, action, task });
    }

    pub fn run(&mut self, effect: Effect) {
        let b = self.conn.backend.clone();
        match effect {
            Effect::LoadDiff { seq, unit } => self.load(0, async move {
                let result = match b.diff_report(&unit).await {
                    Ok(report) => {
                        tokio::task::spawn_blocking(move || DiffDoc::from_report(&report))
                            .await
                            .map_err(|e| format!("diff failed: {e}"))
                    }
                    Err(e) => Err(e.to_string()),
                };
                Msg::Diff { seq, result }
            }),
            Effect::LoadCommitDiff {
                seq,
                unit,
                revision,
            } => self.load(0, async move {
                let result = diff_doc(b.diff_at(&unit, &revision, DiffBase::Parent).await).await;
                Msg::Diff { seq, result }
            }),
            Effect::LoadCompare { seq, a, b: to } => {
                self.load(0, super::compare::load(b, seq, a, to))
            }
            Effect::LoadPreview {
                seq,
                unit,
                revision,
            } => self.spawn(async move {
                let result = diff_doc(b.diff_at(&unit, &revision, DiffBase::Live).await).await;
                Some(Msg::Preview { seq, result })
            }),
            Effect::LoadHistory { seq, unit } => self.load(1, async move {
                let result = b.history(&unit).await.map_err(|e| e.to_string());
                Msg::History { seq, result }
            }),
            Effect::LoadEvents { seq, unit } => self.load(2, async move {
                let result = b.events(&unit).await.map_err(|e| e.to_string());
                Msg::Events { seq, result }
            }),
            Effect::LoadDetail { seq, unit } => self.load(5, async move {
                let result = b.detail(&unit).await.map_err(|e| e.to_string());
                Msg::Detail { seq, result }
            }),
            Effect::Act { id, unit, action } => {
                let (u, a) = (unit.clone(), action.clone());
                self.send_action(u, a, async move {
                    let result = b.act(&unit, &action).await.map(|o| o.message);
                    Some(Msg::Acted { id, result })
                })
            }
            Effect::Fetch { id, source } => {
                let action = crate::model::Action::Sync { with_source: true };
                self.send_action(source.clone(), action, async move {
                    let result = b.fetch(&source).await;
                    Some(Msg::Acted { id, result })
                })
            }
            // Tracked like an action: leaving waits until the refusal is in the audit log.
            Effect::Deny { unit, action } => {
                let (u, a) = (unit.clone(), action.clone());
                self.send_action(u, a, async move {
                    let _ = tokio::task::spawn_blocking(move || {
                        let reason = b
                            .member_for(&unit)
                            .map(|m| crate::backend::read_only_reason(&m.info().context))
                            .unwrap_or_else(|_| crate::backend::READ_ONLY_REASON.to_owned());
                        b.record_denied(&unit, &action, &reason)
                    })
                    .await;
                    None
                })
            }
            Effect::LoadTheme(name) => {
                let dir = self.config_dir.clone();
                let depth = self.depth;
                self.spawn(async move {
                    let result =
                        tokio::task::spawn_blocking(move || Theme::load(&name, Some(&dir), depth))
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|r| r.map_err(|e| e.to_string()));
                    Some(Msg::Theme(result))
                })
            }
            Effect::LoadCaps(unit) => {
                // While the cursor moves (a question less than CAPS_SETTLE after the last), asked once it
                // rests on the unit, not for every row it passes: a key held down over a cluster's units
                // would send a round of SelfSubjectAccessReviews per row (the next question aborts this
                // one while it waits). A lone move is asked at once.
                let moving = self
                    .caps_asked_at
                    .is_some_and(|at| at.elapsed() < CAPS_SETTLE);
                self.caps_asked_at = Some(Instant::now());
                self.load(4, async move {
                    if moving {
                        tokio::time::sleep(CAPS_SETTLE).await;
                    }
                    let result = b.capabilities(&unit).await.map_err(|e| e.to_string());
                    Msg::Caps { unit, result }
                })
            }
            Effect::OpenContext(name) => {
                let open = self.open.clone();
                let done = self.opened_tx.clone();
                tokio::spawn(async move {
                    let opened = tokio::task::spawn_blocking(move || {
                        open(&name).map(|member| (name, member))
                    })
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                    let _ = done.send(opened).await;
                });
            }
            Effect::Refresh => self.load(3, async move {
                Msg::Backend(match b.snapshot().await {
                    Ok(s) => Update::Snapshot(s),
                    Err(e) => Update::Unavailable(e.to_string()),
                })
            }),
            Effect::Quit => {}
            Effect::Copy(text) => {
                use std::io::Write;
                let mut out = io::stdout();
                if let Err(e) = out
                    .write_all(super::osc52::sequence(&text).as_bytes())
                    .and_then(|()| out.flush())
                {
                    tracing::warn!("cannot write the clipboard sequence: {e}");
                }
            }
        }
    }

    fn abort_all(&mut self) {
        for h in self.loads.iter_mut().filter_map(Option::take) {
            h.abort();
        }
    }
}

/// Lays out a backend's diff off the UI thread.
async fn diff_doc(
    objects: Result<Vec<crate::model::ObjectDiff>, crate::backend::BackendError>,
) -> Result<DiffDoc, String> {
    match objects {
        Ok(objects) => tokio::task::spawn_blocking(move || DiffDoc::build(&objects))
            .await
            .map_err(|e| format!("diff failed: {e}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Starts streaming the backend's updates.
fn watch(backend: Arc<Composite>) -> (mpsc::Receiver<Update>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Update>(8);
    (rx, tokio::spawn(watch_forever(backend, tx)))
}

/// Streams the backend's updates; when the watch fails, says so and tries again.
async fn watch_forever(backend: Arc<Composite>, tx: mpsc::Sender<Update>) {
    loop {
        match backend.watch(tx.clone()).await {
            Ok(()) if tx.is_closed() => return,
            Ok(()) => {}
            Err(e) => {
                if tx.send(Update::Unavailable(e.to_string())).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_RETRY) => {}
            _ = tx.closed() => return,
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs the console until quit, end of input, the terminal's hangup, SIGTERM or SIGHUP.
pub async fn run<B: ratatui::backend::Backend>(
    terminal: &mut Terminal<B>,
    mut app: App,
    runner: &mut Runner,
    mut results: mpsc::Receiver<Msg>,
    started: Instant,
) -> io::Result<()>
where
    B::Error: Into<io::Error>,
{
    let mut input = terminal_input::start();
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut first_frame = true;
    let mut first_data_frame = true;
    // when to give the heap a replaced large snapshot freed back to the system (see `heap`)
    let mut trim_at: Option<tokio::time::Instant> = None;
    let result = loop {
        let age_redraw = app.next_age_change().map(|at| {
            let wait = at
                .as_millisecond()
                .saturating_sub(Timestamp::now().as_millisecond());
            tokio::time::Instant::now() + Duration::from_millis(wait.max(0) as u64)
        });
        if app.dirty {
            if let Err(e) = terminal.draw(|f| views::render(f, &app)) {
                break Err(e.into());
            }
            app.dirty = false;
            if first_frame || (first_data_frame && app.loaded) {
                tracing::info!(
                    data = app.loaded,
                    ms = crate::logging::since_start_ms(),
                    "startup: frame after {:.1} ms",
                    started.elapsed().as_secs_f64() * 1000.0
                );
                first_frame = false;
                first_data_frame &= !app.loaded;
            }
        }
        let msg = tokio::select! {
            ev = input.recv() => match ev {
                Some(Input::Event(Event::Key(k))) if k.kind != KeyEventKind::Release => Msg::Key(k),
                Some(Input::Event(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Input::Event(_)) => continue,
                Some(Input::Failed(e)) => break Err(e),
                Some(Input::HungUp) => {
                    tracing::info!("the terminal hung up: leaving the console");
                    break Ok(());
                }
                None => break Ok(()),
            },
            Some(u) = runner.updates.recv() => Msg::Backend(u),
            Some(opened) = runner.opened.recv() => runner.install(opened),
            Some(m) = results.recv() => m,
            _ = tick.tick(), if app.needs_tick() => Msg::Tick,
            _ = sleep_until_some(age_redraw) => Msg::Tick,
            _ = sleep_until_some(trim_at) => {
                trim_at = None;
                tokio::task::spawn_blocking(heap::trim);
                continue;
            }
            _ = term.recv() => {
                tracing::info!("SIGTERM: leaving the console");
                break Ok(());
            }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: the terminal went away (a dropped SSH link); leaving the console");
                break Ok(());
            }
        };
        if let Msg::Backend(Update::Snapshot(s)) = &msg
            && s.units.len().max(app.snapshot.units.len()) >= heap::LARGE
        {
            trim_at = Some(tokio::time::Instant::now() + heap::QUIET);
        }
        for effect in app.update(msg, Timestamp::now()) {
            runner.run(effect);
        }
        if app.quit {
            break Ok(());
        }
    };
    // Leaving: actions still in flight are waited for (bounded), so that each is in the audit log; the
    // screen says what is being waited for while the terminal is still there.
    let pending = runner.in_flight();
    if !pending.is_empty() {
        tracing::info!("leaving: waiting for {} action(s) in flight", pending.len());
        app.flash = Some(super::app::Flash {
            ok: true,
            tone: super::app::Tone::Plain,
            text: format!(
                "leaving: waiting up to {} s for {} to finish and be recorded",
                IN_FLIGHT_WAIT.as_secs(),
                pending.join(", ")
            ),
        });
        app.pending = None;
        let _ = terminal.draw(|f| views::render(f, &app));
        runner.wait_in_flight(IN_FLIGHT_WAIT).await;
    }
    result
}
