//! Everything a command needs, resolved once from the command line, the settings file and the environment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::backend::argo::ArgoBackend;
use crate::backend::flux::FluxBackend;
use crate::backend::local::LocalBackend;
use crate::backend::{Audited, Backend, Composite, ReadOnly};
use crate::cli::GlobalOpts;
use crate::config::keymap::Keymap;
use crate::config::theme::{ColorDepth, Theme};
use crate::config::{BackendChoice, ConfigError, Dirs, Settings};
use crate::error::CliError;
use crate::model::BackendKind;

/// How long `--backend auto` waits for the discovery of Flux's kinds in the current kube context.
pub const AUTO_DISCOVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// The resolved command-line context.
#[derive(Debug, Clone)]
pub struct Context {
    pub opts: GlobalOpts,
    pub dirs: Dirs,
    pub settings: Settings,
    /// The active theme and keymap, validated at start so a bad file stops every command with exit 2.
    pub theme: Theme,
    pub keymap: Keymap,
    /// Every context the settings name, found (and checked for name collisions) once at load.
    known: Vec<ContextSpec>,
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
            known: Vec::new(),
        };
        ctx.known = ctx.find_known_contexts()?;
        Ok(ctx)
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

    /// Every context the settings name (see [`Context::find_known_contexts`]).
    pub fn known_contexts(&self) -> &[ContextSpec] {
        &self.known
    }

    /// The workspaces of `workspace` and `[workspaces."PATH"]`, each once (by resolved directory), named by
    /// `name = ...` or their directory. Two with the same name are an error naming both paths.
    fn find_known_contexts(&self) -> Result<Vec<ContextSpec>, CliError> {
        let dirs = self
            .settings
            .workspace
            .clone()
            .into_iter()
            .chain(self.settings.workspaces.keys().cloned());
        let mut out: Vec<ContextSpec> = Vec::new();
        for dir in dirs {
            let spec = self.local_context(&dir);
            add_unique(&mut out, spec)?;
        }
        Ok(out)
    }

    /// The local context of the workspace at `dir`, named as the local backend names it.
    fn local_context(&self, dir: &Path) -> ContextSpec {
        use crate::backend::local::spec::{FILE_NAME, workspace_dir};
        // A directory that is not there (yet) is still the workspace it names, not its parent.
        let dir = if dir.exists() || dir.file_name().is_some_and(|n| n == FILE_NAME) {
            workspace_dir(dir)
        } else {
            std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
        };
        let name = self.settings.workspace_name(&dir).unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "workspace".into())
        });
        ContextSpec {
            name,
            kind: BackendKind::Local,
            workspace: Some(dir),
        }
    }

    /// The contexts a command shows: `--context` (repeatable), else `contexts = [...]` in the settings,
    /// else the workspace (`--workspace`, `workspace`, or the current directory).
    pub fn selected_contexts(&self) -> Result<Vec<ContextSpec>, CliError> {
        match self.backend_choice() {
            BackendChoice::Flux => return self.kube_contexts(BackendKind::Flux),
            BackendChoice::Argo => return self.kube_contexts(BackendKind::Argo),
            BackendChoice::Auto => {
                if let Some(kube) = self.auto_kube() {
                    return Ok(kube);
                }
            }
            BackendChoice::Local => {}
        }
        let known = self.known_contexts();
        let names: &[String] = if !self.opts.contexts.is_empty() {
            if self.opts.workspace.is_some() {
                return Err(CliError::usage(
                    "--workspace and --context both choose what to show; give one of them",
                ));
            }
            &self.opts.contexts
        } else if self.opts.workspace.is_none() {
            self.settings.shown_contexts()
        } else {
            &[]
        };
        if names.is_empty() {
            let here = self.local_context(&self.workspace());
            return match known.iter().find(|k| k.name == here.name) {
                Some(k) if k.workspace != here.workspace => Err(collision(k, &here)),
                _ => Ok(vec![here]),
            };
        }
        let mut out: Vec<ContextSpec> = Vec::new();
        for name in names {
            let Some(spec) = known.iter().find(|k| k.name == *name) else {
                let all: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
                return Err(CliError::usage(format!(
                    "{}; contexts are the workspaces named in the settings ([workspaces.\"PATH\"])",
                    crate::config::unknown_message("context", name, &all)
                )));
            };
            if !out.contains(spec) {
                out.push(spec.clone());
            }
        }
        Ok(out)
    }

    /// `--backend auto` (the default) without `--context`, `--workspace` or `contexts = [...]`, where no workspace
    /// file is found: the kubeconfig's current context, as Flux when discovery finds Flux's kinds served there,
    /// as Argo CD when it finds Argo CD's Application kind (both when both; each within [`AUTO_DISCOVERY`]).
    /// Otherwise `None`: the local workspace, as before (whose error says what is missing). A workspace found
    /// here always wins, with no request to any cluster.
    fn auto_kube(&self) -> Option<Vec<ContextSpec>> {
        if !self.opts.contexts.is_empty()
            || self.opts.workspace.is_some()
            || self.settings.workspace.is_some()
            || !self.settings.shown_contexts().is_empty()
        {
            return None;
        }
        let dir = self.workspace();
        let file = crate::backend::local::spec::FILE_NAME;
        if dir.join(file).is_file() || dir.is_file() {
            return None;
        }
        let context = FluxBackend::current_context().ok()?;
        let mut out = Vec::new();
        // both discoveries at once: an unreachable cluster costs one AUTO_DISCOVERY, not two
        let argo_probe = {
            let context = context.clone();
            std::thread::spawn(move || ArgoBackend::serves_argo(&context, AUTO_DISCOVERY))
        };
        match FluxBackend::serves_flux(&context, AUTO_DISCOVERY) {
            Ok(kinds) => {
                tracing::info!(
                    context,
                    ?kinds,
                    "auto: Flux is served; showing this kube context"
                );
                out.push(ContextSpec {
                    name: context.clone(),
                    kind: BackendKind::Flux,
                    workspace: None,
                });
            }
            Err(why) => {
                tracing::info!(context, %why, "auto: no Flux in the current kube context");
            }
        }
        let argo = argo_probe
            .join()
            .unwrap_or_else(|_| Err("the discovery thread failed".to_owned()));
        match argo {
            Ok(()) => {
                tracing::info!(
                    context,
                    "auto: Argo CD is served; showing this kube context"
                );
                out.push(ContextSpec {
                    name: context,
                    kind: BackendKind::Argo,
                    workspace: None,
                });
            }
            Err(why) => {
                tracing::info!(context, %why, "auto: no Argo CD in the current kube context");
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// With `--backend flux` or `argo` (`kind`): the kube contexts `--context` names (repeatable), else the
    /// kubeconfig's current context.
    fn kube_contexts(&self, kind: BackendKind) -> Result<Vec<ContextSpec>, CliError> {
        let names = if self.opts.contexts.is_empty() {
            vec![FluxBackend::current_context()?]
        } else {
            self.opts.contexts.clone()
        };
        let mut out: Vec<ContextSpec> = Vec::new();
        for name in names {
            let spec = ContextSpec {
                name,
                kind,
                workspace: None,
            };
            if !out.contains(&spec) {
                out.push(spec);
            }
        }
        Ok(out)
    }

    /// Opens one context, wrapped in `ReadOnly` when audit mode applies to it and always in `Audited`.
    pub fn open_member(&self, spec: &ContextSpec) -> Result<Arc<Audited>, CliError> {
        let (raw, dir): (Arc<dyn Backend>, Option<PathBuf>) = match spec.kind {
            BackendKind::Flux => (
                Arc::new(
                    FluxBackend::open(Some(&spec.name))?
                        .with_data_dir(&self.dirs.data)
                        .with_watch_cache(self.settings.watch_cache()),
                ),
                None,
            ),
            BackendKind::Argo => (
                Arc::new(
                    ArgoBackend::open(Some(&spec.name))?
                        .with_data_dir(&self.dirs.data)
                        .with_watch_cache(self.settings.watch_cache()),
                ),
                None,
            ),
            _ => {
                let dir = spec.workspace.clone().unwrap_or_else(|| PathBuf::from("."));
                let local = LocalBackend::open(&dir, &self.settings)
                    .map_err(|e| CliError::usage(e.to_string()))?;
                // Read-only attaches to the workspace as resolved, however it was named.
                let dir = local.workspace().spec.dir.clone();
                (Arc::new(local), Some(dir))
            }
        };
        let backend: Arc<dyn Backend> = if self.read_only(&spec.name, dir.as_deref()) {
            Arc::new(ReadOnly::new(raw))
        } else {
            raw
        };
        Ok(Arc::new(Audited::new(backend, self.audit_log())))
    }

    /// Opens every selected context as one composite backend. A context that cannot be opened is shown
    /// failed beside the others; when none can be, the first one's error is the command's.
    pub fn open_backend(&self) -> Result<Arc<Composite>, CliError> {
        let selected = self.selected_contexts()?;
        let mut opened = Vec::new();
        let mut failed = Vec::new();
        for spec in &selected {
            match self.open_member(spec) {
                Ok(b) => opened.push(b),
                Err(e) => failed.push((spec, e)),
            }
        }
        if opened.is_empty() && !failed.is_empty() {
            return Err(failed.swap_remove(0).1);
        }
        let composite = Composite::new(opened);
        for (spec, e) in failed {
            composite.add_failed(&spec.name, spec.kind, spec.workspace.clone(), e.message);
        }
        Ok(Arc::new(composite))
    }
}

/// A context a command can show: its name, its kind, and for a local one its workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSpec {
    pub name: String,
    pub kind: BackendKind,
    pub workspace: Option<PathBuf>,
}

/// Adds `spec` unless the same workspace is there; another one of the same name is an error.
fn add_unique(out: &mut Vec<ContextSpec>, spec: ContextSpec) -> Result<(), CliError> {
    match out.iter().find(|k| k.name == spec.name) {
        Some(k) if k.workspace == spec.workspace => Ok(()),
        Some(k) => Err(collision(k, &spec)),
        None => {
            out.push(spec);
            Ok(())
        }
    }
}

/// Two contexts named alike: which, and how to tell them apart.
fn collision(a: &ContextSpec, b: &ContextSpec) -> CliError {
    let path = |s: &ContextSpec| {
        s.workspace
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    CliError::usage(format!(
        "two contexts are named `{}`: {} and {}; give one of them another name in config.toml, \
         e.g. [workspaces.\"{}\"] name = \"{}-2\"",
        a.name,
        path(a),
        path(b),
        path(b),
        b.name
    ))
}

impl CliError {
    pub fn config(e: ConfigError) -> Self {
        CliError::usage(e.to_string())
    }
}
