//! `config.toml`: the user's settings. Unknown keys are errors, never ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// Which backend to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// The embedded agent on a workspace directory.
    Local,
    Flux,
    Argo,
    /// Local when a workspace is found, otherwise the current kube context when it serves Flux.
    #[default]
    Auto,
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Local => "local",
            BackendChoice::Flux => "flux",
            BackendChoice::Argo => "argo",
            BackendChoice::Auto => "auto",
        })
    }
}

/// Settings that apply to one context or one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoped {
    pub read_only: Option<bool>,
}

/// Settings of one workspace (`[workspaces."PATH"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceSettings {
    pub read_only: Option<bool>,
    /// The context name the workspace is shown under (default: its directory's name).
    pub name: Option<String>,
}

/// `contexts`: the contexts shown when `--context` is not given (`contexts = ["eu-prod", "staging"]`), or,
/// as a table, per-context settings (`[contexts.prod] read_only = true`; also spelled `[context.prod]`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum ContextsKey {
    Shown(Vec<String>),
    Scoped(BTreeMap<String, Scoped>),
}

impl<'de> Deserialize<'de> for ContextsKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ContextsKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of context names, or a table of per-context settings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<String>()? {
                    names.push(n);
                }
                Ok(ContextsKey::Shown(names))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    out.insert(k, map.next_value::<Scoped>()?);
                }
                Ok(ContextsKey::Scoped(out))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The contents of `config.toml`, every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Default backend when `--backend` is not given.
    pub backend: Option<BackendChoice>,
    /// Default workspace directory for the local backend.
    pub workspace: Option<PathBuf>,
    /// Read-only audit mode everywhere.
    #[serde(default)]
    pub read_only: bool,
    pub theme: Option<String>,
    pub keymap: Option<String>,
    /// Where the audit log goes (default: `<data dir>/audit.jsonl`).
    pub audit_log: Option<PathBuf>,
    /// `false`: the Flux and Argo CD watches keep no cache of the cluster's objects in the data directory,
    /// and every console lists them anew (default `true`; see the README, "Starting again").
    pub watch_cache: Option<bool>,
    /// Unit id patterns (`*` and `?` wildcards) whose actions need the unit name typed to confirm.
    #[serde(default)]
    pub protected: Vec<String>,
    /// `contexts = [...]` (the contexts shown by default) or `[contexts.NAME]` (per-context settings).
    #[serde(default, rename = "contexts")]
    contexts_key: Option<ContextsKey>,
    /// Per-context settings, by context name (`[context.prod] read_only = true`).
    #[serde(default, rename = "context")]
    pub context: BTreeMap<String, Scoped>,
    /// Per-workspace settings, by directory (`[workspaces."/srv/ops"] read_only = true`,
    /// `name = "eu-prod"`).
    #[serde(default)]
    pub workspaces: BTreeMap<PathBuf, WorkspaceSettings>,
}

impl Settings {
    /// Whether the kube watches keep a cache to resume from (`watch_cache`, default on).
    pub fn watch_cache(&self) -> bool {
        self.watch_cache.unwrap_or(true)
    }

    /// Parses a settings file. Relative paths in it are relative to the file's directory.
    pub fn parse(file: &Path, src: &str) -> Result<Self, ConfigError> {
        let mut s: Settings =
            toml::from_str(src).map_err(|e| ConfigError::from_toml(file, src, &e))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let absolutize = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        s.workspace = s.workspace.map(absolutize);
        s.audit_log = s.audit_log.map(absolutize);
        s.workspaces = std::mem::take(&mut s.workspaces)
            .into_iter()
            .map(|(k, v)| (absolutize(k), v))
            .collect();
        match s.contexts_key.take() {
            Some(ContextsKey::Scoped(scoped)) => s.context.extend(scoped),
            Some(ContextsKey::Shown(names)) => s.contexts_key = Some(ContextsKey::Shown(names)),
            None => {}
        }
        for (dir, ws) in &s.workspaces {
            if let Some(name) = &ws.name
                && (name.trim().is_empty() || name.contains('/'))
            {
                return Err(ConfigError::whole_file(
                    file,
                    format!(
                        "[workspaces.\"{}\"] name = \"{name}\": a context name must be non-empty and \
                         without `/` (it becomes part of every unit id)",
                        dir.display()
                    ),
                ));
            }
        }
        for pattern in &s.protected {
            if pattern.trim().is_empty() {
                return Err(ConfigError::whole_file(
                    file,
                    "`protected`: an empty pattern would match nothing; remove it",
                ));
            }
        }
        Ok(s)
    }

