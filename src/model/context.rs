//! The contexts one console or command shows at once, and how each of them is doing.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::BackendKind;

/// What closes the loop for a context's units: without it nothing converges, whatever the status says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "holder")]
pub enum Reconciler {
    /// The agent this very process runs (the console's embedded agent).
    Embedded,
    /// An agent in another process, as its lock names it (`pid 123 of ann@bastion, since …`).
    Process(String),
    /// Nobody: the state files are only read.
    None,
}

/// Whether a context's units are current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextHealth {
    /// Not read yet: its first snapshot has not arrived.
    Connecting,
    /// Its units are current.
    Live,
    /// It could not be read since `since`: its units are its last snapshot.
    Stale,
    /// It could not be opened or read at all: it has no units to show.
    Failed,
}

/// One member of the composite backend: a workspace or a kubeconfig context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextState {
    pub name: String,
    pub backend: BackendKind,
    /// The workspace directory of a local context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<PathBuf>,
    /// Actions are refused here (read-only audit mode for this context).
    pub read_only: bool,
    pub health: ContextHealth,
    /// Since when it is stale or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Why it is stale or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who reconciles it now, when the backend says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciler: Option<Reconciler>,
}

impl ContextState {
    /// A kube context of `backend` that is live, writable and says nothing of itself.
    pub fn live_cluster(name: &str, backend: BackendKind) -> Self {
        Self {
            name: name.to_owned(),
            backend,
            workspace: None,
            read_only: false,
            health: ContextHealth::Live,
            since: None,
            message: None,
            reconciler: None,
        }
    }
}
