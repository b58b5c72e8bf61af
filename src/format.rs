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
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
