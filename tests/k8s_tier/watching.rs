//! Following a backend's watch in the tier tests: the next snapshot that satisfies a condition, within a
//! bound, saying on a timeout what the watched unit looked like last; the watch cache a watch writes, and the
//! API server's count of the streaming lists a watch makes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kube::api::DynamicObject;
use serde_json::Value;
use setpoint::backend::Update;
use setpoint::model::{Snapshot, Unit};
use tokio::sync::mpsc;

use super::{BoxError, Check, err, wait_for};

/// How long a test waits for the watch to show what a controller does.
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(120);

/// The string at `pointer` in an object, or "".
pub fn str_at<'a>(obj: &'a DynamicObject, pointer: &str) -> &'a str {
    obj.data
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The unit `id` of a snapshot.
pub fn unit<'a>(snap: &'a Snapshot, id: &str) -> Option<&'a Unit> {
    snap.units.iter().find(|u| u.id == id).map(|u| &**u)
}

/// Reads the watch until a snapshot satisfies `ok` (at most [`WATCH_TIMEOUT`]); an `Unavailable` on the way is
/// an error unless `outage_allowed`. A timeout says what unit `shown` looked like in the last snapshot.
pub async fn next_snapshot(
    rx: &mut mpsc::Receiver<Update>,
    shown: &str,
    what: &str,
    outage_allowed: bool,
    ok: impl Fn(&Snapshot) -> bool,
) -> Result<Snapshot, BoxError> {
    let deadline = tokio::time::Instant::now() + WATCH_TIMEOUT;
    let mut last = String::from("(nothing)");
    loop {
        let update = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .map_err(|_| err(format!("timed out waiting for {what}; last update: {last}")))?
            .ok_or_else(|| err(format!("the watch ended while waiting for {what}")))?;
        match update {
            Update::Snapshot(s) if ok(&s) => return Ok(s),
            Update::Snapshot(s) => {
                last = format!(
                    "{:?}",
                    unit(&s, shown).map(|u| (
                        &u.status,
                        &u.applied_revision,
                        &u.latest_revision,
                        u.commits_behind,
                        &u.commits_behind_unknown
                    ))
                );
            }
            Update::Unavailable(r) if !outage_allowed => {
                return Err(err(format!(
                    "the watch said unavailable while waiting for {what}: {r}"
                )));
            }
            other => last = format!("{other:?}"),
        }
    }
}

/// The API server's count of streaming lists of `resource` (`apiserver_watch_list_duration_seconds_count`).
pub async fn watch_lists(admin: &kube::Client, resource: &str) -> Result<f64, BoxError> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = admin.request_text(req).await?;
    let label = format!("resource=\"{resource}\"");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("apiserver_watch_list_duration_seconds_count{"))
        .filter(|l| l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// The watch cache file under data directory `data` once one is there, modified after `after` (at most 30 s).
pub async fn cache_written(data: &Path, after: SystemTime) -> Result<PathBuf, BoxError> {
    let dir = data.join("watch-cache");
    wait_for(
        "the watch to write its cache",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || {
            let dir = dir.clone();
            async move {
                let found = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .find(|p| {
                        p.extension().is_some_and(|x| x == "cache")
                            && std::fs::metadata(p)
                                .and_then(|m| m.modified())
                                .is_ok_and(|t| t > after)
                    });
                Ok(match found {
                    Some(p) => Check::Done(p),
                    None => Check::Pending(format!("no new cache in {}", dir.display())),
                })
            }
        },
    )
    .await
}
