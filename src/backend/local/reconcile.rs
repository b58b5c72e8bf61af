//! One pass of the control loop: fetch a source, or reconcile an environment (render, apply, report drift).
//! Blocking code; the scheduler runs it on worker threads.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use gix::ObjectId;
use jiff::Timestamp;

use super::apply::{self, ApplyReport};
use super::converge;
use super::drift;
use super::render::{self, Rendered};
use super::spec::{DriftMode, EnvSpec};
use super::state::{EnvState, Inventory, JournalEntry, append_journal, write_json_compact};
use super::workspace::{Workspace, held_because, unit_id};
use crate::model::{Revision, Status, StatusKind};

/// How far back `commits behind` counts.
const BEHIND_LIMIT: usize = 10_000;

/// What a pass concluded, for scheduling and the agent's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassOutcome {
    /// Applied or already in sync; `changed` files written or pruned.
    Ready {
        changed: usize,
    },
    Suspended,
    /// Waiting for a dependency or the source.
    Waiting(String),
    Failed(String),
    /// Stopped by a shutdown request.
    Interrupted,
}

/// What the agent keeps in memory per environment between passes.
#[derive(Debug, Default)]
pub struct EnvRuntime {
    /// The last render, keyed by commit and overlay path: rendering is pure, so a no-op pass skips it.
    cache: Option<(ObjectId, String, Rendered)>,
    inventory: Option<Inventory>,
}

impl EnvRuntime {
    /// A runtime whose first pass starts from `inventory`, already read and made true by [`recover`]
    /// (`None`: the pass reads it itself).
    pub(crate) fn with_inventory(inventory: Option<Inventory>) -> Self {
        Self {
            cache: None,
            inventory,
        }
    }
}

/// Result of fetching a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    pub revision: Option<Revision>,
    pub changed: bool,
    pub error: Option<String>,
    /// Set when the mirror was broken and had to be re-created from the URL: what was wrong.
    pub healed: Option<String>,
}

/// Fetches one source into its mirror and records its state. A failure keeps the last good commit.
pub fn fetch_source(ws: &Workspace, name: &str) -> FetchOutcome {
    let Some(spec) = ws.spec.source(name) else {
        return FetchOutcome {
            revision: None,
            changed: false,
            error: Some(format!("no source `{name}`")),
            healed: None,
        };
    };
    let mut st = ws.source_state(name);
    let now = Timestamp::now();
    let prev = st
        .status
        .clone()
        .unwrap_or_else(|| Status::new(StatusKind::Unknown, "", now));
    let url = ws.spec.fetch_url(spec);
    let result = ws.mirror(name).fetch(&url, &spec.reference);
    st.last_fetch_at = Some(now);
    let healed = result.as_ref().ok().and_then(|f| f.healed.clone());
    if let Some(note) = &healed {
        let mut j = JournalEntry::new("fetch", "healed", note.clone());
        j.source = Some(name.to_owned());
        let _ = append_journal(&ws.state.journal(), &j);
    }
    let outcome = match result {
        Ok(fetched) => {
            let rev = Revision::new(spec.reference.name(), &fetched.id.to_string());
            match rev {
                Ok(rev) => {
                    let changed = st.revision.as_ref() != Some(&rev);
                    let note = healed
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    st.status = Some(prev.transition(
                        StatusKind::Ready,
                        format!("fetched {}{note}", rev.short()),
                        now,
                    ));
                    st.consecutive_failures = 0;
                    st.revision = Some(rev.clone());
                    FetchOutcome {
                        revision: Some(rev),
                        changed,
                        error: None,
                        healed,
                    }
                }
                Err(e) => FetchOutcome {
                    revision: st.revision.clone(),
                    changed: false,
                    error: Some(e.to_string()),
                    healed,
                },
            }
        }
        Err(e) => FetchOutcome {
            revision: st.revision.clone(),
            changed: false,
            error: Some(e.0),
            healed: None,
        },
    };
    if let Some(e) = &outcome.error {
        st.consecutive_failures += 1;
        let kept = match &st.revision {
            Some(r) => format!("; keeping last good commit {}", r.short()),
            None => String::new(),
        };
        st.status = Some(prev.transition(StatusKind::Failed, format!("{e}{kept}"), now));
    }
    if let Err(e) = ws.save_source_state(name, &st) {
        tracing::error!("{e}");
    }
    if outcome.changed || outcome.error.is_some() {
        let mut j = match &outcome.error {
            Some(e) => JournalEntry::new("fetch", "failed", e.clone()),
            None => JournalEntry::new(
                "fetch",
                "ok",
                format!(
                    "fetched {}",
                    outcome
                        .revision
                        .as_ref()
                        .map(Revision::short)
                        .unwrap_or_default()
                ),
            ),
        };
        j.source = Some(name.to_owned());
        j.revision = outcome.revision.clone();
        let _ = append_journal(&ws.state.journal(), &j);
    }
    outcome
}

