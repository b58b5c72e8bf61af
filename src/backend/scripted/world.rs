//! One consistent world for tests: a source with four commits and what each unit did with them. Every
//! view's data (units, sources, history marks, events, diffs) is derived from it, so no view can be shown
//! a fixture that contradicts another.

use crate::model::*;

use super::{rev, ts};

/// The newest commit of the source (the one it was last fetched at).
pub(crate) const LATEST: u8 = 4;

/// The source's commits, oldest first: number, author, seconds before "now", summary.
const COMMITS: [(u8, &str, i64, &str); 4] = [
    (1, "Grace Hopper", -4 * 3600, "bootstrap the environments"),
    (2, "Ada Lovelace", -3 * 3600, "checkout: log at debug"),
    (3, "Grace Hopper", -2 * 3600, "checkout 1.4.2, 3 replicas"),
    (4, "Ada Lovelace", -20 * 60, "checkout: TIMEOUT 30s"),
];

/// When the source was last fetched (at [`LATEST`]).
pub(crate) const FETCHED_AT: i64 = -10;

/// When the agent last passed over every unit.
const RECONCILED_AT: i64 = -30;

/// One reconciliation outcome of a unit: when, at which commit, with what result.
struct Step {
    at: i64,
    rev: u8,
    kind: StatusKind,
    message: &'static str,
}

const fn step(at: i64, rev: u8, kind: StatusKind, message: &'static str) -> Step {
    Step {
        at,
        rev,
        kind,
        message,
    }
}

/// The names of the units of the world.
pub(crate) const UNITS: [&str; 4] = ["dev", "staging", "prod", "qa"];

/// What happened to a unit, oldest first. Each commit reaches dev, then staging, then prod (which depends on
/// staging); qa was suspended before the newest commit.
fn timeline(name: &str) -> Vec<Step> {
    use StatusKind::*;
    match name {
        "dev" => vec![
            step(-14_300, 1, Ready, ""),
            step(-10_700, 2, Ready, ""),
            step(-7_100, 3, Ready, ""),
            step(-1_160, 4, Ready, ""),
        ],
        "staging" => vec![
            step(-14_200, 1, Ready, ""),
            step(
                -10_600,
                2,
                Failed,
                "render failed: base.yaml:3: mapping expected",
            ),
            step(-7_000, 3, Ready, ""),
            step(-1_140, 4, Ready, ""),
        ],
        "prod" => vec![
            step(-14_100, 1, Ready, ""),
            step(-10_500, 2, Ready, ""),
            step(-6_900, 3, Ready, ""),
            step(
                -1_100,
                4,
                Failed,
                "render failed: app.patch.yaml:3: bad YAML",
            ),
        ],
        "qa" => vec![
            step(-14_000, 1, Ready, ""),
            step(-10_400, 2, Ready, ""),
            step(-6_800, 3, Ready, ""),
            step(-3_700, 3, Suspended, "suspended: load test"),
        ],
        _ => Vec::new(),
    }
}

/// The objects a unit manages whose live content differs from the desired one (changed by hand).
fn drifted(name: &str) -> Vec<String> {
    match name {
        "staging" => vec!["app.yaml".into(), "extra.conf".into()],
        _ => Vec::new(),
    }
}

fn applied_message(rev_n: u8) -> String {
    format!("applied {}: 3 written, 0 pruned", rev(rev_n).short())
}

fn message(s: &Step) -> String {
    if s.kind == StatusKind::Ready {
        applied_message(s.rev)
    } else {
        s.message.to_owned()
    }
}

/// The unit `local/NAME` as the world left it.
pub(crate) fn unit(name: &str) -> Unit {
    let steps = timeline(name);
    let last_good = steps
        .iter()
        .rev()
        .find(|s| s.kind == StatusKind::Ready)
        .map(|s| s.rev);
    let attempted = steps
        .iter()
        .rev()
        .find(|s| s.kind != StatusKind::Suspended)
        .map(|s| s.rev);
    let (kind, msg, since) = match steps.last() {
        Some(last) => {
            let since = steps
                .iter()
                .rev()
                .take_while(|s| s.kind == last.kind)
                .last()
                .map_or(last.at, |s| s.at);
            (last.kind, message(last), since)
        }
        None => (StatusKind::Unknown, "never reconciled".to_owned(), 0),
    };
    let drift = drifted(name);
    let msg = match (kind, last_good) {
        (StatusKind::Ready, Some(n)) if !drift.is_empty() => format!(
            "in sync at {}; {} file(s) drifted",
            rev(n).short(),
            drift.len()
        ),
        _ => msg,
    };
    let suspended = kind == StatusKind::Suspended;
    Unit {
        id: format!("local/demo/{name}"),
        name: name.to_owned(),
        backend: BackendKind::Local,
        context: "demo".into(),
        workspace: None,
        kind: "environment".into(),
        environment: format!("live/{name}"),
        source: "platform-config".into(),
        status: Status::new(kind, msg, ts(since)),
        suspended,
        suspend_reason: suspended.then(|| "load test".to_owned()),
        protected: name == "prod",
        applied_revision: last_good.map(rev),
        attempted_revision: attempted.map(rev),
        latest_revision: Some(rev(LATEST)),
        commits_behind: last_good.map(|n| u32::from(LATEST - n)),
        commits_behind_unknown: None,
        broken_by: Vec::new(),
        pinned_revision: None,
        drifted_objects: drift,
        last_reconcile_at: Some(ts(RECONCILED_AT)),
        parent: None,
        sync_window: None,
        depends_on: match name {
            "staging" => vec!["dev".into()],
            "prod" => vec!["staging".into()],
            _ => Vec::new(),
        },
    }
}

