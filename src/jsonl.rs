//! Append-only JSON-lines files (the journal, the audit log): a record is one `write` on a file opened for
//! append, never glued onto a torn last line, and a torn line is skipped when read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Appends `line` (which ends with `\n`) with one write. When the file does not end with a newline (a
/// writer died half-way through its line), a newline goes first, so the torn line stays on its own.
pub fn append_line(path: &Path, line: &[u8]) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .create(true)
        .append(true)
        .open(path)?;
    let len = file.metadata()?.len();
    let mut last = [0u8; 1];
    let torn = len > 0 && file.read_at(&mut last, len - 1)? == 1 && last[0] != b'\n';
    if torn {
        let mut fixed = Vec::with_capacity(line.len() + 1);
        fixed.push(b'\n');
        fixed.extend_from_slice(line);
        file.write_all(&fixed)?;
    } else {
        file.write_all(line)?;
    }
    Ok(file)
}

/// Parses one line, or says why it is skipped (`FILE:LINE: …`); blank lines are `None` without a word.
pub fn parse_line<T: serde::de::DeserializeOwned>(
    path: &Path,
    number: usize,
    line: &str,
) -> Option<Result<T, String>> {
    if line.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(line).map_err(|e| {
        format!(
            "{}:{number}: skipped a line that is not a whole record (a torn write?): {e}",
            path.display()
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_never_glued_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        fs::write(&p, "{\"a\":1}\n{\"a\":").unwrap();
        append_line(&p, b"{\"a\":3}\n").unwrap();
        append_line(&p, b"{\"a\":4}\n").unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":\n{\"a\":3}\n{\"a\":4}\n");
        let parsed: Vec<Result<serde_json::Value, String>> = text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| parse_line(&p, i + 1, l))
            .collect();
        assert_eq!(parsed.iter().filter(|r| r.is_ok()).count(), 3);
        let skipped = parsed.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(skipped.contains("x.jsonl:2: skipped"), "{skipped}");
    }
}
