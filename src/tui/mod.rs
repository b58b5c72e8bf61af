//! The console: units, sources, diffs, history and actions over the [`Backend`](crate::backend::Backend)
//! trait, fit for SSH to a bastion. See docs/architecture.md (the tui/ map and the data flow).
//!
//! Data flows one way: backend tasks → [`app::Msg`] → [`app::App::update`] → [`views::render`]. Keys
//! become commands through the keymap; effects (backend calls) run on tokio tasks in [`event_loop`].

pub mod actions;
mod ages;
pub mod app;
pub mod compare;
pub mod connection;
mod contexts;
pub mod diffdoc;
pub mod event_loop;
pub mod event_rows;
pub mod filter;
mod heap;
pub mod input;
pub mod osc52;
pub mod quiet;
pub mod terminal;
mod terminal_input;
pub mod views;

#[cfg(test)]
mod test_screen;
#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use tokio::sync::mpsc;

use crate::backend::Backend;
use crate::config::theme::{self, ColorDepth};
use crate::context::Context;
use crate::error::CliError;
use app::{App, Setup};
use connection::{Connection, Member};
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
    let conn = Connection::open(ctx)?;
    let info = conn.backend.info();
    let known = ctx.known_contexts().to_vec();
    let setup = Setup {
        theme,
        keymap,
        ascii: ctx.opts.ascii,
        read_only: info.read_only,
        backend: info.kind.to_string(),
        context: info.context,
        contexts: known.iter().map(|k| k.name.clone()).collect(),
        themes: theme_names(&ctx.dirs.config),
    };
    let opener = {
        let ctx = ctx.clone();
        move |name: &str| match known.iter().find(|k| k.name == name) {
            Some(spec) => Member::open(&ctx, spec).map_err(|e| e.to_string()),
            None => Err(format!("unknown context `{name}`")),
        }
    };
    let (result, runner) = {
        let (mut terminal, guard) = terminal::enter()
            .map_err(|e| CliError::backend(format!("cannot open the terminal: {e}")))?;
        let size = terminal
            .size()
            .map(|s| (s.width, s.height))
            .unwrap_or((80, 24));
        let app = App::new(setup, size, Timestamp::now());
        let (tx, rx) = mpsc::channel(64);
        let mut runner = Runner::new(conn, tx, ctx.dirs.config.clone(), depth, Arc::new(opener));
        let r = event_loop::run(&mut terminal, app, &mut runner, rx, started).await;
        // ratatui's Terminal shows the cursor when dropped and prints to stderr when that fails, and
        // with the terminal gone (a dropped SSH link: EIO) that print panics. Show it here; when that
        // fails there is no terminal left to give back, so the Terminal is forgotten, not dropped.
        match terminal.show_cursor() {
            Ok(()) => {
                drop(terminal);
                tracing::info!("terminal restored (raw mode off, main screen, cursor shown)");
            }
            Err(e) => {
                tracing::info!("the terminal is gone ({e}); nothing to give back");
                std::mem::forget(terminal);
            }
        }
        drop(guard);
        (r, runner)
    };
    runner.close().await;
    tracing::info!("console closed (its embedded agent, if any, stopped)");
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
