//! Applying a render to a target directory: atomic per file, never through a symlink, pruning only what the
//! agent wrote, and drift detection against the inventory.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tempfile::TempPath;

use super::render::{Rendered, RenderedFile};
use super::spec::DriftMode;
use super::state::{Inventory, InventoryEntry};

/// Prefix of the agent's temporary files; leftovers of a crash are removed on the next start.
pub const TEMP_PREFIX: &str = ".setpoint-tmp.";

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub written: Vec<String>,
    pub pruned: Vec<String>,
    /// Files no longer desired that were changed by someone else: left in place, no longer managed.
    pub released: Vec<String>,
    /// Stopped early because of a shutdown request; the rest is applied on the next pass.
    pub interrupted: bool,
}

impl ApplyReport {
    pub fn changed(&self) -> usize {
        self.written.len() + self.pruned.len()
    }
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

fn mtime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

/// Checks that the target is a real directory (creating it when missing), never a symlink.
pub fn ensure_target(target: &Path) -> Result<(), String> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "target {} is a symlink; setpoint never writes through symlinks (replace it with a directory)",
            target.display()
        )),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("target {} is not a directory", target.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(target)
            .map_err(|e| format!("cannot create target {}: {e}", target.display())),
        Err(e) => Err(format!("target {}: {e}", target.display())),
    }
}

/// A target directory during one pass, remembering directories already checked to be real directories.
struct Target<'a> {
    root: &'a Path,
    checked: RefCell<HashSet<PathBuf>>,
}

impl<'a> Target<'a> {
    fn new(root: &'a Path) -> Self {
        Self {
            root,
            checked: RefCell::new(HashSet::new()),
        }
    }
}

/// The parent directory of `rel` inside `target`, created as needed, refusing symlinks on the way.
fn safe_parent(target: &Target, rel: &str, create: bool) -> Result<PathBuf, String> {
    let mut dir = target.root.to_owned();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if part.is_empty() || *part == "." || *part == ".." {
            return Err(format!("{rel}: path component `{part}` is not allowed"));
        }
        dir.push(part);
        if target.checked.borrow().contains(&dir) {
            continue;
        }
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{}: is a symlink inside the target; refusing to follow it",
                    dir.display()
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "{}: a file is in the way of a directory",
                    dir.display()
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
        target.checked.borrow_mut().insert(dir.clone());
    }
    Ok(dir)
}

/// The live file at `rel`, if it is a regular file reached without symlinks.
fn live_path(target: &Target, rel: &str) -> Option<(PathBuf, fs::Metadata)> {
    let parent = safe_parent(target, rel, false).ok()?;
    let path = parent.join(rel.rsplit('/').next()?);
    let meta = fs::symlink_metadata(&path).ok()?;
    meta.is_file().then_some((path, meta))
}

/// The live content of a managed path, if it is a regular file.
pub fn read_live(target: &Path, rel: &str) -> Option<Vec<u8>> {
    live_path(&Target::new(target), rel).and_then(|(p, _)| fs::read(p).ok())
}

/// Whether the live file still holds what the inventory says was written.
fn matches_inventory(target: &Target, rel: &str, entry: &InventoryEntry) -> bool {
    let Some((path, meta)) = live_path(target, rel) else {
        return false;
    };
    if meta.len() == entry.size && mtime_ns(&meta) == entry.mtime_ns && !entry.pending {
        return is_exec(&meta) == entry.executable;
    }
    fs::read(&path)
        .map(|b| hash_bytes(&b) == entry.hash)
        .unwrap_or(false)
        && is_exec(&meta) == entry.executable
}

fn is_exec(meta: &fs::Metadata) -> bool {
    meta.permissions().mode() & 0o111 != 0
}