fn commit_id(rev: &Revision) -> Option<ObjectId> {
    ObjectId::from_hex(rev.sha().as_bytes()).ok()
}

/// Whether a dependency is ready at the revision it should be at; otherwise what it is waiting for.
fn dependency_wait(ws: &Workspace, env: &EnvSpec) -> Option<String> {
    for dep in &env.depends_on {
        let Some(dep_env) = ws.spec.environment(dep) else {
            continue;
        };
        let st = ws.env_state(dep);
        let want = ws.target_revision(dep_env);
        let ok_status = st
            .status
            .as_ref()
            .is_some_and(|s| s.kind == StatusKind::Ready);
        let at_latest = match (&st.applied, &want) {
            (Some(a), Some(w)) => a.same_commit(w),
            _ => false,
        };
        // A suspended dependency still counts when it runs the revision it should.
        let suspended = Workspace::suspension(dep_env, &ws.control(dep)).is_some();
        if !(at_latest && (ok_status || suspended)) {
            let why = match (&st.status, at_latest) {
                (Some(s), true) => format!("{} is {}", dep, s.kind),
                (Some(s), false) if s.kind != StatusKind::Ready => {
                    format!("{dep} is {}: {}", s.kind, s.message)
                }
                _ => format!("{dep} is not at its latest revision yet"),
            };
            return Some(format!("waiting for {why}"));
        }
    }
    None
}

/// One reconciliation in progress: what it started from, and how it records its end.
struct Pass<'a> {
    ws: &'a Workspace,
    env: &'a EnvSpec,
    started: Instant,
    now: Timestamp,
    prev: Status,
    st: EnvState,
    /// The state file is corrupt: leave it as it is rather than replace it.
    keep_state_file: bool,
}

impl Pass<'_> {
    /// Records the new status and a journal line, and returns `outcome`.
    fn end(
        mut self,
        kind: StatusKind,
        message: String,
        outcome: PassOutcome,
        report: Option<&ApplyReport>,
        revision: Option<&Revision>,
    ) -> PassOutcome {
        let status = self.prev.transition(kind, message, self.now);
        self.st.status = Some(status.clone());
        self.st.last_reconcile_at = Some(Timestamp::now());
        if !self.keep_state_file
            && let Err(e) = self.ws.save_env_state(&self.env.name, &self.st)
        {
            tracing::error!("{e}");
        }
        if kind != self.prev.kind {
            let mut j = JournalEntry::new(
                "status",
                kind.as_str(),
                format!("{} -> {kind}: {}", self.prev.kind, status.message),
            );
            j.unit = Some(unit_id(&self.env.name));
            j.revision = revision.cloned();
            if let Err(e) = append_journal(&self.ws.state.journal(), &j) {
                tracing::error!("{e}");
            }
        }
        let word = match &outcome {
            PassOutcome::Ready { changed: 0 } => "unchanged",
            PassOutcome::Ready { .. } => "applied",
            PassOutcome::Suspended => "suspended",
            PassOutcome::Waiting(_) => "waiting",
            PassOutcome::Failed(_) => "failed",
            PassOutcome::Interrupted => "interrupted",
        };
        let mut j = JournalEntry::new("reconcile", word, status.message);
        j.unit = Some(unit_id(&self.env.name));
        j.source = Some(self.env.source.clone());
        j.revision = revision.cloned();
        j.duration_ms = Some(self.started.elapsed().as_millis() as u64);
        j.files_changed = report.map(ApplyReport::changed);
        if let Err(e) = append_journal(&self.ws.state.journal(), &j) {
            tracing::error!("{e}");
        }
        outcome
    }

    /// A failure of `revision`: remembered, counted, status failed with `message`.
    /// The pass stops before applying anything (a state file or the old target cannot be handled): failed, saying why.
    fn stopped(self, why: String) -> PassOutcome {
        self.end(
            StatusKind::Failed,
            why.clone(),
            PassOutcome::Failed(why),
            None,
            None,
        )
    }

    fn fail(mut self, revision: &Revision, message: String, cause: String) -> PassOutcome {
        self.st.remember_failed(revision.sha());
        self.st.consecutive_failures += 1;
        self.end(
            StatusKind::Failed,
            message,
            PassOutcome::Failed(cause),
            None,
            Some(revision),
        )
    }
}

