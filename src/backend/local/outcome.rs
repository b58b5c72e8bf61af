//! What an operator action led to: the pass this process runs when no agent holds the workspace, or the
//! running agent's result read back from the state files (bounded wait). A failed fetch or a failed
//! reconcile fails the action, with the cause in words.

use std::io::Read;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::reconcile::{EnvRuntime, PassOutcome, fetch_source, reconcile_env};
use super::spec::EnvSpec;
use super::state::{AgentLock, Intent, JournalEntry, SyncRequest, append_journal};
use super::workspace::Workspace;
use crate::model::{Action, StatusKind};

/// How long an action waits for a running agent to report the pass it asked for.
pub const AGENT_WAIT: Duration = Duration::from_secs(10);
const AGENT_POLL: Duration = Duration::from_millis(50);

/// Who holds the workspace's agent lock (`pid 123 of ann@bastion, since …`), if anyone does.
pub fn agent_holder(ws: &Workspace) -> Option<String> {
    let path = ws.state.lock();
    if !AgentLock::is_held(&path) {
        return None;
    }
    let mut text = String::new();
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .ok()?;
    Some(text.trim().to_owned())
}

/// Carries out the pass an action asked for (asked at `at`) and says what came of it: `Ok` with the
/// accepted message and the result, `Err` when the fetch or the reconcile failed.
pub fn carry_out(
    ws: &Workspace,
    env: &EnvSpec,
    action: &Action,
    at: Timestamp,
    accepted: &str,
) -> Result<String, String> {
    let with_source = matches!(action, Action::Sync { with_source: true });
    match AgentLock::acquire(&ws.state.lock()) {
        Ok(lock) => {
            if with_source {
                let fetched = fetch_source(ws, &env.source);
                if let Some(e) = fetched.error {
                    return Err(fetch_failed(env, &e));
                }
            }
            let pass = reconcile_env(ws, env, &mut EnvRuntime::default(), &AtomicBool::new(false));
            drop(lock);
            let status = status_message(ws, env);
            match pass {
                PassOutcome::Failed(_) => Err(reconcile_failed(action, accepted, &status)),
                _ => Ok(format!("{accepted}; reconciled now — {status}")),
            }
        }
        Err(_) if matches!(action, Action::Suspend { .. }) => Ok(format!(
            "{accepted}; the running agent holds it from its next pass"
        )),
        Err(_) => await_agent(ws, env, action, at, accepted, with_source),
    }
}

/// Waits (at most [`AGENT_WAIT`]) for the running agent to handle the request made at `at`.
fn await_agent(
    ws: &Workspace,
    env: &EnvSpec,
    action: &Action,
    at: Timestamp,
    accepted: &str,
    with_source: bool,
) -> Result<String, String> {
    let holder = agent_holder(ws).unwrap_or_else(|| "another process".into());
    let deadline = Instant::now() + AGENT_WAIT;
    let polls = AGENT_WAIT.as_millis() / AGENT_POLL.as_millis() + 1;
    for _ in 0..polls {
        if with_source {
            let src = ws.source_state(&env.source);
            if src.last_fetch_at.is_some_and(|t| t >= at)
                && let Some(s) = src.status.filter(|s| s.kind == StatusKind::Failed)
            {
                return Err(fetch_failed(env, &s.message));
            }
        }
        let st = ws.env_state(&env.name);
        if st.handled_sync_at.is_some_and(|t| t >= at) {
            let status = status_message(ws, env);
            return match st.status.map(|s| s.kind) {
                Some(StatusKind::Failed | StatusKind::Stalled) => {
                    Err(reconcile_failed(action, accepted, &status))
                }
                _ => Ok(format!(
                    "{accepted}; the running agent reconciled it — {status}"
                )),
            };
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(AGENT_POLL);
    }
    Ok(format!(
        "{accepted}; handed to the running agent ({holder}), not done after {} s",
        AGENT_WAIT.as_secs()
    ))
}

/// Fetches a source now: in this process when no agent runs, else by asking the running agent to sync
/// every environment of the source with it fetched first, and reading back the fetch it then makes.
pub fn fetch_now(ws: &Workspace, source: &str) -> Result<String, String> {
    if let Ok(lock) = AgentLock::acquire(&ws.state.lock()) {
        let fetched = fetch_source(ws, source);
        drop(lock);
        return match (fetched.error, fetched.revision) {
            (Some(e), _) => Err(format!("fetch of source {source} failed: {e}")),
            (None, Some(r)) if fetched.changed => Ok(format!("fetched {}", r.short())),
            (None, Some(r)) => Ok(format!("fetched; still at {}", r.short())),
            (None, None) => Ok("fetched".into()),
        };
    }
    let (user, host) = crate::audit::who();
    let at = Timestamp::now();
    let by = format!("{user}@{host}");
    let envs: Vec<&EnvSpec> = ws
        .spec
        .environments
        .iter()
        .filter(|e| e.source == source)
        .collect();
    for env in &envs {
        // One read-modify-write under control.lock, like every other action: a concurrent operator's
        // intent is kept, and a corrupt control file is an error rather than replaced.
        ws.update_control(&env.name, |control| {
            control.sync = Some(SyncRequest {
                with_source: true,
                intent: Intent {
                    by: by.clone(),
                    at,
                    reason: String::new(),
                },
            });
        })?;
    }
    let mut j = JournalEntry::new("action", "accepted", "fetch requested");
    j.source = Some(source.to_owned());
    j.by = Some(by);
    append_journal(&ws.state.journal(), &j)?;
    if envs.is_empty() {
        return Ok(format!(
            "no environment uses {source}: the running agent fetches it at its interval"
        ));
    }
    let holder = agent_holder(ws).unwrap_or_else(|| "another process".into());
    let deadline = Instant::now() + AGENT_WAIT;
    let polls = AGENT_WAIT.as_millis() / AGENT_POLL.as_millis() + 1;
    for _ in 0..polls {
        let st = ws.source_state(source);
        if st.last_fetch_at.is_some_and(|t| t >= at) {
            return match st.status {
                Some(s) if s.kind == StatusKind::Failed => {
                    Err(format!("fetch of source {source} failed: {}", s.message))
                }
                Some(s) => Ok(format!("the running agent {}", s.message)),
                None => Ok("the running agent fetched it".into()),
            };
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(AGENT_POLL);
    }
    Ok(format!(
        "fetch handed to the running agent ({holder}), not done after {} s",
        AGENT_WAIT.as_secs()
    ))
}

fn status_message(ws: &Workspace, env: &EnvSpec) -> String {
    ws.env_state(&env.name)
        .status
        .map(|s| s.message)
        .unwrap_or_default()
}

fn fetch_failed(env: &EnvSpec, cause: &str) -> String {
    format!(
        "fetch of source {} failed: {cause}; {} not reconciled",
        env.source, env.name
    )
}

/// `resumed; reconcile failed: …`: what the action did, then why the pass after it failed.
fn reconcile_failed(action: &Action, accepted: &str, status: &str) -> String {
    let done = match action {
        Action::Sync { .. } => "sync ran",
        _ => accepted,
    };
    format!("{done}; reconcile failed: {status}")
}
