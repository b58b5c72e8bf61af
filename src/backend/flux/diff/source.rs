//! The source tree a Kustomization's desired state is built from: the source-controller's artifact (a
//! tar.gz at `status.artifact.url`, its sha256 digest checked) when this host can reach it, else the
//! GitRepository's commit checked out with gix; else the diff cannot know, and says why.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backend::local::git::{EntryKind, Mirror};
use crate::backend::local::spec::GitRef;

/// Artifacts larger than this are not downloaded.
const MAX_ARTIFACT: u64 = 512 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// An artifact URL is often cluster-internal: not reachable from here is found out quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A source's artifact as its status describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub url: String,
    pub revision: String,
    pub digest: Option<String>,
}

/// `status.artifact` of a source object.
pub fn artifact(source: &Value) -> Option<Artifact> {
    let a = source.get("status")?.get("artifact")?;
    Some(Artifact {
        url: a.get("url")?.as_str()?.to_owned(),
        revision: a.get("revision")?.as_str()?.to_owned(),
        digest: a.get("digest").and_then(Value::as_str).map(str::to_owned),
    })
}

/// The commit of a Flux revision (`main@sha1:abc…`, `sha1:abc…`, or a bare hex id).
pub fn commit_of(revision: &str) -> Option<&str> {
    let id = revision.rsplit('@').next()?;
    let id = id
        .strip_prefix("sha1:")
        .or_else(|| id.strip_prefix("sha256:"))
        .unwrap_or(id);
    (id.len() >= 7 && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
}

/// Downloads the artifact and unpacks it into `dir` (blocking: run it off the async threads).
pub fn unpack_artifact(a: &Artifact, dir: &Path) -> Result<(), String> {
    let bytes = download(a)?;
    unpack(&bytes, dir).map_err(|e| format!("unpacking the artifact {}: {e}", a.url))
}

/// Unpacks a gzipped tar archive into `dir`; entries that would land outside `dir` (absolute paths, `..`)
/// are refused.
pub fn unpack(tgz: &[u8], dir: &Path) -> std::io::Result<()> {
    tar::Archive::new(flate2::read::GzDecoder::new(tgz)).unpack(dir)
}

/// Downloads the artifact, its digest checked (blocking: run it off the async threads).
pub fn download(a: &Artifact) -> Result<Vec<u8>, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let resp = client
        .get(&a.url)
        .send()
        .map_err(|e| format!("cannot reach the artifact {}: {e}", a.url))?;
    if !resp.status().is_success() {
        return Err(format!("the artifact {} answered {}", a.url, resp.status()));
    }
    let mut bytes = Vec::new();
    resp.take(MAX_ARTIFACT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("downloading {}: {e}", a.url))?;
    if bytes.len() as u64 > MAX_ARTIFACT {
        return Err(format!(
            "the artifact {} is larger than {MAX_ARTIFACT} bytes",
            a.url
        ));
    }
    if let Some(digest) = &a.digest {
        verify(digest, &bytes)?;
    }
    Ok(bytes)
}

/// Checks `sha256:<hex>` against the bytes; another algorithm is not checked (and said so in the log).
pub fn verify(digest: &str, bytes: &[u8]) -> Result<(), String> {
    let Some(want) = digest.strip_prefix("sha256:") else {
        tracing::warn!(digest, "artifact digest algorithm not checked");
        return Ok(());
    };
    let got: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if got.eq_ignore_ascii_case(want) {
        Ok(())
    } else {
        Err(format!(
            "the artifact's digest is sha256:{got}, its status says {digest}"
        ))
    }
}

/// What source-controller leaves out of every artifact (fluxcd/pkg sourceignore's default patterns, which
/// match at any depth): VCS and CI files, images and archives. `rel` is a `/`-separated path in the source.
pub fn ignored_by_default(rel: &str) -> bool {
    const DIRS: [&str; 3] = [".git", ".github", ".circleci"];
    const FILES: [&str; 13] = [
        ".gitignore",
        ".gitmodules",
        ".gitattributes",
        ".travis.yml",
        ".gitlab-ci.yml",
        "appveyor.yml",
        ".drone.yml",
        "cloudbuild.yaml",
        "codeship-services.yml",
        "codeship-steps.yml",
        ".goreleaser.yml",
        ".sops.yaml",
        ".flux.yaml",
    ];
    const EXTENSIONS: [&str; 8] = [
        ".jpg", ".jpeg", ".gif", ".png", ".wmv", ".flv", ".tar.gz", ".zip",
    ];
    let mut parts: Vec<&str> = rel.split('/').collect();
    let file = parts.pop().unwrap_or("");
    parts.iter().any(|d| DIRS.contains(d))
        || FILES.contains(&file)
        || EXTENSIONS.iter().any(|e| file.ends_with(e))
}

/// Clones `url` (bare, in `scratch`) and writes the tree of `commit` into `dir` (blocking), without what
/// source-controller ignores by default. Returns whether the tree has `.sourceignore` files (whose patterns
/// are not applied here).
pub fn checkout(url: &str, commit: &str, scratch: &Path, dir: &Path) -> Result<bool, String> {
    let mirror = Mirror::new(scratch.join("mirror.git"));
    mirror
        .fetch(url, &GitRef::Commit(commit.to_owned()))
        .map_err(|e| format!("cloning {url}: {}", e.0))?;
    let files = write_tree(&mirror, commit, dir, ignored_by_default)?;
    Ok(files
        .iter()
        .any(|rel| rel == ".sourceignore" || rel.ends_with("/.sourceignore")))
}

/// Writes the files of `commit`'s tree in `mirror` into `dir` (blocking), but those `skip` names (by their
/// `/`-separated path); returns the paths written.
pub fn write_tree(
    mirror: &Mirror,
    commit: &str,
    dir: &Path,
    skip: fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    let id = mirror.resolve_commit(commit).map_err(|e| e.0)?;
    let reader = mirror.reader().map_err(|e| e.0)?;
    let mut written = Vec::new();
    for entry in mirror.tree(id).map_err(|e| e.0)? {
        if !matches!(entry.kind, EntryKind::File | EntryKind::Executable) {
            continue;
        }
        let rel = String::from_utf8_lossy(&entry.path).into_owned();
        if rel.split('/').any(|p| p == ".." || p.is_empty()) || skip(&rel) {
            continue;
        }
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let data = reader
            .read(entry.oid, MAX_ARTIFACT)
            .map_err(|e| format!("reading {rel}: {e:?}"))?;
        std::fs::write(&path, data).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(rel);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_of_revisions() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(commit_of(&format!("main@sha1:{sha}")), Some(sha));
        assert_eq!(commit_of(&format!("sha1:{sha}")), Some(sha));
        assert_eq!(commit_of(sha), Some(sha));
        assert_eq!(commit_of("main@latest"), None);
    }

    #[test]
    fn default_ignores_as_source_controller() {
        for p in [
            ".github/workflows/ci.yaml",
            ".gitignore",
            "a/.sops.yaml",
            "logo.png",
            "a/.travis.yml",
        ] {
            assert!(ignored_by_default(p), "{p}");
        }
        for p in [
            "apps/deploy.yaml",
            "logo.PNG",
            "kustomization.yaml",
            "git/x.yaml",
        ] {
            assert!(!ignored_by_default(p), "{p}");
        }
    }

    #[test]
    fn digests_are_checked() {
        let d = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert!(verify(d, b"hello").is_ok());
        assert!(verify(d, b"hellO").is_err());
    }
}