/// Managed files whose live content differs from what was applied (changed, deleted or replaced).
/// The agent uses the faster `drift::drifted`; this one is the reference its tests compare with.
#[cfg(test)]
pub fn drifted(target: &Path, inventory: &Inventory) -> Vec<String> {
    let target = Target::new(target);
    inventory
        .files
        .iter()
        .filter(|(_, e)| !e.pending)
        .filter(|(rel, e)| !matches_inventory(&target, rel, e))
        .map(|(rel, _)| rel.clone())
        .collect()
}

/// Writes one file's content to a temporary file beside its final path (not yet visible there).
fn stage_file(
    target: &Target,
    rel: &str,
    file: &RenderedFile,
) -> Result<(TempPath, PathBuf), String> {
    let parent = safe_parent(target, rel, true)?;
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let path = parent.join(name);
    if let Ok(m) = fs::symlink_metadata(&path)
        && m.is_dir()
    {
        return Err(format!(
            "{}: a directory is in the way of a file",
            path.display()
        ));
    }
    let err = |e: io::Error| format!("cannot write {}: {e}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(&parent)
        .map_err(err)?;
    tmp.write_all(&file.content).map_err(err)?;
    let mode = if file.executable { 0o755 } else { 0o644 };
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))
        .map_err(err)?;
    Ok((tmp.into_temp_path(), path))
}

/// Flushes every staged file of the target's filesystem to disk with one `syncfs` call.
fn sync_filesystem(target: &Path) -> Result<(), String> {
    let dir = fs::File::open(target).map_err(|e| format!("{}: {e}", target.display()))?;
    rustix::fs::syncfs(&dir).map_err(|e| format!("cannot sync {}: {e}", target.display()))
}

/// Makes a staged file visible under its final name (an atomic rename) and returns its inventory entry.
fn commit_file(tmp: TempPath, path: &Path, file: &RenderedFile) -> Result<InventoryEntry, String> {
    let err = |e: io::Error| format!("cannot write {}: {e}", path.display());
    tmp.persist(path).map_err(|e| err(e.error))?;
    let meta = fs::symlink_metadata(path).map_err(err)?;
    Ok(InventoryEntry {
        hash: hash_bytes(&file.content),
        executable: file.executable,
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
        pending: false,
    })
}

/// Which desired files need writing: in `repair` mode every file whose live content differs; in `report`
/// mode only files whose desired content changed since they were applied (drift alone is left alone).
fn plan(
    target: &Target,
    desired: &Rendered,
    inventory: &Inventory,
    mode: DriftMode,
    drifted: &HashSet<&str>,
) -> Vec<String> {
    desired
        .iter()
        .filter(|(rel, file)| {
            let hash = hash_bytes(&file.content);
            match inventory.files.get(rel.as_str()) {
                Some(e) if !e.pending && e.hash == hash && e.executable == file.executable => {
                    mode == DriftMode::Repair && drifted.contains(rel.as_str())
                }
                _ => {
                    let live = live_path(target, rel);
                    !live.is_some_and(|(p, m)| {
                        is_exec(&m) == file.executable
                            && fs::read(p).is_ok_and(|b| hash_bytes(&b) == hash)
                    })
                }
            }
        })
        .map(|(rel, _)| rel.clone())
        .collect()
}

