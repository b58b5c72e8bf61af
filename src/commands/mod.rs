//! Headless commands: every view has one, every action a CLI form.

mod act;
mod audit;
mod compare;
mod read;
mod unit;

pub use act::act;
pub use audit::audit;
pub use compare::compare;
pub use read::{detail, diff, events, history, status};

use serde::Serialize;

use crate::error::CliError;

/// Prints a value as pretty JSON on stdout.
fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::backend(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
