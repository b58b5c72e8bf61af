//! `fetch` (Y on the Sources screen), with an agent running, asks every environment of the source for a pass
//! with its fetch: it must change operator intent the way every other action does, one writer at a time
//! under control.lock and never over a corrupt control file.

use std::sync::Arc;

use super::{AgentLock, LocalBackend, demo};
use crate::backend::Backend;
use crate::config::Settings;

fn demo_backend(dir: &std::path::Path) -> LocalBackend {
    let made = demo::create(&dir.join("demo"), false, Arc::new(|_: &str| {})).unwrap();
    LocalBackend::open(&made.dir, &Settings::default()).unwrap()
}

#[tokio::test]
async fn fetch_refuses_to_replace_a_corrupt_control_file() {
    let tmp = tempfile::tempdir().unwrap();
    let backend = demo_backend(tmp.path());
    let ws = backend.workspace();
    // A running agent holds the workspace: the fetch becomes a request written into each environment's
    // operator intent.
    let _agent = AgentLock::acquire(&ws.state.lock()).unwrap();
    let control = ws.state.control("staging");
    std::fs::write(&control, b"{\"suspend\": {\"by\": \"ops@bastion\", \"rea").unwrap();
    let result = backend.fetch("platform-config").await;
    assert!(
        result.is_err(),
        "fetch went ahead over a corrupt control file: {result:?}"
    );
    assert_eq!(
        std::fs::read(&control).unwrap(),
        b"{\"suspend\": {\"by\": \"ops@bastion\", \"rea",
        "the corrupt control file (a torn suspend) was replaced"
    );
}
