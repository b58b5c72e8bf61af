//! Configuration errors that name the file, the line and column, the key, and what to do.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem in a user-editable file. Displays as `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: 0,
            col: 0,
            message: message.into(),
        }
    }

    /// An error at a byte offset of `src`.
    pub fn at(file: &Path, src: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, col) = line_col(src, offset);
        Self {
            file: file.to_owned(),
            line,
            col,
            message: message.into(),
        }
    }

    /// An error at the start of a span of `src`.
    pub fn at_span(
        file: &Path,
        src: &str,
        span: &Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self::at(file, src, span.start, message)
    }

    /// Turns a TOML parse or shape error into a message naming the key and the nearest valid key.
    pub fn from_toml(file: &Path, src: &str, err: &toml::de::Error) -> Self {
        let offset = err.span().map(|s| s.start).unwrap_or(0);
        let raw = err.message().trim().to_owned();
        let message = explain_serde_message(&raw).unwrap_or_else(|| match key_at(src, offset) {
            Some(key) => format!("`{key}`: {raw}"),
            None => raw,
        });
        if err.span().is_none() {
            return Self::whole_file(file, message);
        }
        Self::at(file, src, offset, message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// The key on the line containing `offset` (`key = value`), if any.
fn key_at(src: &str, offset: usize) -> Option<String> {
    let offset = offset.min(src.len());
    let start = src.get(..offset)?.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = src.get(start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_owned())
}

/// serde's "unknown field/variant `x`, expected one of `a`, `b`" becomes a message with a suggestion.
fn explain_serde_message(raw: &str) -> Option<String> {
    let (what, rest) = if let Some(r) = raw.strip_prefix("unknown field `") {
        ("key", r)
    } else if let Some(r) = raw.strip_prefix("unknown variant `") {
        ("value", r)
    } else {
        return None;
    };
    let (name, rest) = rest.split_once('`')?;
    let valid: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    Some(unknown_message(what, name, &valid))
}

/// "unknown key `thme` (did you mean `theme`?); valid keys: …"
pub fn unknown_message(what: &str, name: &str, valid: &[&str]) -> String {
    let mut msg = format!("unknown {what} `{name}`");
    if let Some(near) = nearest(name, valid.iter().copied()) {
        msg.push_str(&format!(" (did you mean `{near}`?)"));
    }
    if valid.is_empty() {
        msg.push_str(&format!("; no {what}s are allowed here"));
    } else {
        msg.push_str(&format!("; valid {what}s: {}", valid.join(", ")));
    }
    msg
}

/// The candidate closest to `name`, when it is close enough to be a likely typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }

    #[test]
    fn suggests_nearest() {
        assert_eq!(
            nearest("thme", ["theme", "keymap", "backend"]),
            Some("theme")
        );
        assert_eq!(nearest("zzzz", ["theme", "keymap"]), None);
        let m = explain_serde_message("unknown field `thme`, expected one of `theme`, `keymap`")
            .unwrap();
        assert_eq!(
            m,
            "unknown key `thme` (did you mean `theme`?); valid keys: theme, keymap"
        );
    }
}
