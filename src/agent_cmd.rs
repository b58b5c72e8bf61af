//! `setpoint agent` and `setpoint demo`: the embedded agent from the command line.

use std::io::Write;
use std::sync::Arc;

use crate::backend::local::{Agent, AgentLock, LogSink, PassOutcome, Workspace, demo};
use crate::cli::{DemoArgs, Output};
use crate::commands;
use crate::context::Context;
use crate::error::CliError;

fn stdout_sink() -> LogSink {
    Arc::new(|line: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
}

fn log_file_sink() -> LogSink {
    Arc::new(|line: &str| tracing::info!(target: "agent", "{line}"))
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers, only Ctrl-C through tokio's default remains.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// `setpoint agent [--once]`.
pub async fn agent(ctx: &Context, once: bool) -> Result<u8, CliError> {
    let ws = Workspace::load(&ctx.workspace()).map_err(|e| CliError::usage(e.to_string()))?;
    if ctx.read_only(&ws.spec.name(), Some(&ws.spec.dir)) {
        return Err(CliError::usage(format!(
            "read-only audit mode is in force for {}: the agent would write its targets and state, so it does \
             not run (look with `setpoint status`, `diff` and `events`; drop --read-only or the settings' \
             read_only to run it)",
            ws.spec.dir.display()
        )));
    }
    let lock = AgentLock::acquire(&ws.state.lock()).map_err(CliError::backend)?;
    let agent = Agent::new(ws, stdout_sink());
    if once {
        let results = tokio::task::spawn_blocking(move || agent.run_once())
            .await
            .map_err(|e| CliError::backend(format!("agent failed: {e}")))?;
        drop(lock);
        let failed = results
            .iter()
            .filter(|(_, o)| matches!(o, PassOutcome::Failed(_)))
            .count();
        println!("{} environments reconciled, {failed} failed", results.len());
        return Ok(0);
    }
    agent.run(termination()).await;
    drop(lock);
    Ok(0)
}

/// `setpoint demo [DIR] [--no-tui] [--force]`.
pub async fn demo(ctx: &Context, args: &DemoArgs) -> Result<u8, CliError> {
    let dir = args.dir.clone();
    let force = args.force;
    if force && dir.exists() {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if ctx.read_only(&name, Some(&dir)) {
            return Err(CliError::usage(format!(
                "read-only audit mode is in force: `demo --force` would delete and rebuild {}; refusing",
                dir.display()
            )));
        }
    }
    let sink = if args.no_tui {
        stdout_sink()
    } else {
        log_file_sink()
    };
    let made = tokio::task::spawn_blocking(move || demo::create(&dir, force, sink))
        .await
        .map_err(|e| CliError::backend(format!("demo failed: {e}")))?
        .map_err(CliError::usage)?;
    let mut ctx = ctx.clone();
    ctx.opts.workspace = Some(made.dir.clone());
    if args.no_tui {
        let backend = ctx.open_backend()?;
        println!();
        commands::status(backend.as_ref(), ctx.opts.output).await?;
        if ctx.opts.output == Output::Table {
            println!(
                "\nworkspace: {}  (try: setpoint --workspace {} diff prod)",
                made.dir.display(),
                made.dir.display()
            );
        }
        return Ok(0);
    }
    crate::tui::run(&ctx).await
}
