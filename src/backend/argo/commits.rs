//! What the mirrors of the Applications' git sources add (the Flux backend's mirrors, `flux/mirror.rs`, with
//! Argo CD's reading of a snapshot): how many commits a unit is behind — first-parent commits from what the
//! last sync deployed to the head of `targetRevision` in the mirror (the branch or tag as last fetched; the
//! mirror is fetched whenever Argo CD reports a revision it lacks) — and the source's commits in `history`,
//! marked with what `status.history` says of them. What the mirror cannot say is said
//! (`commitsBehindUnknown`), never a 0.

use std::path::Path;
use std::sync::Arc;

use crate::backend::flux::history::{Marks, merge};
use crate::backend::flux::mirror::{Mirrors, SourcesOf, Wanted};
use crate::model::{HistoryEntry, Revision, Snapshot, Source, Unit};

/// Commits of the source listed in `history` at most.
pub const HISTORY_COMMITS: usize = 50;

/// The mirrors of the Applications' sources under `data_dir/argo-mirrors/`.
pub fn mirrors(data_dir: &Path) -> Arc<Mirrors> {
    Mirrors::with(data_dir.join("argo-mirrors"), SourcesOf { wanted, enrich })
}

fn is_app_source(id: &str) -> bool {
    id.starts_with("argo/")
}

/// The git sources whose mirror lacks the revision Argo CD reports (a Helm repository's chart version is
/// not a commit, and is not fetched).
fn wanted(m: &Mirrors, snap: &Snapshot) -> Vec<Wanted> {
    wanted_of(m, snap.sources.iter().map(|s| &**s))
}

/// [`wanted`] of some sources (one Application's, as it arrives).
pub fn wanted_of<'a>(m: &Mirrors, sources: impl IntoIterator<Item = &'a Source>) -> Vec<Wanted> {
    sources
        .into_iter()
        .filter(|s| is_app_source(&s.id))
        .filter_map(|s| m.want(&s.url, s.revision.as_ref()?.sha()))
        .collect()
}

fn enrich(m: &Mirrors, snap: &mut Snapshot) {
    for u in &mut snap.units {
        enrich_unit(m, u);
    }
}

/// Sets how many commits `u` is behind, or why that is unknown, from the mirrors as they are now. Blocking
/// (reads git objects). A unit that stays the same is not copied: it is shared with the console.
pub fn enrich_unit(m: &Mirrors, u: &mut Arc<Unit>) {
    if !is_app_source(&u.id) {
        return;
    }
    let (commits_behind, commits_behind_unknown) = match behind(m, u) {
        Ok(n) => (Some(n), None),
        Err(why) => (None, Some(why)),
    };
    if u.commits_behind != commits_behind || u.commits_behind_unknown != commits_behind_unknown {
        let u = Arc::make_mut(u);
        u.commits_behind = commits_behind;
        u.commits_behind_unknown = commits_behind_unknown;
    }
}

/// The head of the unit's `targetRevision` in the mirror: a commit id names itself; a branch or tag is read
/// from the mirror; `HEAD` (the remote's default branch) is what Argo CD resolved last.
pub fn head(m: &Mirrors, u: &Unit) -> Result<Revision, String> {
    let latest = u
        .latest_revision
        .as_ref()
        .ok_or("Argo CD has not resolved the target revision yet")?;
    let target = latest.reference().unwrap_or("HEAD");
    let is_commit = target.len() >= 7 && target.chars().all(|c| c.is_ascii_hexdigit());
    if is_commit || target == "HEAD" {
        return Ok(latest.clone());
    }
    if !m.has(&u.source, latest.sha()) {
        // the mirror is behind what Argo CD resolved: the count waits for the fetch
        return Ok(latest.clone());
    }
    let sha = m
        .head(&u.source, target)
        .ok_or_else(|| format!("{} has no branch or tag {target}", u.source))?;
    Revision::new(Some(target), &sha).map_err(|e| e.to_string())
}

fn behind(m: &Mirrors, u: &Unit) -> Result<u32, String> {
    if u.pinned_revision.is_some() {
        return Err(
            "rolled back and held by setpoint: its revision is the pin, not its branch".into(),
        );
    }
    let applied = u.applied_revision.as_ref().ok_or("nothing deployed yet")?;
    let head = head(m, u)?;
    m.count(&u.source, applied, &head)
}

/// `status.history` (`reported`, newest first) merged into the source's commits from the mirror, the
/// deployed, failed and pinned commits marked. Blocking.
pub fn history(
    m: &Mirrors,
    u: &Unit,
    reported: Vec<HistoryEntry>,
    failed_attempt: Option<Revision>,
) -> Result<Vec<HistoryEntry>, String> {
    let head = head(m, u)?;
    let commits = m.commits(&u.source, &head, HISTORY_COMMITS)?;
    let marks = Marks {
        applied: u.applied_revision.clone(),
        failed_attempt,
        pin: u.pinned_revision.clone(),
    };
    Ok(merge(reported, commits, &marks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::atomic::Ordering;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-C"])
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn thousands_of_units_on_one_source_open_its_mirror_once_not_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let applied = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["commit", "-q", "--allow-empty", "-m", "two"]);
        let latest = git(&work, &["rev-parse", "HEAD"]);
        let m = mirrors(&dir.path().join("data"));
        let url = "http://127.0.0.1:9/apps.git";
        let bare = m.mirror(url).path().to_owned();
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        let unit = |i: usize| {
            let mut u = crate::backend::scripted::unit(&format!("argo/c/argocd/Application/a{i}"));
            u.source = url.into();
            u.applied_revision = Some(Revision::new(Some("main"), &applied).unwrap());
            // half of them report a commit of their own that the mirror lacks, as a bench's made-up
            // Applications do: each is looked up, none opens the mirror again
            let sha = match i % 2 {
                0 => latest.clone(),
                _ => format!("{i:040x}"),
            };
            u.latest_revision = Some(Revision::new(Some("main"), &sha).unwrap());
            Arc::new(u)
        };
        let mut snap = Snapshot {
            units: (0..2000).map(unit).collect(),
            ..Snapshot::default()
        };
        let before = m.opened.load(Ordering::Relaxed);
        m.enrich(&mut snap);
        let opened = m.opened.load(Ordering::Relaxed) - before;
        for (i, u) in snap.units.iter().enumerate() {
            match i % 2 {
                0 => assert_eq!(u.commits_behind, Some(1), "{}", u.id),
                _ => assert!(u.commits_behind_unknown.is_some(), "{}", u.id),
            }
        }
        assert!(
            opened <= 4,
            "the mirror was opened {opened} times for 2,000 units"
        );
        // a fetch that ends forgets what was read, so the next enrich reads the mirror again
        m.finish(url, Ok(latest.clone()));
        let before = m.opened.load(Ordering::Relaxed);
        m.enrich(&mut snap);
        assert!(m.opened.load(Ordering::Relaxed) > before);
    }
}
