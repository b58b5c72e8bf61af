//! The agent's state under `<workspace>/.setpoint/`: statuses, operator intent, inventories, the journal and
//! the lock. Every state file is replaced atomically; the journal is append-only JSON lines.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{ActionKind, Revision, Status};

/// Paths of everything the agent keeps for one workspace.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(workspace_dir: &Path) -> Self {
        Self {
            root: workspace_dir.join(".setpoint"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn mirror(&self, source: &str) -> PathBuf {
        self.root.join("git").join(format!("{source}.git"))
    }

    pub fn source_state(&self, source: &str) -> PathBuf {
        self.root.join("sources").join(format!("{source}.json"))
    }

    /// Where every environment's state directory is.
    pub fn environments(&self) -> PathBuf {
        self.root.join("environments")
    }

    pub fn env_dir(&self, env: &str) -> PathBuf {
        self.environments().join(env)
    }

    /// The agent's own status: the workspace file's error while it runs the last good version.
    pub fn agent_status(&self) -> PathBuf {
        self.root.join("agent.json")
    }

    pub fn env_state(&self, env: &str) -> PathBuf {
        self.env_dir(env).join("status.json")
    }

    pub fn control(&self, env: &str) -> PathBuf {
        self.env_dir(env).join("control.json")
    }

    pub fn inventory(&self, env: &str) -> PathBuf {
        self.env_dir(env).join("inventory.json")
    }

    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }

    pub fn lock(&self) -> PathBuf {
        self.root.join("agent.lock")
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// Writes what `fill` writes (buffered) to `path` atomically: a temporary file in the same directory, fsync,
/// rename; when `fill` fails, the temporary file is removed and `path` is left as it was.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".setpoint-tmp.")
        .tempfile_in(dir)?;
    {
        let mut out = io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        fill(&mut out)?;
        out.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a JSON state file; a missing file is `T::default()`.
pub fn read_json<T: DeserializeOwned + Default>(path: &Path) -> Result<T, String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: corrupt state file: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    write_atomic(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// [`write_json`] without indentation: for the inventory, written twice per apply and megabytes long
/// when pretty-printed.
pub fn write_json_compact<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    write_atomic(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What the agent last concluded about one environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvState {
    pub status: Option<Status>,
    pub applied: Option<Revision>,
    pub attempted: Option<Revision>,
    pub last_good: Option<Revision>,
    /// Commits (sha) whose render or apply failed, newest last, bounded.
    pub failed: Vec<String>,
    pub commits_behind: Option<u32>,
    pub drifted: Vec<String>,
    pub last_reconcile_at: Option<Timestamp>,
    /// The sync request last honoured.
    pub handled_sync_at: Option<Timestamp>,
    pub consecutive_failures: u32,
    /// The target the inventory's files were written to: when the workspace file moves the target, the
    /// agent prunes the old one (or lets its files go with `prune: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_target: Option<PathBuf>,
    /// `prune` as it was at the last apply: what happens to the files when the environment is removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_prune: Option<bool>,
    /// What the applied render was made of (commit, overlay path, size limit, prune): when it and the live
    /// files are unchanged, a pass has nothing to render.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_render: Option<String>,
}

pub const MAX_FAILED_REMEMBERED: usize = 50;

impl EnvState {
    pub fn remember_failed(&mut self, sha: &str) {
        if !self.failed.iter().any(|s| s == sha) {
            self.failed.push(sha.to_owned());
            let excess = self.failed.len().saturating_sub(MAX_FAILED_REMEMBERED);
            self.failed.drain(..excess);
        }
    }
}

/// What the agent last concluded about one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceState {
    /// The last good commit: the newest fetched successfully.
    pub revision: Option<Revision>,
    pub status: Option<Status>,
    pub last_fetch_at: Option<Timestamp>,
    pub consecutive_failures: u32,
}

/// Who asked for something, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub by: String,
    pub at: Timestamp,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    pub revision: Revision,
    #[serde(flatten)]
    pub intent: Intent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    pub with_source: bool,
    #[serde(flatten)]
    pub intent: Intent,
}

/// Operator intent for one environment, written by actions and honoured by whichever agent runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Control {
    pub suspend: Option<Intent>,
    pub pin: Option<Pin>,
    pub sync: Option<SyncRequest>,
}

/// One file the agent wrote, with what it wrote and how it looked on disk right after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// `blake3:<hex>` of the content written; empty while the file is only about to be written for the
    /// first time (see `next`).
    pub hash: String,
    pub executable: bool,
    /// Size, modification and change time after writing: when all still match, the content is not
    /// re-hashed (the change time catches an edit whose size and mtime were put back).
    pub size: u64,
    pub mtime_ns: i128,
    #[serde(default)]
    pub ctime_ns: i128,
    /// Permission bits after writing.
    #[serde(default)]
    pub mode: u32,
    /// Recorded before a write: what this path is about to become. After a crash the live content is
    /// compared with both this and `hash`, so the inventory is true whichever of the two is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextContent>,
}

/// What a path is about to be written with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextContent {
    pub hash: String,
    pub executable: bool,
}

