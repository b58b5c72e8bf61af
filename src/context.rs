//! Everything a command needs, resolved once from the command line, the settings file and the environment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::backend::flux::FluxBackend;
use crate::backend::local::LocalBackend;
use crate::backend::{Audited, Backend, ReadOnly};
use crate::cli::GlobalOpts;
use crate::config::keymap::Keymap;
use crate::config::theme::{ColorDepth, Theme};
use crate::config::{BackendChoice, ConfigError, Dirs, Settings};
use crate::error::CliError;

/// The resolved command-line context.
#[derive(Debug, Clone)]
pub struct Context {
    pub opts: GlobalOpts,
    pub dirs: Dirs,
    pub settings: Settings,
    /// The active theme and keymap, validated at start so a bad file stops every command with exit 2.
    pub theme: Theme,
    pub keymap: Keymap,
}

impl Context {
    /// Reads the settings (`--config FILE` must exist; the default file may be absent).
    pub fn load(opts: &GlobalOpts) -> Result<Self, CliError> {
        let dirs = Dirs::from_process().ok_or_else(|| {
            CliError::usage(
                "cannot find a home directory: set SETPOINT_CONFIG_DIR and SETPOINT_DATA_DIR",
            )
        })?;
        let settings = match &opts.config {
            Some(file) => Settings::load(file, true),
            None => Settings::load(&dirs.config_file(), false),
        }
        .map_err(CliError::config)?;
        let pick = |cli: &Option<String>, file: &Option<String>| {
            cli.clone()
                .or_else(|| file.clone())
                .unwrap_or_else(|| "default".into())
        };
        let depth = ColorDepth::detect(&|k| std::env::var(k).ok());
        let theme = Theme::load(
            &pick(&opts.theme, &settings.theme),
            Some(&dirs.config),
            depth,
        )
        .map_err(CliError::config)?;
        let keymap = Keymap::load(&pick(&opts.keymap, &settings.keymap), Some(&dirs.config))
            .map_err(CliError::config)?;
        let mut ctx = Self {
            opts: opts.clone(),
            dirs,
            settings,
            theme,
            keymap,
        };
        ctx.select_context()?;
        Ok(ctx)
    }

    /// `--context NAME` on the local backend picks the workspace of that name among those the settings
    /// name, as `:ctx NAME` does in the console.
    fn select_context(&mut self) -> Result<(), CliError> {
        if self.opts.contexts.is_empty()
            || !matches!(
                self.backend_choice(),
                BackendChoice::Local | BackendChoice::Auto
            )
        {
            return Ok(());
        }
        if self.opts.workspace.is_some() {
            return Err(CliError::usage(
                "--workspace and --context both choose the workspace; give one of them",
            ));
        }
        let [name] = self.opts.contexts.as_slice() else {
            return Err(CliError::usage(
                "the local backend shows one workspace at a time: give --context once",
            ));
        };
        let known = named_workspaces(self.configured_workspaces());
        match known.iter().find(|(n, _)| n == name) {
            Some((_, dir)) => {
                self.opts.workspace = Some(dir.clone());
                Ok(())
            }
            None => {
                let names: Vec<&str> = known.iter().map(|(n, _)| n.as_str()).collect();
                Err(CliError::usage(format!(
                    "{}; contexts are the workspaces named in the settings ([workspaces.\"PATH\"])",
                    crate::config::unknown_message("context", name, &names)
                )))
            }
        }
    }

    pub fn audit_log(&self) -> AuditLog {
        AuditLog::new(
            self.settings
                .audit_log
                .clone()
                .unwrap_or_else(|| self.dirs.default_audit_log()),
        )
    }

    pub fn backend_choice(&self) -> BackendChoice {
        self.opts
            .backend
            .or(self.settings.backend)
            .unwrap_or_default()
    }

    /// The workspace directory: `--workspace`, the settings, or the current directory.
    pub fn workspace(&self) -> PathBuf {
        self.opts
            .workspace
            .clone()
            .or_else(|| self.settings.workspace.clone())
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Whether read-only audit mode is in force for this context/workspace.
    pub fn read_only(&self, context: &str, workspace: Option<&Path>) -> bool {
        self.opts.read_only || self.settings.read_only_for(context, workspace)
    }

    /// The contexts the console can switch between with `:ctx NAME`. For the local backend a context is a
    /// workspace, named by its directory as the backend names it: the workspace in use, then those the
    /// settings name.
    pub fn local_contexts(&self) -> Vec<(String, PathBuf)> {
        named_workspaces(std::iter::once(self.workspace()).chain(self.configured_workspaces()))
    }

    /// The workspaces the settings name: `workspace`, then the directories of `[workspaces."PATH"]`.
    fn configured_workspaces(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.settings
            .workspace
            .clone()
            .into_iter()
            .chain(self.settings.workspaces.keys().cloned())
    }

    /// Opens the backend in force, wrapped in `ReadOnly` when audit mode applies and always in `Audited`.
    pub fn open_backend(&self) -> Result<Arc<Audited>, CliError> {
        self.open_backend_at(&self.workspace())
    }

    /// [`Context::open_backend`] on the workspace `ws` (for the local backend).
    pub fn open_backend_at(&self, ws: &Path) -> Result<Arc<Audited>, CliError> {
        let (raw, workspace): (Arc<dyn Backend>, Option<PathBuf>) = match self.backend_choice() {
            BackendChoice::Local | BackendChoice::Auto => {
                let backend = LocalBackend::open(ws, &self.settings)
                    .map_err(|e| CliError::usage(e.to_string()))?;
                // Read-only attaches to the workspace as resolved, however it was named.
                let dir = backend.workspace().spec.dir.clone();
                (Arc::new(backend), Some(dir))
            }
            BackendChoice::Flux => {
                // one kube context per Flux backend; several at once come with the composite backend
                let context = match self.opts.contexts.as_slice() {
                    [] => None,
                    [one] => Some(one.as_str()),
                    _ => {
                        return Err(CliError::usage(
                            "the Flux backend shows one kube context at a time here: give --context once",
                        ));
                    }
                };
                (Arc::new(FluxBackend::open(context)?), None)
            }
            other => {
                return Err(CliError::backend(format!(
                    "the {other} backend is not available in this build yet; use --backend local with a workspace"
                )));
            }
        };
        let info = raw.info();
        let backend: Arc<dyn Backend> = if self.read_only(&info.context, workspace.as_deref()) {
            Arc::new(ReadOnly::new(raw))
        } else {
            raw
        };
        Ok(Arc::new(Audited::new(backend, self.audit_log())))
    }
}

/// Names each workspace by its directory (as the local backend names it); among workspaces with the same
/// name the first wins.
fn named_workspaces(dirs: impl Iterator<Item = PathBuf>) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for dir in dirs {
        let dir = crate::backend::local::spec::workspace_dir(&dir);
        let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        match out.iter().find(|(n, _)| *n == name) {
            Some((_, first)) if *first != dir => tracing::warn!(
                "context {name}: {} is shadowed by {}",
                dir.display(),
                first.display()
            ),
            Some(_) => {}
            None => out.push((name, dir)),
        }
    }
    out
}

impl CliError {
    pub fn config(e: ConfigError) -> Self {
        CliError::usage(e.to_string())
    }
}