/// The source every unit reads, fetched at [`LATEST`].
pub(crate) fn source() -> Source {
    Source {
        id: "local/demo/platform-config".into(),
        name: "platform-config".into(),
        backend: BackendKind::Local,
        context: "demo".into(),
        workspace: None,
        url: "./repos/platform-config.git".into(),
        reference: "branch:main".into(),
        revision: Some(rev(LATEST)),
        status: Status::new(
            StatusKind::Ready,
            format!("fetched {}", rev(LATEST).short()),
            ts(FETCHED_AT),
        ),
        last_fetch_at: Some(ts(FETCHED_AT)),
        applied_by: None,
    }
}

/// The source's commits, newest first, marked for `unit` (its applied and pinned revisions as it is now,
/// its last good and failed commits from its timeline).
pub(crate) fn history(unit: &Unit) -> Vec<HistoryEntry> {
    let steps = timeline(&unit.name);
    let last_good = steps
        .iter()
        .rev()
        .find(|s| s.kind == StatusKind::Ready)
        .map(|s| s.rev);
    COMMITS
        .iter()
        .rev()
        .map(|&(n, author, at, summary)| HistoryEntry {
            revision: rev(n),
            author: author.into(),
            time: ts(at),
            summary: summary.into(),
            applied: unit.applied_revision.as_ref() == Some(&rev(n)),
            last_good: last_good == Some(n),
            failed: steps
                .iter()
                .any(|s| s.rev == n && s.kind == StatusKind::Failed),
            pinned: unit.pinned_revision.as_ref() == Some(&rev(n)),
        })
        .collect()
}

/// The unit's journal, newest first: an `Applied` or `Failed` event per outcome, a `StatusChanged` event
/// whenever the kind of status changed, and the drift found by the last pass.
pub(crate) fn events(unit: &Unit) -> Vec<Event> {
    let mut out = Vec::new();
    let mut prev = StatusKind::Unknown;
    for s in timeline(&unit.name) {
        let message = message(&s);
        let (severity, reason) = match s.kind {
            StatusKind::Ready => (Severity::Info, "Applied"),
            StatusKind::Suspended => (Severity::Warning, "Suspended"),
            _ => (Severity::Error, "Failed"),
        };
        let event = |severity, reason: &str, message: String| Event {
            time: ts(s.at),
            unit: unit.id.clone(),
            severity,
            reason: reason.into(),
            message,
            revision: Some(rev(s.rev)),
        };
        if s.kind != prev {
            out.push(event(
                severity,
                STATUS_CHANGED,
                format!("{prev} -> {}: {message}", s.kind),
            ));
            prev = s.kind;
        }
        out.push(event(severity, reason, message));
    }
    if !unit.drifted_objects.is_empty() {
        out.push(Event {
            time: ts(RECONCILED_AT),
            unit: unit.id.clone(),
            severity: Severity::Warning,
            reason: "InSync".into(),
            message: format!(
                "in sync; {} file(s) drifted (drift: report)",
                unit.drifted_objects.len()
            ),
            revision: unit.applied_revision.clone(),
        });
    }
    out.reverse();
    out
}

const APP_DESIRED: &str = "apiVersion: v1\nkind: Deployment\nmetadata:\n  name: checkout\nspec:\n  replicas: 3\n  template:\n    image: checkout:1.4.2\n    env:\n      LOG_LEVEL: info\n      TIMEOUT: 30s\n";
const APP_BY_HAND: &str = "apiVersion: v1\nkind: Deployment\nmetadata:\n  name: checkout\nspec:\n  replicas: 5\n  template:\n    image: checkout:1.4.0\n    env:\n      LOG_LEVEL: debug\n";

