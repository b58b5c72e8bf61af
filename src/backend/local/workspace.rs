//! A workspace as both the agent and the backend see it: the spec plus the state files, turned into units and
//! sources of the model.

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::git::Mirror;
use super::spec::{EnvSpec, SourceSpec, Spec, SpecError};
use super::state::{Control, EnvState, Inventory, SourceState, StateDir, read_json, write_json};
use crate::model::{BackendKind, Revision, Snapshot, Source, Status, StatusKind, Unit};

/// The agent's own status, for whoever shows the workspace (`.setpoint/agent.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentStatus {
    /// The workspace file's error while the agent runs its last good version.
    pub workspace_error: Option<String>,
    pub since: Option<Timestamp>,
    /// Hash of the workspace file the error is about: once the file changes, the error is old news.
    pub file_hash: Option<String>,
}

/// A loaded workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub spec: Spec,
    pub state: StateDir,
}

/// The status message of an environment held because a state file is corrupt.
pub fn held_because(error: &str) -> String {
    format!(
        "{error}; holding this environment: nothing is applied until the file is fixed or removed"
    )
}

/// How the journal names an environment's unit (workspace-relative: the agent knows no context name).
pub fn unit_id(env: &str) -> String {
    format!("local/{env}")
}

impl Workspace {
    pub fn load(dir: &Path) -> Result<Self, SpecError> {
        let spec = Spec::load(dir)?;
        let state = StateDir::new(&spec.dir);
        Ok(Self { spec, state })
    }

    pub fn mirror(&self, source: &str) -> Mirror {
        Mirror::new(self.state.mirror(source))
    }

