//! The workspace file `setpoint.yaml`: sources and environments, validated with FILE:LINE errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::config::nearest;

/// The workspace file's name inside a workspace directory.
pub const FILE_NAME: &str = "setpoint.yaml";

const DEFAULT_SOURCE_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_ENV_INTERVAL: Duration = Duration::from_secs(30);

/// A problem in the workspace file. Displays as `FILE:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for SpecError {}

/// Which commit of a source to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    Branch(String),
    Tag(String),
    Commit(String),
}

impl GitRef {
    /// `branch:main`, as the JSON contract's `ref` field shows it.
    pub fn describe(&self) -> String {
        match self {
            GitRef::Branch(b) => format!("branch:{b}"),
            GitRef::Tag(t) => format!("tag:{t}"),
            GitRef::Commit(c) => format!("commit:{c}"),
        }
    }

    /// The short ref name revisions carry (`main`, `v1.2`), none for a pinned commit.
    pub fn name(&self) -> Option<&str> {
        match self {
            GitRef::Branch(n) | GitRef::Tag(n) => Some(n),
            GitRef::Commit(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub name: String,
    /// As written; a local path is resolved against the workspace directory by [`SourceSpec::fetch_url`].
    pub url: String,
    pub reference: GitRef,
    pub interval: Duration,
    /// Line in the workspace file, for messages.
    pub line: usize,
}

/// What to do when live files differ from the last applied render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    #[default]
    Repair,
    Report,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    pub name: String,
    pub source: String,
    /// The overlay directory inside the repository (normalised, `/`-separated, no leading `./`).
    pub path: String,
    /// The directory this environment owns (absolute).
    pub target: PathBuf,
    /// As written, for display.
    pub target_display: String,
    pub interval: Duration,
    pub drift: DriftMode,
    pub prune: bool,
    /// Take over unmanaged files at desired paths (default: they are conflicts, left alone).
    pub adopt: bool,
    pub depends_on: Vec<String>,
    pub protected: bool,
    pub suspend: bool,
    pub line: usize,
}

/// A validated workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub file: PathBuf,
    pub dir: PathBuf,
    pub sources: Vec<SourceSpec>,
    pub environments: Vec<EnvSpec>,
    /// Largest file a render accepts (`maxFileSize`, default 16 MiB).
    pub max_file_size: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    max_file_size: Option<Spanned<String>>,
    #[serde(default)]
    sources: Vec<Spanned<RawSource>>,
    #[serde(default)]
    environments: Vec<Spanned<RawEnv>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    url: String,
    branch: Option<String>,
    tag: Option<String>,
    commit: Option<String>,
    interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEnv {
    name: String,
    source: Spanned<String>,
    path: Spanned<String>,
    target: Spanned<String>,
    interval: Option<Spanned<String>>,
    #[serde(default)]
    drift: DriftMode,
    #[serde(default = "yes")]
    prune: bool,
    #[serde(default)]
    adopt: bool,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    protected: bool,
    #[serde(default)]
    suspend: bool,
}

fn yes() -> bool {
    true
}

impl Spec {
    /// Reads `<dir>/setpoint.yaml` (or the file itself when `path` is a file).
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let file = if path.is_dir() {
            path.join(FILE_NAME)
        } else {
            path.to_owned()
        };
        let src = std::fs::read_to_string(&file).map_err(|e| SpecError {
            file: file.clone(),
            line: 0,
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("no workspace file here; create {FILE_NAME} or pass --workspace DIR (try `setpoint demo`)")
            } else {
                format!("cannot read: {e}")
            },
        })?;
        Self::parse(&file, &src)
    }

