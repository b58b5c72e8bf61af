//! Overlay rendering: a pure, deterministic function of (commit tree, overlay path) → files.
//!
//! An overlay directory may hold `overlay.yaml` with `bases:` (repository-relative directories, or `./x` and
//! `../x` relative to the overlay as kustomize writes them, inside the repository; rendered first, recursively) and `delete:` (rendered paths to drop). Its files shadow files of the same path from
//! the bases; `NAME.patch.yaml` / `NAME.patch.json` is an RFC 7386 merge patch of the base's `NAME.yaml` /
//! `NAME.json`. Every YAML file must be a well-formed YAML stream within the budgets of `yaml_check`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use gix::ObjectId;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::git::{BlobError, EntryKind, TreeEntry};
use super::spec::repo_path;
use super::yaml_check;

/// Default largest file the agent renders: 16 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

const OVERLAY_FILE: &str = "overlay.yaml";
const MAX_LINK_HOPS: usize = 8;

/// Reads blob contents; the agent reads from git, tests from memory.
pub trait Blobs {
    fn read(&self, oid: ObjectId, limit: u64) -> Result<Vec<u8>, BlobError>;
}

impl Blobs for super::git::BlobReader {
    fn read(&self, oid: ObjectId, limit: u64) -> Result<Vec<u8>, BlobError> {
        super::git::BlobReader::read(self, oid, limit)
    }
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub content: Vec<u8>,
    pub executable: bool,
}

/// The desired content of a target: relative path → file.
pub type Rendered = BTreeMap<String, RenderedFile>;

/// Why a commit does not render. Displays as `commit 1a2b3c4: FILE:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub commit: String,
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "commit {}: {}", self.commit, self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RenderError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverlayFile {
    #[serde(default)]
    bases: Vec<Spanned<String>>,
    #[serde(default)]
    delete: Vec<Spanned<String>>,
}

struct Renderer<'a> {
    commit: String,
    entries: HashMap<&'a [u8], &'a TreeEntry>,
    tree: &'a [TreeEntry],
    blobs: &'a dyn Blobs,
    max_size: u64,
}

/// Renders the overlay at `path` of a commit's tree.
pub fn render(
    tree: &[TreeEntry],
    blobs: &dyn Blobs,
    commit: &str,
    path: &str,
    max_size: u64,
) -> Result<Rendered, RenderError> {
    let r = Renderer {
        commit: commit.chars().take(7).collect(),
        entries: tree.iter().map(|e| (e.path.as_slice(), e)).collect(),
        tree,
        blobs,
        max_size,
    };
    r.render_dir(path, &mut Vec::new())
}

