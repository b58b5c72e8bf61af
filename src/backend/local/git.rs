//! Git through gix only: a bare mirror per source, fetch, ref resolution, trees and blobs read straight from
//! the object database (no work tree), and first-parent history.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::bstr::ByteSlice;

use super::git_error;
use super::spec::GitRef;

/// A git failure, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitError(pub String);

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GitError {}

fn err(context: &str, e: impl std::fmt::Display) -> GitError {
    GitError(format!("{context}: {e}"))
}

/// One entry of a commit's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Repository-relative path, `/`-separated, as stored (possibly not UTF-8).
    pub path: Vec<u8>,
    pub kind: EntryKind,
    pub oid: ObjectId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Executable,
    Symlink,
    /// A submodule commit: not followed.
    Commit,
}

/// A commit as history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub author: String,
    pub time: i64,
    pub summary: String,
}

/// The bare mirror of one source under `.setpoint/git/`.
#[derive(Debug, Clone)]
pub struct Mirror {
    path: PathBuf,
}

impl Mirror {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the mirror exists on disk (has been fetched into at least once).
    pub fn exists(&self) -> bool {
        self.path.join("HEAD").is_file()
    }

    pub fn open(&self) -> Result<gix::Repository, GitError> {
        gix::open(&self.path)
            .map_err(|e| err(&format!("cannot open mirror {}", self.path.display()), e))
    }

    /// Fetches all branches and tags (force-updating them, so a force-pushed branch follows), and returns the
    /// commit `reference` names now. A branch or tag the remote no longer has is an error, and so is an empty
    /// repository; the mirror keeps what it had.
    ///
    /// A mirror that cannot be fetched into while the remote answers (corrupt objects, refs or config) is
    /// re-created from the URL beside the old one and swapped in only once that fetch succeeded; the outcome
    /// says so. When the remote cannot be reached, the mirror is left as it is.
    ///
    /// Callers hold the workspace's agent lock, so no other process writes this mirror: lock files left by a
    /// killed fetch are stale and removed first (otherwise every later fetch would fail on them).
    pub fn fetch(&self, url: &str, reference: &GitRef) -> Result<Fetched, GitError> {
        self.remove_stale_locks();
        let broken = match fetch_into(&self.path, url, reference) {
            Ok(id) => return Ok(Fetched { id, healed: None }),
            Err(FetchFailure::Remote(e)) => return Err(e),
            Err(FetchFailure::Mirror(e)) => e,
        };
        tracing::warn!("mirror {} is broken: {broken}", self.path.display());
        let mut fresh = self.path.clone().into_os_string();
        fresh.push(".rebuild");
        let fresh = PathBuf::from(fresh);
        let _ = std::fs::remove_dir_all(&fresh);
        let id = match fetch_into(&fresh, url, reference) {
            Ok(id) => id,
            Err(FetchFailure::Remote(e) | FetchFailure::Mirror(e)) => {
                // Not the mirror's fault after all (or the remote is broken too): keep the mirror.
                tracing::warn!("re-creating the mirror from {url} failed: {e}");
                let _ = std::fs::remove_dir_all(&fresh);
                return Err(broken);
            }
        };
        let mut old = self.path.clone().into_os_string();
        old.push(".broken");
        let old = PathBuf::from(old);
        let _ = std::fs::remove_dir_all(&old);
        let swapped = std::fs::rename(&self.path, &old)
            .or_else(|e| if self.path.exists() { Err(e) } else { Ok(()) })
            .and_then(|()| std::fs::rename(&fresh, &self.path));
        if let Err(e) = swapped {
            return Err(err(
                &format!(
                    "{broken}; cannot replace the mirror {}",
                    self.path.display()
                ),
                e,
            ));
        }
        let _ = std::fs::remove_dir_all(&old);
        Ok(Fetched {
            id,
            healed: Some(format!(
                "the mirror was broken ({broken}); re-created it from {url}"
            )),
        })
    }

