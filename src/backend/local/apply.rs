//! Applying a render to a target directory: atomic per file, every operation relative to the target opened
//! once without following symlinks ([`TargetDir`]), never taking over a file it does not own, pruning only
//! what it wrote and nobody changed, and an inventory that is true after a crash at any instant.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::FileType;

use super::render::{Rendered, RenderedFile};
use super::spec::DriftMode;
use super::state::{Inventory, InventoryEntry, NextContent};
use super::target_dir::{Blocked, FileStat, Staged, TargetDir};

/// Prefix of the agent's temporary files: `.setpoint-tmp.<token>.<n>`, the token recorded in the
/// inventory before the first is created; only those are removed after a crash.
pub const TEMP_PREFIX: &str = ".setpoint-tmp.";

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub written: Vec<String>,
    pub pruned: Vec<String>,
    /// Files no longer desired that were changed by someone else: left in place, no longer managed.
    pub released: Vec<String>,
    /// Unmanaged files that already held the desired content (or, with `adopt: true`, were taken over).
    pub adopted: Vec<String>,
    /// Desired paths held by something the agent does not own: left as they are, each with why.
    pub conflicts: Vec<String>,
    /// Stopped early because of a shutdown request; the rest is applied on the next pass.
    pub interrupted: bool,
}

impl ApplyReport {
    pub fn changed(&self) -> usize {
        self.written.len() + self.pruned.len()
    }
}

/// How an environment wants its target handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub drift: DriftMode,
    pub prune: bool,
    /// Take over unmanaged files at desired paths (`adopt: true`); otherwise they are conflicts.
    pub adopt: bool,
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

fn entry_for(hash: String, executable: bool, st: FileStat) -> InventoryEntry {
    InventoryEntry {
        hash,
        executable,
        size: st.size,
        mtime_ns: st.mtime_ns,
        ctime_ns: st.ctime_ns,
        mode: st.mode,
        next: None,
    }
}

fn exec_bits_match(entry: &InventoryEntry, st: &FileStat) -> bool {
    if entry.mode == 0 {
        st.executable() == entry.executable
    } else {
        st.mode & 0o111 == entry.mode & 0o111
    }
}

/// Whether the live file still holds what the inventory says was written (content and executable bits).
fn matches_inventory(t: &TargetDir, rel: &str, entry: &InventoryEntry) -> bool {
    if entry.hash.is_empty() {
        return false;
    }
    let Some(st) = t.file_stat(rel) else {
        return false;
    };
    match stat_verdict(entry, &st) {
        Some(same) => same,
        None => t
            .read(rel)
            .is_some_and(|(b, _)| hash_bytes(&b) == entry.hash),
    }
}

/// What the stat alone says of a managed file: `Some(false)` when its executable bits changed,
/// `Some(true)` when size, mtime and ctime are as written, `None` when only its content can tell.
pub(super) fn stat_verdict(entry: &InventoryEntry, st: &FileStat) -> Option<bool> {
    if !exec_bits_match(entry, st) {
        return Some(false);
    }
    let unchanged = st.size == entry.size
        && st.mtime_ns == entry.mtime_ns
        && (entry.ctime_ns == 0 || st.ctime_ns == entry.ctime_ns);
    unchanged.then_some(true)
}

/// The live content of a managed path, if it is a regular file reached without symlinks.
pub fn read_live(target: &Path, rel: &str) -> Option<Vec<u8>> {
    TargetDir::open_existing(target)
        .ok()
        .flatten()?
        .read(rel)
        .map(|(b, _)| b)
}

/// Managed files whose live content differs from what was applied (changed, deleted or replaced).
/// The agent uses the faster `drift::drifted`; this one is the reference its tests compare with.
#[cfg(test)]
pub fn drifted(target: &Path, inventory: &Inventory) -> Vec<String> {
    let t = TargetDir::open_existing(target).ok().flatten();
    inventory
        .files
        .iter()
        .filter(|(_, e)| !e.hash.is_empty())
        .filter(|(rel, e)| !t.as_ref().is_some_and(|t| matches_inventory(t, rel, e)))
        .map(|(rel, _)| rel.clone())
        .collect()
}

