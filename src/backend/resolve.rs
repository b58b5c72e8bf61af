//! Addressing units by id or by an unambiguous suffix.

use std::borrow::Borrow;
use std::fmt;

use crate::model::Unit;

/// Why a unit address did not name exactly one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    Unknown {
        query: String,
        candidates: Vec<String>,
    },
    Ambiguous {
        query: String,
        candidates: Vec<String>,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Unknown { query, candidates } if candidates.is_empty() => {
                write!(f, "no unit `{query}`: there are no units")
            }
            ResolveError::Unknown { query, candidates } => {
                write!(f, "no unit `{query}`; units are: {}", candidates.join(", "))
            }
            ResolveError::Ambiguous { query, candidates } => write!(
                f,
                "`{query}` is ambiguous; it matches: {} (give more of the id)",
                candidates.join(", ")
            ),
        }
    }
}

impl std::error::Error for ResolveError {}

/// Finds the unit whose id is `query`, or ends with `/query`; an exact id always wins. An id written
/// without its context (`local/prod`, as ids were before contexts) matches that kind's units ending in
/// the rest.
pub fn resolve_unit<'a, U: Borrow<Unit>>(
    units: &'a [U],
    query: &str,
) -> Result<&'a Unit, ResolveError> {
    let units: Vec<&'a Unit> = units.iter().map(Borrow::borrow).collect();
    let query = query.trim().trim_matches('/');
    if let Some(u) = units.iter().find(|u| u.id == query) {
        return Ok(*u);
    }
    let ends = |u: &&Unit, q: &str| !q.is_empty() && u.id.ends_with(&format!("/{q}"));
    let mut matches: Vec<&Unit> = units.iter().copied().filter(|u| ends(u, query)).collect();
    if matches.is_empty()
        && let Some((kind, rest)) = query.split_once('/')
    {
        matches = units
            .iter()
            .copied()
            .filter(|u| u.backend.as_str() == kind && ends(u, rest))
            .collect();
    }
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(ResolveError::Unknown {
            query: query.to_owned(),
            candidates: units.iter().map(|u| u.id.clone()).collect(),
        }),
        many => Err(ResolveError::Ambiguous {
            query: query.to_owned(),
            candidates: many.iter().map(|u| u.id.clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::scripted::unit;

    #[test]
    fn exact_suffix_ambiguous_unknown() {
        let units = vec![
            unit("local/prod"),
            unit("flux/a/apps/Kustomization/prod"),
            unit("flux/a/apps/Kustomization/web"),
            unit("local/staging"),
        ];
        assert_eq!(resolve_unit(&units, "local/prod").unwrap().id, "local/prod");
        assert_eq!(
            resolve_unit(&units, "web").unwrap().id,
            "flux/a/apps/Kustomization/web"
        );
        assert_eq!(resolve_unit(&units, "staging").unwrap().id, "local/staging");
        let amb = resolve_unit(&units, "prod").unwrap_err();
        assert!(
            matches!(&amb, ResolveError::Ambiguous { candidates, .. } if candidates.len() == 2)
        );
        assert!(amb.to_string().contains("local/prod"));
        let unk = resolve_unit(&units, "rod").unwrap_err();
        assert!(matches!(unk, ResolveError::Unknown { .. }));
        assert!(unk.to_string().contains("local/staging"));
        assert!(resolve_unit(&units, "").is_err());

        // Ids with their context; the context can be left out.
        let units = vec![
            unit("local/eu-prod/prod"),
            unit("local/staging/prod"),
            unit("local/eu-prod/dev"),
        ];
        assert_eq!(
            resolve_unit(&units, "eu-prod/prod").unwrap().id,
            "local/eu-prod/prod"
        );
        assert_eq!(
            resolve_unit(&units, "local/dev").unwrap().id,
            "local/eu-prod/dev"
        );
        assert!(matches!(
            resolve_unit(&units, "local/prod"),
            Err(ResolveError::Ambiguous { .. })
        ));
        assert!(resolve_unit(&units, "flux/dev").is_err());
    }
}
