//! Revisions in Flux's form: `<ref>@sha1:<40 hex>` or a bare `sha1:<hex>`, and the digests of OCI artifacts
//! (an OCIRepository's `<tag>@sha256:<64 hex>`, a Bucket's `sha256:<64 hex>`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of the short form of a commit id shown in tables.
pub const SHORT_LEN: usize = 7;

/// A git revision: an optional ref name (`main`, `v1.2.0`) and a sha1 commit id in lowercase hex; or an OCI
/// artifact's revision: an optional tag and a sha256 digest of 64 hex digits (the length tells them apart: a
/// commit id has at most 40), whose "commit" is the digest.
///
/// Both are kept in one allocation, the id first (`<sha><ref>`; a ref is never empty, so an empty tail is
/// none): a console of 5,000 Argo CD Applications holds four revisions for each.
#[derive(Clone)]
pub struct Revision {
    text: Box<str>,
    /// Length of the commit id at the start of `text` (4 to 40), or 64 for a sha256 digest.
    sha_len: u8,
}

impl Revision {
    fn make(reference: Option<&str>, mut sha: String) -> Self {
        let sha_len = u8::try_from(sha.len()).unwrap_or(u8::MAX);
        sha.push_str(reference.unwrap_or_default());
        Self {
            text: sha.into_boxed_str(),
            sha_len,
        }
    }

    fn key(&self) -> (Option<&str>, &str) {
        (self.reference(), self.sha())
    }
}

impl PartialEq for Revision {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.sha_len == other.sha_len
    }
}

impl Eq for Revision {}

impl std::hash::Hash for Revision {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.key().hash(h)
    }
}

impl PartialOrd for Revision {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Revision {
    /// By ref name (none first), then commit id.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Debug for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revision")
            .field("reference", &self.reference())
            .field("sha", &self.sha())
            .finish()
    }
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
        Ok(Self::make(reference, sha))
    }

    /// The ref name (`main`), if the revision carries one.
    pub fn reference(&self) -> Option<&str> {
        self.text
            .get(usize::from(self.sha_len)..)
            .filter(|r| !r.is_empty())
    }

    /// The commit id as given: 40 hex digits, or a prefix when parsed from an abbreviated `sha1:` form.
    pub fn sha(&self) -> &str {
        self.text
            .get(..usize::from(self.sha_len))
            .unwrap_or_default()
    }

    /// Whether the commit id is complete (40 hex digits); a digest is no commit id.
    pub fn is_full(&self) -> bool {
        self.sha_len == 40
    }

    /// Whether this is an OCI artifact's sha256 digest rather than a git commit.
    pub fn is_digest(&self) -> bool {
        usize::from(self.sha_len) == DIGEST_LEN
    }

    /// The first seven hex digits of the commit.
    pub fn short_sha(&self) -> &str {
        let sha = self.sha();
        sha.get(..sha.len().min(SHORT_LEN)).unwrap_or(sha)
    }

    /// Short display form: `main@1a2b3c4`, or `1a2b3c4` for a bare commit.
    pub fn short(&self) -> String {
        match self.reference() {
            Some(r) => format!("{r}@{}", self.short_sha()),
            None => self.short_sha().to_owned(),
        }
    }

    /// Whether `other` names the same commit (a prefix of the same id also matches).
    pub fn same_commit(&self, other: &Revision) -> bool {
        let (a, b) = (self.sha(), other.sha());
        a.starts_with(b) || b.starts_with(a)
    }
}

/// Hex digits of a sha256 digest.
const DIGEST_LEN: usize = 64;

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
        let algo = if self.is_digest() { "sha256" } else { "sha1" };
        match self.reference() {
            Some(r) => write!(f, "{r}@{algo}:{}", self.sha()),
            None => write!(f, "{algo}:{}", self.sha()),
        }
    }
}

impl FromStr for Revision {
    type Err = RevisionError;

    /// Accepts `<ref>@sha1:<40 hex>`, `sha1:<4..40 hex>` and a bare hex id of 4 to 40 digits; and an OCI
    /// artifact's `<tag>@sha256:<64 hex>` or `sha256:<64 hex>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (reference, rest) = match s.rsplit_once('@') {
            Some((r, rest)) => (Some(r), rest),
            None => (None, s),
        };
        if let Some(digest) = rest.strip_prefix("sha256:") {
            let digest = digest.to_ascii_lowercase();
            if let Some(r) = reference {
                check_ref(r)?;
            }
            if digest.len() != DIGEST_LEN || !is_hex(&digest) {
                return Err(RevisionError(format!(
                    "`{s}`: expected sha256:<64 hex digits>"
                )));
            }
            return Ok(Self::make(reference, digest));
        }
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
        Ok(Self::make(reference, sha))
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
    fn parses_and_formats_oci_digests() {
        let d = "e88636ad629df6c12f65088112a14f7aad1a4931dd40af6d69f07859b9398510";
        let r: Revision = format!("0.1.0@sha256:{d}").parse().unwrap();
        assert_eq!(r.reference(), Some("0.1.0"));
        assert_eq!(r.sha(), d);
        assert!(r.is_digest() && !r.is_full());
        assert_eq!(r.to_string(), format!("0.1.0@sha256:{d}"));
        assert_eq!(r.short(), "0.1.0@e88636a");
        let bare: Revision = format!("sha256:{d}").parse().unwrap();
        assert_eq!(bare.to_string(), format!("sha256:{d}"));
        assert!(bare.same_commit(&r));
        let back: Revision = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // a digest is whole, never abbreviated; a commit id is never 64 digits
        assert!("sha256:e88636ad629d".parse::<Revision>().is_err());
        assert!(d.parse::<Revision>().is_err());
        let commit: Revision = "sha1:0123456789abcdef0123456789abcdef01234567"
            .parse()
            .unwrap();
        assert!(!commit.is_digest());
    }

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
    fn one_allocation_holds_both_and_compares_by_ref_then_id() {
        let on_main = Revision::new(Some("main"), SHA).unwrap();
        let bare = Revision::new(None, SHA).unwrap();
        assert_eq!(std::mem::size_of::<Option<Revision>>(), 24);
        assert_eq!((on_main.reference(), on_main.sha()), (Some("main"), SHA));
        assert_eq!((bare.reference(), bare.sha()), (None, SHA));
        assert_ne!(on_main, bare);
        assert!(bare < on_main, "no ref sorts first, as Option does");
        let other = Revision::new(Some("main"), &"f".repeat(40)).unwrap();
        assert!(on_main < other);
        assert!(Revision::new(Some("a"), &"f".repeat(40)).unwrap() < on_main);
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
