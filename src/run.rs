//! The entry point: parse the command line, load settings, run one command or the console.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::commands;
use crate::context::Context;
use crate::error::CliError;
use crate::model::{Action, Revision};

/// Runs setpoint and turns every outcome into an exit code.
pub fn main() -> ExitCode {
    crate::logging::mark_start();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "setpoint: {e}");
            ExitCode::from(e.code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, CliError> {
    if let Some(Command::Completions { shell }) = &cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(*shell, &mut cmd, "setpoint", &mut std::io::stdout());
        return Ok(0);
    }
    let ctx = Context::load(&cli.global)?;
    crate::logging::init(&ctx.dirs.log_file());
    tracing::info!(command = ?cli.command, ms = crate::logging::since_start_ms(), "start");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::backend(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(ctx, cli.command))
}

async fn dispatch(ctx: Context, command: Option<Command>) -> Result<u8, CliError> {
    let output = ctx.opts.output;
    let Some(command) = command else {
        return crate::tui::run(&ctx).await;
    };
    match command {
        Command::Completions { .. } => Ok(0),
        Command::Demo(args) => crate::agent_cmd::demo(&ctx, &args).await,
        Command::Agent { once } => crate::agent_cmd::agent(&ctx, once).await,
        Command::Audit { limit } => {
            // Each workspace's own record (every user's operator actions, from its journal) beside this
            // user's log; a directory that is no workspace has only the log.
            let mut shared: Option<Result<Vec<_>, String>> = None;
            for spec in ctx.selected_contexts().unwrap_or_default() {
                let Some(dir) = spec.workspace else { continue };
                let Ok(b) = crate::backend::local::LocalBackend::open(&dir, &ctx.settings) else {
                    continue;
                };
                let got = b.operator_actions(limit.unwrap_or(usize::MAX).max(1));
                shared = Some(match (shared, got) {
                    (Some(Ok(mut all)), Ok(more)) => {
                        all.extend(more);
                        Ok(all)
                    }
                    (Some(Err(e)), _) | (_, Err(e)) => Err(e),
                    (None, got) => got,
                });
            }
            commands::audit(&ctx.audit_log(), shared, limit, output)
        }
        Command::Status => commands::status(ctx.open_backend()?.as_ref(), output).await,
        Command::Diff { unit } => commands::diff(ctx.open_backend()?.as_ref(), &unit, output).await,
        Command::Compare { a, b } => {
            commands::compare(ctx.open_backend()?.as_ref(), &a, &b, output).await
        }
        Command::History { unit, limit } => {
            commands::history(ctx.open_backend()?.as_ref(), &unit, limit, output).await
        }
        Command::Detail { unit } => {
            commands::detail(ctx.open_backend()?.as_ref(), &unit, false, output).await
        }
        Command::Tree { unit } => {
            commands::detail(ctx.open_backend()?.as_ref(), &unit, true, output).await
        }
        Command::Events { unit, limit } => {
            commands::events(ctx.open_backend()?.as_ref(), &unit, limit, output).await
        }
        Command::Suspend {
            unit,
            reason,
            confirm,
        } => {
            act(
                &ctx,
                &unit,
                Action::Suspend { reason },
                confirm.confirm.as_deref(),
            )
            .await
        }
        Command::Resume { unit, confirm } => {
            act(&ctx, &unit, Action::Resume, confirm.confirm.as_deref()).await
        }
        Command::Sync {
            unit,
            with_source,
            confirm,
        } => {
            act(
                &ctx,
                &unit,
                Action::Sync { with_source },
                confirm.confirm.as_deref(),
            )
            .await
        }
        Command::Terminate { unit, confirm } => {
            act(&ctx, &unit, Action::Terminate, confirm.confirm.as_deref()).await
        }
        Command::Refresh {
            unit,
            hard,
            confirm,
        } => {
            act(
                &ctx,
                &unit,
                Action::Refresh { hard },
                confirm.confirm.as_deref(),
            )
            .await
        }
        Command::Rollback {
            unit,
            to,
            reason,
            suspend_parent,
            confirm,
        } => {
            let to: Revision = to
                .parse()
                .map_err(|e| CliError::usage(format!("--to: {e}")))?;
            act(
                &ctx,
                &unit,
                Action::Rollback {
                    to,
                    reason,
                    suspend_parent,
                },
                confirm.confirm.as_deref(),
            )
            .await
        }
    }
}

async fn act(
    ctx: &Context,
    unit: &str,
    action: Action,
    confirm: Option<&str>,
) -> Result<u8, CliError> {
    if let Some(reason) = action.reason()
        && reason.trim().is_empty()
    {
        return Err(CliError::usage(
            "--reason must say why (it goes to the journal and the audit log)",
        ));
    }
    let backend = ctx.open_backend()?;
    commands::act(
        &backend,
        unit,
        action,
        confirm,
        |id| ctx.settings.is_protected(id),
        ctx.opts.output,
    )
    .await
}