    /// Removes `*.lock` files of refs, config and packs that a killed process left in the mirror.
    fn remove_stale_locks(&self) {
        let mut stack = vec![
            self.path.clone(),
            self.path.join("refs"),
            self.path.join("objects/pack"),
        ];
        let mut seen = 0usize;
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                seen += 1;
                let path = entry.path();
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if is_dir
                    && path.starts_with(self.path.join("refs"))
                    && path != self.path.join("refs")
                {
                    stack.push(path);
                } else if !is_dir && path.extension().is_some_and(|e| e == "lock") {
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::warn!("cannot remove stale lock {}: {e}", path.display());
                    } else {
                        tracing::info!("removed stale lock {}", path.display());
                    }
                }
            }
            if seen > 100_000 {
                break;
            }
        }
    }

    /// The commit `reference` names in the mirror, without fetching.
    pub fn resolve(&self, reference: &GitRef) -> Result<ObjectId, GitError> {
        resolve_in(&self.open()?, reference)
    }

    /// A full commit id from a hex prefix, if the mirror has exactly one such commit.
    pub fn resolve_commit(&self, hex: &str) -> Result<ObjectId, GitError> {
        commit_in(&self.open()?, hex)
    }

    /// Every entry of a commit's tree, recursively, blobs and links only.
    pub fn tree(&self, commit: ObjectId) -> Result<Vec<TreeEntry>, GitError> {
        let repo = self.open()?;
        let tree = repo
            .find_commit(commit)
            .map_err(|e| err(&format!("no commit {commit}"), e))?
            .tree()
            .map_err(|e| err(&format!("commit {commit} has no tree"), e))?;
        let mut rec = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut rec)
            .map_err(|e| err("cannot read tree", e))?;
        Ok(rec
            .records
            .into_iter()
            .filter_map(|e| {
                let kind = if e.mode.is_tree() {
                    return None;
                } else if e.mode.is_link() {
                    EntryKind::Symlink
                } else if e.mode.is_commit() {
                    EntryKind::Commit
                } else if e.mode.is_executable() {
                    EntryKind::Executable
                } else {
                    EntryKind::File
                };
                Some(TreeEntry {
                    path: e.filepath.into(),
                    kind,
                    oid: e.oid,
                })
            })
            .collect())
    }

    /// Opens the object database once for many blob reads.
    pub fn reader(&self) -> Result<BlobReader, GitError> {
        let mut repo = self.open()?;
        // Rendering reads every blob of a tree; a cache keeps delta chains from being resolved again and again.
        repo.object_cache_size_if_unset(64 << 20);
        Ok(BlobReader { repo })
    }

    /// First-parent history from `from`, newest first, at most `limit` commits.
    pub fn history(&self, from: ObjectId, limit: usize) -> Result<Vec<CommitInfo>, GitError> {
        let repo = self.open()?;
        let mut out = Vec::new();
        let mut next = Some(from);
        while let Some(id) = next.take() {
            if out.len() >= limit {
                break;
            }
            let c = repo
                .find_commit(id)
                .map_err(|e| err(&format!("no commit {id}"), e))?;
            next = c.parent_ids().next().map(|p| p.detach());
            out.push(commit_info(&c));
        }
        Ok(out)
    }

    /// Commits reachable from `from` that `hidden` does not contain (`git log hidden..from`), newest
    /// first, at most `limit`; every parent is followed, not only the first.
    pub fn commits_not_in(
        &self,
        from: ObjectId,
        hidden: ObjectId,
        limit: usize,
    ) -> Result<Vec<CommitInfo>, GitError> {
        use gix::revision::walk::Sorting;
        use gix::traverse::commit::simple::CommitTimeOrder;
        let mut repo = self.open()?;
        repo.object_cache_size_if_unset(4 << 20);
        let walk = repo
            .rev_walk([from])
            .with_hidden([hidden])
            .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
            .all()
            .map_err(|e| err(&format!("cannot walk from {from}"), e))?;
        let mut out = Vec::new();
        for info in walk.take(limit) {
            let info = info.map_err(|e| err(&format!("cannot walk from {from}"), e))?;
            let c = repo
                .find_commit(info.id)
                .map_err(|e| err(&format!("no commit {}", info.id), e))?;
            out.push(commit_info(&c));
        }
        Ok(out)
    }

    /// How many first-parent commits `latest` is ahead of `applied` (0 when equal); `None` when `applied` is
    /// not on `latest`'s first-parent line within `limit` commits (e.g. after a force push).
    pub fn commits_between(
        &self,
        applied: ObjectId,
        latest: ObjectId,
        limit: usize,
    ) -> Option<u32> {
        let repo = self.open().ok()?;
        let mut next = Some(latest);
        let mut n = 0u32;
        while let Some(id) = next.take() {
            if id == applied {
                return Some(n);
            }
            if n as usize >= limit {
                return None;
            }
            next = repo
                .find_commit(id)
                .ok()?
                .parent_ids()
                .next()
                .map(|p| p.detach());
            n += 1;
        }
        None
    }
}