/// Makes the inventory true again after an interrupted apply: every path recorded as about to be written
/// becomes what is live (its new content, or still its old one; a first write that never happened is
/// forgotten), and the interrupted apply's temporary files are removed. Returns how many temporary files
/// were removed and whether the inventory changed.
pub fn recover(target: &Path, inventory: &mut Inventory) -> (usize, bool) {
    if inventory.staging.is_none() && inventory.files.values().all(|e| e.next.is_none()) {
        return (0, false);
    }
    let t = TargetDir::open_existing(target).ok().flatten();
    let removed = match (&t, inventory.staging.take()) {
        (Some(t), Some(token)) => t.remove_files_named(&format!("{TEMP_PREFIX}{token}.")),
        _ => 0,
    };
    if let Some(t) = &t {
        settle(t, inventory);
    } else {
        inventory.files.retain(|_, e| !e.hash.is_empty());
        inventory.files.values_mut().for_each(|e| e.next = None);
    }
    (removed, true)
}

/// Resolves every `next` against the live file.
fn settle(t: &TargetDir, inventory: &mut Inventory) {
    inventory.files.retain(|rel, entry| {
        let Some(next) = entry.next.take() else {
            return true;
        };
        let live = t.read(rel);
        match live {
            Some((bytes, st))
                if st.executable() == next.executable && hash_bytes(&bytes) == next.hash =>
            {
                *entry = entry_for(next.hash, next.executable, st);
                true
            }
            _ => !entry.hash.is_empty(),
        }
    });
}

/// What to do with one desired path.
enum Step {
    /// Write it; `replace` when the agent owns what is there (otherwise nothing may be there).
    Write { replace: bool },
    /// Unmanaged and already identical: record it as managed.
    Adopt(FileStat),
    /// Something the agent does not own is there: leave it and say so.
    Conflict(String),
}

/// Decides each desired path: in `repair` mode every managed file whose live content differs is
/// rewritten; in `report` mode only files whose desired content changed since they were applied.
/// Each step comes with the hash of the desired content, computed once.
fn plan(
    t: &TargetDir,
    desired: &Rendered,
    inventory: &Inventory,
    policy: Policy,
    drifted: &HashSet<&str>,
) -> Vec<(String, String, Step)> {
    let mut out = Vec::new();
    for (rel, file) in desired {
        let hash = hash_bytes(&file.content);
        let step = match inventory.files.get(rel.as_str()) {
            Some(e) if e.hash == hash && e.executable == file.executable => {
                if policy.drift == DriftMode::Repair && drifted.contains(rel.as_str()) {
                    Step::Write { replace: true }
                } else {
                    continue;
                }
            }
            Some(_) => Step::Write { replace: true },
            None => match t.stat(rel) {
                None => Step::Write { replace: false },
                Some((FileType::RegularFile, st)) => match t.read(rel) {
                    Some((b, _))
                        if hash_bytes(&b) == hash && st.executable() == file.executable =>
                    {
                        Step::Adopt(st)
                    }
                    _ if policy.adopt => Step::Write { replace: true },
                    _ => Step::Conflict(format!(
                        "{rel}: a file setpoint did not write is there with other content; left as it \
                         is (remove it, or set `adopt: true` on the environment to take it over)"
                    )),
                },
                Some((FileType::Directory, _)) => Step::Conflict(format!(
                    "{rel}: a directory setpoint did not write is in the way of this file; left as it is"
                )),
                Some(_) => Step::Conflict(format!(
                    "{rel}: something that is not a regular file (a symlink?) is there; setpoint never \
                     writes through it; left as it is"
                )),
            },
        };
        out.push((rel.clone(), hash, step));
    }
    out
}

/// Removes managed files that are no longer desired and that nobody changed; a changed one is released
/// (left in place, no longer managed). Directories emptied by it are removed.
fn prune(t: &TargetDir, desired: &Rendered, inventory: &mut Inventory, report: &mut ApplyReport) {
    let gone: Vec<String> = inventory
        .files
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    let mut dirs = BTreeSet::new();
    for rel in gone {
        let Some(entry) = inventory.files.remove(&rel) else {
            continue;
        };
        match t.stat(&rel) {
            Some(_) if matches_inventory(t, &rel, &entry) => match t.remove_file(&rel) {
                Ok(()) => {
                    if let Some((dir, _)) = rel.rsplit_once('/') {
                        dirs.insert(dir.to_owned());
                    }
                    report.pruned.push(rel);
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    inventory.files.insert(rel, entry);
                }
            },
            Some(_) if !entry.hash.is_empty() => report.released.push(rel),
            _ => {}
        }
    }
    let mut dirs: Vec<String> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for dir in dirs {
        t.remove_empty_dirs(&dir);
    }
}

