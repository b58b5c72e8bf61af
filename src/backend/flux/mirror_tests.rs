use super::*;
use crate::backend::flux::map;
use kube::api::DynamicObject;
use std::sync::Arc;

fn fixture(name: &str) -> DynamicObject {
    let path = format!(
        "{}/src/backend/flux/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn an_unreachable_url_is_unknown_and_said_so_never_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(dir.path().join("m"));
    let mut snap = map::snapshot(
        "c",
        [
            (
                crate::backend::flux::kinds::KUSTOMIZATION,
                &fixture("ks-ready.json"),
            ),
            (
                crate::backend::flux::kinds::GIT_REPOSITORY,
                &fixture("gitrepo-apps.json"),
            ),
        ],
    );
    // the source's URL: a port nothing listens on (bound, then closed), on this host
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/apps.git");
    Arc::make_mut(&mut snap.sources[0]).url = url.clone();
    // the cluster's source moved on: applied and latest differ
    let moved: Revision = "main@sha1:0123456789012345678901234567890123456789"
        .parse()
        .unwrap();
    Arc::make_mut(&mut snap.sources[0]).revision = Some(moved.clone());
    Arc::make_mut(&mut snap.units[0]).latest_revision = Some(moved);
    Arc::make_mut(&mut snap.units[0]).commits_behind = None;
    let wanted = mirrors.wanted(&snap);
    assert_eq!(wanted.len(), 1, "one fetch for the moved source");
    assert!(
        mirrors.wanted(&snap).is_empty(),
        "coalesced: not asked twice while fetching"
    );
    // a real fetch, refused
    mirrors.fetch_blocking(&wanted[0]);
    assert!(mirrors.wanted(&snap).is_empty(), "not retried at once");
    mirrors.enrich(&mut snap);
    let u = &snap.units[0];
    assert_eq!(u.commits_behind, None);
    let why = u.commits_behind_unknown.as_deref().unwrap();
    assert!(
        why.starts_with("from this host: cannot fetch http://127.0.0.1:"),
        "{why}"
    );
    assert!(why.ends_with("connection refused"), "{why}");
}

#[test]
fn merge_marks_commits_with_what_flux_reported() {
    let rev = |c: char| -> Revision {
        format!("main@sha1:{}", c.to_string().repeat(40))
            .parse()
            .unwrap()
    };
    let e = |c: char| HistoryEntry {
        revision: rev(c),
        author: "a".into(),
        time: Timestamp::UNIX_EPOCH,
        summary: c.to_string(),
        applied: false,
        last_good: false,
        failed: false,
        pinned: false,
    };
    let reported = vec![
        e('c'), // a failed build is not in status.history: the failed attempt marks it
        HistoryEntry {
            applied: true,
            last_good: true,
            ..e('a')
        },
        HistoryEntry {
            last_good: false,
            ..e('f')
        },
    ];
    let marks = crate::backend::flux::history::Marks {
        applied: None,
        failed_attempt: Some(rev('c')),
        pin: Some(rev('b')),
    };
    let out = crate::backend::flux::history::merge(reported, vec![e('c'), e('b'), e('a')], &marks);
    let flags: Vec<(String, bool, bool, bool, bool)> = out
        .iter()
        .map(|h| {
            (
                h.summary.clone(),
                h.applied,
                h.last_good,
                h.failed,
                h.pinned,
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            ("c".into(), false, false, true, false),
            ("b".into(), false, false, false, true),
            ("a".into(), true, true, false, false),
            ("f".into(), false, false, false, false),
        ]
    );
}