impl Renderer<'_> {
    fn fail(&self, file: &str, line: Option<usize>, message: impl Into<String>) -> RenderError {
        RenderError {
            commit: self.commit.clone(),
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn prefix(dir: &str) -> String {
        if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        }
    }

    fn render_dir(&self, dir: &str, stack: &mut Vec<String>) -> Result<Rendered, RenderError> {
        let shown = if dir.is_empty() { "." } else { dir };
        if stack.iter().any(|d| d == dir) {
            let mut chain = stack.clone();
            chain.push(dir.to_owned());
            return Err(self.fail(
                shown,
                None,
                format!("bases form a cycle: {}", chain.join(" → ")),
            ));
        }
        let prefix = Self::prefix(dir);
        let in_dir: Vec<&TreeEntry> = self
            .tree
            .iter()
            .filter(|e| e.path.starts_with(prefix.as_bytes()))
            .collect();
        if in_dir.is_empty() {
            return Err(self.fail(
                shown,
                None,
                "directory does not exist in this commit (or is empty)",
            ));
        }
        stack.push(dir.to_owned());
        let overlay_path = format!("{prefix}{OVERLAY_FILE}");
        let overlay = match self.entries.get(overlay_path.as_bytes()) {
            Some(e) => Some(self.parse_overlay(&overlay_path, e)?),
            None => None,
        };

        let mut out = Rendered::new();
        if let Some(o) = &overlay {
            for base in &o.bases {
                let line = Some(base.referenced.line() as usize);
                let base_dir = base_path(dir, &base.value)
                    .map_err(|m| self.fail(&overlay_path, line, format!("bases: {m}")))?;
                let rendered = self.render_dir(&base_dir, stack).map_err(|mut e| {
                    if e.message.starts_with("directory does not exist") && e.file == base_dir {
                        e = self.fail(
                            &overlay_path,
                            line,
                            format!("bases: `{}` does not exist in this commit", base.value),
                        );
                    }
                    e
                })?;
                out.extend(rendered);
            }
        }

        let mut patches = Vec::new();
        for entry in in_dir {
            let full = utf8_path(entry)
                .map_err(|m| self.fail(&String::from_utf8_lossy(&entry.path), None, m))?;
            check_components(full).map_err(|m| self.fail(full, None, m))?;
            let rel = &full[prefix.len()..];
            if rel == OVERLAY_FILE {
                continue;
            }
            if let Some(target) = patch_target(rel) {
                patches.push((full.to_owned(), rel.to_owned(), target, entry));
                continue;
            }
            let file = self.load(full, entry)?;
            out.insert(rel.to_owned(), file);
        }
        for (full, _rel, target, entry) in patches {
            let patch = self.load(&full, entry)?;
            let Some(base) = out.get(&target) else {
                return Err(self.fail(
                    &full,
                    None,
                    format!("merge patch has no base: `{target}` is not in this overlay's bases"),
                ));
            };
            let merged = self.merge(&full, &target, &base.content, &patch.content)?;
            let executable = base.executable;
            out.insert(
                target,
                RenderedFile {
                    content: merged,
                    executable,
                },
            );
        }
        if let Some(o) = &overlay {
            for d in &o.delete {
                let line = Some(d.referenced.line() as usize);
                let p = repo_path(&d.value)
                    .map_err(|m| self.fail(&overlay_path, line, format!("delete: {m}")))?;
                let dir_prefix = format!("{p}/");
                let before = out.len();
                out.retain(|k, _| *k != p && !k.starts_with(&dir_prefix));
                if out.len() == before {
                    return Err(self.fail(
                        &overlay_path,
                        line,
                        format!("delete: `{}` matches no rendered file", d.value),
                    ));
                }
            }
        }
        stack.pop();
        Ok(out)
    }

    fn parse_overlay(&self, path: &str, entry: &TreeEntry) -> Result<OverlayFile, RenderError> {
        let file = self.load(path, entry)?;
        let text =
            std::str::from_utf8(&file.content).map_err(|_| self.fail(path, None, "not UTF-8"))?;
        serde_saphyr::from_str(text).map_err(|e| self.yaml_error(path, &e))
    }

    fn yaml_error(&self, path: &str, e: &serde_saphyr::Error) -> RenderError {
        let p = yaml_check::explain(e);
        self.fail(path, p.line, p.message)
    }

    /// Reads a file, following in-repository symlinks, validating YAML.
    fn load(&self, path: &str, entry: &TreeEntry) -> Result<RenderedFile, RenderError> {
        let mut current = entry;
        let mut current_path = path.to_owned();
        for _ in 0..=MAX_LINK_HOPS {
            match current.kind {
                EntryKind::Symlink => {
                    let target = self.read_blob(&current_path, current.oid)?;
                    let target = String::from_utf8(target).map_err(|_| {
                        self.fail(&current_path, None, "symlink target is not UTF-8")
                    })?;
                    let resolved = resolve_link(&current_path, &target).ok_or_else(|| {
                        self.fail(
                            &current_path,
                            None,
                            format!("symlink to `{target}` leaves the repository"),
                        )
                    })?;
                    current = self
                        .entries
                        .get(resolved.as_bytes())
                        .copied()
                        .ok_or_else(|| {
                            self.fail(
                                &current_path,
                                None,
                                format!("symlink to `{target}` points at no file in this commit"),
                            )
                        })?;
                    current_path = resolved;
                }
                EntryKind::Commit => {
                    return Err(self.fail(
                        &current_path,
                        None,
                        "is a submodule; submodules are not rendered",
                    ));
                }
                EntryKind::File | EntryKind::Executable => {
                    let content = self.read_blob(&current_path, current.oid)?;
                    if is_yaml(path) {
                        let text = std::str::from_utf8(&content)
                            .map_err(|_| self.fail(path, None, "YAML file is not UTF-8"))?;
                        yaml_check::validate(text)
                            .map_err(|p| self.fail(path, p.line, p.message))?;
                    }
                    return Ok(RenderedFile {
                        content,
                        executable: current.kind == EntryKind::Executable,
                    });
                }
            }
        }
        Err(self.fail(
            path,
            None,
            format!("more than {MAX_LINK_HOPS} symlinks in a row"),
        ))
    }

    fn read_blob(&self, path: &str, oid: ObjectId) -> Result<Vec<u8>, RenderError> {
        self.blobs.read(oid, self.max_size).map_err(|e| match e {
            BlobError::TooLarge(size) => self.fail(
                path,
                None,
                format!(
                    "file is {size} bytes, over the limit of {} bytes",
                    self.max_size
                ),
            ),
            BlobError::Git(g) => self.fail(path, None, g.0),
        })
    }

    fn merge(
        &self,
        patch_path: &str,
        target: &str,
        base: &[u8],
        patch: &[u8],
    ) -> Result<Vec<u8>, RenderError> {
        let parse = |path: &str, bytes: &[u8]| -> Result<serde_json::Value, RenderError> {
            let text =
                std::str::from_utf8(bytes).map_err(|_| self.fail(path, None, "not UTF-8"))?;
            if target.ends_with(".json") {
                serde_json::from_str(text)
                    .map_err(|e| self.fail(path, Some(e.line()), format!("invalid JSON: {e}")))
            } else {
                serde_saphyr::from_str(text).map_err(|e| self.yaml_error(path, &e))
            }
        };
        let mut doc = parse(target, base)?;
        let patch_doc = parse(patch_path, patch)?;
        json_patch::merge(&mut doc, &patch_doc);
        let text = if target.ends_with(".json") {
            serde_json::to_string_pretty(&doc)
                .map(|s| s + "\n")
                .map_err(|e| self.fail(target, None, e.to_string()))?
        } else {
            serde_saphyr::to_string(&doc).map_err(|e| self.fail(target, None, e.to_string()))?
        };
        Ok(text.into_bytes())
    }
}

