//! The terminal in raw mode on the alternate screen, given back on every exit path: a `Drop` guard for
//! normal returns and errors, the panic hook for panics, and the event loop ends on SIGTERM/SIGHUP.

use std::io::{self, BufWriter, Stdout};
use std::sync::Once;

use super::quiet::Quiet;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

pub type Term = Terminal<Quiet<CrosstermBackend<BufWriter<Stdout>>>>;

/// A frame's bytes are held until the frame is complete and then written at once (ratatui flushes after
/// each draw): std's stdout is line-buffered with 1 KiB, so a frame went out in 1 KiB writes with the rest
/// of the frame's work between them, and its last byte left a millisecond or two after its first.
const FRAME_BUFFER: usize = 256 * 1024;

/// Leaves raw mode and the alternate screen and shows the cursor; safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

/// Restores the terminal when dropped.
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

static HOOK: Once = Once::new();

/// Enters raw mode and the alternate screen. The guard must outlive the terminal's use.
pub fn enter() -> io::Result<(Term, Guard)> {
    HOOK.call_once(|| crate::logging::install_panic_hook(restore));
    enable_raw_mode()?;
    let guard = Guard(());
    execute!(io::stdout(), EnterAlternateScreen)?;
    let out = BufWriter::with_capacity(FRAME_BUFFER, io::stdout());
    let mut terminal = Terminal::new(Quiet::new(CrosstermBackend::new(out)))?;
    terminal.hide_cursor()?;
    terminal.clear()?;
    Ok((terminal, guard))
}