/// Every file the agent owns in one target; prune only ever deletes these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Inventory {
    pub files: BTreeMap<String, InventoryEntry>,
    /// Set while an apply is in progress: its temporary files are named `.setpoint-tmp.<token>.*`, and only
    /// such files are removed after a crash (a user's file with a similar name is never touched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staging: Option<String>,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub time: Timestamp,
    /// `reconcile`, `fetch` or `action`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
    /// `applied`, `unchanged`, `failed`, `waiting`, `suspended`, `ok`, …
    pub outcome: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_changed: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl JournalEntry {
    pub fn new(kind: &str, outcome: &str, message: impl Into<String>) -> Self {
        Self {
            time: Timestamp::now(),
            kind: kind.to_owned(),
            unit: None,
            source: None,
            revision: None,
            outcome: outcome.to_owned(),
            message: message.into(),
            duration_ms: None,
            files_changed: None,
            action: None,
            reason: None,
            by: None,
        }
    }
}

/// The journal is rotated when it grows past this: `journal.jsonl` becomes `journal.1.jsonl` (replacing the
/// previous one), so between 4 and 8 MiB of the newest entries are kept.
pub const JOURNAL_ROTATE_BYTES: u64 = 4 * 1024 * 1024;

/// The rotated journal beside `path` (`journal.1.jsonl`).
pub fn rotated_journal(path: &Path) -> PathBuf {
    path.with_extension("1.jsonl")
}

/// Appends one entry with a single write to a file opened for append (never glued onto a torn line),
/// rotating the journal first when it is over [`JOURNAL_ROTATE_BYTES`].
pub fn append_journal(path: &Path, entry: &JournalEntry) -> Result<(), String> {
    let mut line = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
    line.push(b'\n');
    rotate_journal(path, JOURNAL_ROTATE_BYTES)?;
    crate::jsonl::append_line(path, &line)
        .map(drop)
        .map_err(|e| format!("cannot append to {}: {e}", path.display()))
}

/// Renames the journal to its rotated name when it is larger than `limit`; writers serialise on a lock
/// file so that two of them never rotate twice (which would drop the first rotated half).
fn rotate_journal(path: &Path, limit: u64) -> Result<(), String> {
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if size(path) <= limit {
        return Ok(());
    }
    let lock_path = path.with_extension("lock");
    let lock = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("{}: cannot lock: {e}", lock_path.display()))?;
    if size(path) > limit {
        fs::rename(path, rotated_journal(path))
            .map_err(|e| format!("cannot rotate {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The newest entries of one journal file that `keep` accepts, oldest first; torn lines skipped and logged.
fn read_journal_file(
    path: &Path,
    keep: &impl Fn(&JournalEntry) -> bool,
) -> Result<Vec<JournalEntry>, String> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(JOURNAL_TAIL_BYTES);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(file);
    if start > 0 {
        let mut skip = Vec::new();
        reader
            .read_until(b'\n', &mut skip)
            .map_err(|e| e.to_string())?;
    }
    let mut out = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let line = String::from_utf8_lossy(&line);
        match crate::jsonl::parse_line::<JournalEntry>(path, i + 1, &line) {
            Some(Ok(e)) if keep(&e) => out.push(e),
            Some(Err(w)) => tracing::warn!("{w}"),
            _ => {}
        }
    }
    Ok(out)
}

/// How much of each journal file's tail is read (more than a file holds before it is rotated).
const JOURNAL_TAIL_BYTES: u64 = 2 * JOURNAL_ROTATE_BYTES;

/// The journal's newest entries that `keep` accepts, newest first, from `journal.jsonl` and, when that
/// has fewer than `limit`, the rotated `journal.1.jsonl`.
pub fn read_journal(
    path: &Path,
    keep: impl Fn(&JournalEntry) -> bool,
    limit: usize,
) -> Result<Vec<JournalEntry>, String> {
    let mut entries = read_journal_file(path, &keep)?;
    entries.reverse();
    if entries.len() < limit {
        let mut older = read_journal_file(&rotated_journal(path), &keep)?;
        older.reverse();
        entries.extend(older);
    }
    entries.truncate(limit);
    Ok(entries)
}

/// The exclusive agent lock of a workspace; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct AgentLock {
    _file: File,
}

impl AgentLock {
    /// Takes the lock, or says who holds it.
    pub fn acquire(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(format!(
                    "another setpoint agent runs on this workspace ({}); stop it first, or use the console and CLI alongside it",
                    if holder.is_empty() {
                        "holder unknown"
                    } else {
                        holder
                    }
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("{}: cannot lock: {e}", path.display()));
            }
        }
        let (user, host) = crate::audit::who();
        let info = format!(
            "pid {} of {user}@{host}, since {}",
            std::process::id(),
            Timestamp::now()
        );
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(info.as_bytes()))
            .map_err(|e| e.to_string())?;
        Ok(Self { _file: file })
    }

    /// Whether some process holds the lock now.
    pub fn is_held(path: &Path) -> bool {
        let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.lock");
        let held = AgentLock::acquire(&p).unwrap();
        assert!(AgentLock::is_held(&p));
        let e = AgentLock::acquire(&p).unwrap_err();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(held);
        assert!(!AgentLock::is_held(&p));
        AgentLock::acquire(&p).unwrap();
    }

    #[test]
    fn journal_reads_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        for i in 0..5 {
            let mut e = JournalEntry::new("reconcile", "applied", format!("m{i}"));
            e.unit = Some(if i % 2 == 0 { "local/a" } else { "local/b" }.into());
            append_journal(&p, &e).unwrap();
        }
        let got = read_journal(&p, |e| e.unit.as_deref() == Some("local/a"), 2).unwrap();
        let msgs: Vec<&str> = got.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(msgs, ["m4", "m2"]);
    }
}
