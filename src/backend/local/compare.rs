//! Promotion compare on the local backend: each environment's overlay rendered at the revision it applied,
//! one render against the other per file, and the commits of A's revision that B's does not contain (a
//! revision walk from A's commit with B's hidden).

use jiff::Timestamp;

use super::reconcile::render_revision;
use super::render::Rendered;
use super::spec::EnvSpec;
use super::workspace::{Workspace, unit_id};
use super::{HISTORY_LIMIT, renders_between};
use crate::model::{CompareCommit, CompareSide, Comparison, ObjectComparison, Revision};

/// Compares environment `a` with environment `b`. What cannot be said (a side that did not render, commits
/// of different sources) is said in the result rather than failing the whole comparison.
pub(super) fn compare_blocking(ws: &Workspace, a: &EnvSpec, b: &EnvSpec) -> Comparison {
    let (side_a, render_a) = side(ws, a);
    let (side_b, render_b) = side(ws, b);
    let (commits, commits_note) = match commits(ws, a, b, &side_a, &side_b) {
        Ok((list, note)) => (Some(list), note),
        Err(why) => (None, Some(why)),
    };
    let objects = match (render_a, render_b) {
        (Some(ra), Some(rb)) => renders_between(&ra, &rb, true)
            .into_iter()
            .map(ObjectComparison::from_diff)
            .collect(),
        _ => Vec::new(),
    };
    Comparison {
        a: side_a,
        b: side_b,
        commits,
        commits_note,
        objects,
    }
}

/// An environment's applied revision and its render there, or why there is none.
fn side(ws: &Workspace, env: &EnvSpec) -> (CompareSide, Option<Rendered>) {
    // A corrupt state file says so, rather than reading as "nothing applied".
    let (revision, unreadable) = match ws.try_env_state(&env.name) {
        Ok(st) => (st.applied, None),
        Err(e) => (None, Some(format!("{}: {e}", env.name))),
    };
    let rendered = match (&revision, unreadable) {
        (_, Some(e)) => Err(e),
        (None, None) => Err(format!(
            "{} has not applied a revision yet: its desired state is unknown",
            env.name
        )),
        (Some(rev), None) => render_revision(ws, env, rev)
            .map_err(|e| format!("{} at {} does not render: {e}", env.name, rev.short())),
    };
    let (rendered, error) = match rendered {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e)),
    };
    let side = CompareSide {
        unit: unit_id(&env.name),
        source: env.source.clone(),
        revision,
        error,
    };
    (side, rendered)
}

/// The commits of A's revision that B's does not contain, newest first, with a note when the list was
/// cut; an error says why no such list can be made.
fn commits(
    ws: &Workspace,
    a: &EnvSpec,
    b: &EnvSpec,
    side_a: &CompareSide,
    side_b: &CompareSide,
) -> Result<(Vec<CompareCommit>, Option<String>), String> {
    if a.source != b.source {
        return Err(format!(
            "{} and {} follow different sources ({} and {}): their commits cannot be compared",
            a.name, b.name, a.source, b.source
        ));
    }
    let revision = |env: &EnvSpec, side: &CompareSide| -> Result<Revision, String> {
        side.revision
            .clone()
            .ok_or_else(|| format!("{} has not applied a revision yet", env.name))
    };
    let (rev_a, rev_b) = (revision(a, side_a)?, revision(b, side_b)?);
    let mirror = ws.mirror(&a.source);
    let id = |rev: &Revision| mirror.resolve_commit(rev.sha()).map_err(|e| e.0);
    let found = mirror
        .commits_not_in(id(&rev_a)?, id(&rev_b)?, HISTORY_LIMIT)
        .map_err(|e| e.0)?;
    let note = (found.len() >= HISTORY_LIMIT)
        .then(|| format!("showing the newest {HISTORY_LIMIT} commits; there may be more"));
    let list = found
        .into_iter()
        .map(|c| CompareCommit {
            sha: c.id.to_string(),
            author: c.author,
            time: Timestamp::from_second(c.time).unwrap_or(Timestamp::UNIX_EPOCH),
            summary: c.summary,
        })
        .collect();
    Ok((list, note))
}