/// Reconciles one environment once.
pub fn reconcile_env(
    ws: &Workspace,
    env: &EnvSpec,
    rt: &mut EnvRuntime,
    stop: &AtomicBool,
) -> PassOutcome {
    let now = Timestamp::now();
    let (st, corrupt_state) = match ws.try_env_state(&env.name) {
        Ok(st) => (st, None),
        Err(e) => (EnvState::default(), Some(e)),
    };
    let prev = st
        .status
        .clone()
        .unwrap_or_else(|| Status::new(StatusKind::Unknown, "", now));
    let mut pass = Pass {
        ws,
        env,
        started: Instant::now(),
        now,
        prev,
        st,
        keep_state_file: corrupt_state.is_some(),
    };
    // Fail closed: a state file that cannot be read holds the environment (a lost suspend or pin must
    // never turn into an apply), and the corrupt file is left for the operator to look at.
    let control = match corrupt_state.map_or_else(|| ws.try_control(&env.name), Err) {
        Ok(control) => control,
        Err(e) => {
            let why = held_because(&e);
            return pass.end(StatusKind::Failed, why, PassOutcome::Failed(e), None, None);
        }
    };
    let src = ws.source_state(&env.source);
    if rt.inventory.is_none() {
        match ws.inventory(&env.name) {
            Ok(mut inv) => {
                // First look at it in this process: make it true after whatever crash came before.
                let (removed, changed) = apply::recover(&env.target, &mut inv);
                if removed > 0 {
                    tracing::info!(
                        "{}: removed {removed} temporary file(s) of an interrupted apply",
                        env.name
                    );
                }
                if changed && let Err(e) = write_json_compact(&ws.state.inventory(&env.name), &inv)
                {
                    return pass.stopped(e);
                }
                rt.inventory = Some(inv);
            }
            Err(e) => {
                return pass.end(
                    StatusKind::Failed,
                    held_because(&e),
                    PassOutcome::Failed(e),
                    None,
                    None,
                );
            }
        }
    }
    let inventory = rt.inventory.get_or_insert_with(Inventory::default);
    if let Some(sync) = &control.sync {
        pass.st.handled_sync_at = Some(sync.intent.at);
    }
    // Until a moved target is converged, drift is what changed in the old one.
    let live_target = pass.st.applied_target.clone().unwrap_or(env.target.clone());
    pass.st.drifted = drift::drifted(&live_target, inventory);
    pass.st.commits_behind = behind(ws, env, pass.st.applied.as_ref(), src.revision.as_ref());
    if let Some(why) = Workspace::suspension(env, &control) {
        return pass.end(
            StatusKind::Suspended,
            format!("suspended: {why}"),
            PassOutcome::Suspended,
            None,
            None,
        );
    }
    let inv_path = ws.state.inventory(&env.name);
    if let Some(old) = pass.st.applied_target.clone().filter(|t| *t != env.target) {
        // The workspace file moved the target: leave the old one, then start afresh in the new one.
        match converge::leave_target(&old, inventory, env.prune) {
            Ok(left) => {
                *inventory = Inventory::default();
                if let Err(e) = write_json_compact(&inv_path, inventory) {
                    return pass.stopped(e);
                }
                pass.st.applied_target = Some(env.target.clone());
                pass.st.applied = None;
                pass.st.drifted.clear();
                let mut j = JournalEntry::new(
                    "reconcile",
                    "moved",
                    format!(
                        "target moved to {}: {}",
                        env.target.display(),
                        left.describe(&old)
                    ),
                );
                j.unit = Some(unit_id(&env.name));
                if let Err(e) = append_journal(&ws.state.journal(), &j) {
                    tracing::error!("{e}");
                }
            }
            Err(e) => {
                let msg = format!("cannot leave the old target {}: {e}", old.display());
                return pass.stopped(msg);
            }
        }
    }
    let target_rev = match (
        control.pin.as_ref().map(|p| p.revision.clone()),
        src.revision.clone(),
    ) {
        (Some(pin), _) => pin,
        (None, Some(latest)) => latest,
        (None, None) => {
            let (kind, why) = match &src.status {
                Some(s) if s.kind == StatusKind::Failed => (
                    StatusKind::Failed,
                    format!("source {} failed: {}", env.source, s.message),
                ),
                _ => (
                    StatusKind::Progressing,
                    format!("waiting for source {} to be fetched", env.source),
                ),
            };
            return pass.end(kind, why.clone(), PassOutcome::Waiting(why), None, None);
        }
    };
    if let Some(why) = dependency_wait(ws, env) {
        return pass.end(
            StatusKind::Progressing,
            why.clone(),
            PassOutcome::Waiting(why),
            None,
            Some(&target_rev),
        );
    }
    let Some(commit) = commit_id(&target_rev) else {
        let msg = format!("{target_rev} is not a full commit id");
        return pass.fail(&target_rev, msg.clone(), msg);
    };
    pass.st.attempted = Some(target_rev.clone());
    // Nothing can have changed since the last pass applied this very render to this target and the live
    // files still match the inventory: skip rendering (reading every blob) and planning. This is what makes
    // a no-op pass cheap, in the loop and as a whole process (`agent --once`).
    let render_key = format!(
        "{commit} {} {} prune={}",
        env.path, ws.spec.max_file_size, env.prune
    );
    let settled = pass.st.applied.as_ref() == Some(&target_rev)
        && pass.st.applied_render.as_deref() == Some(render_key.as_str())
        && pass.st.applied_target.as_ref() == Some(&env.target)
        && pass.prev.kind == StatusKind::Ready
        && pass.st.drifted.is_empty()
        && inventory.staging.is_none()
        && !inventory
            .files
            .values()
            .any(|e| e.next.is_some() || e.hash.is_empty())
        && env.target.is_dir();
    let report = if settled {
        ApplyReport::default()
    } else {
        let cached = matches!(&rt.cache, Some((c, p, _)) if *c == commit && *p == env.path);
        if !cached {
            match render_commit(ws, env, commit) {
                Ok(r) => rt.cache = Some((commit, env.path.clone(), r)),
                Err(msg) => {
                    let still = match &pass.st.applied {
                        Some(a) => format!("; still at last good {}", a.short()),
                        None => String::new(),
                    };
                    return pass.fail(&target_rev, format!("render failed: {msg}{still}"), msg);
                }
            }
        }
        let Some((_, _, desired)) = &rt.cache else {
            return PassOutcome::Failed("internal: render cache empty".into());
        };
        pass.st.applied_target = Some(env.target.clone());
        pass.st.applied_prune = Some(env.prune);
        let save = |inv: &Inventory| write_json_compact(&inv_path, inv);
        let policy = apply::Policy {
            drift: env.drift,
            prune: env.prune,
            adopt: env.adopt,
        };
        match apply::apply(
            &env.target,
            desired,
            inventory,
            &pass.st.drifted,
            policy,
            &save,
            stop,
        ) {
            Ok(report) => report,
            Err(msg) => {
                pass.st.drifted = drift::drifted(&env.target, inventory);
                return pass.fail(
                    &target_rev,
                    format!("apply of {} failed: {msg}", target_rev.short()),
                    msg,
                );
            }
        }
    };
    if report.changed() > 0 || !report.released.is_empty() || !report.adopted.is_empty() {
        // What was just written matches the inventory by construction and what was pruned or released is no
        // longer managed: the rest drifts as it did before the apply (no second look at every file).
        let written: std::collections::HashSet<&str> =
            report.written.iter().map(String::as_str).collect();
        pass.st
            .drifted
            .retain(|f| inventory.files.contains_key(f) && !written.contains(f.as_str()));
    }
    if report.interrupted {
        let msg = "interrupted by shutdown; resumes on the next start".to_owned();
        return pass.end(
            StatusKind::Progressing,
            msg,
            PassOutcome::Interrupted,
            Some(&report),
            Some(&target_rev),
        );
    }
    if !report.conflicts.is_empty() {
        // Files the agent does not own are in the way: everything else is applied, the rest is left
        // to the operator, and the environment is not at this revision.
        let mut msg = format!(
            "apply of {}: {} conflict(s) with files setpoint does not own: {}",
            target_rev.short(),
            report.conflicts.len(),
            report.conflicts.join("; ")
        );
        if !report.adopted.is_empty() {
            msg.push_str(&format!(
                "; adopted (already identical, now managed): {}",
                report.adopted.join(", ")
            ));
        }
        pass.st.consecutive_failures += 1;
        return pass.end(
            StatusKind::Failed,
            msg.clone(),
            PassOutcome::Failed(msg),
            Some(&report),
            Some(&target_rev),
        );
    }
    let moved = pass.st.applied.as_ref() != Some(&target_rev);
    pass.st.applied = Some(target_rev.clone());
    pass.st.applied_render = Some(render_key);
    pass.st.consecutive_failures = 0;
    pass.st.failed.retain(|s| s != target_rev.sha());
    if control.pin.is_none() {
        pass.st.last_good = Some(target_rev.clone());
    }
    if moved {
        pass.st.commits_behind = behind(ws, env, pass.st.applied.as_ref(), src.revision.as_ref());
    }
    let mut msg = if report.changed() == 0 {
        format!("in sync at {}", target_rev.short())
    } else {
        format!(
            "applied {}: {} written, {} pruned",
            target_rev.short(),
            report.written.len(),
            report.pruned.len()
        )
    };
    if let Some(pin) = &control.pin {
        msg.push_str(&format!("; pinned by {}", pin.intent.by));
        if !pin.intent.reason.is_empty() {
            msg.push_str(&format!(": {}", pin.intent.reason));
        }
    }
    if !pass.st.drifted.is_empty() {
        let why = match env.drift {
            DriftMode::Report => "drift: report, not repaired",
            // Repair rewrites every desired file: what still drifts is no longer desired (`prune: false`).
            DriftMode::Repair => "no longer desired, left as they are",
        };
        msg.push_str(&format!(
            "; {} file(s) drifted ({why})",
            pass.st.drifted.len()
        ));
    }
    if !report.adopted.is_empty() {
        msg.push_str(&format!(
            "; adopted (already identical, now managed): {}",
            report.adopted.join(", ")
        ));
    }
    if !report.released.is_empty() {
        msg.push_str(&format!(
            "; not pruned (changed by hand): {}",
            report.released.join(", ")
        ));
    }
    let outcome = PassOutcome::Ready {
        changed: report.changed(),
    };
    pass.end(
        StatusKind::Ready,
        msg,
        outcome,
        Some(&report),
        Some(&target_rev),
    )
}

