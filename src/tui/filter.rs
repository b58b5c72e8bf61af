//! The `/` fuzzy filter: nucleo's matcher over one line of text per item, best matches first.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

/// Indices of the `items` that match `query`, best first (ties keep the input order); all of them when
/// the query is blank, without a line made of any. `line` writes an item's one line of text into the
/// buffer it is given (one buffer for all: no allocation per item on each keystroke).
pub fn filter<T>(query: &str, items: &[T], line: impl Fn(&T, &mut String)) -> Vec<usize> {
    if query.trim().is_empty() {
        return (0..items.len()).collect();
    }
    let mut matcher = Matcher::new(Config::DEFAULT);
    let pattern = Pattern::parse(query, CaseMatching::Ignore, Normalization::Smart);
    let (mut text, mut buf) = (String::new(), Vec::new());
    let mut scored: Vec<(u32, usize)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            text.clear();
            line(item, &mut text);
            pattern
                .score(Utf32Str::new(&text, &mut buf), &mut matcher)
                .map(|s| (s, i))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_and_blank() {
        let items = ["local/prod", "local/staging", "local/dev"];
        let line = |s: &&str, out: &mut String| out.push_str(s);
        assert_eq!(filter("", &items, line), vec![0, 1, 2]);
        assert_eq!(filter("stg", &items, line), vec![1]);
        assert!(filter("zzz", &items, line).is_empty());
        // a blank query makes no line at all
        let never = |_: &&str, _: &mut String| panic!("a line was made for a blank query");
        assert_eq!(filter("  ", &items, never), vec![0, 1, 2]);
    }
}