/// A commit's id, author, time and summary line.
fn commit_info(c: &gix::Commit<'_>) -> CommitInfo {
    let (author, time) = match c.author() {
        Ok(a) => (a.name.to_str_lossy().into_owned(), a.seconds()),
        Err(_) => ("unknown".into(), 0),
    };
    let summary = c
        .message()
        .map(|m| m.summary().to_str_lossy().into_owned())
        .unwrap_or_default();
    CommitInfo {
        id: c.id,
        author,
        time,
        summary,
    }
}

/// What a fetch found: the commit the reference names, and whether the mirror had to be re-created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub id: ObjectId,
    /// Set when the mirror was broken and re-created from the URL: what was wrong.
    pub healed: Option<String>,
}

/// Whose fault a failed fetch is: the remote's (unreachable, missing ref, empty) or the mirror's.
enum FetchFailure {
    Remote(GitError),
    Mirror(GitError),
}

/// A full commit id from a hex prefix, if `repo` has exactly one such commit.
pub fn commit_in(repo: &gix::Repository, hex: &str) -> Result<ObjectId, GitError> {
    let id = repo
        .rev_parse_single(format!("{hex}^{{commit}}").as_str())
        .map_err(|e| err(&format!("no commit `{hex}` in the source"), e))?;
    Ok(id.detach())
}

fn open_or_init(path: &Path) -> Result<gix::Repository, GitError> {
    if path.join("HEAD").is_file() {
        return gix::open(path)
            .map_err(|e| err(&format!("cannot open mirror {}", path.display()), e));
    }
    std::fs::create_dir_all(path)
        .map_err(|e| err(&format!("cannot create {}", path.display()), e))?;
    gix::init_bare(path).map_err(|e| err(&format!("cannot create mirror {}", path.display()), e))
}

/// Fetches into the bare repository at `path` (created when missing).
fn fetch_into(path: &Path, url: &str, reference: &GitRef) -> Result<ObjectId, FetchFailure> {
    use FetchFailure::{Mirror as Local, Remote};
    let repo = open_or_init(path).map_err(Local)?;
    let remote = repo
        .remote_at(url)
        .map_err(|e| Remote(err(&format!("bad url `{url}`"), e)))?
        .with_refspecs(
            ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
            gix::remote::Direction::Fetch,
        )
        .map_err(|e| Local(err("bad refspec", e)))?;
    let interrupt = AtomicBool::new(false);
    let connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| Remote(GitError(git_error::describe(url, &e))))?;
    // Past the connection, a failure with a cause on the remote's side is the remote's; any other is the
    // mirror's (e.g. gix's "Failed to prepare fetch negotiation" on corrupt objects).
    let classify = |e: &(dyn std::error::Error + 'static)| {
        let words = GitError(git_error::describe(url, e));
        if git_error::cause(e).is_some() {
            Remote(words)
        } else {
            Local(words)
        }
    };
    let outcome = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| classify(&e))?
        .receive(gix::progress::Discard, &interrupt)
        .map_err(|e| classify(&e))?;
    let remote_names: Vec<String> = outcome
        .ref_map
        .remote_refs
        .iter()
        .map(|r| r.unpack().0.to_str_lossy().into_owned())
        .collect();
    if remote_names.iter().all(|n| n == "HEAD") {
        return Err(Remote(GitError(format!(
            "{url} is an empty repository: it has no branches or tags yet"
        ))));
    }
    let wanted = match reference {
        GitRef::Branch(b) => Some(format!("refs/heads/{b}")),
        GitRef::Tag(t) => Some(format!("refs/tags/{t}")),
        GitRef::Commit(_) => None,
    };
    if let Some(w) = wanted
        && !remote_names.contains(&w)
    {
        let what = match reference {
            GitRef::Tag(t) => format!("tag `{t}`"),
            GitRef::Branch(b) => format!("branch `{b}`"),
            GitRef::Commit(_) => String::new(),
        };
        return Err(Remote(GitError(format!(
            "{url} has no {what} (deleted or never pushed)"
        ))));
    }
    match resolve_in(&repo, reference) {
        Ok(id) => Ok(id),
        // A commit the remote does not have is the remote's problem; a branch or tag just fetched that
        // does not resolve means the mirror is broken.
        Err(e) if matches!(reference, GitRef::Commit(_)) => Err(Remote(e)),
        Err(e) => Err(Local(e)),
    }
}

