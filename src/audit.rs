//! The operator's append-only audit log: one JSON line per attempted action.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::model::AuditRecord;

/// An audit log file. Each record is written with one `write` call on a file opened for append,
/// so concurrent writers never interleave within a line.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record; creates the file and its directory when needed. A torn last line left by a
    /// writer that died is closed first, never glued to this record.
    pub fn append(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        crate::jsonl::append_line(&self.path, &line)?.sync_data()
    }

    /// Every record, oldest first. A missing log is empty; a line that is not a whole record (a torn write)
    /// is skipped with a warning naming the file and line (logged; see [`AuditLog::read_checked`]).
    pub fn read_all(&self) -> Result<Vec<AuditRecord>, String> {
        let (records, skipped) = self.read_checked()?;
        for w in skipped {
            tracing::warn!("{w}");
        }
        Ok(records)
    }

    /// Every record, oldest first, and a warning for each line skipped.
    pub fn read_checked(&self) -> Result<(Vec<AuditRecord>, Vec<String>), String> {
        let file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let (mut out, mut skipped) = (Vec::new(), Vec::new());
        for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.map_err(|e| format!("{}:{}: {e}", self.path.display(), i + 1))?;
            let line = String::from_utf8_lossy(&line);
            match crate::jsonl::parse_line(&self.path, i + 1, &line) {
                Some(Ok(rec)) => out.push(rec),
                Some(Err(w)) => skipped.push(w),
                None => {}
            }
        }
        Ok((out, skipped))
    }
}

/// The operator's login name and host, for audit records and journals.
pub fn who() -> (String, String) {
    let user = whoami::username().unwrap_or_else(|_| "unknown".to_owned());
    let host = whoami::hostname().unwrap_or_else(|_| "unknown".to_owned());
    (user, host)
}