/// A fresh token for this apply's temporary file names.
fn token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Applies `desired` to `target`: prunes managed files no longer desired (when `policy.prune`), then writes
/// what [`plan`] says, keeping the inventory true at every instant (see [`recover`]). `drifted` is what
/// [`drifted`] found for this inventory just before.
pub fn apply(
    target: &Path,
    desired: &Rendered,
    inventory: &mut Inventory,
    drifted: &[String],
    policy: Policy,
    save: &dyn Fn(&Inventory) -> Result<(), String>,
    stop: &AtomicBool,
) -> Result<ApplyReport, String> {
    let t = TargetDir::open(target)?;
    let before = inventory.clone();
    let result = apply_in(&t, desired, inventory, drifted, policy, save, stop);
    if result.is_err()
        && (inventory.staging.is_some() || inventory.files.values().any(|e| e.next.is_some()))
    {
        // Staged files were removed when dropped; what was renamed is settled against the live files.
        inventory.staging = None;
        settle(&t, inventory);
    }
    if *inventory != before {
        save(inventory)?;
    }
    result
}

fn apply_in(
    t: &TargetDir,
    desired: &Rendered,
    inventory: &mut Inventory,
    drifted: &[String],
    policy: Policy,
    save: &dyn Fn(&Inventory) -> Result<(), String>,
    stop: &AtomicBool,
) -> Result<ApplyReport, String> {
    let mut report = ApplyReport::default();
    if policy.prune {
        prune(t, desired, inventory, &mut report);
    }
    let drifted: HashSet<&str> = drifted.iter().map(String::as_str).collect();
    let mut to_write = Vec::new();
    for (rel, hash, step) in plan(t, desired, inventory, policy, &drifted) {
        match step {
            Step::Write { replace } => to_write.push((rel, hash, replace)),
            Step::Adopt(st) => {
                if let Some(f) = desired.get(&rel) {
                    let entry = entry_for(hash, f.executable, st);
                    inventory.files.insert(rel.clone(), entry);
                    report.adopted.push(rel);
                }
            }
            Step::Conflict(why) => report.conflicts.push(why),
        }
    }
    if to_write.is_empty() {
        return Ok(report);
    }
    // Record intent first: the token of this apply's temporary files, and for each path both what is
    // there now and what it is about to become, so a crash at any point leaves a true inventory.
    let token = token();
    inventory.staging = Some(token.clone());
    for (rel, hash, _) in &to_write {
        if let Some(f) = desired.get(rel) {
            let next = Some(NextContent {
                hash: hash.clone(),
                executable: f.executable,
            });
            inventory
                .files
                .entry(rel.clone())
                .and_modify(|e| e.next = next.clone())
                .or_insert_with(|| InventoryEntry {
                    hash: String::new(),
                    executable: false,
                    size: 0,
                    mtime_ns: 0,
                    ctime_ns: 0,
                    mode: 0,
                    next,
                });
        }
    }
    save(inventory)?;
    // A path that holds nothing yet is created whole (written unnamed, then linked under its name only if
    // nothing appeared there); a file that replaces another is staged beside its final path, and the staged
    // files are made durable with one filesystem sync before they are renamed into place, so that no old
    // content is ever replaced by new content a power loss could lose. Both steps run on a few threads
    // when there are many files (each thread with its own handle on the same opened target).
    let jobs: Vec<(usize, String, String, bool, &RenderedFile)> = to_write
        .into_iter()
        .enumerate()
        .filter_map(|(n, (rel, hash, replace))| {
            desired.get(&rel).map(|f| (n, rel, hash, replace, f))
        })
        .collect();
    let (tried, stopped) = place_all(t, &jobs, &token, stop);
    report.interrupted |= stopped;
    let mut staged: Vec<(String, String, &RenderedFile, bool, Staged)> =
        Vec::with_capacity(tried.len());
    for ((n, rel, hash, replace, file), first) in jobs.into_iter().zip(tried) {
        let temp = format!("{TEMP_PREFIX}{token}.{n}");
        let result = match first {
            // Not tried: stopped before it, or after an error of another file (returned below).
            None => continue,
            // A file in the way: the agent's own no longer desired one is removed here, one at a time.
            Some(Err(Blocked::FileInTheWay(_))) => {
                place_or_clear_the_way(t, &rel, &temp, file, replace, inventory, desired)
            }
            Some(other) => other,
        };
        match result {
            Ok(Placed::Whole(st)) => {
                let entry = entry_for(hash, file.executable, st);
                inventory.files.insert(rel.clone(), entry);
                report.written.push(rel);
            }
            Ok(Placed::Staged(s)) => staged.push((rel, hash, file, replace, s)),
            Err(Blocked::Taken(why)) => {
                forget_next(inventory, &rel);
                report.conflicts.push(why);
            }
            Err(Blocked::FileInTheWay(p)) => {
                forget_next(inventory, &rel);
                report.conflicts.push(format!(
                    "{rel}: `{p}` is a file setpoint did not write (or that was changed since) in the way \
                     of a directory; left as it is"
                ));
            }
            Err(b) => return Err(b.message(t.path())),
        }
    }
    if report.interrupted {
        // Nothing is renamed: the staged files are removed when dropped, the paths keep what they had.
        for (rel, ..) in &staged {
            forget_next(inventory, rel);
        }
        staged.clear();
    }
    // Only replacing old content needs the sync (a new path has nothing a power loss could take).
    let replacing = staged.iter().any(|(_, _, _, replace, _)| *replace);
    if replacing {
        t.sync()?;
    }
    let renamed = commit_all(t, staged, stop)?;
    let mut failed = None;
    for ((rel, hash, file, replace), outcome) in renamed {
        match outcome {
            Some(Ok(st)) => {
                let entry = entry_for(hash, file.executable, st);
                inventory.files.insert(rel.clone(), entry);
                report.written.push(rel);
            }
            // Stopped before its rename: it keeps what it had.
            None => {
                report.interrupted = true;
                forget_next(inventory, &rel);
            }
            Some(Err(e)) if !replace => {
                forget_next(inventory, &rel);
                report.conflicts.push(e);
            }
            // Left with its `next` for the caller to settle against what is live.
            Some(Err(e)) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if replacing {
        // The renames themselves are made durable too, before the inventory records them.
        t.sync()?;
    }
    report.written.sort_unstable();
    inventory.staging = None;
    inventory.files.retain(|_, e| {
        e.next = None;
        !e.hash.is_empty()
    });
    Ok(report)
}

/// Below this many files an apply stages and renames on one thread.
const PARALLEL_FROM: usize = 256;
const MAX_THREADS: usize = 4;

fn threads_for(files: usize) -> usize {
    if files < PARALLEL_FROM {
        return 1;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_THREADS)
}

type Job<'a> = (usize, String, String, bool, &'a RenderedFile);

/// A desired file on its way: written whole under its name, or staged for a rename.
enum Placed {
    Whole(FileStat),
    Staged(Staged),
}

/// Creates a new path whole ([`TargetDir::create_new`]), or stages the file as `temp` beside its final
/// path: when it replaces a file, or when the filesystem cannot create it whole.
fn place(
    t: &TargetDir,
    rel: &str,
    temp: &str,
    file: &RenderedFile,
    replace: bool,
) -> Result<Placed, Blocked> {
    if !replace && let Some(st) = t.create_new(rel, &file.content, file.executable)? {
        return Ok(Placed::Whole(st));
    }
    t.stage(rel, temp, &file.content, file.executable)
        .map(Placed::Staged)
}

/// Places each job ([`place`]; temporary names `<TEMP_PREFIX><token>.<n>`), on a few threads for many
/// files; returns, in the jobs' order, what placing each one gave (`None`: not tried, because of a
/// shutdown request or an earlier error on the same thread), and whether a shutdown request stopped it.
fn place_all(
    t: &TargetDir,
    jobs: &[Job<'_>],
    token: &str,
    stop: &AtomicBool,
) -> (Vec<Option<Result<Placed, Blocked>>>, bool) {
    let stage_part = |t: &TargetDir, part: &[Job<'_>]| {
        let mut out: Vec<Option<Result<Placed, Blocked>>> = Vec::with_capacity(part.len());
        let mut stopped = false;
        for (n, rel, _, replace, file) in part {
            if stopped || stop.load(Ordering::SeqCst) {
                stopped = true;
                out.push(None);
                continue;
            }
            let r = place(t, rel, &format!("{TEMP_PREFIX}{token}.{n}"), file, *replace);
            let give_up = matches!(r, Err(Blocked::Other(_)));
            out.push(Some(r));
            if give_up {
                out.resize_with(part.len(), || None);
                break;
            }
        }
        (out, stopped)
    };
    let threads = threads_for(jobs.len());
    if threads == 1 {
        return stage_part(t, jobs);
    }
    let chunk = jobs.len().div_ceil(threads).max(1);
    let parts: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let worker = t.fork();
                let stage_part = &stage_part;
                s.spawn(move || stage_part(&worker, part))
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut out = Vec::with_capacity(jobs.len());
    let mut stopped = false;
    for (part, len) in parts.into_iter().zip(jobs.chunks(chunk).map(<[_]>::len)) {
        match part {
            Ok((results, s)) => {
                out.extend(results);
                stopped |= s;
            }
            // A worker that panicked staged nothing that is kept (its files were removed when dropped).
            Err(_) => out.extend((0..len).map(|_| {
                Some(Err(Blocked::Other(
                    "internal: a staging thread failed".to_owned(),
                )))
            })),
        }
    }
    (out, stopped)
}

type Renamed<'a> = (
    (String, String, &'a RenderedFile, bool),
    Option<Result<FileStat, String>>,
);

/// Renames each staged file into place, on a few threads for many files; returns, in order, each one with
/// the stat of what is now there, its error, or `None` when it was not renamed (a shutdown request, or an
/// earlier error replacing a file on the same thread). An error as a whole leaves the recording to the
/// caller's settling.
fn commit_all<'a>(
    t: &TargetDir,
    staged: Vec<(String, String, &'a RenderedFile, bool, Staged)>,
    stop: &AtomicBool,
) -> Result<Vec<Renamed<'a>>, String> {
    let commit_part =
        |t: &TargetDir, part: Vec<(String, String, &'a RenderedFile, bool, Staged)>| {
            let mut out = Vec::with_capacity(part.len());
            let mut halted = false;
            for (rel, hash, file, replace, s) in part {
                if halted || stop.load(Ordering::SeqCst) {
                    out.push(((rel, hash, file, replace), None));
                    continue;
                }
                let r = t.commit(s, !replace);
                halted = r.is_err() && replace;
                out.push(((rel, hash, file, replace), Some(r)));
            }
            out
        };
    let threads = threads_for(staged.len());
    if threads == 1 {
        return Ok(commit_part(t, staged));
    }
    let chunk = staged.len().div_ceil(threads).max(1);
    let mut parts: Vec<Vec<_>> = Vec::with_capacity(threads);
    let mut rest = staged;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        parts.push(rest);
        rest = tail;
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                let worker = t.fork();
                let commit_part = &commit_part;
                s.spawn(move || commit_part(&worker, part))
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            // A thread that panicked may have renamed some of its files: the caller settles every path
            // still marked with its `next` against what is live.
            out.extend(
                h.join()
                    .map_err(|_| "internal: a rename thread failed".to_owned())?,
            );
        }
        Ok(out)
    })
}

/// Drops what a path was about to become (it was not written); a path never written is forgotten.
fn forget_next(inventory: &mut Inventory, rel: &str) {
    if let Some(e) = inventory.files.get_mut(rel) {
        e.next = None;
        if e.hash.is_empty() {
            inventory.files.remove(rel);
        }
    }
}

/// Places `rel`; when a file is in the way of one of its directories and that file is the agent's own,
/// unchanged and no longer desired (a file that became a directory in the repository), removes it first.
fn place_or_clear_the_way(
    t: &TargetDir,
    rel: &str,
    temp: &str,
    file: &RenderedFile,
    replace: bool,
    inventory: &mut Inventory,
    desired: &Rendered,
) -> Result<Placed, Blocked> {
    match place(t, rel, temp, file, replace) {
        Err(Blocked::FileInTheWay(p)) => {
            let own = inventory
                .files
                .get(&p)
                .is_some_and(|e| !desired.contains_key(&p) && matches_inventory(t, &p, e));
            if !own {
                return Err(Blocked::FileInTheWay(p));
            }
            t.remove_file(&p).map_err(Blocked::Other)?;
            inventory.files.remove(&p);
            place(t, rel, temp, file, replace)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
