use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::backend::local::apply;
use crate::backend::local::render::{Rendered, RenderedFile};
use crate::backend::local::spec::DriftMode;

fn applied(target: &Path, files: &[(&str, &str, bool)]) -> Inventory {
    let mut desired = Rendered::new();
    for (rel, content, executable) in files {
        desired.insert(
            (*rel).to_owned(),
            RenderedFile {
                content: content.as_bytes().to_vec(),
                executable: *executable,
            },
        );
    }
    let mut inv = Inventory::default();
    let save = |_: &Inventory| Ok(());
    apply::apply(
        target,
        &desired,
        &mut inv,
        &[],
        apply::Policy {
            drift: DriftMode::Repair,
            prune: true,
            adopt: false,
        },
        &save,
        &AtomicBool::new(false),
    )
    .unwrap();
    inv
}

#[test]
fn finds_the_same_drift_as_comparing_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    let inv = applied(
        &t,
        &[
            ("a.txt", "a\n", false),
            ("d/b.txt", "b\n", false),
            ("d/e/c.sh", "#!/bin/sh\n", true),
            ("x/y.txt", "y\n", false),
            ("gone.txt", "g\n", false),
            ("same.txt", "s\n", false),
        ],
    );
    assert!(drifted(&t, &inv).is_empty());
    std::fs::write(t.join("d/b.txt"), "B\n").unwrap();
    std::fs::set_permissions(t.join("d/e/c.sh"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::rename(t.join("x"), dir.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), t.join("x")).unwrap();
    std::fs::remove_file(t.join("gone.txt")).unwrap();
    std::fs::remove_file(t.join("same.txt")).unwrap();
    std::fs::write(t.join("same.txt"), "s\n").unwrap();
    let expected = ["d/b.txt", "d/e/c.sh", "gone.txt", "x/y.txt"];
    assert_eq!(drifted(&t, &inv), expected);
    assert_eq!(apply::drifted(&t, &inv), expected);
    assert_eq!(drifted(&dir.path().join("missing"), &inv).len(), 6);
}

#[test]
fn many_files_are_checked_on_several_threads_with_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    let names: Vec<String> = (0..3000)
        .map(|i| format!("d{:02}/f{i:04}.conf", i % 40))
        .collect();
    let files: Vec<(&str, &str, bool)> = names
        .iter()
        .map(|n| (n.as_str(), "x = 1\n", false))
        .collect();
    let inv = applied(&t, &files);
    assert!(drifted(&t, &inv).is_empty());
    std::fs::write(t.join("d07/f0007.conf"), "x = 2\n").unwrap();
    std::fs::remove_file(t.join("d39/f2999.conf")).unwrap();
    assert_eq!(drifted(&t, &inv), ["d07/f0007.conf", "d39/f2999.conf"]);
    assert_eq!(apply::drifted(&t, &inv), drifted(&t, &inv));
}
