//! Mirrors of GitRepository URLs, for what only the source's history can tell: how many commits a unit is
//! behind, which commits a failing attempt brought after the last good one, and the source's commits in
//! `history`. The bare mirrors are the local agent's ([`crate::backend::local::git::Mirror`]), kept under
//! `SETPOINT_DATA_DIR/flux-mirrors/`, one per URL.
//!
//! Fetches never run on the watch path: [`Mirrors::wanted`] says which URLs lack the revision the cluster
//! reports, the caller fetches them in the background (at most [`MAX_FETCHES`] at once, each bounded by
//! [`FETCH_TIMEOUT`], a URL that failed not again before [`RETRY_AFTER`]) and then enriches the last snapshot
//! again. What the mirror cannot say is said (`commitsBehindUnknown`), never a 0.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gix::ObjectId;
use jiff::Timestamp;

use crate::backend::local::git::{CommitInfo, Mirror, commit_in};
use crate::backend::local::spec::GitRef;
use crate::model::{HistoryEntry, Revision, Snapshot, StatusKind, Unit};

/// Fetches running at once, per backend.
pub const MAX_FETCHES: usize = 2;
/// The longest one fetch is waited for.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// A URL whose fetch failed is not fetched again before this.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);
/// URLs mirrored at most, per backend; more are "unknown", said so.
pub const MAX_MIRRORS: usize = 64;
/// First-parent commits walked to count how far behind a unit is.
const WALK_LIMIT: usize = 1000;
/// Commits named as "what broke it" at most.
const BROKE_LIMIT: usize = 20;

/// What is known of one URL's mirror.
#[derive(Debug, Clone, Default)]
struct UrlState {
    /// The commit the last successful fetch was for.
    fetched: Option<String>,
    /// Why the last fetch failed, and when.
    failed: Option<(String, Instant)>,
    fetching: bool,
}

/// The mirrors of one backend and what is known of them.
#[derive(Debug)]
pub struct Mirrors {
    root: PathBuf,
    state: Mutex<HashMap<String, UrlState>>,
    /// `(url, applied, latest)` → commits behind (`None`: not on the first-parent line).
    behind: Mutex<HashMap<(String, String, String), Option<u32>>>,
    /// `(url, sha)` → whether the mirror has that commit; forgotten for a URL when a fetch of it ends.
    has: Mutex<HashMap<(String, String), bool>>,
    /// `(url, branch or tag)` → the commit it names in the mirror; forgotten for a URL when a fetch of it
    /// ends. Thousands of units on one source ask the same: the mirror is opened once, not once per unit.
    heads: Mutex<HashMap<(String, String), Option<String>>>,
    /// url → its mirror opened, shared until a fetch of the URL ends: thousands of units, each with its own
    /// commit, are looked up in one opened repository instead of opening it once each.
    repos: Mutex<HashMap<String, gix::Repository>>,
    /// Fetches ended so far: a watch that keeps its units enriched (Argo CD's) enriches them again when it
    /// moves.
    fetched: tokio::sync::watch::Sender<u64>,
    /// Mirrors opened, for the tests that hold the line above.
    #[cfg(test)]
    pub(crate) opened: std::sync::atomic::AtomicUsize,
    /// Which sources of a snapshot are mirrored and how its units are enriched: Flux's by default, another
    /// backend's through [`Mirrors::with`].
    sources: SourcesOf,
}

/// What a backend's snapshots mean to the mirrors: the fetches a snapshot wants, and its units enriched.
#[derive(Debug, Clone, Copy)]
pub struct SourcesOf {
    pub wanted: fn(&Mirrors, &Snapshot) -> Vec<Wanted>,
    pub enrich: fn(&Mirrors, &mut Snapshot),
}

/// Entries of the caches above at most; past that they start again empty.
const MAX_CACHED: usize = 20_000;

/// One fetch the caller should run: `url` until it has `commit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub url: String,
    pub commit: String,
}

impl Mirrors {
    pub fn new(root: PathBuf) -> Arc<Self> {
        Self::with(
            root,
            SourcesOf {
                wanted: Self::flux_wanted,
                enrich: Self::flux_enrich,
            },
        )
    }

    /// Mirrors under `root` for a backend whose snapshots `sources` reads.
    pub fn with(root: PathBuf, sources: SourcesOf) -> Arc<Self> {
        Arc::new(Self {
            root,
            state: Mutex::new(HashMap::new()),
            behind: Mutex::new(HashMap::new()),
            has: Mutex::new(HashMap::new()),
            heads: Mutex::new(HashMap::new()),
            repos: Mutex::new(HashMap::new()),
            fetched: tokio::sync::watch::Sender::new(0),
            #[cfg(test)]
            opened: Default::default(),
            sources,
        })
    }

