//! Logging to a file in the data directory, and a panic hook that gives the terminal back first.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use tracing_subscriber::EnvFilter;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Remembers when the process started (the first thing `main` does), for [`since_start_ms`].
pub fn mark_start() {
    let _ = STARTED.set(Instant::now());
}

/// Milliseconds since [`mark_start`], for the startup phases in the log (`startup` events).
pub fn since_start_ms() -> f64 {
    STARTED
        .get()
        .map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0)
}

/// Sends `tracing` output to `file` (append), at the level in `SETPOINT_LOG` (default `info`).
/// Logging is best effort: a file that cannot be opened leaves logging off rather than failing the command.
pub fn init(file: &Path) {
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(out) = OpenOptions::new().create(true).append(true).open(file) else {
        return;
    };
    let filter = EnvFilter::try_from_env("SETPOINT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(out))
        .try_init();
}

/// Installs a panic hook that runs `restore` (leave raw mode, the alternate screen, show the cursor)
/// before the default hook prints the panic, and logs the panic.
pub fn install_panic_hook(restore: fn()) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        tracing::error!("panic: {info}");
        default(info);
    }));
}
