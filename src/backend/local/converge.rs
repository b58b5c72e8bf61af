//! The workspace file changes, and live state follows: a moved target is emptied of the files the agent wrote
//! there, a removed environment's files and state are retired. Only files the agent wrote and nobody changed
//! since are deleted (the same rule as prune); with `prune: false` they are left in place, no longer managed.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::apply;
use super::render::Rendered;
use super::spec::DriftMode;
use super::state::{EnvState, Inventory, JournalEntry, append_journal, read_json};
use super::workspace::{Workspace, unit_id};

/// What leaving a target did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Left {
    pub pruned: usize,
    /// Files changed by hand since they were written: left in place.
    pub kept: Vec<String>,
    /// Files left in place because the environment had `prune: false`.
    pub released: usize,
}

impl Left {
    /// `pruned 3 files from ./live/old; left 1 changed by hand: a.yaml`.
    pub fn describe(&self, target: &Path) -> String {
        let mut out = if self.released > 0 {
            format!(
                "left {} file(s) in {} (prune: false), no longer managed",
                self.released,
                target.display()
            )
        } else {
            format!("pruned {} file(s) from {}", self.pruned, target.display())
        };
        if !self.kept.is_empty() {
            out.push_str(&format!(
                "; left {} changed by hand: {}",
                self.kept.len(),
                self.kept.join(", ")
            ));
        }
        out
    }
}

/// Stops managing `target`: prunes the inventory's unchanged files there when `prune`, else lets them go.
/// The caller then forgets the inventory.
pub fn leave_target(target: &Path, inventory: &Inventory, prune: bool) -> Result<Left, String> {
    if inventory.files.is_empty() || !target.is_dir() {
        return Ok(Left::default());
    }
    if !prune {
        return Ok(Left {
            released: inventory.files.len(),
            ..Left::default()
        });
    }
    let mut inv = inventory.clone();
    let no_save = |_: &Inventory| Ok(());
    let report = apply::apply(
        target,
        &Rendered::new(),
        &mut inv,
        &[],
        apply::Policy {
            drift: DriftMode::Repair,
            prune: true,
            adopt: false,
        },
        &no_save,
        &AtomicBool::new(false),
    )?;
    Ok(Left {
        pruned: report.pruned.len(),
        kept: report.released,
        released: 0,
    })
}

/// Retires every environment that has state but is no longer in the workspace file: its files leave its last
/// target (see [`leave_target`]) and its state directory is removed. Returns one line per environment.
pub fn retire_removed(ws: &Workspace) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(ws.state.environments()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| ws.spec.environment(n).is_none())
        .collect();
    names.sort();
    names.into_iter().map(|n| retire(ws, &n)).collect()
}

/// Retires one removed environment; says what happened.
pub fn retire(ws: &Workspace, name: &str) -> String {
    let st: EnvState = read_json(&ws.state.env_state(name)).unwrap_or_default();
    let inventory: Inventory = match ws.inventory(name) {
        Ok(i) => i,
        Err(e) => {
            return format!(
                "{name}: removed from the workspace file, but its inventory is unreadable ({e}); its files stay"
            );
        }
    };
    let (outcome, message) = match &st.applied_target {
        None if inventory.files.is_empty() => ("removed", "nothing was applied".to_owned()),
        None => (
            "removed",
            format!(
                "{} file(s) left in place: the state does not say which target they are in",
                inventory.files.len()
            ),
        ),
        Some(target) => match leave_target(target, &inventory, st.applied_prune.unwrap_or(true)) {
            Ok(left) => ("removed", left.describe(target)),
            Err(e) => ("failed", format!("cannot prune {}: {e}", target.display())),
        },
    };
    let line = format!("{name}: removed from the workspace file; {message}");
    let mut j = JournalEntry::new("reconcile", outcome, line.clone());
    j.unit = Some(unit_id(name));
    if let Err(e) = append_journal(&ws.state.journal(), &j) {
        tracing::error!("{e}");
    }
    if outcome == "removed"
        && let Err(e) = std::fs::remove_dir_all(ws.state.env_dir(name))
    {
        tracing::error!("cannot remove the state of {name}: {e}");
    }
    line
}
