//! A target directory opened once, without following symlinks, and every file operation done relative to
//! that handle (`openat`, `statat`, `renameat`, `unlinkat`, `mkdirat`, each refusing symlinks). Swapping
//! the target or a directory inside it for a symlink while the agent works can make an operation fail; it
//! can never make one land outside the directory that was opened.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RenameFlags, Stat};
use rustix::io::Errno;

/// How many directory handles one pass keeps open (beyond that, handles are opened per use).
const DIR_CACHE: usize = 256;

/// What a live file looks like: enough to notice any change without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    /// Permission bits.
    pub mode: u32,
}

impl FileStat {
    #[allow(clippy::unnecessary_cast)]
    pub(super) fn of(st: &Stat) -> Self {
        let ns = |s: i64, n: u64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Self {
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as u64),
            ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as u64),
            mode: (st.st_mode as u32) & 0o7777,
        }
    }

    pub fn executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// Why a path inside the target could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// `prefix` (relative) is a regular file where a directory is needed.
    FileInTheWay(String),
    /// Something appeared at the final name of a new file while it was being written: left as it is
    /// (said in full; not an error of the apply).
    Taken(String),
    /// Anything else: a symlink, a missing directory, an I/O error; said in full.
    Other(String),
}

impl Blocked {
    pub fn message(&self, root: &Path) -> String {
        match self {
            Blocked::FileInTheWay(p) => format!(
                "{}: a file is in the way of a directory",
                root.join(p).display()
            ),
            Blocked::Taken(m) | Blocked::Other(m) => m.clone(),
        }
    }
}

/// A file staged beside its final name, not yet visible under it; removed when dropped uncommitted.
#[derive(Debug)]
pub struct Staged {
    dir: Arc<OwnedFd>,
    temp: String,
    name: String,
    renamed: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = rustix::fs::unlinkat(&*self.dir, &self.temp, AtFlags::empty());
        }
    }
}

/// One target directory, held open for one pass.
pub struct TargetDir {
    path: PathBuf,
    root: Arc<OwnedFd>,
    dirs: RefCell<HashMap<String, Arc<OwnedFd>>>,
    /// Directories looked up without creating them and found missing: not looked up again until this
    /// pass creates a directory (planning 10,000 new files in 100 new directories asks 10,000 times).
    missing: RefCell<HashSet<String>>,
    /// Directories this handle created: nothing of anyone else's can be in the way in them, so staging a
    /// file there does not first look at its final name.
    created: RefCell<HashSet<String>>,
    /// Set once the filesystem refused an unnamed file (`O_TMPFILE`): new files are staged and renamed.
    no_tmpfile: Arc<AtomicBool>,
}

/// How an unnamed file is given its name, learnt on first use: `linkat` with `AT_EMPTY_PATH` (Linux 6.10
/// on for a file the caller opened, any kernel with CAP_DAC_READ_SEARCH), through `/proc/self/fd`, or not
/// at all (new files are then staged and renamed).
static LINK_WAY: AtomicU8 = AtomicU8::new(LINK_EMPTY_PATH);
const LINK_EMPTY_PATH: u8 = 0;
const LINK_PROC: u8 = 1;
const LINK_NONE: u8 = 2;

