//! `status`, `diff`, `history`, `events`.

use jiff::Timestamp;
use serde_json::json;

use super::print_json;
use crate::backend::Backend;
use crate::backend::local;
use crate::cli::Output;
use crate::diff::unified;
use crate::error::CliError;
use crate::format::{age, table, truncate};
use crate::model::{BackendKind, ContextHealth, Snapshot, Unit};

async fn find_unit(backend: &dyn Backend, query: &str) -> Result<Unit, CliError> {
    let snap = backend.snapshot().await?;
    super::unit::find(&snap, query).cloned()
}

/// Says so on stderr when `--limit` asks for more than the local backend keeps and it ran out there.
fn note_cap(backend: &dyn Backend, limit: usize, got: usize, cap: usize, what: &str) {
    if backend.info().kind == BackendKind::Local && limit > cap && got >= cap {
        eprintln!(
            "setpoint: note: showing the newest {cap} {what}; the local backend lists at most {cap}"
        );
    }
}

/// `setpoint status`: units (failing first) and sources of every context shown. A context that could not
/// be read is listed failed (and said on stderr) beside the others, and the exit code is 3.
pub async fn status(backend: &dyn Backend, output: Output) -> Result<u8, CliError> {
    let mut snap = backend.snapshot().await?;
    snap.sort();
    match output {
        Output::Json => print_json(&snap)?,
        Output::Table => print!("{}", status_table(&snap, Timestamp::now())),
    }
    let mut code = 0;
    for c in snap
        .contexts
        .iter()
        .filter(|c| !matches!(c.health, ContextHealth::Live))
    {
        eprintln!(
            "setpoint: context {} ({}): {}",
            c.name,
            c.backend,
            c.message.as_deref().unwrap_or("no answer")
        );
        code = crate::error::EXIT_BACKEND;
    }
    Ok(code)
}

/// The status table printed by `status` and `demo --no-tui`.
pub fn status_table(snap: &Snapshot, now: Timestamp) -> String {
    let rows: Vec<Vec<String>> = snap
        .units
        .iter()
        .map(|u| {
            let mut message = match u.hold_note() {
                Some(note) if !u.status.message.contains(&note) => {
                    format!("[{note}] {}", u.status.message)
                }
                _ => u.status.message.clone(),
            };
            if let Some(w) = &u.sync_window {
                message = format!("[{}] {message}", w.marker());
            }
            vec![
                u.id.clone(),
                u.status.kind.to_string(),
                u.applied_revision
                    .as_ref()
                    .map(|r| r.short())
                    .unwrap_or_else(|| "-".into()),
                match (u.commits_behind, &u.commits_behind_unknown) {
                    (Some(n), _) => n.to_string(),
                    // unknown (the reason is in `--output json`), not "none"
                    (None, Some(_)) => "?".into(),
                    (None, None) => "-".into(),
                },
                u.drifted_objects.len().to_string(),
                age(u.last_reconcile_at, now),
                truncate(&message, 100),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "UNIT",
            "STATUS",
            "APPLIED",
            "BEHIND",
            "DRIFT",
            "RECONCILED",
            "MESSAGE",
        ],
        &rows,
    );
    if !snap.sources.is_empty() {
        let rows: Vec<Vec<String>> = snap
            .sources
            .iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    s.status.kind.to_string(),
                    s.revision
                        .as_ref()
                        .map(|r| r.short())
                        .unwrap_or_else(|| "-".into()),
                    age(s.last_fetch_at, now),
                    truncate(&s.status.message, 100),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["SOURCE", "STATUS", "REVISION", "FETCHED", "MESSAGE"],
            &rows,
        ));
    }
    out
}

/// `setpoint diff UNIT`: 0 in sync, 1 different, 2 when the desired revision does not render (the
/// diff is then against the applied revision, and says so) or when the diff could not cover everything and
/// found no difference in what it covered (cannot know; the header says what is not covered).
pub async fn diff(backend: &dyn Backend, query: &str, output: Output) -> Result<u8, CliError> {
    let unit = find_unit(backend, query).await?;
    let report = backend.diff_report(&unit.id).await?;
    let objects = &report.objects;
    let changed: Vec<_> = objects.iter().filter(|o| o.is_different()).collect();
    let not_rendered = objects.iter().find(|o| o.desired_not_rendered());
    let in_sync = changed.is_empty() && not_rendered.is_none() && report.is_complete();
    let note = not_rendered.and_then(|o| o.note.clone());
    match output {
        Output::Json => print_json(&json!({
            "unit": unit.id,
            "inSync": in_sync,
            "desiredRenders": not_rendered.is_none(),
            "note": note,
            "objects": changed,
            "complete": report.is_complete(),
            "desiredFrom": report.desired_from,
            "uncovered": report.uncovered,
            "notes": report.notes,
        }))?,
        Output::Table => {
            for line in report.header() {
                println!("# {line}");
            }
            if let Some(note) = objects.iter().find_map(|o| o.note.as_deref()) {
                println!("# {note}");
            }
            if changed.is_empty() && not_rendered.is_some() {
                println!(
                    "{}: live matches the applied revision, not the desired one ({} objects)",
                    unit.id,
                    objects.len()
                );
            } else if changed.is_empty() && !report.is_complete() {
                println!(
                    "{}: no difference in the {} objects compared, but the diff is incomplete \
                     (see \"not covered\" above): cannot know whether it is in sync",
                    unit.id,
                    objects.len()
                );
            } else if changed.is_empty() {
                println!("{}: in sync ({} objects)", unit.id, objects.len());
            }
            for o in &changed {
                print!("{}", unified(o));
            }
        }
    }
    Ok(
        match (not_rendered, changed.is_empty(), report.is_complete()) {
            (Some(_), _, _) => crate::error::EXIT_USAGE,
            (None, false, _) => 1,
            (None, true, true) => 0,
            (None, true, false) => crate::error::EXIT_USAGE,
        },
    )
}

