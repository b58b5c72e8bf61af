//! `setpoint compare A B`: promotion compare of two units.

use jiff::Timestamp;
use serde_json::json;

use super::print_json;
use crate::backend::{Backend, resolve_unit};
use crate::cli::Output;
use crate::diff::{Sides, unified_between};
use crate::error::{CliError, EXIT_USAGE};
use crate::format::{age, table, truncate};
use crate::model::{Comparison, Verdict};

/// `setpoint compare A B`: 0 when the desired states are equal, 1 when they differ, 2 when a side could
/// not be rendered (the output says why), more on other errors.
pub async fn compare(
    backend: &dyn Backend,
    a: &str,
    b: &str,
    output: Output,
) -> Result<u8, CliError> {
    let snap = backend.snapshot().await?;
    let id = |query: &str| {
        resolve_unit(&snap.units, query)
            .map(|u| u.id.clone())
            .map_err(|e| CliError::usage(e.to_string()))
    };
    let c = backend.compare(&id(a)?, &id(b)?).await?;
    let verdict = c.verdict();
    match output {
        Output::Json => print_json(&json!({
            "a": c.a,
            "b": c.b,
            "verdict": verdict,
            "commits": c.commits,
            "commitsNote": c.commits_note,
            "objects": c.differing().collect::<Vec<_>>(),
            "unchanged": c
                .objects
                .iter()
                .filter(|o| o.change == crate::model::Change::Unchanged)
                .map(|o| o.object.as_str())
                .collect::<Vec<_>>(),
        }))?,
        Output::Table => print!("{}", text(&c, Timestamp::now())),
    }
    Ok(match verdict {
        Verdict::Equal => 0,
        Verdict::Different => 1,
        Verdict::Unknown => EXIT_USAGE,
    })
}

/// The comparison as the table output prints it.
pub fn text(c: &Comparison, now: Timestamp) -> String {
    let (a, b) = (&c.a.unit, &c.b.unit);
    let at = |r: &Option<crate::model::Revision>| {
        r.as_ref()
            .map(|r| r.short())
            .unwrap_or_else(|| "(nothing applied)".into())
    };
    let mut out = format!(
        "compare {a} at {} with {b} at {}\n",
        at(&c.a.revision),
        at(&c.b.revision)
    );
    for error in [&c.a.error, &c.b.error].into_iter().flatten() {
        out.push_str(&format!("# {error}\n"));
    }
    match &c.commits {
        None => {}
        Some(list) if list.is_empty() => {
            out.push_str(&format!("{b} has every commit of {a}'s revision\n"))
        }
        Some(list) => {
            let s = if list.len() == 1 { "" } else { "s" };
            out.push_str(&format!(
                "{} commit{s} in {a} not yet in {b}:\n",
                list.len()
            ));
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|e| {
                    vec![
                        e.short_sha().to_owned(),
                        truncate(&e.author, 24),
                        age(Some(e.time), now),
                        truncate(&e.summary, 80),
                    ]
                })
                .collect();
            out.push_str(&table(&["COMMIT", "AUTHOR", "AGE", "SUMMARY"], &rows));
        }
    }
    if let Some(note) = &c.commits_note {
        out.push_str(&format!("# commits: {note}\n"));
    }
    out.push('\n');
    match c.verdict() {
        Verdict::Unknown => out.push_str("desired states not compared: a side did not render\n"),
        Verdict::Equal => out.push_str(&format!(
            "desired states are equal ({} files)\n",
            c.objects.len()
        )),
        Verdict::Different => {
            out.push_str(&format!(
                "{} of {} files differ (--- {b}, +++ {a}):\n",
                c.differing().count(),
                c.objects.len()
            ));
            let sides = Sides::Units { old: b, new: a };
            for o in c.differing() {
                out.push_str(&unified_between(&o.as_diff(), sides));
            }
        }
    }
    out
}