    /// Parses and validates a workspace file's text.
    pub fn parse(file: &Path, src: &str) -> Result<Self, SpecError> {
        let err = |line: usize, message: String| SpecError {
            file: file.to_owned(),
            line,
            message,
        };
        let raw: RawFile = serde_saphyr::from_str(src).map_err(|e| {
            let line = e.location().map(|l| l.line() as usize).unwrap_or(0);
            err(line, yaml_message(&e))
        })?;
        let dir = absolute(file.parent().unwrap_or(Path::new(".")));

        let mut sources = Vec::new();
        for (i, s) in raw.sources.iter().enumerate() {
            let line = s.referenced.line() as usize;
            let v = &s.value;
            let field = |f: &str| format!("sources[{i}] ({}).{f}", v.name);
            if sources.iter().any(|o: &SourceSpec| o.name == v.name) {
                return Err(err(
                    line,
                    format!("sources[{i}].name: source `{}` is defined twice", v.name),
                ));
            }
            check_name(&v.name).map_err(|m| err(line, format!("sources[{i}].name: {m}")))?;
            let reference = match (&v.branch, &v.tag, &v.commit) {
                (Some(b), None, None) => GitRef::Branch(b.clone()),
                (None, Some(t), None) => GitRef::Tag(t.clone()),
                (None, None, Some(c)) => {
                    if !(7..=40).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(err(
                            line,
                            format!(
                                "{}: `{c}` is not a commit id (7 to 40 hex digits)",
                                field("commit")
                            ),
                        ));
                    }
                    GitRef::Commit(c.to_ascii_lowercase())
                }
                (None, None, None) => GitRef::Branch("main".into()),
                _ => {
                    return Err(err(
                        line,
                        format!(
                            "{}: give only one of branch, tag or commit",
                            field("branch")
                        ),
                    ));
                }
            };
            if v.url.trim().is_empty() {
                return Err(err(line, format!("{}: must not be empty", field("url"))));
            }
            let interval = duration(v.interval.as_ref(), DEFAULT_SOURCE_INTERVAL)
                .map_err(|(l, m)| err(l, format!("{}: {m}", field("interval"))))?;
            sources.push(SourceSpec {
                name: v.name.clone(),
                url: v.url.clone(),
                reference,
                interval,
                line,
            });
        }

        let mut environments: Vec<EnvSpec> = Vec::new();
        for (i, e) in raw.environments.iter().enumerate() {
            let line = e.referenced.line() as usize;
            let v = &e.value;
            let field = |f: &str| format!("environments[{i}] ({}).{f}", v.name);
            check_name(&v.name).map_err(|m| err(line, format!("environments[{i}].name: {m}")))?;
            if environments.iter().any(|o| o.name == v.name) {
                return Err(err(
                    line,
                    format!(
                        "environments[{i}].name: environment `{}` is defined twice",
                        v.name
                    ),
                ));
            }
            if !sources.iter().any(|s| s.name == v.source.value) {
                let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
                let hint = nearest(&v.source.value, names.iter().copied())
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                return Err(err(
                    v.source.referenced.line() as usize,
                    format!(
                        "{}: unknown source `{}`{hint}; sources: {}",
                        field("source"),
                        v.source.value,
                        names.join(", ")
                    ),
                ));
            }
            let path = repo_path(&v.path.value).map_err(|m| {
                err(
                    v.path.referenced.line() as usize,
                    format!("{}: {m}", field("path")),
                )
            })?;
            if v.target.value.trim().is_empty() {
                return Err(err(
                    v.target.referenced.line() as usize,
                    format!("{}: must not be empty", field("target")),
                ));
            }
            let target = normalize(&dir.join(&v.target.value));
            let target_line = v.target.referenced.line() as usize;
            if target == dir
                || target.starts_with(dir.join(".setpoint"))
                || dir.starts_with(&target)
            {
                return Err(err(
                    target_line,
                    format!(
                        "{}: must be a directory of its own, not the workspace or its state",
                        field("target")
                    ),
                ));
            }
            for other in &environments {
                if other.target == target
                    || other.target.starts_with(&target)
                    || target.starts_with(&other.target)
                {
                    return Err(err(
                        target_line,
                        format!(
                            "{}: `{}` overlaps the target of environment `{}` (line {}); targets must not be the same or nested",
                            field("target"),
                            v.target.value,
                            other.name,
                            other.line
                        ),
                    ));
                }
            }
            let interval = duration(v.interval.as_ref(), DEFAULT_ENV_INTERVAL)
                .map_err(|(l, m)| err(l, format!("{}: {m}", field("interval"))))?;
            environments.push(EnvSpec {
                name: v.name.clone(),
                source: v.source.value.clone(),
                path,
                target,
                target_display: v.target.value.clone(),
                interval,
                drift: v.drift,
                prune: v.prune,
                adopt: v.adopt,
                depends_on: v.depends_on.iter().map(|d| d.value.clone()).collect(),
                protected: v.protected,
                suspend: v.suspend,
                line,
            });
        }