/// A base directory as written in `overlay.yaml`: `./x` and `../x` are relative to the overlay's directory
/// (as kustomize reads them) and must resolve inside the repository; anything else is repository-relative.
fn base_path(overlay_dir: &str, written: &str) -> Result<String, String> {
    let w = written.trim();
    if !(w == "." || w == ".." || w.starts_with("./") || w.starts_with("../")) {
        return repo_path(w);
    }
    let mut parts: Vec<&str> = overlay_dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in w.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    let from = if overlay_dir.is_empty() {
                        "."
                    } else {
                        overlay_dir
                    };
                    return Err(format!(
                        "`{w}` leaves the repository (from `{from}` it goes above the repository root); \
                         bases must be directories of the same repository"
                    ));
                }
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

fn utf8_path(entry: &TreeEntry) -> Result<&str, String> {
    std::str::from_utf8(&entry.path).map_err(|_| "file name is not UTF-8; rename it".to_owned())
}

fn check_components(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        return Err("absolute path in the tree".into());
    }
    for c in path.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(format!("path component `{c}` is not allowed"));
        }
    }
    Ok(())
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// `app.patch.yaml` → `app.yaml`, `flags.patch.json` → `flags.json`.
fn patch_target(rel: &str) -> Option<String> {
    for ext in [".yaml", ".yml", ".json"] {
        if let Some(stem) = rel.strip_suffix(&format!(".patch{ext}"))
            && !stem.is_empty()
            && !stem.ends_with('/')
        {
            return Some(format!("{stem}{ext}"));
        }
    }
    None
}

