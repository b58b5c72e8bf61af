//! The terminal hanging up without a SIGHUP reaching setpoint (its pty closed while setpoint is not the
//! process the kernel tells, e.g. under a `script` killed with SIGKILL): crossterm then reads end-of-file
//! from the terminal in a loop, at full CPU, and never reports it, so the console would spin forever.
//!
//! A thread blocked in poll(2) on the terminal for nothing but its hangup (no input event asked for: it
//! wakes for nothing else) raises SIGHUP at setpoint itself, which leaves the console the usual way (actions
//! in flight waited for and recorded); if the console has not left after that wait and a margin (its loop
//! held by the spinning read), the process exits with 129 (128 + SIGHUP).

use std::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{Signal, getpid, kill_process};

/// Starts watching the console's terminal (standard input) for a hangup; `grace` is how long the console
/// may take to leave after it.
pub fn watch(grace: Duration) {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return; // only a terminal hangs up; other input is not the console's to watch
    }
    let spawned = std::thread::Builder::new()
        .name("hangup".into())
        .spawn(move || {
            if !hung_up() {
                return;
            }
            tracing::info!("the terminal hung up: leaving the console (SIGHUP)");
            if let Err(e) = kill_process(getpid(), Signal::HUP) {
                tracing::warn!(%e, "raising SIGHUP after the hangup");
            }
            std::thread::sleep(grace + Duration::from_secs(5));
            tracing::warn!("the console did not leave after its terminal hung up: exiting");
            std::process::exit(129);
        });
    if let Err(e) = spawned {
        tracing::warn!(%e, "cannot watch the terminal for a hangup");
    }
}

/// Blocks until standard input hangs up (true), or cannot be watched (false).
fn hung_up() -> bool {
    let stdin = std::io::stdin();
    let mut fds = [PollFd::new(&stdin, PollFlags::empty())];
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
                tracing::warn!(%e, "cannot watch the terminal for a hangup");
                return false;
            }
        }
    }
}