/// Applies `desired` to `target`: writes what [`plan`] says, then prunes managed files that are no longer
/// desired (only when `prune`), keeping the inventory in step so that a crash at any point loses nothing.
/// `drifted` is what [`drifted`] found for this inventory just before.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    target: &Path,
    desired: &Rendered,
    inventory: &mut Inventory,
    drifted: &[String],
    mode: DriftMode,
    prune: bool,
    save: &dyn Fn(&Inventory) -> Result<(), String>,
    stop: &AtomicBool,
) -> Result<ApplyReport, String> {
    let target = &Target::new(target);
    ensure_target(target.root)?;
    let drifted: HashSet<&str> = drifted.iter().map(String::as_str).collect();
    let to_write = plan(target, desired, inventory, mode, &drifted);
    let before = inventory.clone();
    let mut report = ApplyReport::default();
    if !to_write.is_empty() {
        // Record intent first: anything this pass may write is ours even if we crash half-way.
        for rel in &to_write {
            if let (None, Some(f)) = (inventory.files.get(rel), desired.get(rel)) {
                inventory.files.insert(
                    rel.clone(),
                    InventoryEntry {
                        hash: hash_bytes(&f.content),
                        executable: f.executable,
                        size: 0,
                        mtime_ns: 0,
                        pending: true,
                    },
                );
            }
        }
        save(inventory)?;
    }
    // Stage every file beside its final path, make them durable with one filesystem sync, then rename
    // each into place: at every instant a file is either its old or its new version.
    let mut staged = Vec::with_capacity(to_write.len());
    for rel in &to_write {
        if stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            save(inventory)?;
            return Ok(report);
        }
        let Some(file) = desired.get(rel) else {
            continue;
        };
        staged.push((rel, file, stage_file(target, rel, file)?));
    }
    if !staged.is_empty() {
        sync_filesystem(target.root)?;
    }
    for (rel, file, (tmp, path)) in staged {
        if stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            break;
        }
        let entry = commit_file(tmp, &path, file)?;
        inventory.files.insert(rel.clone(), entry);
        report.written.push(rel.clone());
    }
    if !report.written.is_empty() {
        // The renames themselves are made durable too.
        sync_filesystem(target.root)?;
    }
    if report.interrupted {
        save(inventory)?;
        return Ok(report);
    }
    // Files desired and already identical live become (or stay) managed with fresh stat data.
    for (rel, file) in desired {
        let fresh = inventory.files.get(rel).is_none_or(|e| e.pending);
        if fresh && let Some((_, meta)) = live_path(target, rel) {
            inventory.files.insert(
                rel.clone(),
                InventoryEntry {
                    hash: hash_bytes(&file.content),
                    executable: file.executable,
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                    pending: false,
                },
            );
        }
    }
    if prune {
        let gone: Vec<String> = inventory
            .files
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .cloned()
            .collect();
        let mut dirs = BTreeSet::new();
        for rel in gone {
            let Some(entry) = inventory.files.get(&rel).cloned() else {
                continue;
            };
            match live_path(target, &rel) {
                Some((path, _)) if matches_inventory(target, &rel, &entry) => {
                    fs::remove_file(&path)
                        .map_err(|e| format!("cannot prune {}: {e}", path.display()))?;
                    if let Some(parent) = path.parent() {
                        dirs.insert(parent.to_owned());
                    }
                    report.pruned.push(rel.clone());
                }
                Some(_) => report.released.push(rel.clone()),
                None => {}
            }
            inventory.files.remove(&rel);
        }
        remove_empty_dirs(target.root, dirs);
    }
    inventory.files.retain(|_, e| !e.pending);
    if *inventory != before {
        save(inventory)?;
    }
    Ok(report)
}

/// Removes directories emptied by prune, deepest first, never the target itself.
fn remove_empty_dirs(target: &Path, dirs: BTreeSet<PathBuf>) {
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for mut dir in dirs {
        while dir != target && dir.starts_with(target) {
            if fs::remove_dir(&dir).is_err() {
                break;
            }
            if !dir.pop() {
                break;
            }
        }
    }
}