/// Resolves a symlink's target against the link's directory; `None` when it leaves the repository.
fn resolve_link(link_path: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link_path.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Mem(HashMap<ObjectId, Vec<u8>>);

    impl Blobs for Mem {
        fn read(&self, oid: ObjectId, limit: u64) -> Result<Vec<u8>, BlobError> {
            let b = self.0.get(&oid).cloned().unwrap();
            if b.len() as u64 > limit {
                return Err(BlobError::TooLarge(b.len() as u64));
            }
            Ok(b)
        }
    }

    fn tree(files: &[(&str, EntryKind, &str)]) -> (Vec<TreeEntry>, Mem) {
        let mut mem = HashMap::new();
        let mut entries = Vec::new();
        for (i, (path, kind, content)) in files.iter().enumerate() {
            let mut raw = [0u8; 20];
            raw[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let oid = ObjectId::from_bytes_or_panic(&raw);
            mem.insert(oid, content.as_bytes().to_vec());
            entries.push(TreeEntry {
                path: path.as_bytes().to_vec(),
                kind: *kind,
                oid,
            });
        }
        (entries, Mem(mem))
    }

    use EntryKind::{Executable as X, File as F, Symlink as L};

    fn demo() -> Vec<(&'static str, EntryKind, &'static str)> {
        vec![
            (
                "base/app.yaml",
                F,
                "name: web\nreplicas: 1\nimage: web:1.0\n",
            ),
            ("base/flags.json", F, "{\"beta\": false, \"dark\": true}"),
            ("base/run.sh", X, "#!/bin/sh\n"),
            ("base/notes.txt", F, "base notes\n"),
            (
                "envs/prod/overlay.yaml",
                F,
                "bases: [base]\ndelete: [notes.txt]\n",
            ),
            ("envs/prod/app.patch.yaml", F, "replicas: 3\nimage: null\n"),
            ("envs/prod/flags.patch.json", F, "{\"beta\": true}"),
            ("envs/prod/extra.conf", F, "x=1\n"),
        ]
    }

    fn run(files: &[(&str, EntryKind, &str)], path: &str) -> Result<Rendered, RenderError> {
        let (t, m) = tree(files);
        render(&t, &m, "0123456789", path, 1024)
    }

    #[test]
    fn bases_shadowing_patches_and_deletes() {
        let out = run(&demo(), "envs/prod").unwrap();
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(keys, ["app.yaml", "extra.conf", "flags.json", "run.sh"]);
        assert_eq!(
            String::from_utf8_lossy(&out["app.yaml"].content),
            "name: web\nreplicas: 3\n"
        );
        let flags: serde_json::Value = serde_json::from_slice(&out["flags.json"].content).unwrap();
        assert_eq!(flags, serde_json::json!({"beta": true, "dark": true}));
        assert!(out["run.sh"].executable);
        assert_eq!(
            run(&demo(), "envs/prod").unwrap(),
            out,
            "rendering is deterministic"
        );
    }

    fn expect(
        files: &[(&str, EntryKind, &str)],
        path: &str,
        file: &str,
        line: Option<usize>,
        needle: &str,
    ) {
        let e = run(files, path).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), (file, line), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.to_string().starts_with("commit 0123456: "), "{e}");
    }

    #[test]
    fn rejections_name_commit_file_and_line() {
        let mut f = demo();
        f[4].2 = "bases: [base]\ndelete: [../notes.txt]\n";
        expect(
            &f,
            "envs/prod",
            "envs/prod/overlay.yaml",
            Some(2),
            "contains `..`",
        );
        f[4].2 = "bases:\n  - ../../../base\n";
        expect(
            &f,
            "envs/prod",
            "envs/prod/overlay.yaml",
            Some(2),
            "`../../../base` leaves the repository",
        );
        f[4].2 = "bases:\n  - /etc\n";
        expect(
            &f,
            "envs/prod",
            "envs/prod/overlay.yaml",
            Some(2),
            "is absolute",
        );
        f[4].2 = "bases: [nope]\n";
        expect(
            &f,
            "envs/prod",
            "envs/prod/overlay.yaml",
            Some(1),
            "`nope` does not exist",
        );
        f[4].2 = "bases: []\n";
        expect(
            &f,
            "envs/prod",
            "envs/prod/app.patch.yaml",
            None,
            "merge patch has no base",
        );
        f[4].2 = "bases: [base]\nbasis: []\n";
        expect(
            &f,
            "envs/prod",
            "envs/prod/overlay.yaml",
            Some(2),
            "unknown field `basis`",
        );
        let mut f = demo();
        f[5].2 = "replicas: [3\n";
        let e = run(&f, "envs/prod").unwrap_err();
        assert_eq!(e.file, "envs/prod/app.patch.yaml");
        assert!(
            e.line.is_some() && e.message.contains("invalid YAML"),
            "{e}"
        );
    }

    #[test]
    fn kustomize_relative_bases_resolve_inside_the_repository() {
        let mut f = demo();
        f[4].2 = "bases: [../../base]\ndelete: [notes.txt]\n";
        assert_eq!(
            run(&f, "envs/prod").unwrap(),
            run(&demo(), "envs/prod").unwrap()
        );
        f[4].2 = "bases: [./../../base]\ndelete: [notes.txt]\n";
        assert_eq!(
            run(&f, "envs/prod").unwrap(),
            run(&demo(), "envs/prod").unwrap()
        );
        assert_eq!(base_path("", "./base").unwrap(), "base");
        assert_eq!(base_path("a/b", "../c/./d").unwrap(), "a/c/d");
        assert!(
            base_path("", "../x")
                .unwrap_err()
                .contains("leaves the repository")
        );
    }

    #[test]
    fn cycles_links_sizes() {
        let f = vec![
            ("a/overlay.yaml", F, "bases: [b]\n"),
            ("b/overlay.yaml", F, "bases: [a]\n"),
        ];
        expect(&f, "a", "a", None, "bases form a cycle: a → b → a");
        let f = vec![("e/x", L, "../../etc/passwd")];
        expect(&f, "e", "e/x", None, "leaves the repository");
        let f = vec![("e/x", L, "/etc/passwd")];
        expect(&f, "e", "e/x", None, "leaves the repository");
        let f = vec![("e/x", L, "../shared/y"), ("shared/y", F, "ok\n")];
        assert_eq!(run(&f, "e").unwrap()["x"].content, b"ok\n");
        let big = "x".repeat(2000);
        let f = vec![("e/big", F, big.as_str())];
        expect(&f, "e", "e/big", None, "over the limit of 1024 bytes");
        let f = vec![("e/../x", F, "a")];
        expect(&f, "e", "e/../x", None, "`..` is not allowed");
        expect(&demo(), "missing", "missing", None, "does not exist");
    }

    #[test]
    fn non_utf8_names_are_rejected() {
        let (mut t, m) = tree(&[("e/ok", F, "a")]);
        t[0].path = b"e/\xff\xfe".to_vec();
        let e = render(&t, &m, "abc", "e", 1024).unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn yaml_alias_bomb_is_rejected() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let names = ["b", "c", "d", "e", "f", "g", "h", "i", "j"];
        let mut prev = "a";
        for n in names {
            bomb.push_str(&format!("{n}: &{n} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = n;
        }
        let f = vec![("e/bomb.yaml", F, bomb.as_str())];
        let (t, m) = tree(&f);
        let e = render(&t, &m, "abc", "e", 1 << 20).unwrap_err();
        assert_eq!(e.file, "e/bomb.yaml");
        assert!(e.message.contains("an alias bomb?"), "{e}");
    }
}
