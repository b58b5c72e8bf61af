//! The console: units, sources, diffs, history and actions over the [`Backend`](crate::backend::Backend)
//! trait, fit for SSH to a bastion. See DESIGN.md, "The console" and "Bastion fitness".
//!
//! Data flows one way: backend tasks → [`app::Msg`] → [`app::App::update`] → [`views::render`]. Keys
//! become commands through the keymap; effects (backend calls) run on tokio tasks in [`event_loop`].

pub mod actions;
pub mod app;
pub mod diffdoc;
pub mod event_loop;
pub mod filter;
pub mod input;
pub mod terminal;
pub mod views;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::backend::Backend;
use crate::backend::local::{Agent, AgentLock, LogSink, Workspace};
use crate::config::theme::{self, ColorDepth};
use crate::context::Context;
use crate::error::CliError;
use app::{App, Setup};
use event_loop::Runner;

/// Opens the console; returns its exit code when the operator quits (or SIGTERM/SIGHUP arrives).
/// A bad theme or keymap file has already ended the program with exit 2 in `Context::load`, before the
/// terminal is touched.
pub async fn run(ctx: &Context) -> Result<u8, CliError> {
    let started = Instant::now();
    // The theme and keymap were loaded and checked by `Context::load`; the depth is for `:theme`.
    let depth = ColorDepth::detect(&|k: &str| std::env::var(k).ok());
    let (theme, keymap) = (ctx.theme.clone(), ctx.keymap.clone());
    if !std::io::stdout().is_terminal() {
        return Err(CliError::usage(
            "the console needs a terminal; use a headless command (see --help)",
        ));
    }
    let backend = ctx.open_backend()?;
    let info = backend.info();
    // An auditor's console never starts the controller: in read-only mode nothing may change.
    let agent = if info.read_only {
        None
    } else {
        EmbeddedAgent::start(&ctx.workspace())
    };
    let setup = Setup {
        theme,
        keymap,
        ascii: ctx.opts.ascii,
        read_only: info.read_only,
        backend: info.kind.to_string(),
        context: info.context.clone(),
        contexts: vec![info.context],
        themes: theme_names(&ctx.dirs.config),
    };
    let result = {
        let (mut terminal, guard) = terminal::enter()
            .map_err(|e| CliError::backend(format!("cannot open the terminal: {e}")))?;
        let size = terminal
            .size()
            .map(|s| (s.width, s.height))
            .unwrap_or((80, 24));
        let app = App::new(setup, size, Timestamp::now());
        let (tx, rx) = mpsc::channel(64);
        let runner = Runner::new(backend, tx, ctx.dirs.config.clone(), depth);
        let r = event_loop::run(&mut terminal, app, runner, rx, started).await;
        drop(terminal);
        drop(guard);
        r
    };
    if let Some(agent) = agent {
        agent.stop().await;
    }
    result
        .map(|()| 0)
        .map_err(|e| CliError::backend(format!("terminal error: {e}")))
}

/// Shipped theme names and the user's `<config>/themes/*.toml`, for `:theme` completion.
fn theme_names(config: &Path) -> Vec<String> {
    let mut names: Vec<String> = theme::SHIPPED
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    if let Ok(dir) = std::fs::read_dir(config.join("themes")) {
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml")
                && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                && !names.iter().any(|n| n == stem)
            {
                names.push(stem.to_owned());
            }
        }
    }
    names
}

/// The agent the console runs when no other agent holds the workspace; logs go to the log file.
struct EmbeddedAgent {
    _lock: AgentLock,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl EmbeddedAgent {
    fn start(dir: &Path) -> Option<Self> {
        let ws = Workspace::load(dir).ok()?;
        let lock = match AgentLock::acquire(&ws.state.lock()) {
            Ok(l) => l,
            Err(e) => {
                tracing::info!("not embedding the agent: {e}");
                return None;
            }
        };
        let sink: LogSink =
            std::sync::Arc::new(|line: &str| tracing::info!(target: "agent", "{line}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(Agent::new(ws, sink).run(async move {
            let _ = stopped.await;
        }));
        Some(Self {
            _lock: lock,
            stop,
            task,
        })
    }

    /// Asks the agent to finish the file it is writing and waits for it (at most a few seconds).
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