    /// The fetches `snap` wants (see [`Mirrors::want`]).
    pub fn wanted(&self, snap: &Snapshot) -> Vec<Wanted> {
        (self.sources.wanted)(self, snap)
    }

    /// `snap`'s units with what the mirrors know now. Blocking (reads git objects).
    pub fn enrich(&self, snap: &mut Snapshot) {
        (self.sources.enrich)(self, snap)
    }

    pub fn mirror(&self, url: &str) -> Mirror {
        #[cfg(test)]
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hash = blake3::hash(url.as_bytes()).to_hex();
        Mirror::new(self.root.join(format!("{}.git", &hash[..16])))
    }

    /// The git sources of `snap` whose mirror lacks the revision the cluster reports and that are not being
    /// fetched or waiting to be retried; each returned URL is marked as being fetched.
    fn flux_wanted(&self, snap: &Snapshot) -> Vec<Wanted> {
        snap.sources
            .iter()
            .filter(|s| is_git(&s.id))
            .filter_map(|s| self.want(&s.url, s.revision.as_ref()?.sha()))
            .collect()
    }

    /// `url` when its mirror lacks `commit` and it is not being fetched or waiting to be retried (then marked
    /// as being fetched).
    pub fn want(&self, url: &str, commit: &str) -> Option<Wanted> {
        if !fetchable(url) {
            return None;
        }
        let mut state = self.state.lock().ok()?;
        if !state.contains_key(url) && state.len() >= MAX_MIRRORS {
            return None;
        }
        let st = state.entry(url.to_owned()).or_default();
        let have = st.fetched.as_deref() == Some(commit);
        let resting = st
            .failed
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < RETRY_AFTER);
        if st.fetching || have || resting {
            return None;
        }
        st.fetching = true;
        Some(Wanted {
            url: url.to_owned(),
            commit: commit.to_owned(),
        })
    }

    /// The commit the branch or tag `reference` names in the mirror of `url` as last fetched (`None`: the
    /// mirror has no such reference, or no mirror yet).
    pub fn head(&self, url: &str, reference: &str) -> Option<String> {
        memo(&self.heads, (url.to_owned(), reference.to_owned()), || {
            let mirror = self.mirror(url);
            if !mirror.exists() {
                return None;
            }
            [
                GitRef::Branch(reference.to_owned()),
                GitRef::Tag(reference.to_owned()),
            ]
            .iter()
            .find_map(|r| mirror.resolve(r).ok())
            .map(|id| id.to_string())
        })
    }

    /// Whether the mirror of `url` has the commit `sha` (opened once per commit until the next fetch of the
    /// URL ends, not once per unit).
    pub fn has(&self, url: &str, sha: &str) -> bool {
        memo(&self.has, (url.to_owned(), sha.to_owned()), || {
            self.with_opened(url, |repo| has_commit(repo, sha))
                .unwrap_or(false)
        })
    }

    /// `f` of the mirror of `url` opened (once until the next fetch of it ends), or `None` when there is
    /// none yet or it cannot be opened.
    fn with_opened<R>(&self, url: &str, f: impl FnOnce(&gix::Repository) -> R) -> Option<R> {
        let mut repos = self.repos.lock().ok()?;
        if let Some(repo) = repos.get(url) {
            return Some(f(repo));
        }
        let mirror = self.mirror(url);
        if !mirror.exists() {
            return None;
        }
        let mut repo = mirror
            .open()
            .inspect_err(|e| tracing::debug!(url, error = %e.0, "mirror not opened"))
            .ok()?;
        // a commit the mirror lacks is no reason to list its pack directory again, which gix does on a
        // miss by default: a listing per unit (the mirror is opened afresh after each fetch instead)
        repo.objects.refresh_never();
        let r = f(&repo);
        if repos.len() >= MAX_MIRRORS {
            repos.clear();
        }
        repos.insert(url.to_owned(), repo);
        Some(r)
    }

    /// Fetches one wanted URL (blocking: run it on a blocking thread) and records what came of it. A lock
    /// file beside the mirror keeps two setpoint processes from fetching into it at once.
    pub fn fetch_blocking(&self, w: &Wanted) {
        let mirror = self.mirror(&w.url);
        let result = (|| {
            std::fs::create_dir_all(&self.root)
                .map_err(|e| format!("{}: {e}", self.root.display()))?;
            let lock_path = mirror.path().with_extension("lock");
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| format!("{}: {e}", lock_path.display()))?;
            lock.lock()
                .map_err(|e| format!("{}: cannot lock: {e}", lock_path.display()))?;
            mirror
                .fetch(&w.url, &GitRef::Commit(w.commit.clone()))
                .map(|_| ())
                .map_err(|e| e.0)
        })();
        self.finish(&w.url, result.map(|()| w.commit.clone()));
    }

    /// Records the end of a fetch of `url`: the commit it was for, or why it failed.
    pub fn finish(&self, url: &str, result: Result<String, String>) {
        if let Ok(mut has) = self.has.lock() {
            has.retain(|(u, _), _| u != url);
        }
        if let Ok(mut heads) = self.heads.lock() {
            heads.retain(|(u, _), _| u != url);
        }
        if let Ok(mut repos) = self.repos.lock() {
            repos.remove(url);
        }
        if let Ok(mut state) = self.state.lock() {
            let st = state.entry(url.to_owned()).or_default();
            st.fetching = false;
            match result {
                Ok(commit) => {
                    st.fetched = Some(commit);
                    st.failed = None;
                }
                Err(e) => {
                    tracing::info!(url, error = %e, "mirror of a source");
                    st.failed = Some((e, Instant::now()));
                }
            }
        }
        self.fetched.send_modify(|n| *n += 1);
    }

    /// Told each time a fetch ends (after what it changed is readable).
    pub fn fetches_ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.fetched.subscribe()
    }

    /// Why the last fetch of `url` failed, if it did.
    pub fn failure(&self, url: &str) -> Option<String> {
        let state = self.state.lock().ok()?;
        state.get(url)?.failed.as_ref().map(|(e, _)| e.clone())
    }

    /// Why the mirror of `url` cannot tell `sha`'s history now, or `None` when it can.
    fn gap(&self, url: &str, sha: &str) -> Option<String> {
        if !fetchable(url) {
            return Some(format!(
                "{url} is not a URL this host fetches (only http, https and git)"
            ));
        }
        let st = self
            .state
            .lock()
            .ok()?
            .get(url)
            .cloned()
            .unwrap_or_default();
        if self.has(url, sha) {
            return None;
        }
        Some(match (st.failed, st.fetching) {
            (Some((e, _)), _) => format!("from this host: {e}"),
            (None, true) => format!("{url} is being fetched"),
            (None, false) if st.fetched.is_some() => {
                format!("{url} has no commit {}", &sha[..sha.len().min(12)])
            }
            (None, false) => format!("{url} has not been fetched yet"),
        })
    }

    /// Sets `commits_behind` (or says why it is unknown) and `broken_by` of every unit of `snap` whose source
    /// is a GitRepository, from the mirrors as they are now. Blocking (reads git objects).
    fn flux_enrich(&self, snap: &mut Snapshot) {
        let urls: HashMap<(String, String), String> = snap
            .sources
            .iter()
            .filter(|s| is_git(&s.id))
            .map(|s| ((s.context.clone(), s.name.clone()), s.url.clone()))
            .collect();
        for u in &mut snap.units {
            let Some(url) = urls.get(&(u.context.clone(), u.source.clone())) else {
                continue;
            };
            self.enrich_unit(url, u);
        }
    }

    /// Sets what the mirror of `url` says of `u`, from its revisions alone (so enriching an enriched unit
    /// again changes nothing but what the mirror learnt since); a unit that stays the same is not copied.
    fn enrich_unit(&self, url: &str, u: &mut Arc<Unit>) {
        let behind = match (&u.applied_revision, &u.latest_revision) {
            _ if u.pinned_revision.is_some() => Err(
                "the source is pinned by setpoint: its revision is the pin, not its branch".into(),
            ),
            (None, _) => Err("nothing applied yet".into()),
            (_, None) => Err("the source has no revision yet".into()),
            (Some(a), Some(l)) if a.same_commit(l) => Ok(0),
            (Some(a), Some(l)) => self.count(url, a, l),
        };
        let (commits_behind, commits_behind_unknown) = match behind {
            Ok(n) => (Some(n), None),
            Err(why) => (None, Some(why)),
        };
        let broken_by = match (&u.applied_revision, &u.attempted_revision) {
            (Some(a), Some(t)) if u.status.kind == StatusKind::Failed && !a.same_commit(t) => {
                match self.introduced(url, a, t) {
                    Ok(commits) => commits,
                    Err(why) => {
                        tracing::debug!(unit = %u.id, %why, "which commit broke it");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        };
        if u.commits_behind != commits_behind
            || u.commits_behind_unknown != commits_behind_unknown
            || u.broken_by != broken_by
        {
            let u = Arc::make_mut(u);
            u.commits_behind = commits_behind;
            u.commits_behind_unknown = commits_behind_unknown;
            u.broken_by = broken_by;
        }
    }

    /// First-parent commits from `applied` to `latest` in the mirror of `url`, or why that is unknown.
    pub fn count(&self, url: &str, applied: &Revision, latest: &Revision) -> Result<u32, String> {
        let key = (url.to_owned(), applied.sha().into(), latest.sha().into());
        if let Some(known) = self.behind.lock().ok().and_then(|m| m.get(&key).copied()) {
            return known.ok_or_else(|| not_on_line(applied, latest));
        }
        for sha in [applied.sha(), latest.sha()] {
            if let Some(gap) = self.gap(url, sha) {
                return Err(gap);
            }
        }
        let mirror = self.mirror(url);
        let (a, l) = (oid(&mirror, applied)?, oid(&mirror, latest)?);
        let n = mirror.commits_between(a, l, WALK_LIMIT);
        if let Ok(mut m) = self.behind.lock() {
            if m.len() >= MAX_CACHED {
                m.clear();
            }
            m.insert(key, n);
        }
        n.ok_or_else(|| not_on_line(applied, latest))
    }

    /// The commits `attempted` has that `applied` has not, newest first (the oldest is the first that may
    /// have broken it).
    fn introduced(
        &self,
        url: &str,
        applied: &Revision,
        attempted: &Revision,
    ) -> Result<Vec<HistoryEntry>, String> {
        for sha in [applied.sha(), attempted.sha()] {
            if let Some(gap) = self.gap(url, sha) {
                return Err(gap);
            }
        }
        let mirror = self.mirror(url);
        let (a, t) = (oid(&mirror, applied)?, oid(&mirror, attempted)?);
        let commits = mirror.commits_not_in(t, a, BROKE_LIMIT).map_err(|e| e.0)?;
        Ok(commits
            .into_iter()
            .filter_map(|c| entry(attempted.reference(), c))
            .collect())
    }

    /// First-parent commits of the source from `latest`, newest first, at most `limit`; or why not.
    pub fn commits(
        &self,
        url: &str,
        latest: &Revision,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, String> {
        if let Some(gap) = self.gap(url, latest.sha()) {
            return Err(gap);
        }
        let mirror = self.mirror(url);
        let from = oid(&mirror, latest)?;
        let commits = mirror.history(from, limit).map_err(|e| e.0)?;
        Ok(commits
            .into_iter()
            .filter_map(|c| entry(latest.reference(), c))
            .collect())
    }
}

/// The value `cache` holds for `key`, computed and kept when it holds none; past [`MAX_CACHED`] entries the
/// cache starts again empty. Computed under the lock, so a fetch that ends meanwhile (and forgets its URL's
/// entries) never leaves a value read before it.
fn memo<K: std::hash::Hash + Eq, V: Clone>(
    cache: &Mutex<HashMap<K, V>>,
    key: K,
    compute: impl FnOnce() -> V,
) -> V {
    let Ok(mut m) = cache.lock() else {
        return compute();
    };
    if let Some(v) = m.get(&key) {
        return v.clone();
    }
    let v = compute();
    if m.len() >= MAX_CACHED {
        m.clear();
    }
    m.insert(key, v.clone());
    v
}

/// Whether `repo` has the commit `sha` (a full id is looked up directly: a miss costs no error message).
fn has_commit(repo: &gix::Repository, sha: &str) -> bool {
    match ObjectId::from_hex(sha.as_bytes()) {
        Ok(id) => repo
            .try_find_header(id)
            .ok()
            .flatten()
            .is_some_and(|h| h.kind() == gix::object::Kind::Commit),
        Err(_) => commit_in(repo, sha).is_ok(),
    }
}

fn oid(mirror: &Mirror, r: &Revision) -> Result<ObjectId, String> {
    mirror.resolve_commit(r.sha()).map_err(|e| e.0)
}

fn not_on_line(applied: &Revision, latest: &Revision) -> String {
    format!(
        "the applied revision {} is not among the {WALK_LIMIT} first-parent commits before {} (history rewritten?)",
        applied.short_sha(),
        latest.short_sha()
    )
}

fn entry(reference: Option<&str>, c: CommitInfo) -> Option<HistoryEntry> {
    Some(HistoryEntry {
        revision: Revision::new(reference, &c.id.to_string()).ok()?,
        author: c.author,
        time: Timestamp::from_second(c.time).unwrap_or(Timestamp::UNIX_EPOCH),
        summary: c.summary,
        applied: false,
        last_good: false,
        failed: false,
        pinned: false,
    })
}

fn is_git(source_id: &str) -> bool {
    source_id.contains("/GitRepository/")
}

/// URLs gix can fetch without credentials setpoint does not have (ssh needs keys the cluster holds).
fn fetchable(url: &str) -> bool {
    ["http://", "https://", "git://"]
        .iter()
        .any(|p| url.starts_with(p))
}

#[cfg(test)]
#[path = "mirror_tests.rs"]
mod tests;
