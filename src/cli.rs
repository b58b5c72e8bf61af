//! The command line, exactly as the contract in the README (Usage): no command opens the console.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::BackendChoice;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `diff`: in sync; for `compare`: desired states equal)
  1  differences found (`diff` and `compare` only)
  2  usage or configuration error (bad arguments, bad config file, unknown or ambiguous unit)
  3  backend error (unreachable, action refused or failed)

Units are addressed by id (local/prod, flux/<context>/<namespace>/Kustomization/<name>) or by any
unambiguous suffix (prod).

Environment: SETPOINT_CONFIG_DIR, SETPOINT_DATA_DIR (else XDG_CONFIG_HOME / XDG_DATA_HOME),
SETPOINT_LOG (log level, e.g. debug), NO_COLOR.";

/// setpoint: a terminal operations console for GitOps.
#[derive(Debug, Parser)]
#[command(name = "setpoint", version, about, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options accepted before or after the command.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalOpts {
    /// Workspace directory of the embedded agent (holds setpoint.yaml)
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Which backend to use
    #[arg(long, global = true, value_enum)]
    pub backend: Option<BackendChoice>,

    /// Context to use: a workspace named in the settings (local backend), a Kubernetes context (repeatable)
    #[arg(long = "context", global = true, value_name = "NAME")]
    pub contexts: Vec<String>,

    /// Read-only audit mode: every action is refused and recorded
    #[arg(long, global = true)]
    pub read_only: bool,

    /// Settings file (default: <config dir>/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Theme name (default, high-contrast, solarized-dark, mono, or a file in <config dir>/themes)
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,

    /// Keymap name (default, vim, emacs, or a file in <config dir>/keymaps)
    #[arg(long, global = true, value_name = "NAME")]
    pub keymap: Option<String>,

    /// Draw borders and marks with ASCII only
    #[arg(long, global = true)]
    pub ascii: bool,

    /// Output format of headless commands
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a self-contained demo workspace and open the console on it
    Demo(DemoArgs),
    /// Run the embedded GitOps agent headless (one log line per event on stdout)
    Agent {
        /// Reconcile every environment once, then exit
        #[arg(long)]
        once: bool,
    },
    /// Units and sources with their reconciliation state
    Status,
    /// Live versus desired state of a unit (exit 0 in sync, 1 different)
    Diff { unit: String },
    /// Promotion compare: commits in A's applied revision that B has not got, and desired A against
    /// desired B per file (exit 0 equal, 1 different, 2 when a side does not render)
    Compare {
        /// The unit promoted from (e.g. staging)
        a: String,
        /// The unit promoted to (e.g. prod)
        b: String,
    },
    /// Source commits of a unit, with applied / last good / failed / pinned marks
    History {
        unit: String,
        /// Show at most this many commits
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Every condition of a unit and the objects it manages, child Kustomizations' objects under them
    Detail { unit: String },
    /// The objects a unit manages as a tree, child Kustomizations' objects under them (as `flux tree`)
    Tree { unit: String },
    /// What happened to a unit, newest first
    Events {
        unit: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Stop applying and repairing a unit (drift is still reported)
    Suspend {
        unit: String,
        /// Why (recorded in the journal and the audit log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Resume a suspended unit, and release a rollback pin
    Resume {
        unit: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Reconcile a unit now
    Sync {
        unit: String,
        /// Fetch the source first
        #[arg(long)]
        with_source: bool,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Pin a unit to an earlier commit until it is resumed
    Rollback {
        unit: String,
        /// The commit: sha1:<hex>, <ref>@sha1:<40 hex>, or a hex prefix
        #[arg(long, value_name = "REVISION")]
        to: String,
        /// Why (recorded in the journal and the audit log)
        #[arg(long)]
        reason: String,
        /// Flux: also suspend the Kustomization that applies the GitRepository (it would revert the pin at
        /// its next apply), with the same reason; resume releases it
        #[arg(long)]
        suspend_parent: bool,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Argo CD: stop the operation an Application runs now (as `argocd app terminate-op`), and report how
    /// the controller ended it
    Terminate {
        unit: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Argo CD: ask the controller to compare an Application again, nothing applied; returns once the
    /// controller has done it (its refresh annotation removed and status.reconciledAt advanced)
    Refresh {
        unit: String,
        /// Generate the manifests again (the repo-server's cache is skipped)
        #[arg(long)]
        hard: bool,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Show the audit log of operator actions
    Audit {
        /// Show only the newest N records
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Print a shell completion script
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where to create the demo workspace
    #[arg(default_value = "setpoint-demo")]
    pub dir: PathBuf,
    /// Reconcile once and print the status table instead of opening the console
    #[arg(long)]
    pub no_tui: bool,
    /// Replace an existing demo directory
    #[arg(long)]
    pub force: bool,
}

/// Protected units need their name typed to confirm, as in the console.
#[derive(Debug, Clone, Default, Args)]
pub struct Confirm {
    /// The unit's name, required when the unit is protected
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_before_or_after_the_command() {
        let a =
            Cli::try_parse_from(["setpoint", "--read-only", "--output", "json", "status"]).unwrap();
        let b =
            Cli::try_parse_from(["setpoint", "status", "--read-only", "--output", "json"]).unwrap();
        assert!(a.global.read_only && b.global.read_only);
        assert_eq!(a.global.output, Output::Json);
        assert_eq!(b.global.output, Output::Json);
        let c = Cli::try_parse_from([
            "setpoint",
            "diff",
            "prod",
            "--context",
            "a",
            "--context",
            "b",
        ])
        .unwrap();
        assert_eq!(c.global.contexts, ["a", "b"]);
        let none = Cli::try_parse_from(["setpoint", "--ascii"]).unwrap();
        assert!(none.command.is_none());
    }
}