/// After a crash: makes the environment's inventory true against its live files and removes the
/// interrupted apply's temporary files; returns how many, and the inventory as it now is on disk, for the
/// environment's first pass ([`EnvRuntime::with_inventory`]) so that it is not read twice. (A corrupt
/// inventory, or one that could not be saved, is left for the pass, which reads it again and holds the
/// environment.)
pub fn recover(ws: &Workspace, env: &EnvSpec) -> (usize, Option<Inventory>) {
    let Ok(mut inv) = ws.inventory(&env.name) else {
        return (0, None);
    };
    let (removed, changed) = apply::recover(&env.target, &mut inv);
    if changed && let Err(e) = write_json_compact(&ws.state.inventory(&env.name), &inv) {
        tracing::error!("{e}");
        return (removed, None);
    }
    (removed, Some(inv))
}

fn render_commit(ws: &Workspace, env: &EnvSpec, commit: ObjectId) -> Result<Rendered, String> {
    let mirror = ws.mirror(&env.source);
    let tree = mirror.tree(commit).map_err(|e| e.0)?;
    let reader = mirror.reader().map_err(|e| e.0)?;
    render::render(
        &tree,
        &reader,
        &commit.to_string(),
        &env.path,
        ws.spec.max_file_size,
    )
    .map_err(|e| e.to_string())
}

/// Renders an environment at a revision, for diffs.
pub fn render_revision(ws: &Workspace, env: &EnvSpec, rev: &Revision) -> Result<Rendered, String> {
    let commit = match commit_id(rev) {
        Some(c) => c,
        None => ws
            .mirror(&env.source)
            .resolve_commit(rev.sha())
            .map_err(|e| e.0)?,
    };
    render_commit(ws, env, commit)
}

fn behind(
    ws: &Workspace,
    env: &EnvSpec,
    applied: Option<&Revision>,
    latest: Option<&Revision>,
) -> Option<u32> {
    let (applied, latest) = (commit_id(applied?)?, commit_id(latest?)?);
    ws.mirror(&env.source)
        .commits_between(applied, latest, BEHIND_LIMIT)
}
