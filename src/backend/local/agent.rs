//! The embedded GitOps agent's scheduler: every source at its interval, every environment at its interval,
//! dependencies first, failures backed off with jitter, operator intent honoured within a second.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::apply;
use super::converge;
use super::reconcile::{
    EnvRuntime, FetchOutcome, PassOutcome, fetch_source, reconcile_env, recover,
};
use super::spec::{Spec, dependency_order};
use super::state::{Inventory, JournalEntry, append_journal};
use super::workspace::{AgentStatus, Workspace};

/// How often operator intent (control files) is looked at.
pub const CONTROL_POLL: Duration = Duration::from_millis(250);
/// How soon a waiting environment looks again.
const WAIT_RETRY: Duration = Duration::from_secs(2);
const BACKOFF_BASE: Duration = Duration::from_secs(2);
const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// Where the agent's one-line event log goes (stdout for `setpoint agent`, the log file in the console).
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Capped exponential backoff with ±20% jitter: 2s, 4s, 8s … at most 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let d = exp.min(BACKOFF_CAP);
    let jitter = 0.8 + fastrand::f64() * 0.4;
    d.mul_f64(jitter)
}

/// When a failed fetch is tried again after `failures` failures in a row: 2 s doubling up to 5 minutes, as the
/// README says, whatever the source's interval (an interval of 1 s must not mean a retry every second).
fn fetch_retry(failures: u32, _interval: Duration) -> Duration {
    backoff(failures)
}

pub struct Agent {
    ws: Arc<Workspace>,
    stop: Arc<AtomicBool>,
    log: LogSink,
}

struct SourceSlot {
    due: Instant,
    failures: u32,
    busy: bool,
    /// A sync with source was asked while a fetch was in flight: that fetch began before the request, so
    /// another one follows it at once (a request is never answered with an older fetch).
    again: bool,
}

struct EnvSlot {
    due: Instant,
    failures: u32,
    runtime: Option<EnvRuntime>,
    control_seen: Option<SystemTime>,
    last_message: String,
}

enum Done {
    Source(String, FetchOutcome),
    Env(String, EnvRuntime, PassOutcome),
}

/// Makes every environment's inventory true after whatever crash came before (see [`recover`]): the log
/// lines to say, and each inventory read, for the environment's first pass.
fn clean_targets(ws: &Workspace) -> (Vec<String>, HashMap<String, Inventory>) {
    let mut lines = Vec::new();
    let mut inventories = HashMap::new();
    for env in &ws.spec.environments {
        let (n, inv) = recover(ws, env);
        if n > 0 {
            lines.push(format!(
                "{}: removed {n} temporary file(s) left by an interrupted apply",
                env.name
            ));
        }
        if let Some(inv) = inv {
            inventories.insert(env.name.clone(), inv);
        }
    }
    (lines, inventories)
}

impl Agent {
    pub fn new(ws: Workspace, log: LogSink) -> Self {
        Self {
            ws: Arc::new(ws),
            stop: Arc::new(AtomicBool::new(false)),
            log,
        }
    }

