//! Revisions in Flux's form: `<ref>@sha1:<40 hex>` or a bare `sha1:<hex>`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of the short form of a commit id shown in tables.
pub const SHORT_LEN: usize = 7;

/// A git revision: an optional ref name (`main`, `v1.2.0`) and a sha1 commit id in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Revision {
    reference: Option<String>,
    sha: String,
}

/// Why a revision string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionError(String);

impl fmt::Display for RevisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RevisionError {}

impl Revision {
    /// A revision of a full 40-hex commit id, optionally on a ref.
    pub fn new(reference: Option<&str>, sha: &str) -> Result<Self, RevisionError> {
        let sha = sha.to_ascii_lowercase();
        if sha.len() != 40 || !is_hex(&sha) {
            return Err(RevisionError(format!(
                "`{sha}` is not a 40-digit hex sha1 commit id"
            )));
        }
        if let Some(r) = reference {
            check_ref(r)?;
        }
        Ok(Self {
            reference: reference.map(str::to_owned),
            sha,
        })
    }

    /// The ref name (`main`), if the revision carries one.
    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }

    /// The commit id as given: 40 hex digits, or a prefix when parsed from an abbreviated `sha1:` form.
    pub fn sha(&self) -> &str {
        &self.sha
    }

    /// Whether the commit id is complete (40 hex digits).
    pub fn is_full(&self) -> bool {
        self.sha.len() == 40
    }

    /// The first seven hex digits of the commit.
    pub fn short_sha(&self) -> &str {
        &self.sha[..self.sha.len().min(SHORT_LEN)]
    }

    /// Short display form: `main@1a2b3c4`, or `1a2b3c4` for a bare commit.
    pub fn short(&self) -> String {
        match &self.reference {
            Some(r) => format!("{r}@{}", self.short_sha()),
            None => self.short_sha().to_owned(),
        }
    }

    /// Whether `other` names the same commit (a prefix of the same id also matches).
    pub fn same_commit(&self, other: &Revision) -> bool {
        self.sha.starts_with(&other.sha) || other.sha.starts_with(&self.sha)
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_ref(r: &str) -> Result<(), RevisionError> {
    if r.is_empty() || r.contains(char::is_whitespace) || r.contains('@') {
        return Err(RevisionError(format!("`{r}` is not a valid ref name")));
    }
    Ok(())
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Some(r) => write!(f, "{r}@sha1:{}", self.sha),
            None => write!(f, "sha1:{}", self.sha),
        }
    }
}

impl FromStr for Revision {
    type Err = RevisionError;

    /// Accepts `<ref>@sha1:<40 hex>`, `sha1:<4..40 hex>` and a bare hex id of 4 to 40 digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (reference, rest) = match s.rsplit_once('@') {
            Some((r, rest)) => (Some(r), rest),
            None => (None, s),
        };
        let sha = rest
            .strip_prefix("sha1:")
            .unwrap_or(rest)
            .to_ascii_lowercase();
        if let Some(r) = reference {
            check_ref(r)?;
            if sha.len() != 40 || !is_hex(&sha) {
                return Err(RevisionError(format!(
                    "`{s}`: expected <ref>@sha1:<40 hex digits>"
                )));
            }
        } else if !(4..=40).contains(&sha.len()) || !is_hex(&sha) {
            return Err(RevisionError(format!(
                "`{s}`: expected sha1:<hex>, <ref>@sha1:<40 hex> or a commit id of 4 to 40 hex digits"
            )));
        }
        Ok(Self {
            reference: reference.map(str::to_owned),
            sha,
        })
    }
}

impl Serialize for Revision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Revision {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn parses_and_formats_ref_form() {
        let r: Revision = format!("main@sha1:{SHA}").parse().unwrap();
        assert_eq!(r.reference(), Some("main"));
        assert_eq!(r.sha(), SHA);
        assert_eq!(r.to_string(), format!("main@sha1:{SHA}"));
        assert_eq!(r.short(), "main@0123456");
    }

    #[test]
    fn parses_bare_and_abbreviated_forms() {
        let r: Revision = format!("sha1:{SHA}").parse().unwrap();
        assert_eq!(r.reference(), None);
        assert_eq!(r.short(), "0123456");
        assert!(r.is_full());
        let p: Revision = "sha1:01234AB".parse().unwrap();
        assert_eq!(p.sha(), "01234ab");
        assert!(!p.is_full());
        let bare: Revision = "0123456".parse().unwrap();
        assert!(bare.same_commit(&r));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "main@sha1:123",
            "sha1:xyz",
            "main@",
            "a b@sha1:0",
            "sha1:12",
            &"f".repeat(41),
        ] {
            assert!(bad.parse::<Revision>().is_err(), "{bad:?} should not parse");
        }
        assert!(Revision::new(Some("main"), "abc").is_err());
    }

    #[test]
    fn serde_round_trip() {
        let r = Revision::new(Some("v1.0"), SHA).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, format!("\"v1.0@sha1:{SHA}\""));
        let back: Revision = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