    pub fn env_state(&self, env: &str) -> EnvState {
        read_json(&self.state.env_state(env)).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            EnvState::default()
        })
    }

    pub fn save_env_state(&self, env: &str, st: &EnvState) -> Result<(), String> {
        write_json(&self.state.env_state(env), st)
    }

    /// The environment's state file, or why it cannot be read (a corrupt file holds the environment).
    pub fn try_env_state(&self, env: &str) -> Result<EnvState, String> {
        read_json(&self.state.env_state(env))
    }

    /// Operator intent, read leniently (a corrupt file reads as no intent): for display only; whatever
    /// acts on intent uses [`Workspace::try_control`] and holds when the file is corrupt.
    pub fn control(&self, env: &str) -> Control {
        self.try_control(env).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            Control::default()
        })
    }

    /// Operator intent, or why the control file cannot be read.
    pub fn try_control(&self, env: &str) -> Result<Control, String> {
        read_json(&self.state.control(env))
    }

    pub fn save_control(&self, env: &str, c: &Control) -> Result<(), String> {
        write_json(&self.state.control(env), c)
    }

    /// Changes operator intent as one read-modify-write under an exclusive lock on `control.lock`, so that
    /// concurrent operators never lose each other's intent. A corrupt control file is an error, never
    /// silently replaced.
    pub fn update_control<T>(
        &self,
        env: &str,
        change: impl FnOnce(&mut Control) -> T,
    ) -> Result<T, String> {
        let path = self.state.control(env);
        let lock_path = path.with_extension("lock");
        if let Some(dir) = lock_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| format!("{}: cannot lock: {e}", lock_path.display()))?;
        let mut control = self.try_control(env).map_err(|e| {
            format!("{e}; fix or remove the file (operator intent in it would otherwise be lost)")
        })?;
        let out = change(&mut control);
        self.save_control(env, &control)?;
        Ok(out)
    }

    /// Why an environment is held because one of its state files is corrupt, if it is.
    pub fn corrupt_state(&self, env: &str) -> Option<String> {
        let e = self
            .try_control(env)
            .err()
            .or_else(|| self.try_env_state(env).err())?;
        Some(held_because(&e))
    }

    pub fn source_state(&self, source: &str) -> SourceState {
        read_json(&self.state.source_state(source)).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            SourceState::default()
        })
    }

    pub fn save_source_state(&self, source: &str, st: &SourceState) -> Result<(), String> {
        write_json(&self.state.source_state(source), st)
    }

    pub fn agent_status(&self) -> AgentStatus {
        read_json(&self.state.agent_status()).unwrap_or_default()
    }

    pub fn save_agent_status(&self, st: &AgentStatus) -> Result<(), String> {
        write_json(&self.state.agent_status(), st)
    }

    /// The error of the workspace file as it is on disk now, when the agent found one and runs the last
    /// good version instead.
    pub fn workspace_error(&self) -> Option<String> {
        let st = self.agent_status();
        let error = st.workspace_error?;
        let now = std::fs::read(&self.spec.file)
            .ok()
            .map(|b| super::apply::hash_bytes(&b));
        (now.is_some() && now == st.file_hash).then_some(error)
    }

    pub fn inventory(&self, env: &str) -> Result<Inventory, String> {
        super::inventory_json::read_inventory(&self.state.inventory(env))
    }

    /// Why the environment is suspended, if it is: the operator's intent, or the workspace file.
    pub fn suspension(env: &EnvSpec, control: &Control) -> Option<String> {
        if let Some(s) = &control.suspend {
            return Some(if s.reason.is_empty() {
                format!("by {}", s.by)
            } else {
                format!("{} (by {})", s.reason, s.by)
            });
        }
        env.suspend
            .then(|| format!("`suspend: true` in {}", super::spec::FILE_NAME))
    }

    pub fn unit(&self, env: &EnvSpec, now: Timestamp) -> Unit {
        let st = self.env_state(&env.name);
        let control = self.control(&env.name);
        let src = self.source_state(&env.source);
        let suspension = Self::suspension(env, &control);
        let corrupt = self.corrupt_state(&env.name);
        let status = match (&suspension, &st.status) {
            _ if corrupt.is_some() => {
                let since = st.status.as_ref().map(|s| s.since).unwrap_or(now);
                Status::new(StatusKind::Failed, corrupt.unwrap_or_default(), since)
            }
            (Some(why), _) => {
                let since = control
                    .suspend
                    .as_ref()
                    .map(|s| s.at)
                    .or(st.status.as_ref().map(|s| s.since))
                    .unwrap_or(now);
                let drift = if st.drifted.is_empty() {
                    String::new()
                } else {
                    format!("; {} file(s) drifted", st.drifted.len())
                };
                Status::new(
                    StatusKind::Suspended,
                    format!("suspended: {why}{drift}"),
                    since,
                )
            }
            (None, Some(s)) => s.clone(),
            (None, None) => Status::new(
                StatusKind::Unknown,
                "not reconciled yet: start `setpoint agent` or the console",
                now,
            ),
        };
        let mut status = status;
        if let Some(e) = self.workspace_error() {
            status.message = format!(
                "{}; workspace file not applied, the agent runs its last good version: {e}",
                status.message
            );
        }
        Unit {
            id: unit_id(&env.name),
            name: env.name.clone(),
            backend: BackendKind::Local,
            context: self.spec.name(),
            workspace: Some(self.spec.dir.clone()),
            kind: "environment".into(),
            environment: env.target_display.trim_start_matches("./").to_owned(),
            source: env.source.clone(),
            status,
            suspended: suspension.is_some(),
            suspend_reason: suspension,
            protected: env.protected,
            applied_revision: st.applied,
            attempted_revision: st.attempted,
            latest_revision: src.revision,
            commits_behind: st.commits_behind,
            commits_behind_unknown: None,
            broken_by: Vec::new(),
            pinned_revision: control.pin.map(|p| p.revision),
            drifted_objects: st.drifted,
            last_reconcile_at: st.last_reconcile_at,
            parent: None,
            sync_window: None,
            depends_on: env.depends_on.clone(),
        }
    }

    pub fn source(&self, spec: &SourceSpec, now: Timestamp) -> Source {
        let st = self.source_state(&spec.name);
        Source {
            id: format!("local/{}", spec.name),
            name: spec.name.clone(),
            backend: BackendKind::Local,
            context: self.spec.name(),
            workspace: Some(self.spec.dir.clone()),
            url: spec.url.clone(),
            reference: spec.reference.describe(),
            revision: st.revision,
            status: st
                .status
                .unwrap_or_else(|| Status::new(StatusKind::Unknown, "not fetched yet", now)),
            last_fetch_at: st.last_fetch_at,
            applied_by: None,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let now = Timestamp::now();
        let mut snap = Snapshot {
            units: self
                .spec
                .environments
                .iter()
                .map(|e| Arc::new(self.unit(e, now)))
                .collect(),
            sources: self
                .spec
                .sources
                .iter()
                .map(|s| Arc::new(self.source(s, now)))
                .collect(),
            contexts: Vec::new(),
        };
        snap.sort();
        snap
    }

    /// The revision an environment should be at: its pin, else its source's newest good commit.
    pub fn target_revision(&self, env: &EnvSpec) -> Option<Revision> {
        self.control(&env.name)
            .pin
            .map(|p| p.revision)
            .or_else(|| self.source_state(&env.source).revision)
    }
}
