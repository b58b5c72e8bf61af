//! Units (reconciled things), their sources, inventories and history entries.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Revision, Status, StatusKind};

/// Which adapter a unit or source comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Local,
    Flux,
    Argo,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Flux => "flux",
            BackendKind::Argo => "argo",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reconciled thing: a local environment, a Flux Kustomization, an Argo CD Application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unit {
    /// Stable address: `local/<context>/prod`, `flux/<context>/<namespace>/Kustomization/<name>`.
    pub id: String,
    pub name: String,
    pub backend: BackendKind,
    /// The context it belongs to: a workspace's name, a kubeconfig context.
    #[serde(default)]
    pub context: String,
    /// The workspace directory (local units only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<PathBuf>,
    /// `environment` for the local agent, `Kustomization`, `HelmRelease`, `Application`.
    pub kind: String,
    /// Where it lands: a target directory, a cluster/namespace.
    pub environment: String,
    /// The name of its source.
    pub source: String,
    #[serde(flatten)]
    pub status: Status,
    pub suspended: bool,
    /// Why it was suspended, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_reason: Option<String>,
    pub protected: bool,
    pub applied_revision: Option<Revision>,
    pub attempted_revision: Option<Revision>,
    pub latest_revision: Option<Revision>,
    /// Commits between the applied revision and the latest one, when known.
    pub commits_behind: Option<u32>,
    /// Why `commits_behind` is not known (e.g. the source's URL cannot be fetched from this host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commits_behind_unknown: Option<String>,
    /// A failing unit's attempted revision against its applied (last good) one: the commits the attempt
    /// brought, newest first; the oldest is the first that may have broken it. Empty when not known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken_by: Vec<HistoryEntry>,
    pub pinned_revision: Option<Revision>,
    /// Objects (files) whose live state differs from the last applied render.
    pub drifted_objects: Vec<String>,
    pub last_reconcile_at: Option<Timestamp>,
    pub depends_on: Vec<String>,
    /// What owns the unit and reverts edits of its spec (an Argo CD ApplicationSet: `ApplicationSet ns/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Argo CD: what the sync windows of the Application's project say now; absent when no window applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_window: Option<SyncWindow>,
}

/// What the sync windows of an Argo CD Application's project say now (`argocd app get`'s "Sync Window").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncWindow {
    /// A manual sync (setpoint's, the API server's) may run now; `None` when the project could not be read.
    pub sync_allowed: Option<bool>,
    /// Auto-sync may run now; `None` when the project could not be read.
    pub auto_sync_allowed: Option<bool>,
    /// The windows that decide, in words (or why they could not be judged).
    pub message: String,
}

impl SyncWindow {
    /// A short marker for tables: `sync denied`, `manual only`, `sync allowed`, `window ?`.
    pub fn marker(&self) -> &'static str {
        match (self.sync_allowed, self.auto_sync_allowed) {
            (Some(false), _) => "sync denied",
            (Some(true), Some(false)) => "manual sync only",
            (Some(true), _) => "sync allowed",
            (None, _) => "sync window ?",
        }
    }
}

impl Unit {
    /// Whether the unit is held: suspended, or pinned by a rollback.
    pub fn is_held(&self) -> bool {
        self.suspended || self.pinned_revision.is_some()
    }

    /// One line saying why the unit is held, for every screen that shows it.
    pub fn hold_note(&self) -> Option<String> {
        if let Some(pin) = &self.pinned_revision {
            let behind = match self.commits_behind {
                Some(n) => format!(", {n} commits behind"),
                None => String::new(),
            };
            return Some(format!("pinned at {}{behind}", pin.short_sha()));
        }
        if self.suspended {
            return Some(match &self.suspend_reason {
                Some(r) if !r.is_empty() => format!("suspended: {r}"),
                _ => "suspended".to_owned(),
            });
        }
        None
    }
}

/// Where units take their desired state from: a git repository at a ref.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub id: String,
    pub name: String,
    pub backend: BackendKind,
    /// The context it belongs to, as for units.
    #[serde(default)]
    pub context: String,
    /// The workspace directory (local sources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<PathBuf>,
    pub url: String,
    /// `branch:main`, `tag:v1.0`, `commit:<sha>`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The newest revision fetched successfully.
    pub revision: Option<Revision>,
    #[serde(flatten)]
    pub status: Status,
    pub last_fetch_at: Option<Timestamp>,
    /// What applies this source itself and would revert a pin (Flux: the Kustomization its labels name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_by: Option<String>,
}

/// One object a unit manages, with its content hash and whether it drifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// Path relative to the target, or a Kubernetes object reference.
    pub object: String,
    /// Content hash of what was applied (`blake3:<hex>`), when the backend knows it.
    pub hash: Option<String>,
    pub drifted: bool,
}

/// A commit of a unit's source, as listed by `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub revision: Revision,
    pub author: String,
    pub time: Timestamp,
    pub summary: String,
    /// The unit runs this commit now.
    pub applied: bool,
    /// The newest commit that reconciled successfully.
    pub last_good: bool,
    /// A reconciliation of this commit failed.
    pub failed: bool,
    /// The unit is pinned to this commit.
    pub pinned: bool,
}

/// Everything a backend knows at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Shared, not copied: the watch, the composite backend and the console hold the same units; a unit
    /// that changes is a new `Arc` (`Arc::make_mut`).
    pub units: Vec<Arc<Unit>>,
    pub sources: Vec<Arc<Source>>,
    /// The contexts the units come from and whether each could be read (filled by the composite backend).
    #[serde(default)]
    pub contexts: Vec<super::ContextState>,
}

impl Snapshot {
    /// Units sorted for the on-call engineer: most urgent first, then by id.
    pub fn sort(&mut self) {
        self.units.sort_by(|a, b| {
            (a.status.kind.urgency(), &a.id).cmp(&(b.status.kind.urgency(), &b.id))
        });
        self.sources.sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// How many units are in each state, in [`StatusKind::ALL`] order.
    pub fn counts(&self) -> [(StatusKind, usize); 6] {
        StatusKind::ALL.map(|k| (k, self.units.iter().filter(|u| u.status.kind == k).count()))
    }
}
