//! The console's terminal input, read on threads of its own and handed to the event loop over a channel.
//!
//! crossterm 0.29 reads a terminal that hung up in a loop without end: read(2) returns 0 (or fails with
//! EIO) and it reads again at once (crossterm#793). Its `EventStream` also reads on the caller's thread, so
//! a hangup could hold the event loop itself, at full CPU, whenever no SIGHUP reaches setpoint (its pty
//! closed while it is not the session the kernel tells). So keys are read on a thread of their own, which
//! the loop never waits on, and a second thread, blocked in poll(2) on the terminal for nothing but its
//! hangup, tells the loop; the console then leaves the usual way, and the process's end takes the reading
//! thread with it.

use std::io::{self, IsTerminal};
use std::os::fd::AsFd;

use ratatui::crossterm::event::{self, Event};
use rustix::event::{PollFd, PollFlags, poll};
use tokio::sync::mpsc;

/// What the terminal gave the console.
#[derive(Debug)]
pub enum Input {
    Event(Event),
    /// Reading failed; nothing more will come.
    Failed(io::Error),
    /// The terminal hung up (its pty or SSH link is gone).
    HungUp,
}

/// Starts reading the terminal; the receiver gets its events until the terminal fails or hangs up.
pub fn start() -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel(64);
    let keys = tx.clone();
    spawn("terminal-keys", move || {
        loop {
            let input = match event::read() {
                Ok(ev) => Input::Event(ev),
                Err(e) => Input::Failed(e),
            };
            let failed = matches!(input, Input::Failed(_));
            if keys.blocking_send(input).is_err() || failed {
                return;
            }
        }
    });
    spawn("terminal-hangup", move || {
        if hung_up() {
            let _ = tx.blocking_send(Input::HungUp);
        }
    });
    rx
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::warn!(thread = name, error = %e, "cannot start a terminal reader");
    }
}

/// Blocks until the terminal crossterm reads (standard input when it is one, else `/dev/tty`) hangs up:
/// true; false when it cannot be watched.
fn hung_up() -> bool {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return wait_for_hangup(stdin.as_fd());
    }
    match std::fs::File::open("/dev/tty") {
        Ok(tty) => wait_for_hangup(tty.as_fd()),
        Err(e) => {
            tracing::info!(error = %e, "no terminal to watch for a hangup");
            false
        }
    }
}

/// poll(2) asking for no event: it wakes only for the hangup (or an error) of `fd`, never for input.
fn wait_for_hangup(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::empty())];
    loop {
        match poll(&mut fds, None) {
            Ok(_)
                if fds[0]
                    .revents()
                    .intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) =>
            {
                return true;
            }
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the terminal for a hangup");
                return false;
            }
        }
    }
}