/// Live against desired for every object the unit manages: the drifted ones were changed (app.yaml) or
/// deleted (extra.conf) by hand.
pub(crate) fn diff(unit: &Unit) -> Vec<ObjectDiff> {
    let objects = [
        ("app.yaml", APP_DESIRED, Some(APP_BY_HAND)),
        ("extra.conf", "gzip on;\n", None),
        ("flags.json", "{}\n", Some("{}\n")),
    ];
    objects
        .into_iter()
        .map(|(name, desired, by_hand)| {
            let drifted = unit.drifted_objects.iter().any(|o| o == name);
            let live = if drifted { by_hand } else { Some(desired) };
            let change = match live {
                None => Change::Added,
                Some(l) if l != desired => Change::Modified,
                Some(_) => Change::Unchanged,
            };
            ObjectDiff {
                object: name.into(),
                change,
                desired: Some(desired.into()),
                live: live.map(str::to_owned),
                masked: false,
                note: None,
            }
        })
        .collect()
}

/// `app.yaml` as desired at commit `n`: the newest commit added the timeout.
fn app_at(n: u8) -> String {
    if n >= 4 {
        APP_DESIRED.to_owned()
    } else {
        APP_DESIRED.replace("      TIMEOUT: 30s\n", "")
    }
}

/// Promotion compare of `a` with `b`, each at its applied commit: the commits between them (when `a` is
/// ahead), and app.yaml (which changed with the newest commit) and flags.json (which never did).
pub(crate) fn compare(a: &Unit, b: &Unit) -> Comparison {
    let at = |u: &Unit| {
        COMMITS
            .iter()
            .map(|c| c.0)
            .find(|&n| u.applied_revision.as_ref() == Some(&rev(n)))
            .unwrap_or(0)
    };
    let (na, nb) = (at(a), at(b));
    let side = |u: &Unit| CompareSide {
        unit: u.id.clone(),
        source: u.source.clone(),
        revision: u.applied_revision.clone(),
        error: None,
    };
    let commits = COMMITS
        .iter()
        .rev()
        .filter(|c| c.0 > nb && c.0 <= na)
        .map(|&(n, author, time, summary)| CompareCommit {
            sha: rev(n).sha().to_owned(),
            author: author.into(),
            time: ts(time),
            summary: summary.into(),
        })
        .collect();
    let object = |name: &str, a: String, b: String| ObjectComparison {
        object: name.into(),
        change: if a == b {
            Change::Unchanged
        } else {
            Change::Modified
        },
        a: Some(a),
        b: Some(b),
        masked: false,
        note: None,
    };
    let mut objects = vec![
        object("app.yaml", app_at(na), app_at(nb)),
        object("flags.json", "{}\n".into(), "{}\n".into()),
    ];
    objects.sort_by_key(|o| o.change == Change::Unchanged);
    Comparison {
        a: side(a),
        b: side(b),
        commits: Some(commits),
        commits_note: None,
        objects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The world agrees with itself: what one view shows never contradicts another.
    #[test]
    fn the_world_is_consistent() {
        let src = source();
        for name in UNITS {
            let u = unit(name);
            // Commits behind are counted from the revision the source is at.
            let applied = u.applied_revision.clone().unwrap();
            let behind = u.commits_behind.unwrap();
            assert_eq!(src.revision.as_ref(), u.latest_revision.as_ref());
            assert_eq!(
                behind == 0,
                Some(&applied) == src.revision.as_ref(),
                "{name}"
            );
            // History marks: applied where the unit says, failed only where it failed and is not applied.
            let h = history(&u);
            let marked: Vec<&HistoryEntry> = h.iter().filter(|e| e.applied).collect();
            assert_eq!(marked.len(), 1, "{name}");
            assert_eq!(marked[0].revision, applied, "{name}");
            assert!(h.iter().all(|e| !(e.failed && e.applied)), "{name}");
            let newer = h.iter().position(|e| e.applied).unwrap();
            assert_eq!(
                newer, behind as usize,
                "{name}: commits above the applied one"
            );
            if u.status.kind == StatusKind::Failed {
                assert!(h[0].failed, "{name}: the attempted commit failed");
            }
            // The status is as old as the newest change of status kind in the journal.
            let ev = events(&u);
            let changed = ev.iter().find(|e| e.reason == STATUS_CHANGED).unwrap();
            assert_eq!(changed.time, u.status.since, "{name}");
            assert!(
                changed.message.contains(&format!("-> {}", u.status.kind)),
                "{name}: {}",
                changed.message
            );
            // The diff shows exactly the drifted objects as different.
            let differ: Vec<String> = diff(&u)
                .into_iter()
                .filter(|d| d.change != Change::Unchanged)
                .map(|d| d.object)
                .collect();
            assert_eq!(differ, u.drifted_objects, "{name}");
        }
        let commit_time = |n: u8| COMMITS.iter().find(|c| c.0 == n).map(|c| c.2).unwrap();
        for name in UNITS {
            for s in timeline(name) {
                assert!(
                    s.at > commit_time(s.rev),
                    "{name} used {} before it existed",
                    s.rev
                );
            }
        }
    }
}