fn resolve_in(repo: &gix::Repository, reference: &GitRef) -> Result<ObjectId, GitError> {
    let spec = match reference {
        GitRef::Branch(b) => format!("refs/heads/{b}"),
        GitRef::Tag(t) => format!("refs/tags/{t}"),
        GitRef::Commit(c) => c.clone(),
    };
    let id = repo
        .rev_parse_single(format!("{spec}^{{commit}}").as_str())
        .map_err(|e| err(&format!("cannot resolve {}", reference.describe()), e))?;
    Ok(id.detach())
}

/// Reads blobs with a size limit checked before the content is loaded.
pub struct BlobReader {
    repo: gix::Repository,
}

/// Why a blob was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobError {
    TooLarge(u64),
    Git(GitError),
}

impl BlobReader {
    pub fn read(&self, oid: ObjectId, limit: u64) -> Result<Vec<u8>, BlobError> {
        let header = self
            .repo
            .find_header(oid)
            .map_err(|e| BlobError::Git(err(&format!("no blob {oid}"), e)))?;
        if header.size() > limit {
            return Err(BlobError::TooLarge(header.size()));
        }
        let blob = self
            .repo
            .find_blob(oid)
            .map_err(|e| BlobError::Git(err(&format!("no blob {oid}"), e)))?;
        Ok(blob.detach().data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs git (test infrastructure only) in `dir` at a fixed time; returns trimmed stdout.
    fn git(dir: &Path, time: u32, args: &[&str]) -> String {
        let date = format!("{} +0000", 1_700_000_000 + time);
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
            .args(args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    #[test]
    fn commits_not_in_follows_every_parent_of_a_merge() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, 0, &["init", "-q", "-b", "main"]);
        let commit = |time: u32, msg: &str| {
            git(dir, time, &["commit", "-q", "--allow-empty", "-m", msg]);
            git(dir, time, &["rev-parse", "HEAD"])
        };
        let c1 = commit(1, "one");
        git(dir, 2, &["checkout", "-q", "-b", "feature"]);
        let f1 = commit(2, "feature work");
        git(dir, 3, &["checkout", "-q", "main"]);
        let c2 = commit(3, "two");
        git(
            dir,
            4,
            &["merge", "-q", "--no-ff", "-m", "merge feature", "feature"],
        );
        let m = git(dir, 4, &["rev-parse", "HEAD"]);

        let mirror = Mirror::new(dir.join(".git"));
        let id = |hex: &str| ObjectId::from_hex(hex.as_bytes()).unwrap();
        let not_in = |from: &str, hidden: &str| -> Vec<String> {
            mirror
                .commits_not_in(id(from), id(hidden), 100)
                .unwrap()
                .into_iter()
                .map(|c| c.summary)
                .collect()
        };
        // The merge brings the feature's commit too, not only the first-parent line; newest first.
        assert_eq!(not_in(&m, &c2), ["merge feature", "feature work"]);
        assert_eq!(not_in(&m, &f1), ["merge feature", "two"]);
        assert_eq!(not_in(&c2, &m), Vec::<String>::new());
        assert_eq!(not_in(&c1, &c1), Vec::<String>::new());
        let first = mirror.commits_not_in(id(&m), id(&c1), 1).unwrap();
        assert_eq!(first.len(), 1, "the limit holds");
        assert_eq!(first[0].author, "T");
        assert_eq!(first[0].time, 1_700_000_004);
    }
}
