//! Small text helpers shared by the CLI tables and the console.

use jiff::Timestamp;

/// A compact age: `42s`, `5m`, `3h`, `12d`; `-` when unknown.
pub fn age(then: Option<Timestamp>, now: Timestamp) -> String {
    let Some(then) = then else { return "-".into() };
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// An age to the minute (`<1m`, `5m`, `3h`, `12d`): for the console's "last reconciled" and "last
/// fetched" columns, which every periodic pass would otherwise rewrite on a screen nobody touches.
pub fn coarse_age(then: Option<Timestamp>, now: Timestamp) -> String {
    match then {
        Some(t) if now.as_second().saturating_sub(t.as_second()) < 60 => "<1m".into(),
        _ => age(then, now),
    }
}

/// When `age(then, now)` (or `coarse_age` when `coarse`) shows something else than it does at `now`.
pub fn age_changes_at(then: Timestamp, now: Timestamp, coarse: bool) -> Timestamp {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    let step = match secs {
        0..60 if coarse => 60,
        0..60 => 1,
        60..3600 => 60,
        3600..86_400 => 3600,
        _ => 86_400,
    };
    let next = (secs / step + 1) * step;
    Timestamp::from_second(then.as_second().saturating_add(next)).unwrap_or(now)
}

/// Aligns rows into columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(cols) {
            if i + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Breaks `s` into lines of at most `width` characters at spaces; a word longer than a line is cut
/// into pieces of `width`.
pub fn wrap_words(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..width).collect());
        }
        let word: String = word.into_iter().collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let ago = |s: i64| Some(Timestamp::from_second(1_000_000 - s).unwrap());
        assert_eq!(age(ago(5), now), "5s");
        assert_eq!(age(ago(125), now), "2m");
        assert_eq!(age(ago(7200), now), "2h");
        assert_eq!(age(ago(86_400 * 3), now), "3d");
        assert_eq!(age(None, now), "-");
        assert_eq!(coarse_age(ago(5), now), "<1m");
        assert_eq!(coarse_age(ago(-5), now), "<1m", "a clock ahead of ours");
        assert_eq!(coarse_age(ago(125), now), "2m");
        assert_eq!(coarse_age(None, now), "-");
    }

    #[test]
    fn ages_change_at_the_next_shown_step() {
        let t = |s: i64| Timestamp::from_second(1_000_000 + s).unwrap();
        assert_eq!(age_changes_at(t(0), t(125), false), t(180));
        assert_eq!(age_changes_at(t(0), t(125), true), t(180));
        assert_eq!(age_changes_at(t(0), t(5), true), t(60));
        assert_eq!(age_changes_at(t(0), t(5), false), t(6));
        assert_eq!(age_changes_at(t(0), t(7300), false), t(10_800));
        for s in [0, 5, 59, 60, 61, 3599, 3600, 90_000] {
            for coarse in [false, true] {
                let at = age_changes_at(t(0), t(s), coarse);
                let shown = |n| {
                    if coarse {
                        coarse_age(Some(t(0)), n)
                    } else {
                        age(Some(t(0)), n)
                    }
                };
                let before = Timestamp::from_second(at.as_second() - 1).unwrap();
                assert_eq!(shown(before), shown(t(s)), "{s} {coarse}");
                assert_ne!(shown(at), shown(t(s)), "{s} {coarse}");
            }
        }
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn wraps_at_spaces_and_cuts_only_overlong_words() {
        assert_eq!(wrap_words("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap_words("abcdefghij x", 4), ["abcd", "efgh", "ij x"]);
        assert_eq!(wrap_words("", 4), [""]);
    }
}