        let names: Vec<&str> = environments.iter().map(|e| e.name.as_str()).collect();
        for (i, e) in raw.environments.iter().enumerate() {
            for d in &e.value.depends_on {
                if !names.contains(&d.value.as_str()) {
                    let hint = nearest(&d.value, names.iter().copied())
                        .map(|n| format!(" (did you mean `{n}`?)"))
                        .unwrap_or_default();
                    return Err(err(
                        d.referenced.line() as usize,
                        format!(
                            "environments[{i}] ({}).dependsOn: unknown environment `{}`{hint}",
                            e.value.name, d.value
                        ),
                    ));
                }
            }
        }
        if let Some(cycle) = find_cycle(&environments) {
            let line = environments
                .iter()
                .find(|e| e.name == cycle[0])
                .map(|e| e.line)
                .unwrap_or(0);
            return Err(err(line, format!("dependsOn: cycle {}", cycle.join(" → "))));
        }
        let max_file_size = match &raw.max_file_size {
            None => super::render::DEFAULT_MAX_FILE_SIZE,
            Some(v) => parse_size(&v.value)
                .map_err(|m| err(v.referenced.line() as usize, format!("maxFileSize: {m}")))?,
        };
        Ok(Spec {
            file: absolute(file),
            dir,
            sources,
            environments,
            max_file_size,
        })
    }

    pub fn source(&self, name: &str) -> Option<&SourceSpec> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn environment(&self, name: &str) -> Option<&EnvSpec> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The workspace's display name: its directory name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "workspace".into())
    }

    /// The URL to fetch from: http(s) and file:// as written; a plain path resolved against the workspace.
    pub fn fetch_url(&self, source: &SourceSpec) -> String {
        let url = source.url.trim();
        if url.contains("://") {
            url.to_owned()
        } else {
            normalize(&self.dir.join(url))
                .to_string_lossy()
                .into_owned()
        }
    }
}

/// The deserializer's message without its source snippet.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let raw = e.without_snippet().to_string();
    let first = raw.lines().next().unwrap_or("").trim();
    let msg = first
        .split(" at line ")
        .next()
        .unwrap_or(first)
        .trim()
        .to_owned();
    match msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
    {
        Some((name, rest)) => {
            let list = rest.trim_start_matches(',').trim();
            let list = list
                .strip_prefix("expected one of")
                .or_else(|| list.strip_prefix("expected"))
                .unwrap_or("");
            let valid: Vec<&str> = list
                .split(',')
                .map(|v| v.trim().trim_matches('`'))
                .filter(|v| !v.is_empty())
                .collect();
            crate::config::unknown_message("field", name, &valid)
        }
        None => msg,
    }
}

/// `16MiB`, `512KiB`, `1GiB`, `1000000` (bytes).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 16MiB, 512KiB or 1048576"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("`{other}` is not a unit: use B, KiB, MiB or GiB")),
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("`{s}` is out of range"))
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid name: use letters, digits, `-`, `_` and `.` (at most 63)"
        ))
    }
}

fn duration(v: Option<&Spanned<String>>, default: Duration) -> Result<Duration, (usize, String)> {
    let Some(v) = v else { return Ok(default) };
    let line = v.referenced.line() as usize;
    let d = humantime::parse_duration(v.value.trim()).map_err(|e| {
        (
            line,
            format!("`{}` is not a duration like 30s, 1m or 1h30m: {e}", v.value),
        )
    })?;
    if d < Duration::from_secs(1) {
        return Err((
            line,
            format!("`{}` is too short: the smallest interval is 1s", v.value),
        ));
    }
    Ok(d)
}

/// A repository-relative directory: no absolute paths, no `..`; `.` means the repository root.
pub fn repo_path(p: &str) -> Result<String, String> {
    let p = p.trim();
    if p.starts_with('/') || p.starts_with('\\') || p.contains(':') && p.chars().nth(1) == Some(':')
    {
        return Err(format!(
            "`{p}` is absolute; paths are relative to the repository root"
        ));
    }
    let mut parts = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "`{p}` contains `..`; paths must stay inside the repository"
                ));
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

/// The absolute directory of a workspace given as its directory or as its workspace file.
pub fn workspace_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        absolute(path)
    } else {
        absolute(path.parent().unwrap_or(Path::new(".")))
    }
}

fn absolute(p: &Path) -> PathBuf {
    let p = if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    };
    let abs = if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let norm = normalize(&abs);
    norm.canonicalize().unwrap_or(norm)
}

/// Removes `.` and resolves `..` lexically.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn find_cycle(envs: &[EnvSpec]) -> Option<Vec<String>> {
    fn visit<'a>(
        name: &'a str,
        envs: &'a [EnvSpec],
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|n| *n == name) {
            let mut cycle: Vec<String> = stack[pos..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push(name.to_owned());
            return Some(cycle);
        }
        if done.contains(name) {
            return None;
        }
        stack.push(name);
        let deps = envs
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.depends_on.as_slice())
            .unwrap_or(&[]);
        for d in deps {
            if let Some(c) = visit(d, envs, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(name);
        None
    }
    let mut done = BTreeSet::new();
    envs.iter()
        .find_map(|e| visit(&e.name, envs, &mut Vec::new(), &mut done))
}