/// Removes temporary files a killed agent left behind (only files with the agent's own prefix).
pub fn remove_temp_files(target: &Path) -> usize {
    let mut removed = 0;
    let mut stack = vec![target.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file()
                && entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn file(s: &str) -> RenderedFile {
        RenderedFile {
            content: s.as_bytes().to_vec(),
            executable: false,
        }
    }

    fn run(target: &Path, desired: &Rendered, inv: &mut Inventory, mode: DriftMode) -> ApplyReport {
        let saved = RefCell::new(0);
        let drift = drifted(target, inv);
        let r = apply(
            target,
            desired,
            inv,
            &drift,
            mode,
            true,
            &|_| {
                *saved.borrow_mut() += 1;
                Ok(())
            },
            &AtomicBool::new(false),
        )
        .unwrap();
        assert!(*saved.borrow() >= usize::from(r.changed() > 0));
        r
    }

    #[test]
    fn apply_prune_and_drift() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("live");
        fs::create_dir_all(&t).unwrap();
        fs::write(t.join("mine.txt"), "unmanaged\n").unwrap();
        let mut inv = Inventory::default();
        let mut desired = Rendered::new();
        desired.insert("a.yaml".into(), file("a: 1\n"));
        desired.insert(
            "sub/b.conf".into(),
            RenderedFile {
                content: b"b\n".to_vec(),
                executable: true,
            },
        );
        let r = run(&t, &desired, &mut inv, DriftMode::Repair);
        assert_eq!(r.written, ["a.yaml", "sub/b.conf"]);
        assert!(
            fs::metadata(t.join("sub/b.conf"))
                .unwrap()
                .permissions()
                .mode()
                & 0o111
                != 0
        );
        assert!(
            run(&t, &desired, &mut inv, DriftMode::Repair)
                .written
                .is_empty(),
            "second pass is a no-op"
        );

        fs::write(t.join("a.yaml"), "a: 2\n").unwrap();
        assert_eq!(drifted(&t, &inv), ["a.yaml"]);
        assert!(
            run(&t, &desired, &mut inv, DriftMode::Report)
                .written
                .is_empty(),
            "report leaves drift"
        );
        assert_eq!(fs::read_to_string(t.join("a.yaml")).unwrap(), "a: 2\n");
        assert_eq!(
            run(&t, &desired, &mut inv, DriftMode::Repair).written,
            ["a.yaml"]
        );
        assert!(drifted(&t, &inv).is_empty());

        desired.remove("sub/b.conf");
        let r = run(&t, &desired, &mut inv, DriftMode::Repair);
        assert_eq!(r.pruned, ["sub/b.conf"]);
        assert!(!t.join("sub").exists(), "emptied directory removed");
        assert_eq!(
            fs::read_to_string(t.join("mine.txt")).unwrap(),
            "unmanaged\n",
            "unmanaged file untouched"
        );

        fs::write(t.join("a.yaml"), "edited by hand\n").unwrap();
        desired.clear();
        let r = run(&t, &desired, &mut inv, DriftMode::Repair);
        assert_eq!(r.released, ["a.yaml"], "a hand-edited file is never pruned");
        assert!(t.join("a.yaml").exists());
        assert!(inv.files.is_empty());
    }

    /// Applies `desired` to `target` with an empty inventory, in repair mode with prune.
    fn apply_fresh(target: &Path, desired: &Rendered) -> Result<ApplyReport, String> {
        apply(
            target,
            desired,
            &mut Inventory::default(),
            &[],
            DriftMode::Repair,
            true,
            &|_| Ok(()),
            &AtomicBool::new(false),
        )
    }

    #[test]
    fn never_writes_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let t = dir.path().join("live");
        fs::create_dir_all(&t).unwrap();
        std::os::unix::fs::symlink(&outside, t.join("sub")).unwrap();
        let mut desired = Rendered::new();
        desired.insert("sub/x".into(), file("x"));
        let e = apply_fresh(&t, &desired).unwrap_err();
        assert!(e.contains("symlink"), "{e}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);

        let swapped = dir.path().join("swapped");
        std::os::unix::fs::symlink(&outside, &swapped).unwrap();
        let e = apply_fresh(&swapped, &desired).unwrap_err();
        assert!(e.contains("is a symlink"), "{e}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn temp_files_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d").join(format!("{TEMP_PREFIX}abc")), "x").unwrap();
        fs::write(dir.path().join("keep"), "x").unwrap();
        assert_eq!(remove_temp_files(dir.path()), 1);
        assert!(dir.path().join("keep").exists());
    }
}
