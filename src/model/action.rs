//! Operator actions and what a backend answers to them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Revision;

/// A change an operator asks of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Stop applying and repairing; keep reporting.
    Suspend { reason: String },
    /// Undo a suspend, and release a rollback pin.
    Resume,
    /// Reconcile now, optionally fetching the source first.
    #[serde(rename_all = "camelCase")]
    Sync { with_source: bool },
    /// Pin the unit to an earlier revision; `suspend_parent` also suspends what would revert the pin (Flux:
    /// the Kustomization that applies the GitRepository), with the same reason, until resume.
    #[serde(rename_all = "camelCase")]
    Rollback {
        to: Revision,
        reason: String,
        #[serde(default)]
        suspend_parent: bool,
    },
    /// Stop the operation that runs now (Argo CD: `argocd app terminate-op`).
    Terminate,
    /// Ask the controller to compare again without applying anything (Argo CD's refresh; `hard` also
    /// regenerates the manifests).
    Refresh { hard: bool },
}

/// The action names, for capabilities and keymaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Suspend,
    Resume,
    Sync,
    Rollback,
    Terminate,
    Refresh,
}

impl ActionKind {
    pub const ALL: [ActionKind; 6] = [
        ActionKind::Suspend,
        ActionKind::Resume,
        ActionKind::Sync,
        ActionKind::Rollback,
        ActionKind::Terminate,
        ActionKind::Refresh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Suspend => "suspend",
            ActionKind::Resume => "resume",
            ActionKind::Sync => "sync",
            ActionKind::Rollback => "rollback",
            ActionKind::Terminate => "terminate",
            ActionKind::Refresh => "refresh",
        }
    }
}

impl ActionKind {
    /// What was done, as an outcome line starts: `resumed`, `synced`.
    pub fn done_word(self) -> &'static str {
        match self {
            ActionKind::Suspend => "suspended",
            ActionKind::Resume => "resumed",
            ActionKind::Sync => "sync ran",
            ActionKind::Rollback => "pinned",
            ActionKind::Terminate => "terminated",
            ActionKind::Refresh => "refreshed",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Suspend { .. } => ActionKind::Suspend,
            Action::Resume => ActionKind::Resume,
            Action::Sync { .. } => ActionKind::Sync,
            Action::Rollback { .. } => ActionKind::Rollback,
            Action::Terminate => ActionKind::Terminate,
            Action::Refresh { .. } => ActionKind::Refresh,
        }
    }

    /// The operator's reason, for actions that carry one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Action::Suspend { reason } | Action::Rollback { reason, .. } => Some(reason),
            Action::Resume | Action::Sync { .. } | Action::Terminate | Action::Refresh { .. } => {
                None
            }
        }
    }
}

impl fmt::Display for Action {
    /// The exact operation, as a confirmation dialog shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Suspend { .. } => f.write_str("suspend"),
            Action::Resume => f.write_str("resume"),
            Action::Sync { with_source: true } => f.write_str("sync (fetch source first)"),
            Action::Sync { with_source: false } => f.write_str("sync"),
            Action::Rollback { to, .. } => write!(f, "rollback to {}", to.short()),
            Action::Terminate => f.write_str("terminate the running operation"),
            Action::Refresh { hard: true } => {
                f.write_str("hard refresh (manifests generated again)")
            }
            Action::Refresh { hard: false } => f.write_str("refresh"),
        }
    }
}

/// Whether an action may run on a unit now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Allowed,
    Denied { reason: String },
}

impl Permission {
    /// Terminate and refresh, on a backend other than Argo CD.
    pub fn argo_only(action: ActionKind) -> Self {
        Permission::Denied {
            reason: format!("{action} is an Argo CD action (Applications only)"),
        }
    }

    /// The reason it is not allowed, if it is not.
    pub fn denial(&self) -> Option<&str> {
        match self {
            Permission::Allowed => None,
            Permission::Denied { reason } => Some(reason),
        }
    }
}

/// The actions a backend allows on a unit, each with the reason when it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub suspend: Permission,
    pub resume: Permission,
    pub sync: Permission,
    pub rollback: Permission,
    /// Stop the running operation (Argo CD only).
    pub terminate: Permission,
    /// Compare again without applying (Argo CD only).
    pub refresh: Permission,
}

impl Capabilities {
    pub fn all_allowed() -> Self {
        Self::uniform(Permission::Allowed)
    }

    pub fn all_denied(reason: &str) -> Self {
        Self::uniform(Permission::Denied {
            reason: reason.to_owned(),
        })
    }

    fn uniform(p: Permission) -> Self {
        Self {
            suspend: p.clone(),
            resume: p.clone(),
            sync: p.clone(),
            rollback: p.clone(),
            terminate: p.clone(),
            refresh: p,
        }
    }

    pub fn get(&self, kind: ActionKind) -> &Permission {
        match kind {
            ActionKind::Suspend => &self.suspend,
            ActionKind::Resume => &self.resume,
            ActionKind::Sync => &self.sync,
            ActionKind::Rollback => &self.rollback,
            ActionKind::Terminate => &self.terminate,
            ActionKind::Refresh => &self.refresh,
        }
    }
}

/// What a backend answers when it accepted an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub unit: String,
    pub action: ActionKind,
    /// What happened, in one line ("suspended; apply and repair stopped").
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_json_shape() {
        let a = Action::Sync { with_source: true };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"action":"sync","withSource":true}"#
        );
        let s = Action::Suspend {
            reason: "incident 42".into(),
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"action":"suspend","reason":"incident 42"}"#
        );
        let back: Action = serde_json::from_str(r#"{"action":"resume"}"#).unwrap();
        assert_eq!(back, Action::Resume);
    }
}