/// Environments in an order where dependencies come first.
pub fn dependency_order(envs: &[EnvSpec]) -> Vec<&EnvSpec> {
    let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::new();
    while out.len() < envs.len() {
        let before = out.len();
        for e in envs {
            if !placed.contains_key(e.name.as_str())
                && e.depends_on.iter().all(|d| placed.contains_key(d.as_str()))
            {
                placed.insert(&e.name, out.len());
                out.push(e);
            }
        }
        if out.len() == before {
            // A cycle (rejected at parse time); keep the rest in file order.
            out.extend(
                envs.iter()
                    .filter(|e| !placed.contains_key(e.name.as_str())),
            );
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
sources:
  - name: platform-config
    url: ./repos/platform-config.git
    branch: main
    interval: 1m
environments:
  - name: staging
    source: platform-config
    path: environments/staging
    target: ./live/staging
    interval: 30s
    drift: repair
    prune: true
  - name: prod
    source: platform-config
    path: environments/prod
    target: ./live/prod
    protected: true
    dependsOn: [staging]
";

    fn parse(src: &str) -> Result<Spec, SpecError> {
        Spec::parse(Path::new("/ws/setpoint.yaml"), src)
    }

    #[test]
    fn parses_the_design_example() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.sources[0].reference, GitRef::Branch("main".into()));
        assert_eq!(s.sources[0].interval, Duration::from_secs(60));
        assert_eq!(s.fetch_url(&s.sources[0]), "/ws/repos/platform-config.git");
        let prod = s.environment("prod").unwrap();
        assert!(prod.protected && prod.prune);
        assert_eq!(prod.target, PathBuf::from("/ws/live/prod"));
        assert_eq!(prod.interval, DEFAULT_ENV_INTERVAL);
        assert_eq!(prod.depends_on, ["staging"]);
        assert_eq!(s.max_file_size, 16 << 20);
        let small = parse(&format!("maxFileSize: 512KiB\n{GOOD}")).unwrap();
        assert_eq!(small.max_file_size, 512 << 10);
        let order: Vec<&str> = dependency_order(&s.environments)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(order, ["staging", "prod"]);
    }

    fn expect_err(src: &str, line: usize, needle: &str) {
        let e = parse(src).unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.to_string().starts_with("/ws/setpoint.yaml:"), "{e}");
    }

    #[test]
    fn rejects_bad_workspaces_with_line_and_field() {
        expect_err(
            &GOOD.replace("    drift: repair", "    drfit: repair"),
            12,
            "unknown field `drfit` (did you mean `drift`?)",
        );
        expect_err(
            &GOOD.replace("name: prod", "name: staging"),
            14,
            "environment `staging` is defined twice",
        );
        expect_err(
            &GOOD.replace(
                "source: platform-config\n    path: environments/prod",
                "source: platfrom-config\n    path: environments/prod",
            ),
            15,
            "unknown source `platfrom-config` (did you mean `platform-config`?)",
        );
        expect_err(
            &GOOD.replace("./live/prod", "./live/staging/x"),
            17,
            "overlaps the target of environment `staging`",
        );
        expect_err(
            &GOOD.replace("./live/prod", "./live/staging"),
            17,
            "overlaps",
        );
        expect_err(
            &GOOD.replace("environments/prod", "../prod"),
            16,
            "contains `..`",
        );
        expect_err(
            &GOOD.replace("environments/prod", "/etc"),
            16,
            "is absolute",
        );
        expect_err(
            &GOOD.replace("interval: 30s", "interval: soon"),
            11,
            "not a duration",
        );
        expect_err(
            &GOOD.replace("dependsOn: [staging]", "dependsOn: [stagin]"),
            19,
            "unknown environment `stagin` (did you mean `staging`?)",
        );
        let cyclic = format!("{GOOD}    drift: report\n").replace(
            "    interval: 30s\n",
            "    interval: 30s\n    dependsOn: [prod]\n",
        );
        let e = parse(&cyclic).unwrap_err();
        assert!(e.message.contains("cycle staging → prod → staging"), "{e}");
        expect_err(
            &format!("maxFileSize: 16MB\n{GOOD}"),
            1,
            "`MB` is not a unit",
        );
        expect_err(
            &GOOD.replace("    branch: main\n", "    branch: main\n    tag: v1\n"),
            2,
            "only one of branch, tag or commit",
        );
    }
}
