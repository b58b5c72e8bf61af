//! `setpoint audit`: the operator's audit log.

use super::print_json;
use crate::audit::AuditLog;
use crate::cli::Output;
use crate::error::CliError;
use crate::format::table;

pub fn audit(log: &AuditLog, limit: Option<usize>, output: Output) -> Result<u8, CliError> {
    let (mut records, skipped) = log.read_checked().map_err(CliError::usage)?;
    for w in &skipped {
        eprintln!("setpoint: warning: {w}");
    }
    if let Some(n) = limit {
        let skip = records.len().saturating_sub(n);
        records.drain(..skip);
    }
    match output {
        Output::Json => print_json(&records)?,
        Output::Table => {
            if records.is_empty() {
                eprintln!("no audit records in {}", log.path().display());
            }
            let rows: Vec<Vec<String>> = records
                .iter()
                .map(|r| {
                    vec![
                        r.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        format!("{}@{}", r.user, r.host),
                        r.unit.clone(),
                        r.action.to_string(),
                        format!("{:?}", r.result).to_lowercase(),
                        if r.read_only {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                        r.reason.clone().unwrap_or_default(),
                        r.detail.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "TIME",
                        "WHO",
                        "UNIT",
                        "ACTION",
                        "RESULT",
                        "READ-ONLY",
                        "REASON",
                        "DETAIL"
                    ],
                    &rows
                )
            );
        }
    }
    Ok(0)
}
