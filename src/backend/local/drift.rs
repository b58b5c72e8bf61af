//! Drift detection over a whole target, at the cost `git status` pays: each directory is opened once (never
//! through a symlink) and each file is looked at relative to it (`fstatat`, one path component instead of a
//! walk from `/`), on a few threads like git's preloaded index. Same answer as comparing every live file with
//! its inventory entry: executable bits, size, mtime and ctime first, the content hash when they differ.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, openat, statat};

use super::apply::{hash_bytes, stat_verdict};
use super::state::{Inventory, InventoryEntry};
use super::target_dir::FileStat;

/// Below this many files one thread is quicker than starting more.
const PARALLEL_FROM: usize = 2_000;
const MAX_THREADS: usize = 4;

/// Managed files whose live content differs from what was applied (changed, deleted, replaced, or behind a
/// symlink). A path only about to be written for the first time (no hash yet) is not drift.
pub fn drifted(target: &Path, inventory: &Inventory) -> Vec<String> {
    let entries: Vec<(&String, &InventoryEntry)> = inventory
        .files
        .iter()
        .filter(|(_, e)| !e.hash.is_empty())
        .collect();
    let Ok(root) = openat(
        CWD,
        target,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return entries.into_iter().map(|(rel, _)| rel.clone()).collect();
    };
    let threads = if entries.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, MAX_THREADS)
    };
    // Sorted paths keep a directory's files together, so each chunk opens few directories.
    let chunk = entries.len().div_ceil(threads).max(1);
    if threads == 1 {
        return check(&root, &entries);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                let root = &root;
                s.spawn(move || check(root, part))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn check(root: &OwnedFd, entries: &[(&String, &InventoryEntry)]) -> Vec<String> {
    let mut dirs: HashMap<&str, Option<OwnedFd>> = HashMap::new();
    entries
        .iter()
        .filter(|(rel, e)| !matches(root, &mut dirs, rel, e))
        .map(|(rel, _)| (*rel).clone())
        .collect()
}

/// Opens `dir` (relative to the target, `/`-separated) one component at a time, refusing symlinks.
fn open_dir<'a>(
    root: &OwnedFd,
    dirs: &mut HashMap<&'a str, Option<OwnedFd>>,
    dir: &'a str,
) -> bool {
    if dir.is_empty() {
        return true;
    }
    if let Some(fd) = dirs.get(dir) {
        return fd.is_some();
    }
    let (parent, name) = match dir.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", dir),
    };
    let fd = if !open_dir(root, dirs, parent) || name.is_empty() || name == "." || name == ".." {
        None
    } else {
        let at = match parent {
            "" => Some(root),
            p => dirs.get(p).and_then(Option::as_ref),
        };
        at.and_then(|at| {
            openat(
                at,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
        })
    };
    let ok = fd.is_some();
    dirs.insert(dir, fd);
    ok
}

/// Whether the live file still holds what the inventory says was written.
fn matches<'a>(
    root: &OwnedFd,
    dirs: &mut HashMap<&'a str, Option<OwnedFd>>,
    rel: &'a str,
    entry: &InventoryEntry,
) -> bool {
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", rel),
    };
    if !open_dir(root, dirs, dir) {
        return false;
    }
    let at = match dir {
        "" => root,
        d => match dirs.get(d).and_then(Option::as_ref) {
            Some(fd) => fd,
            None => return false,
        },
    };
    let Ok(st) = statat(at, name, AtFlags::SYMLINK_NOFOLLOW) else {
        return false;
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return false;
    }
    if let Some(same) = stat_verdict(entry, &FileStat::of(&st)) {
        return same;
    }
    let Ok(fd) = openat(
        at,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let mut bytes = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut bytes).is_ok() && hash_bytes(&bytes) == entry.hash
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
