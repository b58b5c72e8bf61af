//! A unit's `status.history` as history entries. Pure. A Kustomization's lists the revisions it applied (at
//! most five, newest first); a HelmRelease's lists its Helm releases (newest first: version, chart version,
//! status, deployed times), which are history entries when the chart version names its commit
//! ([`chart_commit`](super::map::chart_commit)) or the release names the digest of its chart's OCI artifact ([`release_revision`]).

use kube::api::DynamicObject;
use serde_json::Value;

use super::map::{applied_revision, attempted_revision, release_revision};
use crate::model::{HistoryEntry, Revision};

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// What the unit's status says of commits beyond its `status.history` (which records applies, not a build
/// that failed): the applied revision, a failed attempt at another one, and setpoint's pin.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    pub applied: Option<Revision>,
    pub failed_attempt: Option<Revision>,
    pub pin: Option<Revision>,
}

impl Marks {
    pub fn of(obj: &DynamicObject, pin: Option<Revision>) -> Self {
        let applied = applied_revision(obj);
        let attempted = attempted_revision(obj);
        let failing = super::map::status(obj).kind == crate::model::StatusKind::Failed;
        let failed_attempt =
            attempted.filter(|a| failing && !applied.as_ref().is_some_and(|p| p.same_commit(a)));
        Self {
            applied,
            failed_attempt,
            pin,
        }
    }
}

/// One Helm release of a HelmRelease's `status.history`, when it names a commit or an OCI digest.
fn helm_release(h: &Value) -> Option<HistoryEntry> {
    let chart_version = text(h, "/chartVersion");
    let revision = release_revision(h)?;
    let time = text(h, "/lastDeployed").parse().ok()?;
    let status = text(h, "/status");
    let version = h.get("version").and_then(Value::as_i64).unwrap_or(0);
    Some(HistoryEntry {
        applied: false, // the newest deployed one, below
        revision,
        author: String::new(),
        time,
        summary: format!(
            "release v{version} {status}: chart {}@{chart_version}, first deployed {}, config {}",
            text(h, "/chartName"),
            text(h, "/firstDeployed"),
            text(h, "/configDigest")
        ),
        last_good: false,
        failed: status == "failed",
        pinned: false,
    })
}

pub fn entries(obj: &DynamicObject) -> Vec<HistoryEntry> {
    let applied = applied_revision(obj);
    let Some(list) = obj
        .data
        .pointer("/status/history")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    if list.iter().any(|h| h.get("chartVersion").is_some()) {
        let mut out: Vec<HistoryEntry> = list.iter().filter_map(helm_release).collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.time));
        if let Some(deployed) = out.iter_mut().find(|e| !e.failed) {
            deployed.last_good = true;
            deployed.applied = applied
                .as_ref()
                .is_some_and(|a| a.same_commit(&deployed.revision));
        }
        return out;
    }
    let mut out: Vec<HistoryEntry> = list
        .iter()
        .filter_map(|h| {
            let revision: Revision = text(h, "/metadata/revision").parse().ok()?;
            let time = text(h, "/lastReconciled").parse().ok()?;
            let status = text(h, "/lastReconciledStatus");
            let count = h
                .get("totalReconciliations")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let succeeded = status.ends_with("Succeeded");
            Some(HistoryEntry {
                applied: applied.as_ref().is_some_and(|a| a.same_commit(&revision)),
                revision,
                author: String::new(),
                time,
                summary: format!(
                    "{status}: {count} reconciliation(s) since {}, last took {}",
                    text(h, "/firstReconciled"),
                    text(h, "/lastReconciledDuration")
                ),
                last_good: false,
                failed: !succeeded,
                pinned: false,
            })
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.time));
    if let Some(good) = out.iter_mut().find(|e| !e.failed) {
        good.last_good = true;
    }
    out
}

/// The source's commits (newest first, from its mirror) marked with what `status.history` says of them —
/// applied, failed, last good — and the pin; entries of `status.history` that are not among the commits
/// (older than the walk, or from a rewritten history) follow them.
pub fn merge(
    reported: Vec<HistoryEntry>,
    commits: Vec<HistoryEntry>,
    marks: &Marks,
) -> Vec<HistoryEntry> {
    // `lastAppliedRevision` is set only by a successful apply: the last good one when the history lacks it
    let last_good = reported
        .iter()
        .find(|e| e.last_good)
        .map(|e| e.revision.clone())
        .or_else(|| marks.applied.clone());
    let is = |r: &Option<Revision>, c: &Revision| r.as_ref().is_some_and(|r| r.same_commit(c));
    let mut out: Vec<HistoryEntry> = commits
        .into_iter()
        .map(|mut c| {
            if let Some(r) = reported
                .iter()
                .find(|r| r.revision.same_commit(&c.revision))
            {
                c.applied = r.applied;
                c.failed = r.failed;
            }
            c.applied |= is(&marks.applied, &c.revision);
            c.failed |= is(&marks.failed_attempt, &c.revision);
            c.last_good = is(&last_good, &c.revision);
            c.pinned = is(&marks.pin, &c.revision);
            c
        })
        .collect();
    for r in reported {
        if !out.iter().any(|c| c.revision.same_commit(&r.revision)) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_the_tier_fixture() {
        let obj: DynamicObject =
            serde_json::from_str(include_str!("fixtures/ks-ready.json")).unwrap();
        let h = entries(&obj);
        assert_eq!(h.len(), 1);
        assert!(h[0].applied && h[0].last_good && !h[0].failed);
        assert_eq!(
            h[0].revision.sha(),
            "112f5131c59ef7108dcc91a58cf45aca4309b2ee"
        );
        assert!(
            h[0].summary
                .starts_with("ReconciliationSucceeded: 1 reconciliation")
        );
    }
}