    /// Reads `file`; a missing file is the defaults only when `required` is false.
    pub fn load(file: &Path, required: bool) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(file) {
            Ok(src) => Self::parse(file, &src),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Self::default()),
            Err(e) => Err(ConfigError::whole_file(file, format!("cannot read: {e}"))),
        }
    }

    /// The contexts shown when `--context` is not given (`contexts = [...]`), in the file's order.
    pub fn shown_contexts(&self) -> &[String] {
        match &self.contexts_key {
            Some(ContextsKey::Shown(names)) => names,
            _ => &[],
        }
    }

    /// The name the settings give the workspace at `dir`, when they do.
    pub fn workspace_name(&self, dir: &Path) -> Option<String> {
        let dir = resolved_dir(dir);
        self.workspaces
            .iter()
            .find(|(k, _)| resolved_dir(k) == dir)
            .and_then(|(_, s)| s.name.clone())
    }

    /// Whether read-only audit mode applies to this context or workspace: global, then the most specific
    /// scope that says so. A scope can relax the global setting only explicitly (`read_only = false`).
    ///
    /// The workspace and the `[workspaces."PATH"]` keys are compared as resolved directories (a
    /// `setpoint.yaml` names its directory; symlinks, `.`, `..` and trailing slashes resolved), and a key
    /// covers every workspace below its directory; the deepest key that says something wins.
    pub fn read_only_for(&self, context: &str, workspace: Option<&Path>) -> bool {
        let ws = workspace.and_then(|w| {
            let w = resolved_dir(w);
            self.workspaces
                .iter()
                .filter_map(|(k, s)| Some((resolved_dir(k), s.read_only?)))
                .filter(|(k, _)| w.starts_with(k))
                .max_by_key(|(k, _)| k.components().count())
                .map(|(_, ro)| ro)
        });
        let ctx = self.context.get(context).and_then(|s| s.read_only);
        ws.or(ctx).unwrap_or(self.read_only)
    }

    /// Whether a unit id matches one of the protected patterns.
    pub fn is_protected(&self, unit_id: &str) -> bool {
        self.protected.iter().any(|p| wildcard_match(p, unit_id))
    }
}

/// A workspace path as the directory it names: symlinks, `.` and `..` resolved when it exists (lexically
/// otherwise), and a file (`setpoint.yaml`) standing for its directory.
fn resolved_dir(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let real = abs
        .canonicalize()
        .unwrap_or_else(|_| crate::backend::local::spec::normalize(&abs));
    match real.parent() {
        Some(parent) if real.is_file() => parent.to_owned(),
        _ => real,
    }
}

/// `*` matches any run of characters, `?` one character; everything else literally.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    pi = bp + 1;
                    ti = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_cache_is_on_unless_turned_off() {
        let parse = |src: &str| Settings::parse(Path::new("c.toml"), src).unwrap();
        assert!(parse("").watch_cache());
        assert!(!parse("watch_cache = false\n").watch_cache());
        assert!(Settings::parse(Path::new("c.toml"), "watch_cache = \"no\"\n").is_err());
    }

    #[test]
    fn parses_full_file() {
        let src = r#"
backend = "local"
workspace = "ops"
read_only = false
theme = "mono"
keymap = "vim"
protected = ["*/prod", "flux/*/payments/*"]
[contexts.prod-eu]
read_only = true
[workspaces."/srv/ops"]
read_only = true
"#;
        let s = Settings::parse(Path::new("/etc/sp/config.toml"), src).unwrap();
        assert_eq!(s.backend, Some(BackendChoice::Local));
        assert_eq!(s.workspace, Some(PathBuf::from("/etc/sp/ops")));
        assert!(s.read_only_for("prod-eu", None));
        assert!(!s.read_only_for("staging", None));
        assert!(s.read_only_for("x", Some(Path::new("/srv/ops"))));
        assert!(s.is_protected("local/prod"));
        assert!(s.is_protected("flux/c/payments/api"));
        assert!(!s.is_protected("local/staging"));
    }

    #[test]
    fn unknown_key_names_line_column_and_nearest() {
        let src = "backend = \"local\"\nthme = \"mono\"\n";
        let e = Settings::parse(Path::new("bad.toml"), src).unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        assert!(
            e.to_string()
                .starts_with("bad.toml:2:1: unknown key `thme` (did you mean `theme`?)"),
            "{e}"
        );
    }

    #[test]
    fn bad_value_names_key() {
        let e = Settings::parse(Path::new("c.toml"), "read_only = \"yes\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with("c.toml:1:13: `read_only`:"),
            "{e}"
        );
        let e = Settings::parse(Path::new("c.toml"), "backend = \"flx\"\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown value `flx` (did you mean `flux`?)"),
            "{e}"
        );
        let e =
            Settings::parse(Path::new("c.toml"), "[contexts.a]\nread_onyl = true\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("c.toml:2:1: unknown key `read_onyl` (did you mean `read_only`?)"),
            "{e}"
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*prod*", "local/prod-eu"));
        assert!(wildcard_match("local/?ev", "local/dev"));
        assert!(!wildcard_match("local/?ev", "local/prev"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a*b", "acbd"));
    }
}
