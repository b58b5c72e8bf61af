//! `suspend`, `resume`, `sync`, `rollback` from the command line.

use super::print_json;
use crate::backend::{Backend, Composite};
use crate::cli::Output;
use crate::error::CliError;
use crate::model::Action;

/// Runs one action on one unit through its context's audited backend. A protected unit needs
/// `--confirm NAME`; an action the unit cannot take now is refused with the backend's reason before it is
/// sent; both refusals are recorded as denied.
pub async fn act(
    backend: &Composite,
    query: &str,
    action: Action,
    confirm: Option<&str>,
    protected_by_settings: impl Fn(&str) -> bool,
    output: Output,
) -> Result<u8, CliError> {
    let snap = backend.snapshot().await?;
    let unit = super::unit::find(&snap, query)?;
    if (unit.protected || protected_by_settings(&unit.id)) && confirm != Some(unit.name.as_str()) {
        let msg = format!(
            "{} is protected: repeat its name to confirm, e.g. `--confirm {}`",
            unit.id, unit.name
        );
        backend.record_denied(&unit.id, &action, &msg);
        return Err(CliError::usage(msg));
    }
    let caps = backend.capabilities(&unit.id).await?;
    if let Some(why) = caps.get(action.kind()).denial() {
        let msg = format!("{} {}: not allowed now: {why}", action.kind(), unit.id);
        backend.record_denied(&unit.id, &action, why);
        return Err(CliError::from(crate::backend::BackendError::Denied(msg)));
    }
    let outcome = backend.act(&unit.id, &action).await?;
    match output {
        Output::Json => print_json(&outcome)?,
        Output::Table => println!("{}: {}", outcome.unit, outcome.message),
    }
    Ok(0)
}
