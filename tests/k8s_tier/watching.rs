//! Following a backend's watch in the tier tests: the next snapshot that satisfies a condition, within a
//! bound, saying on a timeout what the watched unit looked like last.

use std::time::Duration;

use kube::api::DynamicObject;
use serde_json::Value;
use setpoint::backend::Update;
use setpoint::model::{Snapshot, Unit};
use tokio::sync::mpsc;

use super::{BoxError, err};

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