    /// Set to finish the file being written and stop.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    fn say(&self, what: &str) {
        (self.log)(&format!(
            "{} {what}",
            Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
        ));
    }

    /// Rereads the workspace file when its bytes changed since `seen`: the new workspace when it is valid;
    /// otherwise the error is logged, journalled and kept in the agent's status, and the last good version
    /// stays in force.
    fn reread(&self, seen: &mut Option<Vec<u8>>) -> Option<Workspace> {
        let bytes = std::fs::read(&self.ws.spec.file).ok();
        if bytes == *seen {
            return None;
        }
        *seen = bytes.clone();
        let hash = bytes.as_deref().map(apply::hash_bytes);
        match Workspace::load(&self.ws.spec.file) {
            Ok(ws) => {
                if self.ws.agent_status().workspace_error.is_some()
                    && let Err(e) = ws.save_agent_status(&AgentStatus::default())
                {
                    tracing::error!("{e}");
                }
                Some(ws)
            }
            Err(e) => {
                let message = e.to_string();
                self.say(&format!(
                    "workspace file not applied, running the last good version: {message}"
                ));
                let st = AgentStatus {
                    workspace_error: Some(message.clone()),
                    since: Some(Timestamp::now()),
                    file_hash: hash,
                };
                if let Err(e) = self.ws.save_agent_status(&st) {
                    tracing::error!("{e}");
                }
                let j = JournalEntry::new("workspace", "failed", message);
                if let Err(e) = append_journal(&self.ws.state.journal(), &j) {
                    tracing::error!("{e}");
                }
                None
            }
        }
    }

    /// Puts a reread workspace in force: new sources and environments are due now, changed ones too, and the
    /// slots of removed ones go (a removed environment busy in a pass is retired when that pass ends).
    fn take_workspace(
        &mut self,
        ws: Workspace,
        sources: &mut BTreeMap<String, SourceSlot>,
        envs: &mut BTreeMap<String, EnvSlot>,
        now: Instant,
    ) -> Vec<String> {
        let summary = changes(&self.ws.spec, &ws.spec);
        self.say(&format!("workspace file reread: {summary}"));
        let j = JournalEntry::new(
            "workspace",
            "reloaded",
            format!("workspace file reread: {summary}"),
        );
        if let Err(e) = append_journal(&ws.state.journal(), &j) {
            tracing::error!("{e}");
        }
        self.ws = Arc::new(ws);
        let spec = &self.ws.spec;
        sources.retain(|name, _| spec.source(name).is_some());
        for s in &spec.sources {
            let slot = sources.entry(s.name.clone()).or_insert(SourceSlot {
                due: now,
                failures: 0,
                busy: false,
                again: false,
            });
            slot.due = now;
            slot.failures = 0;
        }
        let removed: Vec<String> = envs
            .iter()
            .filter(|(name, slot)| spec.environment(name).is_none() && slot.runtime.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        envs.retain(|name, _| !removed.contains(name));
        for e in &spec.environments {
            let slot = envs.entry(e.name.clone()).or_insert_with(|| EnvSlot {
                due: now,
                failures: 0,
                runtime: Some(EnvRuntime::default()),
                control_seen: mtime(&self.ws.state.control(&e.name)),
                last_message: String::new(),
            });
            slot.due = now;
            slot.failures = 0;
        }
        removed
    }

    /// Retires removed environments on a worker thread.
    fn spawn_retire(&self, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        let (ws, log) = (self.ws.clone(), self.log.clone());
        tokio::task::spawn_blocking(move || {
            for name in names {
                let line = converge::retire(&ws, &name);
                log(&format!(
                    "{} {line}",
                    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
                ));
            }
        });
    }

    /// One pass over everything (blocking): fetch every source in parallel, then reconcile every
    /// environment in dependency order.
    pub fn run_once(&self) -> Vec<(String, PassOutcome)> {
        // The fetches (a child process or the network) and the recovery of the targets and inventories
        // (reading each inventory, megabytes for a large target) touch different files: both at once. The
        // log says their lines in the order they always came: recovery, retirement, fetches.
        let ((cleaned, mut inventories), retired, fetched) = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .ws
                .spec
                .sources
                .iter()
                .map(|src| {
                    let name = src.name.clone();
                    let ws = &self.ws;
                    s.spawn(move || {
                        let o = fetch_source(ws, &name);
                        (name, o)
                    })
                })
                .collect();
            let cleaned = clean_targets(&self.ws);
            let retired = converge::retire_removed(&self.ws);
            let fetched: Vec<(String, FetchOutcome)> =
                handles.into_iter().filter_map(|h| h.join().ok()).collect();
            (cleaned, retired, fetched)
        });
        for line in cleaned.iter().chain(&retired) {
            self.say(line);
        }
        for (name, o) in &fetched {
            self.log_fetch(name, o);
        }
        let mut out = Vec::new();
        for env in dependency_order(&self.ws.spec.environments) {
            let mut rt = EnvRuntime::with_inventory(inventories.remove(&env.name));
            let o = reconcile_env(&self.ws, env, &mut rt, &self.stop);
            self.log_env(&env.name, &o);
            out.push((env.name.clone(), o));
        }
        out
    }

    fn log_fetch(&self, name: &str, o: &FetchOutcome) {
        if let Some(note) = &o.healed {
            self.say(&format!("source {name}: {note}"));
        }
        match (&o.error, &o.revision) {
            (Some(e), _) => self.say(&format!("source {name} fetch failed: {e}")),
            (None, Some(r)) if o.changed => {
                self.say(&format!("source {name} fetched {}", r.short()))
            }
            _ => {}
        }
    }

    fn log_env(&self, name: &str, o: &PassOutcome) -> String {
        let msg = self
            .ws
            .env_state(name)
            .status
            .map(|s| s.message)
            .unwrap_or_default();
        let word = match o {
            PassOutcome::Ready { changed: 0 } => "ready",
            PassOutcome::Ready { .. } => "applied",
            PassOutcome::Suspended => "suspended",
            PassOutcome::Waiting(_) => "waiting",
            PassOutcome::Failed(_) => "failed",
            PassOutcome::Interrupted => "interrupted",
        };
        let line = format!("{name} {word}: {msg}");
        self.say(&line);
        line
    }

    /// Runs until `shutdown` completes; then finishes the file being written and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let ws = self.ws.clone();
        let mut spec_seen = std::fs::read(&ws.spec.file).ok();
        let mut inventories = {
            let agent_ws = ws.clone();
            match tokio::task::spawn_blocking(move || {
                let (_, inventories) = clean_targets(&agent_ws);
                (inventories, converge::retire_removed(&agent_ws))
            })
            .await
            {
                Ok((inventories, lines)) => {
                    lines.iter().for_each(|l| self.say(l));
                    inventories
                }
                Err(_) => HashMap::new(),
            }
        };
        self.say(&format!(
            "agent started on {} ({} sources, {} environments)",
            ws.spec.dir.display(),
            ws.spec.sources.len(),
            ws.spec.environments.len()
        ));
        let start = Instant::now();
        let mut sources: BTreeMap<String, SourceSlot> = ws
            .spec
            .sources
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    SourceSlot {
                        due: start,
                        failures: 0,
                        busy: false,
                        again: false,
                    },
                )
            })
            .collect();
        let mut envs: BTreeMap<String, EnvSlot> = ws
            .spec
            .environments
            .iter()
            .map(|e| {
                let slot = EnvSlot {
                    due: start,
                    failures: 0,
                    runtime: Some(EnvRuntime::with_inventory(inventories.remove(&e.name))),
                    control_seen: mtime(&ws.state.control(&e.name)),
                    last_message: String::new(),
                };
                (e.name.clone(), slot)
            })
            .collect();
        let mut order: Vec<String> = dependency_order(&ws.spec.environments)
            .iter()
            .map(|e| e.name.clone())
            .collect();
        let (tx, mut rx) = mpsc::unbounded_channel::<Done>();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut stopping = false;
        loop {
            let busy = sources.values().filter(|s| s.busy).count()
                + envs.values().filter(|e| e.runtime.is_none()).count();
            if stopping && busy == 0 {
                break;
            }
            let now = Instant::now();
            if !stopping && let Some(new) = self.reread(&mut spec_seen) {
                let removed = self.take_workspace(new, &mut sources, &mut envs, now);
                self.spawn_retire(removed);
                order = dependency_order(&self.ws.spec.environments)
                    .iter()
                    .map(|e| e.name.clone())
                    .collect();
            }
            let ws = self.ws.clone();
            if !stopping {
                self.poll_controls(&mut envs, &mut sources, now);
                for (name, slot) in sources.iter_mut().filter(|(_, s)| !s.busy && s.due <= now) {
                    slot.busy = true;
                    let (ws, tx, name) = (ws.clone(), tx.clone(), name.clone());
                    tokio::task::spawn_blocking(move || {
                        let o = fetch_source(&ws, &name);
                        let _ = tx.send(Done::Source(name, o));
                    });
                }
                for name in &order {
                    let Some(env) = ws.spec.environment(name) else {
                        continue;
                    };
                    let source_busy = sources.get(&env.source).is_some_and(|s| s.busy);
                    let Some(slot) = envs.get_mut(name) else {
                        continue;
                    };
                    if slot.due > now || source_busy {
                        continue;
                    }
                    let Some(mut rt) = slot.runtime.take() else {
                        continue;
                    };
                    let (ws, tx, name, stop) =
                        (ws.clone(), tx.clone(), name.clone(), self.stop.clone());
                    tokio::task::spawn_blocking(move || {
                        let Some(env) = ws.spec.environment(&name).cloned() else {
                            return;
                        };
                        let o = reconcile_env(&ws, &env, &mut rt, &stop);
                        let _ = tx.send(Done::Env(name, rt, o));
                    });
                }
            }
            let next_due = sources
                .values()
                .filter(|s| !s.busy)
                .map(|s| s.due)
                .chain(envs.values().filter(|e| e.runtime.is_some()).map(|e| e.due))
                .min()
                .unwrap_or(now + CONTROL_POLL);
            let wake = next_due
                .min(now + CONTROL_POLL)
                .max(now + Duration::from_millis(10));
            tokio::select! {
                Some(done) = rx.recv() => self.handle(done, &mut sources, &mut envs),
                _ = tokio::time::sleep_until(wake) => {}
                _ = &mut shutdown, if !stopping => {
                    self.say("shutting down: finishing the file being written");
                    self.stop.store(true, Ordering::SeqCst);
                    stopping = true;
                }
            }
        }
        self.say("agent stopped");
    }

    fn handle(
        &self,
        done: Done,
        sources: &mut BTreeMap<String, SourceSlot>,
        envs: &mut BTreeMap<String, EnvSlot>,
    ) {
        let now = Instant::now();
        match done {
            Done::Source(name, o) => {
                self.log_fetch(&name, &o);
                let interval = self
                    .ws
                    .spec
                    .source(&name)
                    .map(|s| s.interval)
                    .unwrap_or(Duration::from_secs(60));
                if let Some(slot) = sources.get_mut(&name) {
                    slot.busy = false;
                    if std::mem::take(&mut slot.again) {
                        slot.due = now;
                    } else if o.error.is_some() {
                        slot.failures += 1;
                        slot.due = now + fetch_retry(slot.failures, interval);
                    } else {
                        slot.failures = 0;
                        slot.due = now + interval;
                    }
                }
                if o.changed {
                    for e in self
                        .ws
                        .spec
                        .environments
                        .iter()
                        .filter(|e| e.source == name)
                    {
                        if let Some(slot) = envs.get_mut(&e.name) {
                            slot.due = now;
                        }
                    }
                }
            }
            Done::Env(name, rt, o) => {
                let interval = self
                    .ws
                    .spec
                    .environment(&name)
                    .map(|e| e.interval)
                    .unwrap_or(Duration::from_secs(30));
                let msg = self
                    .ws
                    .env_state(&name)
                    .status
                    .map(|s| s.message)
                    .unwrap_or_default();
                if self.ws.spec.environment(&name).is_none() {
                    // Removed from the workspace file while this pass ran.
                    envs.remove(&name);
                    self.spawn_retire(vec![name]);
                    return;
                }
                let Some(slot) = envs.get_mut(&name) else {
                    return;
                };
                slot.runtime = Some(rt);
                if msg != slot.last_message {
                    self.log_env(&name, &o);
                    slot.last_message = msg;
                }
                slot.due = match &o {
                    PassOutcome::Failed(_) => {
                        slot.failures += 1;
                        now + backoff(slot.failures)
                    }
                    PassOutcome::Waiting(_) => now + WAIT_RETRY.min(interval),
                    _ => {
                        slot.failures = 0;
                        now + interval
                    }
                };
                if matches!(o, PassOutcome::Ready { changed } if changed > 0) {
                    for e in self
                        .ws
                        .spec
                        .environments
                        .iter()
                        .filter(|e| e.depends_on.contains(&name))
                    {
                        if let Some(dep) = envs.get_mut(&e.name) {
                            dep.due = now;
                        }
                    }
                }
            }
        }
    }

    /// Makes environments due now when their operator intent changed; a sync with source fetches first.
    fn poll_controls(
        &self,
        envs: &mut BTreeMap<String, EnvSlot>,
        sources: &mut BTreeMap<String, SourceSlot>,
        now: Instant,
    ) {
        for env in &self.ws.spec.environments {
            let Some(slot) = envs.get_mut(&env.name) else {
                continue;
            };
            let seen = mtime(&self.ws.state.control(&env.name));
            if seen == slot.control_seen {
                continue;
            }
            slot.control_seen = seen;
            slot.due = now;
            slot.failures = 0;
            let control = self.ws.control(&env.name);
            let handled = self.ws.env_state(&env.name).handled_sync_at;
            if let Some(sync) = control.sync
                && sync.with_source
                && handled.is_none_or(|h| h < sync.intent.at)
                && let Some(src) = sources.get_mut(&env.source)
            {
                src.due = now;
                src.again |= src.busy;
            }
        }
    }
}