/// `setpoint history UNIT`.
pub async fn history(
    backend: &dyn Backend,
    query: &str,
    limit: usize,
    output: Output,
) -> Result<u8, CliError> {
    let unit = find_unit(backend, query).await?;
    let all = backend.history(&unit.id).await?;
    note_cap(backend, limit, all.len(), local::HISTORY_LIMIT, "commits");
    let entries: Vec<_> = all.into_iter().take(limit).collect();
    match output {
        Output::Json => print_json(&json!({ "unit": unit.id, "commits": entries }))?,
        Output::Table => {
            let now = Timestamp::now();
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    let marks = [
                        (e.applied, "applied"),
                        (e.last_good, "last-good"),
                        (e.failed, "failed"),
                        (e.pinned, "pinned"),
                    ]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, m)| *m)
                    .collect::<Vec<_>>()
                    .join(",");
                    vec![
                        e.revision.short_sha().to_owned(),
                        truncate(&e.author, 24),
                        age(Some(e.time), now),
                        marks,
                        truncate(&e.summary, 80),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["COMMIT", "AUTHOR", "AGE", "MARKS", "SUMMARY"], &rows)
            );
        }
    }
    Ok(0)
}

/// `setpoint events UNIT`.
pub async fn events(
    backend: &dyn Backend,
    query: &str,
    limit: usize,
    output: Output,
) -> Result<u8, CliError> {
    let unit = find_unit(backend, query).await?;
    let all = backend.events(&unit.id).await?;
    note_cap(backend, limit, all.len(), local::EVENTS_LIMIT, "events");
    let events: Vec<_> = all.into_iter().take(limit).collect();
    match output {
        Output::Json => print_json(&json!({ "unit": unit.id, "events": events }))?,
        Output::Table => {
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    vec![
                        e.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        format!("{:?}", e.severity).to_lowercase(),
                        e.reason.clone(),
                        e.revision
                            .as_ref()
                            .map(|r| r.short_sha().to_owned())
                            .unwrap_or_else(|| "-".into()),
                        e.message.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["TIME", "SEVERITY", "REASON", "REVISION", "MESSAGE"],
                    &rows
                )
            );
        }
    }
    Ok(0)
}

/// `detail UNIT` (conditions and the inventory tree) and `tree UNIT` (the tree only, as `flux tree` shows it).
pub async fn detail(
    backend: &dyn Backend,
    query: &str,
    tree_only: bool,
    output: Output,
) -> Result<u8, CliError> {
    let unit = find_unit(backend, query).await?;
    let d = backend.detail(&unit.id).await?;
    match output {
        Output::Json if tree_only => print_json(&json!({
            "unit": d.unit,
            "inventory": d.inventory,
            "inventoryNote": d.inventory_note,
        }))?,
        Output::Json => print_json(&d)?,
        Output::Table => print!("{}", detail_text(&d, tree_only)),
    }
    Ok(0)
}

/// The conditions as a table, then the tree: `Kind/namespace/name` indented under its Kustomization.
fn detail_text(d: &crate::model::Detail, tree_only: bool) -> String {
    use crate::model::InventoryNode;
    let mut out = String::new();
    if !tree_only {
        let rows: Vec<Vec<String>> = d
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.kind.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.since
                        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_else(|| "-".into()),
                    c.message.clone(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"],
            &rows,
        ));
        out.push('\n');
    }
    out.push_str(&d.unit);
    out.push('\n');
    for (branch, n) in InventoryNode::tree(&d.inventory, false) {
        let note = n
            .note
            .as_deref()
            .map(|w| format!("  ({w})"))
            .unwrap_or_default();
        out.push_str(&format!("{branch}{}{note}\n", n.label()));
    }
    if let Some(why) = &d.inventory_note {
        out.push_str(&format!("({why})\n"));
    }
    out
}