/// Gives the unnamed file `file` the name `name` in `dir`; fails with `EEXIST` when anything (a file, a
/// directory, a symlink) is there, never following it. `Ok(false)` when this system offers no way.
fn link_unnamed(file: &OwnedFd, dir: &OwnedFd, name: &str) -> Result<bool, Errno> {
    let way = LINK_WAY.load(Ordering::Relaxed);
    if way == LINK_EMPTY_PATH {
        match rustix::fs::linkat(file, "", dir, name, AtFlags::EMPTY_PATH) {
            Ok(()) => return Ok(true),
            // Without the capability, older kernels answer ENOENT (or EPERM).
            Err(Errno::NOENT | Errno::PERM) => {}
            Err(e) => return Err(e),
        }
    }
    if way <= LINK_PROC {
        let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
        match rustix::fs::linkat(CWD, proc.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW) {
            Ok(()) => {
                LINK_WAY.store(LINK_PROC, Ordering::Relaxed);
                return Ok(true);
            }
            Err(Errno::NOENT) if !Path::new("/proc/self/fd").is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    LINK_WAY.store(LINK_NONE, Ordering::Relaxed);
    Ok(false)
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn check_name(rel: &str, part: &str) -> Result<(), String> {
    if part.is_empty() || part == "." || part == ".." || part.contains('\0') {
        return Err(format!("{rel}: path component `{part}` is not allowed"));
    }
    Ok(())
}

/// Splits `a/b/c` into (`a/b`, `c`).
fn split(rel: &str) -> (&str, &str) {
    match rel.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", rel),
    }
}

impl TargetDir {
    /// Opens `path` as the target, creating it (and its parents) when missing. A target that is a symlink
    /// or not a directory is refused.
    pub fn open(path: &Path) -> Result<Self, String> {
        Self::open_with(path, true)?
            .ok_or_else(|| format!("target {} does not exist", path.display()))
    }

    /// Opens `path` as the target when it exists (`Ok(None)` when it does not), refusing a symlink.
    pub fn open_existing(path: &Path) -> Result<Option<Self>, String> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, create: bool) -> Result<Option<Self>, String> {
        let refuse = |what: &str| {
            format!(
                "target {} {what}; setpoint never writes through symlinks (replace it with a directory)",
                path.display()
            )
        };
        let opened = match rustix::fs::openat(CWD, path, dir_flags(), Mode::empty()) {
            Err(Errno::NOENT) if !create => return Ok(None),
            Err(Errno::NOENT) => {
                std::fs::create_dir_all(path)
                    .map_err(|e| format!("cannot create target {}: {e}", path.display()))?;
                rustix::fs::openat(CWD, path, dir_flags(), Mode::empty())
            }
            other => other,
        };
        let root = opened.map_err(|e| match e {
            Errno::LOOP => refuse("is a symlink"),
            Errno::NOTDIR => match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => refuse("is a symlink"),
                _ => format!("target {} is not a directory", path.display()),
            },
            e => format!("target {}: {e}", path.display()),
        })?;
        Ok(Some(Self {
            path: path.to_owned(),
            root: Arc::new(root),
            dirs: RefCell::new(HashMap::new()),
            missing: RefCell::new(HashSet::new()),
            created: RefCell::new(HashSet::new()),
            no_tmpfile: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// Another handle on the same opened target (the same directory, never reopened by path), with its own
    /// caches: for a worker thread of an apply.
    pub fn fork(&self) -> Self {
        // The fork may create directories that this handle found missing.
        self.missing.borrow_mut().clear();
        Self {
            path: self.path.clone(),
            root: self.root.clone(),
            dirs: RefCell::new(HashMap::new()),
            missing: RefCell::new(HashSet::new()),
            created: RefCell::new(HashSet::new()),
            no_tmpfile: self.no_tmpfile.clone(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory `rel_dir` (relative, `/`-separated, "" for the target), walked one component at a
    /// time without following symlinks; created when `create`. `Ok(None)` when it does not exist.
    /// The directory that will hold the file `rel` (created when missing), its path and the file's name.
    fn parent_of<'r>(&self, rel: &'r str) -> Result<(Arc<OwnedFd>, &'r str, &'r str), Blocked> {
        let (dir, name) = split(rel);
        check_name(rel, name).map_err(Blocked::Other)?;
        let fd = self.dir(dir, true)?.ok_or_else(|| {
            Blocked::Other(format!("{}: cannot create", self.path.join(dir).display()))
        })?;
        Ok((fd, dir, name))
    }

    fn dir(&self, rel_dir: &str, create: bool) -> Result<Option<Arc<OwnedFd>>, Blocked> {
        if rel_dir.is_empty() {
            return Ok(Some(self.root.clone()));
        }
        if let Some(fd) = self.dirs.borrow().get(rel_dir) {
            return Ok(Some(fd.clone()));
        }
        if !create && self.missing.borrow().contains(rel_dir) {
            return Ok(None);
        }
        let (parent, name) = split(rel_dir);
        check_name(rel_dir, name).map_err(Blocked::Other)?;
        let Some(parent_fd) = self.dir(parent, create)? else {
            return Ok(None);
        };
        let shown = || self.path.join(rel_dir).display().to_string();
        let mut opened = rustix::fs::openat(&*parent_fd, name, dir_flags(), Mode::empty());
        if matches!(opened, Err(Errno::NOENT)) && create {
            self.missing.borrow_mut().clear();
            match rustix::fs::mkdirat(&*parent_fd, name, Mode::from_raw_mode(0o777)) {
                Ok(()) => {
                    self.created.borrow_mut().insert(rel_dir.to_owned());
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(Blocked::Other(format!("cannot create {}: {e}", shown()))),
            }
            opened = rustix::fs::openat(&*parent_fd, name, dir_flags(), Mode::empty());
        }
        let fd = match opened {
            Ok(fd) => Arc::new(fd),
            Err(Errno::NOENT) => {
                let mut missing = self.missing.borrow_mut();
                if !create && missing.len() < DIR_CACHE {
                    missing.insert(rel_dir.to_owned());
                }
                return Ok(None);
            }
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let st = rustix::fs::statat(&*parent_fd, name, AtFlags::SYMLINK_NOFOLLOW);
                return Err(match st.map(|s| FileType::from_raw_mode(s.st_mode)) {
                    Ok(FileType::RegularFile) => Blocked::FileInTheWay(rel_dir.to_owned()),
                    Ok(FileType::Symlink) => Blocked::Other(format!(
                        "{}: is a symlink inside the target; refusing to follow it",
                        shown()
                    )),
                    _ => Blocked::Other(format!("{}: is not a directory", shown())),
                });
            }
            Err(e) => return Err(Blocked::Other(format!("{}: {e}", shown()))),
        };
        let mut dirs = self.dirs.borrow_mut();
        if dirs.len() < DIR_CACHE {
            dirs.insert(rel_dir.to_owned(), fd.clone());
        }
        Ok(Some(fd))
    }

    /// Forgets cached directory handles at or below `rel_dir` (after it was removed or replaced).
    fn forget(&self, rel_dir: &str) {
        let below = format!("{rel_dir}/");
        self.dirs
            .borrow_mut()
            .retain(|k, _| k != rel_dir && !k.starts_with(&below));
        self.created
            .borrow_mut()
            .retain(|k| k != rel_dir && !k.starts_with(&below));
    }

    /// What is at `rel`, not following a final symlink: its type and, for a regular file, its stat.
    pub fn stat(&self, rel: &str) -> Option<(FileType, FileStat)> {
        let (dir, name) = split(rel);
        let fd = self.dir(dir, false).ok()??;
        let st = rustix::fs::statat(&*fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        Some((FileType::from_raw_mode(st.st_mode), FileStat::of(&st)))
    }

    /// The stat of the regular file at `rel`, if it is one reached without symlinks.
    pub fn file_stat(&self, rel: &str) -> Option<FileStat> {
        self.stat(rel)
            .and_then(|(t, s)| (t == FileType::RegularFile).then_some(s))
    }

    /// The content and stat of the regular file at `rel`, if it is one reached without symlinks.
    pub fn read(&self, rel: &str) -> Option<(Vec<u8>, FileStat)> {
        let (dir, name) = split(rel);
        let fd = self.dir(dir, false).ok()??;
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let file = File::from(rustix::fs::openat(&*fd, name, flags, Mode::empty()).ok()?);
        let st = rustix::fs::fstat(&file).ok()?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return None;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(st.st_size).unwrap_or(0));
        (&file).read_to_end(&mut bytes).ok()?;
        Some((bytes, FileStat::of(&st)))
    }

    /// Creates the directories of `rel` as needed and writes `content` to a new temporary file `temp`
    /// beside it. New files get 0666 (0777 when `executable`) less the process umask.
    pub fn stage(
        &self,
        rel: &str,
        temp: &str,
        content: &[u8],
        executable: bool,
    ) -> Result<Staged, Blocked> {
        let (fd, dir, name) = self.parent_of(rel)?;
        let shown = || self.path.join(rel).display().to_string();
        // (Should a directory appear there after all, the rename fails and says so.)
        if !self.created.borrow().contains(dir)
            && let Ok(st) = rustix::fs::statat(&*fd, name, AtFlags::SYMLINK_NOFOLLOW)
            && FileType::from_raw_mode(st.st_mode) == FileType::Directory
        {
            return Err(Blocked::Other(format!(
                "{}: a directory is in the way of a file",
                shown()
            )));
        }
        let mode = if executable { 0o777 } else { 0o666 };
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let err = |e: std::io::Error| Blocked::Other(format!("cannot write {}: {e}", shown()));
        let file = rustix::fs::openat(&*fd, temp, flags, Mode::from_raw_mode(mode))
            .map_err(|e| err(e.into()))?;
        let staged = Staged {
            dir: fd,
            temp: temp.to_owned(),
            name: name.to_owned(),
            renamed: false,
        };
        File::from(file).write_all(content).map_err(err)?;
        Ok(staged)
    }

    /// Creates the new file `rel` whole: its content is written to an unnamed file (`O_TMPFILE`) in its
    /// directory, which is then given its name only if nothing is there (`linkat`), so the name never shows
    /// a partial file, and a process killed before the link leaves nothing behind. Returns the stat of the
    /// new file, or `Ok(None)` when this filesystem or system cannot do it (then [`Self::stage`] it).
    /// Something at the name is [`Blocked::Taken`] and left as it is.
    pub fn create_new(
        &self,
        rel: &str,
        content: &[u8],
        executable: bool,
    ) -> Result<Option<FileStat>, Blocked> {
        if self.no_tmpfile.load(Ordering::Relaxed) || LINK_WAY.load(Ordering::Relaxed) == LINK_NONE
        {
            return Ok(None);
        }
        let (fd, _, name) = self.parent_of(rel)?;
        let shown = || self.path.join(rel).display().to_string();
        let err = |e: std::io::Error| Blocked::Other(format!("cannot write {}: {e}", shown()));
        let mode = if executable { 0o777 } else { 0o666 };
        let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC;
        let file = match rustix::fs::openat(&*fd, ".", flags, Mode::from_raw_mode(mode)) {
            Ok(f) => f,
            // No O_TMPFILE on this filesystem (or kernel).
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => {
                self.no_tmpfile.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            Err(e) => return Err(err(e.into())),
        };
        let mut writer = File::from(file);
        writer.write_all(content).map_err(err)?;
        let file = OwnedFd::from(writer);
        match link_unnamed(&file, &fd, name) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(Errno::EXIST) => {
                return Err(Blocked::Taken(format!(
                    "{}: appeared while it was being written; left as it is",
                    shown()
                )));
            }
            Err(e) => return Err(err(e.into())),
        }
        let st = rustix::fs::fstat(&file).map_err(|e| err(e.into()))?;
        Ok(Some(FileStat::of(&st)))
    }

    /// Renames a staged file over its final name and returns the stat of what is now there. With
    /// `no_replace`, a file that appeared there meanwhile is left alone and the staged one removed.
    pub fn commit(&self, mut staged: Staged, no_replace: bool) -> Result<FileStat, String> {
        let shown = format!("{}/{}", self.path.display(), staged.name);
        let dir = &*staged.dir;
        let renamed = if no_replace {
            match rustix::fs::renameat_with(
                dir,
                &staged.temp,
                dir,
                &staged.name,
                RenameFlags::NOREPLACE,
            ) {
                // A filesystem without RENAME_NOREPLACE: check, then rename (a narrow window).
                Err(Errno::INVAL | Errno::NOSYS) => {
                    match rustix::fs::statat(dir, &staged.name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(_) => Err(Errno::EXIST),
                        Err(_) => rustix::fs::renameat(dir, &staged.temp, dir, &staged.name),
                    }
                }
                other => other,
            }
        } else {
            rustix::fs::renameat(dir, &staged.temp, dir, &staged.name)
        };
        if let Err(e) = renamed {
            return Err(if e == Errno::EXIST {
                format!(
                    "{}: appeared while it was being written; left as it is",
                    shown
                )
            } else {
                format!("cannot write {}: {e}", shown)
            });
        }
        staged.renamed = true;
        let st = rustix::fs::statat(&*staged.dir, &staged.name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| format!("{}: {e}", shown))?;
        Ok(FileStat::of(&st))
    }

    /// Deletes the regular file at `rel` (never a symlink's target, never outside).
    pub fn remove_file(&self, rel: &str) -> Result<(), String> {
        let (dir, name) = split(rel);
        let shown = || self.path.join(rel).display().to_string();
        let fd = self
            .dir(dir, false)
            .map_err(|b| b.message(&self.path))?
            .ok_or_else(|| format!("{}: no such directory", shown()))?;
        rustix::fs::unlinkat(&*fd, name, AtFlags::empty())
            .map_err(|e| format!("cannot remove {}: {e}", shown()))
    }

    /// Removes `rel_dir` and then its parents while they are empty, never the target itself.
    pub fn remove_empty_dirs(&self, rel_dir: &str) {
        let mut dir = rel_dir;
        while !dir.is_empty() {
            let (parent, name) = split(dir);
            let Ok(Some(fd)) = self.dir(parent, false) else {
                return;
            };
            if rustix::fs::unlinkat(&*fd, name, AtFlags::REMOVEDIR).is_err() {
                return;
            }
            self.forget(dir);
            dir = parent;
        }
    }

    /// Flushes the target's filesystem with one `syncfs`.
    pub fn sync(&self) -> Result<(), String> {
        rustix::fs::syncfs(&*self.root)
            .map_err(|e| format!("cannot sync {}: {e}", self.path.display()))
    }

    /// Removes every regular file whose name starts with `prefix`, anywhere below the target, without
    /// following symlinks; returns how many.
    pub fn remove_files_named(&self, prefix: &str) -> usize {
        let mut removed = 0;
        let mut stack = vec![String::new()];
        let mut seen = 0usize;
        while let Some(rel_dir) = stack.pop() {
            seen += 1;
            if seen > 1_000_000 {
                break;
            }
            let Ok(Some(fd)) = self.dir(&rel_dir, false) else {
                continue;
            };
            let Ok(entries) = rustix::fs::Dir::read_from(fd.as_fd()) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(name) = entry.file_name().to_str() else {
                    continue;
                };
                if name == "." || name == ".." {
                    continue;
                }
                let kind = match entry.file_type() {
                    FileType::Unknown => rustix::fs::statat(&*fd, name, AtFlags::SYMLINK_NOFOLLOW)
                        .map(|s| FileType::from_raw_mode(s.st_mode))
                        .unwrap_or(FileType::Unknown),
                    t => t,
                };
                let rel = if rel_dir.is_empty() {
                    name.to_owned()
                } else {
                    format!("{rel_dir}/{name}")
                };
                match kind {
                    FileType::Directory => stack.push(rel),
                    FileType::RegularFile
                        if name.starts_with(prefix)
                            && rustix::fs::unlinkat(&*fd, name, AtFlags::empty()).is_ok() =>
                    {
                        removed += 1;
                    }
                    _ => {}
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_symlinked_targets_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let e = TargetDir::open(&link).err().unwrap();
        assert!(e.contains("is a symlink"), "{e}");

        let t = TargetDir::open(&dir.path().join("live")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join("live/sub")).unwrap();
        let e = t.stage("sub/x", ".tmp", b"x", false).unwrap_err();
        assert!(e.message(t.path()).contains("symlink"), "{e:?}");
        std::fs::write(dir.path().join("live/f"), "x").unwrap();
        assert_eq!(
            t.stage("f/x", ".tmp", b"x", false).unwrap_err(),
            Blocked::FileInTheWay("f".into())
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(t.read("sub/x").is_none());
    }

    #[test]
    fn stages_commits_and_removes_relative_to_the_handle() {
        let dir = tempfile::tempdir().unwrap();
        let t = TargetDir::open(&dir.path().join("live")).unwrap();
        let s = t
            .stage("a/b/c.txt", ".setpoint-tmp.t.1", b"hello", true)
            .unwrap();
        let st = t.commit(s, true).unwrap();
        assert_eq!(st.size, 5);
        assert!(st.executable());
        assert_eq!(t.read("a/b/c.txt").unwrap().0, b"hello");
        let s = t
            .stage("a/b/c.txt", ".setpoint-tmp.t.2", b"other", false)
            .unwrap();
        assert!(t.commit(s, true).is_err(), "no_replace keeps what is there");
        assert_eq!(t.read("a/b/c.txt").unwrap().0, b"hello");
        assert_eq!(
            t.remove_files_named(".setpoint-tmp."),
            0,
            "the refused temp is gone"
        );
        t.remove_file("a/b/c.txt").unwrap();
        t.remove_empty_dirs("a/b");
        assert_eq!(
            std::fs::read_dir(dir.path().join("live")).unwrap().count(),
            0
        );
    }

    #[test]
    fn creates_new_files_whole_and_never_over_anything() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let t = TargetDir::open(&live).unwrap();
        let Some(st) = t.create_new("a/b/new.sh", b"#!/bin/sh\n", true).unwrap() else {
            // This filesystem has no O_TMPFILE: new files are staged (tested above).
            return;
        };
        assert_eq!(st.size, 10);
        assert!(st.executable());
        assert_eq!(t.read("a/b/new.sh").unwrap(), (b"#!/bin/sh\n".to_vec(), st));
        let plain = t.create_new("plain", b"x", false).unwrap().unwrap();
        assert!(!plain.executable());

        // A file, a directory or a symlink at the name is left as it is, and nothing is created through it.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(outside.join("target"), live.join("link")).unwrap();
        std::fs::create_dir_all(live.join("dir")).unwrap();
        for taken in ["a/b/new.sh", "dir", "link"] {
            let e = t.create_new(taken, b"other", false).unwrap_err();
            assert!(
                matches!(&e, Blocked::Taken(m) if m.contains("appeared")),
                "{taken}: {e:?}"
            );
        }
        assert_eq!(t.read("a/b/new.sh").unwrap().0, b"#!/bin/sh\n");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        // An unnamed file that was never linked leaves nothing behind.
        let mut names: Vec<String> = std::fs::read_dir(live.join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["new.sh"]);
    }
}
