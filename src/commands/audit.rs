//! `setpoint audit`: the operator's audit log.

use super::print_json;
use crate::audit::AuditLog;
use crate::cli::Output;
use crate::error::CliError;
use crate::format::table;
use crate::model::{AuditRecord, AuditResult};

/// Records of the same request in both places: this user's log and the workspace journal.
fn same_request(a: &AuditRecord, b: &AuditRecord) -> bool {
    a.user == b.user
        && a.host == b.host
        && a.unit == b.unit
        && a.action == b.action
        && a.time.as_second().abs_diff(b.time.as_second()) <= DUPLICATE_WINDOW_SECS
}

/// How far apart the journal's "accepted" line and the log's record of the same action may be (the
/// log is written when the action's pass ended, which can take a running agent's whole wait).
const DUPLICATE_WINDOW_SECS: u64 = 60;

/// `setpoint audit`: this user's log and the workspace's shared record of operator actions (every
/// user's, from its journal), merged newest first; `shared` is `None` when no workspace is at hand.
pub fn audit(
    log: &AuditLog,
    shared: Option<Result<Vec<AuditRecord>, String>>,
    limit: Option<usize>,
    output: Output,
) -> Result<u8, CliError> {
    let (records, skipped) = log.read_checked().map_err(CliError::usage)?;
    for w in &skipped {
        eprintln!("setpoint: warning: {w}");
    }
    let mut records: Vec<AuditRecord> = records
        .into_iter()
        .map(|mut r| {
            r.origin = Some("local log".into());
            r
        })
        .collect();
    match shared {
        Some(Ok(journal)) => {
            for j in journal {
                // This user's accepted actions are in both: keep the log's record (it has the result).
                if !records
                    .iter()
                    .any(|r| r.result == AuditResult::Ok && same_request(r, &j))
                {
                    records.push(j);
                }
            }
        }
        Some(Err(e)) => eprintln!("cannot read the workspace journal: {e}"),
        None => {}
    }
    records.sort_by_key(|r| std::cmp::Reverse(r.time));
    if let Some(n) = limit {
        records.truncate(n);
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
                    let target = match (&r.revision, &r.options) {
                        (Some(rev), _) => format!("to {}", rev.short_sha()),
                        (None, Some(o)) => o.clone(),
                        (None, None) => String::new(),
                    };
                    vec![
                        r.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        format!("{}@{}", r.user, r.host),
                        r.context.clone(),
                        r.unit.clone(),
                        r.action.to_string(),
                        target,
                        format!("{:?}", r.result).to_lowercase(),
                        if r.read_only {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                        r.origin.clone().unwrap_or_default(),
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
                        "CONTEXT",
                        "UNIT",
                        "ACTION",
                        "TARGET",
                        "RESULT",
                        "READ-ONLY",
                        "FROM",
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
