//! The `/` fuzzy filter: nucleo's matcher over one line of text per item, best matches first.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

/// Indices of the items that match `query`, best first (ties keep the input order); all of them when
/// the query is blank.
pub fn filter<'a>(query: &str, items: impl Iterator<Item = String> + 'a) -> Vec<usize> {
    if query.trim().is_empty() {
        return items.enumerate().map(|(i, _)| i).collect();
    }
    let mut matcher = Matcher::new(Config::DEFAULT);
    let pattern = Pattern::parse(query, CaseMatching::Ignore, Normalization::Smart);
    let mut buf = Vec::new();
    let mut scored: Vec<(u32, usize)> = items
        .enumerate()
        .filter_map(|(i, text)| {
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
        let all = filter("", items.iter().map(|s| s.to_string()));
        assert_eq!(all, vec![0, 1, 2]);
        let m = filter("stg", items.iter().map(|s| s.to_string()));
        assert_eq!(m, vec![1]);
        assert!(filter("zzz", items.iter().map(|s| s.to_string())).is_empty());
    }
}