/// `+ name` / `- name` / `~ name` for sources and environments that came, went or changed.
fn changes(old: &Spec, new: &Spec) -> String {
    let mut out = Vec::new();
    for s in &new.sources {
        match old.source(&s.name) {
            None => out.push(format!("+source {}", s.name)),
            Some(o) if o != s => out.push(format!("~source {}", s.name)),
            Some(_) => {}
        }
    }
    for s in old.sources.iter().filter(|s| new.source(&s.name).is_none()) {
        out.push(format!("-source {}", s.name));
    }
    for e in &new.environments {
        match old.environment(&e.name) {
            None => out.push(format!("+{}", e.name)),
            Some(o) if o != e => out.push(format!("~{}", e.name)),
            Some(_) => {}
        }
    }
    for e in old
        .environments
        .iter()
        .filter(|e| new.environment(&e.name).is_none())
    {
        out.push(format!("-{}", e.name));
    }
    if out.is_empty() {
        "no change to sources or environments".into()
    } else {
        out.join(", ")
    }
}

fn mtime(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(1);
        assert!(
            first >= Duration::from_millis(1600) && first <= Duration::from_millis(2400),
            "{first:?}"
        );
        assert!(backoff(3) >= Duration::from_millis(6400));
        for f in [10, 20, 40, u32::MAX] {
            assert!(backoff(f) <= BACKOFF_CAP.mul_f64(1.2));
        }
    }

    #[test]
    fn a_failing_source_backs_off_to_five_minutes_whatever_its_interval() {
        for interval in [Duration::from_secs(1), Duration::from_secs(60)] {
            assert!(fetch_retry(1, interval) <= Duration::from_millis(2400));
            let capped = fetch_retry(30, interval);
            assert!(
                capped >= Duration::from_secs(240) && capped <= Duration::from_secs(360),
                "{interval:?}: {capped:?}"
            );
        }
    }
}
